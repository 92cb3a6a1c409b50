/**
 * Per-token KL to the reference policy: Schulman's k3 estimator.
 *
 *   Δ = log π_ref − log π_θ
 *   KL ≈ e^Δ − Δ − 1                                   (DeepSeekMath eq. 4: π_ref/π_θ − log(π_ref/π_θ) − 1)
 *
 * For tokens sampled from π_θ this is an unbiased estimate of KL(π_θ ‖ π_ref), and unlike the plain
 * log-ratio (k1) it is never negative: e^Δ ≥ 1 + Δ, with equality only at Δ = 0. GRPO adds β·KL to
 * the loss rather than folding it into the reward as PPO-RLHF does. Its gradient flows through
 * log π_θ only: ∂KL/∂log π_θ = 1 − e^Δ.
 *
 * Computed as expm1(Δ) − Δ, which keeps precision when Δ is small (e^Δ − 1 cancels otherwise).
 */
import { tf } from "@vlab/core";
import { isTensor } from "./shapes.js";

/** Elementwise k3 KL of policy log-probs against reference log-probs (same shape: [T], [B, T] or a tensor). */
export function klK3(logp: readonly number[], refLogp: readonly number[]): number[];
export function klK3(logp: readonly ArrayLike<number>[], refLogp: readonly ArrayLike<number>[]): number[][];
export function klK3<T extends tf.Tensor>(logp: T, refLogp: tf.Tensor): T;
export function klK3(logp: unknown, refLogp: unknown): unknown {
  if (isTensor(logp) || isTensor(refLogp)) {
    if (!isTensor(logp) || !isTensor(refLogp)) throw new Error("klK3: pass two tensors or two arrays");
    if (logp.shape.join() !== refLogp.shape.join())
      throw new Error(`klK3: shapes differ, [${logp.shape.join(", ")}] vs [${refLogp.shape.join(", ")}]`);
    return klK3Tensor(logp, refLogp);
  }
  const lp = logp as readonly (number | ArrayLike<number>)[];
  const ref = refLogp as readonly (number | ArrayLike<number>)[];
  if (!Array.isArray(lp) || !Array.isArray(ref) || lp.length !== ref.length)
    throw new Error("klK3: logp and refLogp must have the same shape");
  return lp.map((row, i) => {
    if (typeof row === "number") return k3(row, ref[i] as number);
    const r = ref[i] as ArrayLike<number>;
    if (r == null || r.length !== row.length) throw new Error(`klK3: row ${i} lengths differ`);
    /* eslint-disable @typescript-eslint/no-non-null-assertion -- t < row.length = r.length, checked above */
    return Array.from(row as ArrayLike<number>, (v: number, t) => k3(v, r[t]!));
    /* eslint-enable @typescript-eslint/no-non-null-assertion */
  });
}

/** k3 of one token. */
export function k3(logp: number, refLogp: number): number {
  const d = refLogp - logp;
  return Math.expm1(d) - d;
}

export function klK3Tensor<T extends tf.Tensor>(logp: T, refLogp: tf.Tensor): T {
  return tf.tidy(() => {
    const d = tf.sub(refLogp, logp);
    return tf.sub(tf.expm1(d), d) as T;
  });
}
