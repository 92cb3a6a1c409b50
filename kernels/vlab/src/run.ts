/**
 * `vlab run`: executes notebooks headlessly through the vlab kernel (the same process Jupyter
 * starts), writes the executed notebooks, and fails naming the cell that failed.
 */
import fs from "node:fs";
import path from "node:path";
import { KernelClient, TimeoutInterrupted } from "./client.js";
import {
  KERNELSPEC,
  normalize,
  OutputCollector,
  readNotebook,
  sourceText,
  writeNotebook,
  type Notebook,
} from "./notebook.js";

export type Budget = "quick" | "full";

export interface RunOptions {
  budget?: Budget;
  /**
   * Whether the notebook's report() may write the committed `results/<notebook>.json` (env VLAB_WRITE_RESULTS=1).
   * Default: true at the full budget, which only an explicit `vlab run --budget full` asks for; any other run's
   * report() writes to `runs/<budget>/`, so it never overwrites the committed results.
   */
  writeResults?: boolean;
  /** Folder the executed notebooks are written to (same file names). */
  outDir: string;
  /** Per-cell limit; 0 for none. */
  cellTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface RunResult {
  notebook: string;
  output: string;
  ok: boolean;
  seconds: number;
  failedCell?: { index: number; id?: string; ename: string; evalue: string };
}

/**
 * Makes `dir` (and its missing parents) and checks it can be written to, or throws saying so. Node 20's
 * `mkdirSync(dir, { recursive: true })` never returns when mkdir answers ENOENT for a path whose parent exists
 * (e.g. /proc/x): it retries the parent, which exists, then the child again, at 100% CPU. Creating one level at a
 * time from the nearest existing ancestor surfaces that error instead.
 */
function ensureWritableDir(dir: string): void {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) {
    missing.push(d);
    d = path.dirname(d);
  }
  try {
    for (const m of missing.reverse()) {
      try {
        fs.mkdirSync(m);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
    }
    if (!fs.statSync(dir).isDirectory()) throw new Error("not a folder");
    // writing a file answers for every reason at once (permissions, a read-only mount, a full disk)
    const probe = path.join(dir, `.vlab-write-test-${process.pid}`);
    fs.writeFileSync(probe, "");
    fs.rmSync(probe, { force: true });
  } catch (e) {
    throw new Error(`cannot write the executed notebooks to ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * How long `runNotebook` waits for a cell that ran past `cellTimeoutMs` to answer the interrupt it sends: the
 * kernel's own steps (kernel.ts) take at most 4 s, plus a fresh cell thread's start.
 */
const INTERRUPT_WAIT_MS = 20_000;

export async function runNotebook(file: string, opts: RunOptions): Promise<RunResult> {
  const log = opts.log ?? (() => {});
  const started = Date.now();
  const nb: Notebook = normalize(readNotebook(file));
  const name = path.basename(file);
  // before the kernel starts: an unwritable folder is an error now, not after the whole notebook ran
  ensureWritableDir(opts.outDir);
  const output = path.join(opts.outDir, name);
  const budget = opts.budget ?? process.env.VLAB_BUDGET ?? "quick";
  const env: NodeJS.ProcessEnv = { ...process.env, VLAB_BUDGET: budget, VLAB_NOTEBOOK: file };
  // never inherited: only this run's own choice lets report() write the committed results/
  delete env.VLAB_WRITE_RESULTS;
  if (opts.writeResults ?? budget === "full") env.VLAB_WRITE_RESULTS = "1";
  const kernel = await KernelClient.start({ cwd: path.dirname(path.resolve(file)), env });
  const result: RunResult = { notebook: file, output, ok: true, seconds: 0 };
  let running: { index: number; id?: string } = { index: -1 };
  try {
    const info = await kernel.request("kernel_info_request", {}, { timeoutMs: 30_000 });
    nb.metadata.kernelspec = KERNELSPEC;
    nb.metadata.language_info = info.reply.content.language_info;
    for (const [index, cell] of nb.cells.entries()) {
      if (cell.cell_type !== "code") continue;
      running = { index: index + 1, id: cell.id };
      const code = sourceText(cell);
      const collector = new OutputCollector();
      cell.outputs = collector.outputs;
      const t0 = Date.now();
      let done;
      try {
        done = await kernel.execute(code, { timeoutMs: opts.cellTimeoutMs ?? 0, interruptWaitMs: INTERRUPT_WAIT_MS });
      } catch (e) {
        if (!(e instanceof TimeoutInterrupted)) throw e;
        // past --cell-timeout: interrupted; the cell's output (and the interrupt's error) stay in the notebook
        for (const m of e.result.messages) collector.add(m);
        cell.outputs = collector.outputs;
        throw e;
      }
      const { reply, messages } = done;
      for (const m of messages) collector.add(m);
      cell.outputs = collector.outputs;
      const { execution_count: count, status, ename, evalue } = reply.content;
      cell.execution_count = typeof count === "number" ? count : null;
      log(`  cell ${index + 1}/${nb.cells.length} ${String(status)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      if (status !== "ok") {
        result.ok = false;
        result.failedCell = { index: index + 1, id: cell.id, ename: String(ename), evalue: String(evalue) };
        break;
      }
    }
  } catch (e) {
    result.ok = false;
    // The kernel died or timed out: name the cell it was running (index -1: before any cell ran).
    const ename = e instanceof TimeoutInterrupted ? e.name : "KernelError";
    result.failedCell ??= { ...running, ename, evalue: (e as Error).message };
  } finally {
    await kernel.shutdown();
    writeNotebook(output, nb);
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}

export function describeFailure(r: RunResult): string {
  const f = r.failedCell;
  if (!f) throw new Error(`describeFailure(): ${r.notebook} did not fail`);
  const where = f.index > 0 ? `cell ${f.index}${f.id ? ` (id ${f.id})` : ""}` : "the kernel";
  return (
    `${r.notebook}: ${where} failed: ${f.ename}: ${f.evalue.split("\n").slice(0, 8).join("\n")}\n` +
    `  executed notebook with the error: ${r.output}`
  );
}
