/**
 * The signal thread: a tiny worker thread that receives the kernel's SIGINTs (Jupyter's interrupt) whenever the
 * cell thread is not in a synchronous part, and counts them in shared memory for the main thread (kernel.ts).
 *
 * Why a thread: a cell's synchronous part runs in `vm.runInThisContext(code, { breakOnSigint: true })` (tslab), so a
 * SIGINT stops `while (true) {}` at once, keeping every variable. While such a run is active, Node's SIGINT watchdog
 * owns the signal, and the run registered last gets it. When the last such run in the process ends, Node sets
 * SIGINT's action back to "exit the process" (only the thread that called vm re-attaches its own listeners, and the
 * cells run in another thread than the kernel's listener). A SIGINT then would kill the kernel.
 *
 * So this thread stays inside three nested breakOnSigint runs, blocked in `Atomics.wait` (no CPU). A cell's run,
 * registered later, gets the SIGINT while it is active; otherwise the innermost run here gets it, counts it in
 * `flags[COUNT]` and waits again while the outer runs keep the watchdog alive, so the "exit" action never comes back.
 */
import vm from "node:vm";
import { workerData } from "node:worker_threads";
import { ARMED, COUNT, WAIT } from "./signals.js";

interface Shared {
  vm: typeof vm;
  flags: Int32Array;
}

function main() {
  const flags = new Int32Array(workerData as SharedArrayBuffer);
  const shared: Shared = { vm, flags };
  Reflect.set(globalThis, "__vlabSignals", shared);
  const caught = `Atomics.add(__vlabSignals.flags, ${COUNT}, 1); Atomics.notify(__vlabSignals.flags, ${COUNT});`;
  const level = (inner: string) =>
    `for (;;) { try { __vlabSignals.vm.runInThisContext(${JSON.stringify(inner)}, { breakOnSigint: true }); } ` +
    `catch { ${caught} } }`;
  const innermost = `Atomics.store(__vlabSignals.flags, ${ARMED}, 1); Atomics.wait(__vlabSignals.flags, ${WAIT}, 0);`;
  const code = level(level(innermost));
  for (;;) {
    try {
      vm.runInThisContext(code, { breakOnSigint: true });
    } catch {
      Atomics.add(flags, COUNT, 1);
      Atomics.notify(flags, COUNT);
    }
  }
}

main();
