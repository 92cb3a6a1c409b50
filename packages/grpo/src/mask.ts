/**
 * Which sampled tokens count: the completion mask.
 *
 * A batch of completions is padded to one length L. A completion ends at its first EOS, and the EOS
 * itself is kept (the policy must learn to stop):
 *
 *   eos_idx[i] = first t with ids[i, t] == eos, else L
 *   mask[i, t] = 1 if t ≤ eos_idx[i] else 0                    (R1-V; TRL)
 *
 * So a completion with no EOS (cut off at `max_completion_length`) is all ones.
 * `maskTruncated` is TRL's `mask_truncated_completions`: such truncated completions get an all-zero
 * mask, so an unfinished answer is not trained on. TRL calls a completion truncated when its last id
 * (after cutting at the first EOS) is neither EOS nor pad; here: no EOS, and (if `padId` is given)
 * not ending in `padId`.
 */
import { tf } from "@vlab/core";
import { isTensor, matrixShape } from "./shapes.js";

export interface MaskOptions {
  /** Zero the mask of completions with no EOS (TRL `mask_truncated_completions`; default false). */
  maskTruncated?: boolean;
  /** The pad id: a completion ending in it is not counted as truncated. */
  padId?: number;
}

/** Completion mask (1 = token counts) of completion ids [B, L] (or one completion [L]). */
export function completionMask(ids: readonly ArrayLike<number>[], eosId: number, options?: MaskOptions): number[][];
export function completionMask(ids: ArrayLike<number>, eosId: number, options?: MaskOptions): number[];
export function completionMask(ids: tf.Tensor2D, eosId: number, options?: MaskOptions): tf.Tensor2D;
export function completionMask(ids: unknown, eosId: number, options: MaskOptions = {}): unknown {
  if (isTensor(ids)) return maskTensor(ids as tf.Tensor2D, eosId, options);
  const rows = ids as readonly (number | ArrayLike<number>)[];
  if (!Array.isArray(rows) && !ArrayBuffer.isView(rows))
    throw new Error("completionMask: ids must be number[][], number[] or a tensor");
  if (rows.length > 0 && typeof rows[0] === "number")
    return maskRow(Array.from(rows as ArrayLike<number>), eosId, options);
  matrixShape(rows as ArrayLike<number>[], "completionMask", "ids");
  return (rows as ArrayLike<number>[]).map((row) => maskRow(Array.from(row), eosId, options));
}

function maskRow(ids: number[], eos: number, o: MaskOptions): number[] {
  const first = ids.indexOf(eos);
  const truncated = first < 0 && !(o.padId !== undefined && ids.length > 0 && ids[ids.length - 1] === o.padId);
  if (o.maskTruncated && truncated) return ids.map(() => 0);
  const end = first < 0 ? ids.length : first; // eos_idx
  return ids.map((_, t) => (t <= end ? 1 : 0));
}

function maskTensor(ids: tf.Tensor2D, eos: number, o: MaskOptions): tf.Tensor2D {
  if (ids.rank !== 2) throw new Error(`completionMask: ids must be [B, L], got [${ids.shape.join(", ")}]`);
  return tf.tidy(() => {
    const [B, L] = ids.shape;
    const isEos = tf.equal(ids, eos); // [B, L]
    const t = tf.tile(tf.expandDims(tf.range(0, L, 1, "int32"), 0), [B, 1]); // [B, L]
    // First EOS position, L if none (a min over positions, since argMax does not promise the first tie everywhere).
    const eosIdx = tf.min(tf.where(isEos, t, tf.fill([B, L], L, "int32")), 1); // [B]
    let keep = tf.lessEqual(t, tf.expandDims(eosIdx, 1)); // [B, L]
    if (o.maskTruncated) {
      let truncated = tf.equal(eosIdx, L); // no EOS
      if (o.padId !== undefined && L > 0) {
        const last = tf.reshape(tf.slice(ids, [0, L - 1], [B, 1]), [B]);
        truncated = tf.logicalAnd(truncated, tf.notEqual(last, o.padId));
      }
      keep = tf.logicalAnd(keep, tf.logicalNot(tf.expandDims(truncated, 1)));
    }
    return tf.cast(keep, "float32") as tf.Tensor2D;
  });
}
