/**
 * The main thread's side of the signal thread (signal_thread.ts, which says why it exists): starts it, waits until
 * it holds SIGINT, and calls `onSignal` for each SIGINT it catches.
 */
import { Worker } from "node:worker_threads";

/** Indices into the shared Int32Array: never written (the wait ends only by a signal), armed, signals caught. */
export const WAIT = 0;
export const ARMED = 1;
export const COUNT = 2;

export interface SignalWatch {
  /** Whether the signal thread holds SIGINT (false: it did not start; the process's own listener is all there is). */
  armed: boolean;
  /**
   * Sends SIGINT to this process, as Jupyter does: it stops a cell in its synchronous part, or else reaches the
   * signal thread (and `onSignal`). Does nothing unless armed: without the signal thread SIGINT could end the kernel.
   */
  raise(): void;
  close(): void;
}

export async function watchSignals(onSignal: () => void, timeoutMs = 5000): Promise<SignalWatch> {
  const flags = new Int32Array(new SharedArrayBuffer(3 * 4));
  const worker = new Worker(new URL("./signal_thread.js", import.meta.url), { workerData: flags.buffer });
  worker.unref();
  let failed = false;
  worker.once("error", () => (failed = true));
  worker.once("exit", () => (failed = true));
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(flags, ARMED) !== 1 && !failed && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 2));
  const armed = Atomics.load(flags, ARMED) === 1 && !failed;
  let closed = false;
  if (armed) {
    void (async () => {
      let seen = 0;
      while (!closed) {
        const wait = Atomics.waitAsync(flags, COUNT, seen);
        if (wait.async) await wait.value;
        const now = Atomics.load(flags, COUNT);
        if (now !== seen && !closed) onSignal();
        seen = now;
      }
    })();
  } else void worker.terminate();
  return {
    armed,
    raise() {
      if (armed && !closed) process.kill(process.pid, "SIGINT");
    },
    close() {
      closed = true;
      Atomics.add(flags, COUNT, 1);
      Atomics.notify(flags, COUNT);
      void worker.terminate();
    },
  };
}
