/**
 * Tensor-leak checks and scopes for async code.
 *
 * `tf.tidy` frees every tensor made inside it except the ones returned, but it cannot wrap async
 * code ("async functions not allowed"). `withScope` does the same job for async functions with the
 * engine's explicit scopes, and `expectNoLeak` turns "no tensors left behind" into an assertion
 * usable from vitest and from a notebook cell.
 */
import * as tf from "@tensorflow/tfjs-core";

/** Number of live tensors (variables included), as `tf.memory().numTensors`. */
export function countTensors(): number {
  return tf.memory().numTensors;
}

/**
 * Runs `fn` (sync or async) and throws if it leaves more live tensors than it found.
 * Tensors in the result are not counted as leaks (they are what `fn` returns on purpose);
 * they are returned to the caller as usual.
 *
 *   await expectNoLeak(() => trainStep(batch), "train step");
 */
export async function expectNoLeak<T>(fn: () => T | Promise<T>, label = "expectNoLeak"): Promise<T> {
  const before = countTensors();
  const result = await fn();
  const returned = countResultTensors(result);
  const after = countTensors();
  const leaked = after - before - returned;
  if (leaked > 0) {
    throw new Error(
      `${label}: leaked ${leaked} tensor${leaked === 1 ? "" : "s"} (${before} live before, ${after} ` +
        `after${returned ? `, ${returned} returned` : ""})`,
    );
  }
  return result;
}

/** How many distinct live tensors a result holds (a tensor, or arrays / plain objects / maps of them). */
function countResultTensors(x: unknown, seen = new Set<unknown>()): number {
  if (x === null || typeof x !== "object" || seen.has(x)) return 0;
  seen.add(x);
  if (x instanceof tf.Tensor) return x.isDisposed ? 0 : 1;
  let n = 0;
  if (Array.isArray(x)) for (const v of x) n += countResultTensors(v, seen);
  else if (x instanceof Map) for (const v of x.values()) n += countResultTensors(v, seen);
  else if (Object.getPrototypeOf(x) === Object.prototype)
    for (const v of Object.values(x)) n += countResultTensors(v, seen);
  return n;
}

/**
 * `tf.tidy` for async code: tensors created while `fn` runs are disposed when it settles, except
 * the tensors in its result (found in a returned tensor, array, Map or plain object), which are kept.
 *
 * Caveat: the engine's scope is global, so tensors created by other async work that interleaves
 * with `fn` land in this scope too. Do not run two `withScope`s concurrently.
 */
export async function withScope<T>(fn: () => Promise<T> | T, name = "withScope"): Promise<T> {
  const engine = tf.engine();
  engine.startScope(name);
  let result: T | undefined;
  try {
    result = await fn();
    return result;
  } finally {
    // endScope keeps the tensors passed in (their ownership moves to the enclosing scope).
    engine.endScope(collectTensors(result) as tf.TensorContainer);
  }
}

function collectTensors(x: unknown, out: tf.Tensor[] = [], seen = new Set<unknown>()): tf.Tensor[] {
  if (x === null || typeof x !== "object" || seen.has(x)) return out;
  seen.add(x);
  if (x instanceof tf.Tensor) out.push(x);
  else if (Array.isArray(x)) for (const v of x) collectTensors(v, out, seen);
  else if (x instanceof Map) for (const v of x.values()) collectTensors(v, out, seen);
  else if (Object.getPrototypeOf(x) === Object.prototype)
    for (const v of Object.values(x)) collectTensors(v, out, seen);
  return out;
}
