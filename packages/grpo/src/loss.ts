/**
 * The GRPO loss (DeepSeekMath §4.1; TRL GRPOTrainer), and its four aggregations.
 *
 * Per token t of completion i, with advantage A_i (see advantages.ts) and mask M:
 *
 *   ρ_{i,t} = exp(log π_θ − log π_old)                             importance ratio
 *   ℓ_{i,t} = −min(ρ·A_i, clip(ρ, 1 − ε, 1 + ε_high)·A_i) + β·KL_{i,t}   KL = k3 (kl.ts)
 *
 * An advantage per token A_{i,t} ([B, T]; OpenRLHF's reinforce_baseline, reinforce.ts) takes A_i's place where given.
 *
 * With μ = 1 (one gradient step per batch of samples, R1-V's and TRL's default) π_old is π_θ itself,
 * detached: ρ = 1 in value, clipping never acts, but ∇ρ = ∇log π_θ, so the policy term's gradient is
 * −A_i ∇log π_θ (REINFORCE with a group baseline). Leave `oldLogp` out for that case; give it when
 * reusing samples (μ > 1) and clipping matters.
 *
 * Aggregation over the micro-batch (B rows; accum = gradient-accumulation steps):
 *
 * | lossType | loss                                                    | used by                       |
 * |----------|---------------------------------------------------------|-------------------------------|
 * | grpo     | (1/B) Σ_i [Σ_t ℓM / max(1, Σ_t M)] / accum              | DeepSeekMath, TRL 0.14, R1-V  |
 * | bnpo     | Σ_{i,t} ℓM / max(1, Σ_{i,t} M) / accum                  | TRL 0.16–0.21 default         |
 * | dr_grpo  | Σ_{i,t} ℓM / (B · L_max) / accum                        | Dr. GRPO (L_max = max_completion_length) |
 * | dapo     | Σ_{i,t} ℓM / (N_tok / P)                                | TRL ≥ 0.22 default            |
 *
 * "grpo" averages within each sequence first, so a token of a long completion weighs less than one
 * of a short completion (a length bias Dr. GRPO and DAPO remove). For dapo, N_tok is the number of
 * active tokens in the whole accumulated (global) batch and P the number of processes; by default
 * this batch's own token count and P = 1, which makes dapo equal bnpo on a single micro-batch.
 *
 * Why the logged loss is ≈ 0 (open-r1#239): with μ = 1 under "grpo", the value is
 * −(1/B) Σ_i A_i + β·mean KL, and Σ_i A_i = 0 within each group, so loss = β·(mean of per-sequence
 * mean KL): 0 at the first step, growing as π_θ drifts from π_ref. The gradient is not 0.
 *
 * Masked positions (M = 0) are ignored entirely, even if their log-probs are NaN or ±Infinity:
 * they are replaced by 0 before any arithmetic, so neither the value nor the gradient sees them.
 *
 * Metrics, as TRL logs them: `kl` (masked token mean of KL; TRL ≥ 0.15), `klSeqMean` (mean over
 * sequences of the per-sequence mean; TRL 0.14 / R1-V), and the clip ratios — `clip_ratio/low_mean`
 * (share of tokens with ρ < 1 − ε and A < 0), `high_mean` (ρ > 1 + ε_high and A > 0), `region_mean`
 * (either), `low_min` / `high_max` (the smallest / largest per-sequence share, over sequences with
 * at least one token). A mean over no tokens is 0.
 */
import { tf } from "@vlab/core";
import { k3, klK3Tensor } from "./kl.js";
import { isTensor, matrixShape, sameShape, type Matrix } from "./shapes.js";

export type LossType = "grpo" | "bnpo" | "dr_grpo" | "dapo";
export const LOSS_TYPES: readonly LossType[] = ["grpo", "bnpo", "dr_grpo", "dapo"];

export type GrpoLossInput<M, V> = {
  /** log π_θ of each sampled completion token [B, T] (the policy; gradients flow through it). */
  logp: M;
  /** log π_old [B, T], from sampling time. Default: `logp` detached (μ = 1: ratio 1 in value). */
  oldLogp?: M;
  /** log π_ref [B, T] of the frozen reference model. Required when beta ≠ 0. */
  refLogp?: M;
  /** Completion mask [B, T]: nonzero = the token counts. */
  mask: M;
  /**
   * One advantage per completion [B] (GRPO), or one per token [B, T] (OpenRLHF's REINFORCE-style estimators,
   * reinforce.ts).
   */
  advantages: V | M;
  /** KL coefficient β (R1-V / TRL 0.14: 0.04; TRL ≥ 0.19: 0). */
  beta: number;
  /** Aggregation; see the file comment. */
  lossType: LossType;
  /** Clip range below 1 (and above, unless epsilonHigh is given). Default 0.2. */
  epsilon?: number;
  /** Clip range above 1 (DAPO's "clip-higher", e.g. 0.28). Default: epsilon. */
  epsilonHigh?: number;
  /** dr_grpo's L_max (`max_completion_length`). Default: T, the padded length. */
  maxCompletionLength?: number;
  /** Divide by this (grpo, bnpo, dr_grpo), as HF Trainer does with gradient accumulation. Default 1. */
  gradientAccumulationSteps?: number;
  /** dapo: active tokens in the global accumulated batch. Default: this batch's count. */
  numItemsInBatch?: number;
  /** dapo: number of processes P. Default 1. */
  numProcesses?: number;
};

