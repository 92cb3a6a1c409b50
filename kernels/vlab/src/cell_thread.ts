/**
 * The cell thread: a worker thread that runs the notebook's cells, so that the kernel's main thread (sockets,
 * heartbeat, interrupts: kernel.ts) answers whatever the cells do. The main thread asks over `parentPort`
 * (messages `ToCells` below) and gets back what the cells print and display and each cell's outcome (`FromCells`).
 *
 * A cell that ignores an interrupt is stopped by the main thread terminating this thread and starting a fresh one
 * (cell_host.ts): that loses the variables of earlier cells, and the kernel says so in the cell's error.
 */
import { parentPort, workerData } from "node:worker_threads";
import { initCellBackend, type BackendSummary } from "./backend_init.js";
import { bundleOf, normalizeBundle, type Bundle } from "./bundle.js";
import { installCellTimers, runInScope, type CellScope } from "./cell_timers.js";
import { createCellExecutor, type Outcome } from "./executor.js";
import { addRuntimeFallback } from "./resolve.js";

/** Requests from the main thread. `seq` numbers cells (silent ones too); `id` numbers the other requests. */
export type ToCells =
  | { t: "execute"; seq: number; code: string; label: string; silent: boolean }
  | { t: "complete"; id: number; code: string; cursor: number }
  | { t: "inspect"; id: number; code: string; cursor: number }
  /** The grace period after an interrupt is over: abandon the cell's promise and stop its timers. */
  | { t: "abandon"; seq: number };

/** A cell's outcome as it crosses threads: the value's mime bundle instead of the value. */
export type CellResult =
  { status: "ok"; data?: Bundle } | { status: "error"; ename: string; evalue: string; traceback: string[] };

export type FromCells =
  | { t: "ready"; backend: BackendSummary | undefined }
  | { t: "publish"; seq: number; type: string; content: unknown }
  | { t: "result"; seq: number; result: CellResult }
  | { t: "answer"; id: number; value: unknown };

/** Shared with the main thread: [0] the seq of the cell the user interrupted (0: none). */
export interface CellThreadData {
  cwd: string;
  flags: SharedArrayBuffer;
}

const HOOK = Symbol.for("vlab.kernel");

function main() {
  const port = parentPort;
  if (!port) throw new Error("cell_thread.js runs as a worker thread of the vlab kernel");
  const { cwd, flags: shared } = workerData as CellThreadData;
  const flags = new Int32Array(shared);
  const post = (m: FromCells) => port.postMessage(m);
  /** The cell running, or the one that ran last (output of its background tasks still goes there). */
  const state = { seq: 0, running: 0 };
  const scopes = new Map<number, CellScope>();

  addRuntimeFallback();
  installCellTimers();
  captureStreams(state, post);
  Reflect.set(globalThis, HOOK, {
    display(bundle: Bundle, opts: { displayId?: string; update?: boolean; metadata?: Record<string, unknown> } = {}) {
      const content = {
        data: normalizeBundle(bundle),
        metadata: opts.metadata ?? {},
        transient: opts.displayId ? { display_id: opts.displayId } : {},
      };
      const type = opts.update && opts.displayId ? "update_display_data" : "display_data";
      post({ t: "publish", seq: state.seq, type, content });
    },
    // Read from shared memory: a synchronous training loop sees the interrupt between two steps.
    get interrupted() {
      return state.seq !== 0 && Atomics.load(flags, 0) === state.seq;
    },
  });
  // Errors of a cell's background tasks are printed to the cell that ran last, as ipykernel does.
  const report = (e: unknown) => process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.on("uncaughtException", report);
  process.on("unhandledRejection", (e) => report(e));

  const executor = createCellExecutor(cwd);
  const backend = initCellBackend(cwd);

  port.on("message", (m: ToCells) => {
    if (m.t === "execute") {
      const scope: CellScope = { seq: m.seq, cancelled: false };
      scopes.set(m.seq, scope);
      state.seq = m.seq;
      state.running = m.seq;
      void runInScope(scope, () => runCell(executor, m.code, m.label, m.silent)).then((result) => {
        if (state.running === m.seq) state.running = 0;
        scopes.delete(m.seq);
        post({ t: "result", seq: m.seq, result });
      });
    } else if (m.t === "abandon") {
      const scope = scopes.get(m.seq);
      if (scope) scope.cancelled = true;
      if (state.running === m.seq) executor.interrupt();
    } else if (m.t === "complete") {
      post({ t: "answer", id: m.id, value: executor.complete(m.code, m.cursor) });
    } else if (m.t === "inspect") {
      post({ t: "answer", id: m.id, value: executor.inspect(m.code, m.cursor) ?? null });
    }
  });
  void backend.then((summary) => post({ t: "ready", backend: summary }));
}

async function runCell(
  executor: ReturnType<typeof createCellExecutor>,
  code: string,
  label: string,
  silent: boolean,
): Promise<CellResult> {
  try {
    const outcome: Outcome = await executor.execute(code, label);
    if (outcome.status === "error") return outcome;
    if (!outcome.hasValue || outcome.value == null || silent) return { status: "ok" };
    return { status: "ok", data: await bundleOf(outcome.value) };
  } catch (e) {
    const err = e instanceof Error ? e : undefined;
    return {
      status: "error",
      ename: err?.name ?? "Error",
      evalue: String(err?.message ?? e),
      traceback: [String(err?.stack ?? e)],
    };
  }
}

/** Everything the cells print becomes `stream` output of the cell running (or that ran last). */
function captureStreams(state: { seq: number }, post: (m: FromCells) => void) {
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    const write = stream.write.bind(stream);
    const capture = (chunk: string | Uint8Array, enc?: unknown, cb?: unknown): boolean => {
      if (!state.seq) return Reflect.apply(write, stream, [chunk, enc, cb]);
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      post({ t: "publish", seq: state.seq, type: "stream", content: { name, text } });
      if (typeof enc === "function") enc();
      else if (typeof cb === "function") cb();
      return true;
    };
    stream.write = capture as typeof stream.write;
  }
}

main();
