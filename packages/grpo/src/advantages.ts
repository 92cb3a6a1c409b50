/**
 * Group-relative advantages: GRPO's replacement for a learned value function.
 *
 * Sample G completions per prompt, score them, and compare each with its siblings:
 *
 *   A_i = (r_i − mean(r_group)) / (std(r_group) + 1e-4)          (DeepSeekMath §4.1.2; TRL; R1-V)
 *
 * The same A_i is used for every token of completion i. `std` is the unbiased (Bessel, ÷(n−1))
 * estimator, as `torch.std`; the paper specifies neither that nor the epsilon.
 *
 * `scale` is TRL's `scale_rewards` (TRL v0.14, which R1-V pins, always divides by the group std):
 * - "group" (default; TRL 0.14 and v1.9): divide by the group's std
 * - "batch": mean still per group, but divide by the std of the whole batch
 * - "none": no division (Dr. GRPO: the division re-weights easy and hard prompts)
 *
 * A group whose rewards are all equal has std 0 and all advantages 0: it teaches nothing (TRL logs
 * the share of such groups as `frac_reward_zero_std`). A NaN reward (TRL: every reward function
 * returned None) is left out of the mean and std and gets advantage 0. Fewer than two valid rewards
 * give std 0 (torch would give NaN).
 *
 * Layout: rewards [N] with N = (#prompts)·G, each prompt's G completions adjacent (repeat_interleave).
 */
import { tf } from "@vlab/core";
import { isTensor } from "./shapes.js";

export type ScaleRewards = "group" | "batch" | "none";

export interface AdvantageOptions {
  /** "group" (default), "batch" or "none"; see the file comment. */
  scale?: ScaleRewards;
  /** Added to the std before dividing (default 1e-4, TRL's; lmm-r1's group_norm uses 1e-9). */
  eps?: number;
}

/** Advantages [N] of rewards [N] in groups of `groupSize` adjacent completions. */
export function groupAdvantages(rewards: ArrayLike<number>, groupSize: number, options?: AdvantageOptions): number[];
export function groupAdvantages(rewards: tf.Tensor1D, groupSize: number, options?: AdvantageOptions): tf.Tensor1D;
export function groupAdvantages(
  rewards: ArrayLike<number> | tf.Tensor1D,
  groupSize: number,
  options: AdvantageOptions = {},
): number[] | tf.Tensor1D {
  const scale = options.scale ?? "group";
  const eps = options.eps ?? 1e-4;
  if (!["group", "batch", "none"].includes(scale)) throw new Error(`groupAdvantages: unknown scale "${scale}"`);
  const N = isTensor(rewards) ? rewards.size : rewards.length;
  if (isTensor(rewards) && rewards.rank !== 1)
    throw new Error(`groupAdvantages: rewards must be 1-D, got shape [${rewards.shape.join(", ")}]`);
  if (!Number.isInteger(groupSize) || groupSize < 1 || N % groupSize !== 0)
    throw new Error(`groupAdvantages: ${N} rewards do not split into groups of ${groupSize}`);
  return isTensor(rewards)
    ? advantagesTensor(rewards, groupSize, scale, eps)
    : advantagesArray(rewards, groupSize, scale, eps);
}

// --- plain arrays -----------------------------------------------------------------------------

function advantagesArray(r: ArrayLike<number>, G: number, scale: ScaleRewards, eps: number): number[] {
  const all = Array.from(r);
  const out = new Array<number>(all.length).fill(0);
  const batchStd = scale === "batch" ? nanStd(all) : 0;
  for (let g0 = 0; g0 < all.length; g0 += G) {
    const group = all.slice(g0, g0 + G);
    const mean = nanMean(group);
    const std = scale === "group" ? nanStd(group) : batchStd;
    group.forEach((ri, k) => {
      if (Number.isNaN(ri)) return; // missing reward: advantage 0
      const d = ri - mean;
      out[g0 + k] = scale === "none" ? d : d / (std + eps);
    });
  }
  return out;
}

function nanMean(xs: readonly number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** Bessel-corrected std over the non-NaN values; 0 when fewer than two. */
function nanStd(xs: readonly number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x));
  if (v.length < 2) return 0;
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1));
}

// --- tensors ----------------------------------------------------------------------------------

function advantagesTensor(r: tf.Tensor1D, G: number, scale: ScaleRewards, eps: number): tf.Tensor1D {
  return tf.tidy(() => {
    const N = r.shape[0];
    const x = tf.reshape(tf.cast(r, "float32"), [N / G, G]); // [P, G]
    const valid = tf.logicalNot(tf.isNaN(x));
    const zeros = tf.zerosLike(x);
    const x0 = tf.where(valid, x, zeros);
    const v = tf.cast(valid, "float32");
    const cnt = tf.sum(v, 1, true); // [P, 1]
    const mean = tf.div(tf.sum(x0, 1, true), tf.maximum(cnt, 1)); // [P, 1]
    const d = tf.where(valid, tf.sub(x0, mean), zeros); // [P, G], 0 where missing
    if (scale === "none") return tf.reshape(d, [N]) as tf.Tensor1D;
    let std: tf.Tensor;
    if (scale === "group") {
      std = besselStd(tf.sum(tf.square(d), 1, true), cnt); // [P, 1]
    } else {
      const n = tf.sum(v);
      const meanB = tf.div(tf.sum(x0), tf.maximum(n, 1));
      const dB = tf.where(valid, tf.sub(x0, meanB), zeros);
      std = besselStd(tf.sum(tf.square(dB)), n); // scalar
    }
    return tf.reshape(tf.div(d, tf.add(std, eps)), [N]) as tf.Tensor1D;
  });
}

function besselStd(sumSq: tf.Tensor, n: tf.Tensor): tf.Tensor {
  const std = tf.sqrt(tf.div(sumSq, tf.maximum(tf.sub(n, 1), 1)));
  return tf.where(tf.greaterEqual(n, 2), std, tf.zerosLike(std));
}

// --- logged statistics ------------------------------------------------------------------------

export interface RewardStats {
  /** Mean reward (TRL `reward`). */
  mean: number;
  /** Std of the whole batch, Bessel (TRL ≥ 0.15 `reward_std`). */
  std: number;
  /** Mean over groups of the group std (TRL 0.14 / R1-V `reward_std`). */
  groupStdMean: number;
  /** Share of groups whose std is 0 (within 1e-8, torch.isclose): no learning signal (TRL `frac_reward_zero_std`). */
  fracZeroStd: number;
}

/** The reward statistics TRL logs, over rewards [N] in groups of `groupSize` (NaN rewards left out). */
export function rewardStats(rewards: ArrayLike<number>, groupSize: number): RewardStats {
  const all = Array.from(rewards);
  if (!Number.isInteger(groupSize) || groupSize < 1 || all.length % groupSize !== 0 || all.length === 0)
    throw new Error(`rewardStats: ${all.length} rewards do not split into groups of ${groupSize}`);
  const stds: number[] = [];
  for (let g0 = 0; g0 < all.length; g0 += groupSize) stds.push(nanStd(all.slice(g0, g0 + groupSize)));
  return {
    mean: nanMean(all),
    std: nanStd(all),
    groupStdMean: stds.reduce((a, b) => a + b, 0) / stds.length,
    fracZeroStd: stds.filter((s) => Math.abs(s) <= 1e-8).length / stds.length,
  };
}