// A type alias, not an interface: tfjs's tf.tidy and tf.dispose take it as a TensorContainer only so.
export type GrpoLossOutput<S> = {
  /** The loss to minimise. */
  loss: S;
  /** Masked token mean of the k3 KL (TRL ≥ 0.15 `kl`); only when `refLogp` is given. */
  kl?: S;
  /** Mean over sequences of the per-sequence masked mean KL (TRL 0.14 / R1-V `kl`); only with `refLogp`. */
  klSeqMean?: S;
  /** `clip_ratio/low_mean`. */
  clipRatioLowMean: S;
  /** `clip_ratio/high_mean`. */
  clipRatioHighMean: S;
  /** `clip_ratio/region_mean`. */
  clipRatioRegionMean: S;
  /** `clip_ratio/low_min`. */
  clipRatioLowMin: S;
  /** `clip_ratio/high_max`. */
  clipRatioHighMax: S;
};

/**
 * The GRPO loss and its metrics, on plain arrays (numbers out) or on tensors (scalars out, the loss
 * differentiable: `tf.variableGrads(() => grpoLoss({...}).loss)`; the tensors are created in a tidy
 * scope, so nothing else is left behind).
 */
export function grpoLoss(input: GrpoLossInput<Matrix, ArrayLike<number>>): GrpoLossOutput<number>;
export function grpoLoss(input: GrpoLossInput<tf.Tensor2D, tf.Tensor1D>): GrpoLossOutput<tf.Scalar>;
export function grpoLoss(
  input: GrpoLossInput<Matrix | tf.Tensor2D, ArrayLike<number> | tf.Tensor1D>,
): GrpoLossOutput<number> | GrpoLossOutput<tf.Scalar> {
  const cfg = settings(input);
  if (isTensor(input.logp)) return lossTensor(input as GrpoLossInput<tf.Tensor2D, tf.Tensor1D>, cfg);
  return lossArray(input as GrpoLossInput<Matrix, ArrayLike<number>>, cfg);
}

interface Settings {
  beta: number;
  lossType: LossType;
  epsLow: number;
  epsHigh: number;
  accum: number;
}

function settings(i: GrpoLossInput<unknown, unknown>): Settings {
  const s = {
    beta: i.beta,
    lossType: i.lossType,
    epsLow: i.epsilon ?? 0.2,
    epsHigh: i.epsilonHigh ?? i.epsilon ?? 0.2,
    accum: i.gradientAccumulationSteps ?? 1,
  };
  if (!LOSS_TYPES.includes(s.lossType))
    throw new Error(`grpoLoss: unknown lossType "${s.lossType}" (one of ${LOSS_TYPES.join(", ")})`);
  if (!Number.isFinite(s.beta)) throw new Error(`grpoLoss: beta must be a number, got ${s.beta}`);
  if (s.beta !== 0 && i.refLogp === undefined)
    throw new Error("grpoLoss: beta ≠ 0 needs refLogp (the reference model's log-probs)");
  if (!(s.epsLow >= 0 && s.epsHigh >= 0)) throw new Error("grpoLoss: epsilon and epsilonHigh must be ≥ 0");
  if (!(s.accum >= 1)) throw new Error("grpoLoss: gradientAccumulationSteps must be ≥ 1");
  if (i.numItemsInBatch !== undefined && !(i.numItemsInBatch > 0))
    throw new Error("grpoLoss: numItemsInBatch must be > 0");
  if (i.numProcesses !== undefined && !(i.numProcesses >= 1)) throw new Error("grpoLoss: numProcesses must be ≥ 1");
  if (i.maxCompletionLength !== undefined && !(i.maxCompletionLength > 0))
    throw new Error("grpoLoss: maxCompletionLength must be > 0");
  return s;
}

// --- plain arrays -----------------------------------------------------------------------------

