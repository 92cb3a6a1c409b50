/**
 * The reference policy π_ref of the KL term when no separate model is given: a frozen copy of the policy's
 * trainable weights, taken when the trainer is made (as TRL's `create_reference_model`, which R1-V's
 * trainer calls), swapped into the policy for the reference pass and swapped back after it. A checkpoint
 * saves these weights, so a resumed run keeps the same π_ref.
 *
 * What π_ref costs: these tensors (as many parameters as the policy trains; `tensorCost` counts them) and one
 * forward pass per step without gradients (the step's `ref_ms`). With β = 0 none of it exists, unless `logKl`
 * asks for the KL to the start policy anyway.
 */
import { tf } from "@vlab/core";

/** Reference weights by trainable parameter name. */
export type RefWeights = Map<string, tf.Tensor>;

/** A kept copy of the named variables' current values. */
export function copyWeights(named: readonly [string, tf.Variable][]): RefWeights {
  return new Map(named.map(([n, v]) => [n, tf.keep(tf.clone(v))]));
}

/** Runs `fn` with `weights` swapped into the named variables; their values are restored afterwards, even on error. */
export function withWeights<T>(named: readonly [string, tf.Variable][], weights: RefWeights, fn: () => T): T {
  const saved = named.map(([, v]): [tf.Variable, tf.Tensor] => [v, tf.clone(v)]);
  try {
    for (const [n, v] of named) {
      const w = weights.get(n);
      if (!w) throw new Error(`GrpoTrainer: no reference weight for parameter "${n}"`);
      v.assign(w);
    }
    return fn();
  } finally {
    for (const [v, t] of saved) v.assign(t);
    tf.dispose(saved.map(([, t]) => t));
  }
}

/** How many tensors, parameters (elements) and bytes a set of tensors holds. */
export function tensorCost(tensors: Iterable<tf.Tensor>): { tensors: number; parameters: number; bytes: number } {
  let n = 0;
  let parameters = 0;
  let bytes = 0;
  for (const t of tensors) {
    n++;
    parameters += t.size;
    bytes += t.size * (t.dtype === "bool" ? 1 : t.dtype === "complex64" ? 8 : 4); // as tfjs counts numBytes
  }
  return { tensors: n, parameters, bytes };
}
