/**
 * The main thread's side of the cell thread (cell_thread.ts): starts it, sends it cells and completion requests,
 * and when it must go (a cell that ignores an interrupt, `process.exit()` in a cell, a heap that ran out) ends the
 * cell that was running with an error that says what happened, and starts a fresh thread.
 */
import { Worker } from "node:worker_threads";
import type { BackendSummary } from "./backend_init.js";
import type { CellResult, CellThreadData, FromCells, ToCells } from "./cell_thread.js";

export interface CellHostEvents {
  /** A cell's output (streams, displays), addressed by the cell's seq. */
  publish(seq: number, type: string, content: unknown): void;
  log(text: string): void;
}

type Pending = { resolve(r: CellResult): void };

export class CellHost {
  /** [0]: the seq of the interrupted cell (0: none); read by the cells' `interrupted` hook. */
  readonly flags = new Int32Array(new SharedArrayBuffer(4));
  backend: BackendSummary | undefined;
  private worker!: Worker;
  private ready!: Promise<void>;
  private cells = new Map<number, Pending>();
  private answers = new Map<number, (v: unknown) => void>();
  private nextId = 1;
  /** Why the kernel itself is ending the thread (undefined: it ended by itself). */
  private stopping: { ename: string; evalue: string } | undefined;
  private closed = false;
  /** How many times a thread was started (1 + restarts). */
  starts = 0;
  /** Threads in a row that ended before they were ready (a broken installation): after 3, no more are started. */
  private failedStarts = 0;
  private broken: string | undefined;

  constructor(
    private readonly cwd: string,
    private readonly events: CellHostEvents,
  ) {
    this.start();
  }

  /** Resolves once the current thread (a restarted one, if the thread ended meanwhile) can run cells. */
  async whenReady(): Promise<void> {
    for (let r = this.ready; ; r = this.ready) {
      await r;
      if (r === this.ready) return;
    }
  }

  private start() {
    this.starts++;
    const data: CellThreadData = { cwd: this.cwd, flags: this.flags.buffer as SharedArrayBuffer };
    const heapMb = Number(process.env.VLAB_CELL_HEAP_MB);
    const worker = new Worker(new URL("./cell_thread.js", import.meta.url), {
      workerData: data,
      // $VLAB_CELL_HEAP_MB caps the cells' JavaScript heap (tensor memory of wasm and native backends is apart)
      ...(heapMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: heapMb } } : {}),
    });
    this.worker = worker;
    let ready!: () => void;
    this.ready = new Promise<void>((r) => (ready = r));
    let fatal: Error | undefined;
    let wasReady = false;
    worker.on("message", (m: FromCells) => {
      if (m.t === "publish") this.events.publish(m.seq, m.type, m.content);
      else if (m.t === "result") this.settle(m.seq, m.result);
      else if (m.t === "answer") {
        this.answers.get(m.id)?.(m.value);
        this.answers.delete(m.id);
      } else if (m.t === "ready") {
        this.backend = m.backend;
        wasReady = true;
        this.failedStarts = 0;
        ready();
      }
    });
    worker.on("error", (e) => (fatal = e));
    worker.on("exit", (code) => {
      if (this.worker !== worker) return;
      const why = this.stopping ?? describeExit(code, fatal);
      this.stopping = undefined;
      for (const seq of [...this.cells.keys()])
        this.settle(seq, { status: "error", ...why, traceback: [`${why.ename}: ${why.evalue}`] });
      for (const answer of this.answers.values()) answer(undefined);
      this.answers.clear();
      ready(); // whoever waits on the old thread goes on to the new one (whenReady)
      if (this.closed) return;
      if (!wasReady && ++this.failedStarts >= 3) {
        this.broken = `the cell thread failed to start 3 times: ${fatal?.stack ?? why.evalue}`;
        this.events.log(this.broken);
        return;
      }
      this.events.log(`the cell thread ended (${why.ename}: ${why.evalue}); starting a fresh one`);
      this.start();
    });
  }

  private settle(seq: number, result: CellResult) {
    this.cells.get(seq)?.resolve(result);
    this.cells.delete(seq);
  }

  private send(m: ToCells) {
    this.worker.postMessage(m);
  }

  /** Runs a cell; the result comes from the thread, or from the host if the thread ends first. */
  async execute(seq: number, code: string, label: string, silent: boolean): Promise<CellResult> {
    await this.whenReady();
    if (this.broken) return { status: "error", ename: "KernelError", evalue: this.broken, traceback: [this.broken] };
    Atomics.store(this.flags, 0, 0);
    const result = new Promise<CellResult>((resolve) => this.cells.set(seq, { resolve }));
    this.send({ t: "execute", seq, code, label, silent });
    return result;
  }

  isRunning(seq: number): boolean {
    return this.cells.has(seq);
  }

  /** Marks the cell interrupted: its `interrupted` hook (core's training loops) sees it at once. */
  interrupt(seq: number) {
    Atomics.store(this.flags, 0, seq);
  }

  /** Abandons the cell's promise and stops its timers (cell_timers.ts). */
  abandon(seq: number) {
    this.send({ t: "abandon", seq });
  }

  /** Ends the thread; the running cell gets `ename: evalue`, and a fresh thread starts. */
  restart(ename: string, evalue: string) {
    this.stopping = { ename, evalue };
    void this.worker.terminate();
  }

  private async ask(m: { t: "complete" | "inspect"; code: string; cursor: number }): Promise<unknown> {
    await this.whenReady();
    if (this.broken) return undefined;
    const id = this.nextId++;
    const answer = new Promise<unknown>((resolve) => this.answers.set(id, resolve));
    this.send({ ...m, id });
    return answer;
  }

  async complete(code: string, cursor: number): Promise<{ start: number; end: number; candidates: string[] }> {
    const r = (await this.ask({ t: "complete", code, cursor })) as
      { start: number; end: number; candidates: string[] } | undefined;
    return r ?? { start: cursor, end: cursor, candidates: [] };
  }

  async inspect(code: string, cursor: number): Promise<string | undefined> {
    return ((await this.ask({ t: "inspect", code, cursor })) as string | null | undefined) ?? undefined;
  }

  close() {
    this.closed = true;
    void this.worker.terminate();
  }
}

/** Why a cell thread ended that nobody stopped: `process.exit(n)` in a cell, a heap that ran out, a crash. */
function describeExit(code: number, fatal: Error | undefined): { ename: string; evalue: string } {
  const lost =
    "a fresh cell thread was started, so the variables and imports of earlier cells are gone (run them again)";
  if ((fatal as NodeJS.ErrnoException | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY")
    return { ename: "RangeError", evalue: `the cells ran out of JavaScript heap memory: ${lost}` };
  if (fatal) return { ename: fatal.name, evalue: `the cell thread crashed (${fatal.message}): ${lost}` };
  return { ename: "SystemExit", evalue: `process.exit(${code}) ended the cell thread: ${lost}` };
}