function lossArray(inp: GrpoLossInput<Matrix, ArrayLike<number>>, s: Settings): GrpoLossOutput<number> {
  const fn = "grpoLoss";
  const [B, T] = matrixShape(inp.logp, fn, "logp");
  for (const name of ["oldLogp", "refLogp", "mask"] as const) {
    const m = inp[name];
    if (m !== undefined) sameShape(fn, [B, T], matrixShape(m, fn, name), name);
  }
  const adv = inp.advantages;
  if (adv.length !== B) throw new Error(`${fn}: advantages has ${adv.length} entries, expected ${B}`);
  // Per token ([B, T], reinforce.ts) or per completion ([B]).
  const perToken = B > 0 && typeof adv[0] !== "number";
  if (perToken) sameShape(fn, [B, T], matrixShape(adv as Matrix, fn, "advantages"), "advantages");
  const advAt = perToken
    ? (i: number, t: number) => (adv as Matrix)[i]?.[t] ?? NaN
    : (i: number) => (adv as ArrayLike<number>)[i] ?? NaN;

  const rowLoss = new Array<number>(B).fill(0); // Σ_t ℓM
  const rowCnt = new Array<number>(B).fill(0); // Σ_t M
  const rowKl = new Array<number>(B).fill(0);
  const rowLow = new Array<number>(B).fill(0);
  const rowHigh = new Array<number>(B).fill(0);
  const rowRegion = new Array<number>(B).fill(0);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < B and t < T: every [B, T] input and the B
     advantages were checked above (matrixShape / sameShape), and the row accumulators have length B */
  for (let i = 0; i < B; i++) {
    for (let t = 0; t < T; t++) {
      if (inp.mask[i]![t] === 0) continue; // masked: ignored entirely (as the tensor version: nonzero = on)
      const A = advAt(i, t);
      const lp = inp.logp[i]![t]!;
      const old = inp.oldLogp ? inp.oldLogp[i]![t]! : lp;
      const rho = Math.exp(lp - old);
      const clipped = Math.min(Math.max(rho, 1 - s.epsLow), 1 + s.epsHigh);
      let l = -Math.min(rho * A, clipped * A);
      if (inp.refLogp) {
        const kl = k3(lp, inp.refLogp[i]![t]!);
        if (s.beta !== 0) l += s.beta * kl;
        rowKl[i]! += kl;
      }
      const low = rho < 1 - s.epsLow && A < 0;
      const high = rho > 1 + s.epsHigh && A > 0;
      rowLoss[i]! += l;
      rowCnt[i]!++;
      rowLow[i]! += +low;
      rowHigh[i]! += +high;
      rowRegion[i]! += +(low || high);
    }
  }
  const perSeq = (xs: number[]) => xs.map((x, i) => x / Math.max(1, rowCnt[i]!));
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const tokens = sum(rowCnt);
  const tokenMean = (xs: number[]) => sum(xs) / Math.max(1, tokens);

  let loss: number;
  switch (s.lossType) {
    case "grpo":
      loss = B > 0 ? sum(perSeq(rowLoss)) / B / s.accum : 0;
      break;
    case "bnpo":
      loss = tokenMean(rowLoss) / s.accum;
      break;
    case "dr_grpo":
      loss = B > 0 ? sum(rowLoss) / (B * (inp.maxCompletionLength ?? Math.max(1, T))) / s.accum : 0;
      break;
    case "dapo":
      loss = sum(rowLoss) / ((inp.numItemsInBatch ?? Math.max(1, tokens)) / (inp.numProcesses ?? 1));
      break;
  }
  const active = rowCnt.map((c) => c > 0);
  const lows = perSeq(rowLow).filter((_, i) => active[i]);
  const highs = perSeq(rowHigh).filter((_, i) => active[i]);
  const out: GrpoLossOutput<number> = {
    loss,
    clipRatioLowMean: tokenMean(rowLow),
    clipRatioHighMean: tokenMean(rowHigh),
    clipRatioRegionMean: tokenMean(rowRegion),
    clipRatioLowMin: lows.length ? Math.min(...lows) : 0,
    clipRatioHighMax: highs.length ? Math.max(...highs) : 0,
  };
  if (inp.refLogp) {
    out.kl = tokenMean(rowKl);
    out.klSeqMean = B > 0 ? sum(perSeq(rowKl)) / B : 0;
  }
  return out;
}

// --- tensors ----------------------------------------------------------------------------------

/** Identity in value, zero gradient (PyTorch's `.detach()`). */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad((x) => ({
  value: tf.clone(x as tf.Tensor),
  gradFunc: (dy) => tf.zerosLike(dy),
}));

