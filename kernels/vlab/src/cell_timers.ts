/**
 * Stops the leftover work of an interrupted asynchronous cell.
 *
 * When an interrupted cell does not stop by itself, the kernel abandons its promise (tslab's executor rejects the
 * awaited cell with "Interrupted asynchronously"), but a loop like `while (true) { await sleep(10); n++ }` would go
 * on running in the background. Every cell runs inside its own AsyncLocalStorage store, which JavaScript carries
 * through awaits, timers and callbacks; once the kernel cancels a cell, the timers, immediates, intervals, ticks
 * and microtasks that the cell (or anything it called) scheduled do nothing when they fire, so the promises they
 * would have resolved stay pending and the loop stops there. A cell that finished normally is never cancelled, so
 * a `setInterval` it left running keeps running, as in any Node program.
 *
 * Not covered: work resumed only by I/O (a loop awaiting nothing but `fs.promises` or sockets). The kernel stops
 * a cell thread that stays busy (kernel.ts), but not one that is idle between I/O completions.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export interface CellScope {
  /** The kernel's sequence number of the cell. */
  seq: number;
  cancelled: boolean;
}

const scopes = new AsyncLocalStorage<CellScope>();

/** Runs `fn` (a cell) in a new scope and returns its result; `cancel(scope)` later stops what it scheduled. */
export function runInScope<T>(scope: CellScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

type AnyFn = (...args: unknown[]) => unknown;

/** `fn`, or a function that does nothing once the scope current when it was scheduled is cancelled. */
function guarded(fn: unknown, onCancelled?: () => void): unknown {
  const scope = scopes.getStore();
  if (!scope || typeof fn !== "function") return fn;
  return function (this: unknown, ...args: unknown[]) {
    if (scope.cancelled) return onCancelled?.();
    return (fn as AnyFn).apply(this, args);
  };
}

/** Wraps `obj[name]` (a scheduling function) so that its callback argument at `at` is guarded. */
function wrapScheduler(obj: Record<string, unknown>, name: string, at = 0, isInterval = false) {
  const orig = obj[name];
  if (typeof orig !== "function" || Reflect.get(orig, WRAPPED)) return;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    if (isInterval) {
      const box: { handle?: NodeJS.Timeout } = {};
      args[at] = guarded(args[at], () => clearInterval(box.handle));
      box.handle = (orig as AnyFn).apply(this, args) as NodeJS.Timeout;
      return box.handle;
    }
    args[at] = guarded(args[at]);
    return (orig as AnyFn).apply(this, args);
  };
  Object.defineProperty(wrapped, WRAPPED, { value: true });
  // util.promisify(setTimeout) and friends keep working: the original's custom promisified form is kept.
  for (const key of Object.getOwnPropertySymbols(orig)) Reflect.set(wrapped, key, Reflect.get(orig, key));
  obj[name] = wrapped;
}

/** The promise-returning timers of `node:timers/promises`: a cancelled cell's promise never settles. */
function wrapPromiseTimer(obj: Record<string, unknown>, name: string) {
  const orig = obj[name];
  if (typeof orig !== "function" || Reflect.get(orig, WRAPPED)) return;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    const scope = scopes.getStore();
    const p = (orig as AnyFn).apply(this, args) as Promise<unknown>;
    if (!scope) return p;
    return p.then((v) => (scope.cancelled ? new Promise<never>(() => {}) : v));
  };
  Object.defineProperty(wrapped, WRAPPED, { value: true });
  obj[name] = wrapped;
}

const WRAPPED = Symbol("vlab.cellTimers");

/** Installs the guards on this thread's timers (global functions, `node:timers`, `node:timers/promises`). */
export function installCellTimers(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const timers = require("node:timers") as Record<string, unknown>;
  for (const target of [g, timers]) {
    wrapScheduler(target, "setTimeout");
    wrapScheduler(target, "setImmediate");
    wrapScheduler(target, "setInterval", 0, true);
  }
  wrapScheduler(g, "queueMicrotask");
  wrapScheduler(process as unknown as Record<string, unknown>, "nextTick");
  const promises = require("node:timers/promises") as Record<string, unknown>;
  wrapPromiseTimer(promises, "setTimeout");
  wrapPromiseTimer(promises, "setImmediate");
  // `import { setTimeout } from "node:timers/promises"` sees the wrapped functions too.
  (require("node:module") as { syncBuiltinESMExports(): void }).syncBuiltinESMExports();
}
