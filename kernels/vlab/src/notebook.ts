/**
 * nbformat 4.5 notebooks: reading, outputs from kernel messages, writing.
 *
 * `writeNotebook` writes atomically (a reader sees the old file or the complete new one) with the temp-file rules of
 * @vlab/core's atomic_write.ts, which the kernel cannot import (it depends on no model package): the temp file is
 * `.<name>.tmp-<pid>-t<threadId>-<random>` beside the target; a writer killed mid-write leaves it behind, and the
 * next write of the same target removes such leftovers of dead writers, never a live writer's.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { threadId } from "node:worker_threads";
import type { Message } from "./wire.js";

export type Output = Record<string, unknown> & { output_type: string };

export interface Cell {
  id?: string;
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  attachments?: unknown;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

export const KERNELSPEC = { name: "vlab", display_name: "TypeScript (vlab)", language: "typescript" };

export function sourceText(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

export function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not a readable notebook (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (nb?.nbformat !== 4 || !Array.isArray(nb.cells)) throw new Error(`${file}: not an nbformat 4 notebook`);
  return nb;
}

/** Upgrades to nbformat 4.5: every cell gets an id, code cells get empty outputs. */
export function normalize(nb: Notebook): Notebook {
  nb.nbformat_minor = Math.max(nb.nbformat_minor ?? 0, 5);
  const seen = new Set<string>();
  for (const cell of nb.cells) {
    if (!cell.id || seen.has(cell.id) || !/^[a-zA-Z0-9-_]{1,64}$/.test(cell.id)) cell.id = randomUUID().slice(0, 8);
    seen.add(cell.id);
    cell.metadata ??= {};
    if (cell.cell_type === "code") {
      cell.outputs ??= [];
      cell.execution_count ??= null;
    }
  }
  return nb;
}

/** Splits text into nbformat's list-of-lines form (each line keeps its "\n"). */
export function toLines(text: string): string[] {
  return text.split(/(?<=\n)/).filter((l) => l.length > 0);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A display's mime data in nbformat's form: text as a list of lines, images as they are. */
function mimeData(data: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isRecord(data)) return out;
  for (const [mime, v] of Object.entries(data))
    out[mime] = typeof v === "string" && !mime.startsWith("image/") ? toLines(v) : v;
  return out;
}

/**
 * Collects a cell's outputs from iopub messages the way Jupyter front-ends do: consecutive stream
 * text is merged, `update_display_data` rewrites every output that carries its display id.
 */
export class OutputCollector {
  outputs: Output[] = [];
  private displays = new Map<string, Output[]>();
  private streamText = new Map<Output, string>();

  add(msg: Message) {
    const c = msg.content;
    const displayId = isRecord(c.transient) && typeof c.transient.display_id === "string" ? c.transient.display_id : "";
    switch (msg.header.msg_type) {
      case "stream": {
        const text = typeof c.text === "string" ? c.text : "";
        const last = this.outputs.at(-1);
        const before =
          last && last.output_type === "stream" && last.name === c.name ? this.streamText.get(last) : undefined;
        if (last && before !== undefined) {
          this.streamText.set(last, before + text);
          last.text = toLines(before + text);
        } else {
          const out: Output = { output_type: "stream", name: c.name, text: toLines(text) };
          this.streamText.set(out, text);
          this.outputs.push(out);
        }
        break;
      }
      case "display_data": {
        const out: Output = { output_type: "display_data", data: mimeData(c.data), metadata: c.metadata ?? {} };
        this.outputs.push(out);
        if (displayId) this.displays.set(displayId, [...(this.displays.get(displayId) ?? []), out]);
        break;
      }
      case "update_display_data":
        for (const out of this.displays.get(displayId) ?? []) {
          out.data = mimeData(c.data);
          out.metadata = c.metadata ?? {};
        }
        break;
      case "execute_result":
        this.outputs.push({
          output_type: "execute_result",
          execution_count: c.execution_count,
          data: mimeData(c.data),
          metadata: c.metadata ?? {},
        });
        break;
      case "error":
        this.outputs.push({ output_type: "error", ename: c.ename, evalue: c.evalue, traceback: c.traceback ?? [] });
        break;
      case "clear_output":
        this.outputs = [];
        break;
    }
  }
}

/** Temp files this thread is writing now (a cleanup never removes one of them). */
const inFlight = new Set<string>();

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether process `pid` exists on this machine; anything but "no such process" (EPERM included) counts as alive. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: an existence check, nothing is sent
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Removes the temp files that writes of `file` left when their process died mid-write: `.<name>.tmp-<pid>-t<thread>-…`
 * (and `<name>.tmp-<pid>`, the name this writer used before) whose pid is not a running process, or is this process's
 * own from this thread but not being written now (a previous process with the same pid, as after a container
 * restart). A temp file of any other running process is kept, however old: a live writer may be stopped or slow.
 * Best effort: what cannot be listed or removed is skipped.
 */
function removeStaleTemps(file: string): void {
  const dir = path.dirname(path.resolve(file));
  const base = escapeRegExp(path.basename(file));
  const current = new RegExp(`^\\.${base}\\.tmp-(\\d+)-t(\\d+)-[0-9a-z]+$`);
  const legacy = new RegExp(`^${base}\\.tmp-(\\d+)$`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = current.exec(name) ?? legacy.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (!Number.isSafeInteger(pid) || pid < 1) continue; // never probe 0 or a process group
    const full = path.join(dir, name);
    const stale =
      pid === process.pid ? m[2] === undefined || (Number(m[2]) === threadId && !inFlight.has(full)) : !pidAlive(pid);
    if (!stale) continue;
    try {
      if (fs.lstatSync(full).isFile()) fs.rmSync(full, { force: true });
    } catch {
      /* already gone, or not ours to remove */
    }
  }
}

/**
 * Writes JSON the way Jupyter does (1-space indent, trailing newline), atomically: into a temp file beside `file`,
 * fsync'd, then renamed over it. A writer killed mid-write leaves `file` as it was (the old notebook, or none) and a
 * temp file that the next write of `file` removes (see the file comment).
 */
export function writeNotebook(file: string, nb: Notebook) {
  const bytes = Buffer.from(JSON.stringify(nb, null, 1) + "\n", "utf8");
  const dir = path.dirname(path.resolve(file));
  removeStaleTemps(file);
  const rand = Math.random().toString(36).slice(2, 10) || "0";
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-t${threadId}-${rand}`);
  const fd = fs.openSync(tmp, "wx");
  inFlight.add(tmp);
  let closed = false;
  try {
    for (let written = 0; written < bytes.byteLength;)
      written += fs.writeSync(fd, bytes, written, bytes.byteLength - written);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (!closed) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    inFlight.delete(tmp);
  }
  try {
    // persist the rename (best effort: not every platform can fsync a folder)
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* ignore */
  }
}

/** A copy without outputs or execution counts: what is committed to git. */
export function stripOutputs(nb: Notebook): Notebook {
  const copy: Notebook = JSON.parse(JSON.stringify(nb));
  for (const cell of copy.cells) {
    if (cell.cell_type !== "code") continue;
    cell.outputs = [];
    cell.execution_count = null;
  }
  return copy;
}