function lossTensor(inp: GrpoLossInput<tf.Tensor2D, tf.Tensor1D>, s: Settings): GrpoLossOutput<tf.Scalar> {
  const fn = "grpoLoss";
  const { logp } = inp;
  if (logp.rank !== 2) throw new Error(`${fn}: logp must be [B, T], got [${logp.shape.join(", ")}]`);
  const [B, T] = logp.shape;
  for (const name of ["oldLogp", "refLogp", "mask"] as const) {
    const m = inp[name];
    if (m !== undefined) {
      if (!isTensor(m)) throw new Error(`${fn}: ${name} must be a tensor like logp`);
      sameShape(fn, [B, T], m.shape, name);
    }
  }
  const adv = inp.advantages;
  if (!isTensor(adv)) throw new Error(`${fn}: advantages must be a tensor like logp`);
  // Per completion [B] or per token [B, T] (reinforce.ts).
  sameShape(fn, adv.rank === 2 ? [B, T] : [B], adv.shape, "advantages");

  return tf.tidy(() => {
    const on = tf.notEqual(inp.mask, 0); // [B, T] bool
    const M = tf.cast(on, "float32");
    const zeros = tf.zerosLike(logp);
    const clean = (x: tf.Tensor) => tf.where(on, tf.cast(x, "float32"), zeros); // masked positions → 0
    const lp = clean(logp);
    const old = inp.oldLogp ? clean(inp.oldLogp) : stopGradient(lp);
    // [B, 1], broadcast over tokens; or [B, T] per token (masked positions → 0, as logp)
    const A = adv.rank === 2 ? clean(adv) : tf.reshape(tf.cast(adv, "float32"), [B, 1]);

    const rho = tf.exp(tf.sub(lp, old)); // [B, T]
    const clipped = tf.clipByValue(rho, 1 - s.epsLow, 1 + s.epsHigh);
    let l = tf.neg(tf.minimum(tf.mul(rho, A), tf.mul(clipped, A))); // [B, T]
    let kl: tf.Tensor | undefined;
    if (inp.refLogp) {
      kl = klK3Tensor(lp, clean(inp.refLogp));
      if (s.beta !== 0) l = tf.add(l, tf.mul(kl, s.beta));
    }

    const rowCnt = tf.sum(M, 1); // [B]
    const tokens = tf.sum(rowCnt);
    const rowSum = (x: tf.Tensor) => tf.sum(tf.mul(x, M), 1); // [B]
    const perSeq = (x: tf.Tensor) => tf.div(rowSum(x), tf.maximum(rowCnt, 1)); // [B]
    const tokenMean = (x: tf.Tensor) => tf.div(tf.sum(rowSum(x)), tf.maximum(tokens, 1)) as tf.Scalar;
    const seqMean = (x: tf.Tensor) => (B > 0 ? tf.mean(perSeq(x)) : tf.scalar(0)) as tf.Scalar;

    let loss: tf.Scalar;
    switch (s.lossType) {
      case "grpo":
        loss = tf.div(seqMean(l), s.accum);
        break;
      case "bnpo":
        loss = tf.div(tokenMean(l), s.accum);
        break;
      case "dr_grpo":
        loss = tf.div(tf.sum(rowSum(l)), Math.max(1, B * (inp.maxCompletionLength ?? Math.max(1, T))) * s.accum);
        break;
      case "dapo": {
        const n = inp.numItemsInBatch !== undefined ? tf.scalar(inp.numItemsInBatch) : tf.maximum(tokens, 1);
        loss = tf.div(tf.sum(rowSum(l)), tf.div(n, inp.numProcesses ?? 1));
        break;
      }
    }

    const low = tf.cast(tf.logicalAnd(tf.less(rho, 1 - s.epsLow), tf.less(A, 0)), "float32");
    const high = tf.cast(tf.logicalAnd(tf.greater(rho, 1 + s.epsHigh), tf.greater(A, 0)), "float32");
    const region = tf.maximum(low, high);
    const active = tf.greater(rowCnt, 0); // [B]
    const anyActive = tf.any(active);
    const extreme = (x: tf.Tensor, which: "min" | "max") => {
      const fill = tf.fill([B], which === "min" ? Infinity : -Infinity);
      const v = which === "min" ? tf.min(tf.where(active, perSeq(x), fill)) : tf.max(tf.where(active, perSeq(x), fill));
      return tf.where(anyActive, v, tf.scalar(0)) as tf.Scalar;
    };
    const out: GrpoLossOutput<tf.Scalar> = {
      loss: tf.reshape(loss, []) as tf.Scalar,
      clipRatioLowMean: tokenMean(low),
      clipRatioHighMean: tokenMean(high),
      clipRatioRegionMean: tokenMean(region),
      clipRatioLowMin: extreme(low, "min"),
      clipRatioHighMax: extreme(high, "max"),
    };
    if (kl) {
      out.kl = tokenMean(kl);
      out.klSeqMean = seqMean(kl);
    }
    return out;
  });
}
