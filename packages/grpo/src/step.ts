/**
 * One GRPO step, as R1-V's trainer does it (`Qwen2VLGRPOTrainer.compute_loss` in Deep-Agent/R1-V's
 * `src/r1-v/src/open_r1/trainer/grpo_trainer.py`, a copy of TRL v0.14's), with TRL v1.9's options.
 * For a batch of B prompts (each with its sample S, e.g. `{ solution }`, and optionally an image):
 *
 *   1. prompts     each prompt repeated G times, its image too (repeat_interleave: a group stays together)
 *   2. sample      G completions per prompt from π_θ, in one batched call or G calls (config `generation`,
 *                  generation.ts), each timed: temperature, top-k / top-p, stop at the tokenizer's stop ids, at
 *                  most maxCompletionLength tokens; the sampling rng is derived from (seed, step) alone, so a
 *                  resumed run draws what an uninterrupted one did
 *   3. mask        completion mask, the stop token kept (mask.ts); with maskTruncated, completions that
 *                  never stopped get an all-zero mask (TRL `mask_truncated_completions`)
 *   4. score       decode (special tokens skipped), r_i = Σ_k w_k r_i^(k) (score.ts); a missing reward is
 *                  left out, and reported in the metrics
 *   5. advantages  A_i = (r_i − mean(r_group)) / (std(r_group) + 1e-4), Bessel std (advantages.ts); or, with
 *                  advantageEstimator "reinforce_baseline" (OpenRLHF, as lmm-r1), per-token advantages from the
 *                  group-mean baseline, the k1 KL folded into the rewards and whitening over the batch's tokens
 *                  (reinforce.ts), once the log-probs of step 6 are there; the loss then has no KL term
 *   6. log-probs   log π_old only when μ > 1 (with μ = 1, π_old = π_θ detached, as TRL); log π_ref only
 *                  when β ≠ 0 (β = 0 never touches a reference model), or when `logKl` asks for the KL to the
 *                  start policy anyway (then it is logged, not added to the loss)
 *   7. update      μ times: ℓ = −min(ρA, clip(ρ)A) + β·KL_k3 aggregated by lossType (loss.ts), then core's
 *                  update step: gradients, NaN/Inf guard (a bad update is never applied), clip to
 *                  maxGradNorm (global norm), AdamW
 *   8. metrics     as TRL logs them (metrics.ts), the time of each generate call and of the reference pass, the
 *                  tensors held while the update starts, and the samples of the step
 *
 * R1-V's run is `grpoConfig(presets.r1v)`: G = 8, β = 0.04, μ = 1, "grpo" (per-sequence mean) aggregation,
 * temperature 1. With μ = 1 the ratio is 1 in value, so the logged loss is β·(mean of the per-sequence mean
 * KL): 0 at the first step, growing as π_θ drifts (huggingface/open-r1#239). One difference from R1-V, as
 * TRL ≥ 0.16: the log-probs divide the logits by the sampling temperature (no change at R1-V's temperature
 * 1). A step's batch is the whole optimizer batch (R1-V's 16 prompts × 8); there is no gradient
 * accumulation, so the preset's `gradientAccumulationSteps` is not used.
 *
 * Memory: every tensor a step makes is freed by its end, on an error too; tensor values are read outside
 * tidy scopes. Tensors in the batch stay the caller's.
 */
import { tf, updateStep, type AdamW } from "@vlab/core";
import { groupAdvantages } from "./advantages.js";
import { gradClip, lrAt, samplingRng, type GrpoConfig } from "./config.js";
import { generateGroups, type GroupGeneration } from "./generation.js";
import { grpoLoss } from "./loss.js";
import { completionMask } from "./mask.js";
import { stepMetrics, type GrpoMetrics, type StepSamples, type UpdateSums } from "./metrics.js";
import { batchImage, imageTensor, type BatchImages, type Ids, type ImageInput, type Policy } from "./policy.js";
import { withWeights, type RefWeights } from "./reference.js";
import { reinforceBaselineAdvantages, type ReinforceBaselineResult } from "./reinforce.js";
import { scoreCompletions, type RewardSpec } from "./score.js";

/** What the trainer needs of a tokenizer (a ChatTokenizer has it). */
export interface GrpoTokenizer {
  decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
  /** Generation stops after any of these (kept in the completion and its mask). */
  readonly stopIds: readonly number[];
  readonly padId: number;
}

/** One step's input: B prompts (token ids), their samples, and optionally one image per prompt. */
export interface GrpoBatch<S> extends BatchImages {
  prompts: readonly (readonly number[])[];
  samples: readonly S[];
}

/** What a step works with: the trainer's models, settings and optimizer. */
export interface StepContext<S> {
  policy: Policy;
  /** The reference policy; without it (β ≠ 0), `refWeights` are swapped into `policy`. */
  ref: Pick<Policy, "logProbs"> | undefined;
  refWeights: RefWeights | null;
  /** The policy's trainable parameters by name (the optimizer's). */
  named: readonly [string, tf.Variable][];
  tokenizer: GrpoTokenizer;
  rewards: readonly RewardSpec<S>[];
  config: GrpoConfig;
  optimizer: AdamW;
  /** Reward functions already warned about (one warning each). */
  warned: Set<string>;
}

/** Stand-ins for "a stop id" and "padding" when building the completion mask (ids are ≥ 0). */
const STOP_MARK = -1;
const PAD_MARK = -2;

/** Step `step` on a batch; see the file comment. */
export async function grpoStep<S>(
  ctx: StepContext<S>,
  batch: GrpoBatch<S>,
  step: number,
): Promise<{ metrics: GrpoMetrics; samples: StepSamples<S> }> {
  const cfg = ctx.config;
  const G = cfg.groupSize;
  const B = batch.prompts.length;
  if (B === 0) throw new Error("GrpoTrainer.step: no prompts");
  if (batch.samples.length !== B) throw new Error(`GrpoTrainer.step: ${B} prompts but ${batch.samples.length} samples`);
  const N = B * G;
  // 1. Each prompt (and its image) G times, adjacent.
  const rows = batch.prompts.flatMap((p) => Array.from({ length: G }, () => p));
  const image = batchImage(batch, B, G, "GrpoTrainer.step");
  const owned: tf.Tensor[] = [];
  const imageT = imageTensor(image);
  if (imageT) owned.push(imageT);
  try {
    // 2. Sample.
    const t0 = performance.now();
    const gen = sample(ctx, rows, image, step);
    const generateMs = performance.now() - t0;
    const t1 = performance.now();
    const completions = gen.tokens;
    if (completions.length !== N)
      throw new Error(`GrpoTrainer.step: the policy generated ${completions.length} completions for ${N} rows`);

    // 3. Completion mask [N, C].
    const { maskRows, C } = maskOf(completions, ctx.tokenizer.stopIds, cfg.maskTruncated);
    const mask = tf.tensor2d(maskRows, [N, C], "float32");
    owned.push(mask);

    // 4. Score, 5. advantages (plain numbers).
    const texts = completions.map((c) => ctx.tokenizer.decode(c, { skipSpecial: true }));
    // Completion i belongs to prompt floor(i / G).
    const scored = batch.samples.flatMap((sample, k) =>
      texts.slice(k * G, (k + 1) * G).map((text) => ({ text, sample })),
    );
    const scores = scoreCompletions(ctx.rewards, scored, ctx.warned);
    const reinforce = cfg.advantageEstimator === "reinforce_baseline";
    // reinforce_baseline's advantages come after the log-probs (5', below).
    let advantages = reinforce
      ? []
      : groupAdvantages(scores.total, G, { scale: cfg.scaleRewards, eps: cfg.advantageEps });
    let advT: tf.Tensor1D | tf.Tensor2D | undefined = reinforce ? undefined : tf.tensor1d(advantages, "float32");
    if (advT) owned.push(advT);

    // 6. Old and reference log-probs, no gradients.
    const lpOpts = { padId: ctx.tokenizer.padId, temperature: cfg.temperature };
    const detached = (p: Pick<Policy, "logProbs">) =>
      tf.tidy(() => p.logProbs(rows, completions, image, lpOpts).logProbs);
    const oldLogp = cfg.numIterations > 1 ? detached(ctx.policy) : undefined;
    if (oldLogp) owned.push(oldLogp);
    const t2 = performance.now();
    const refLogp = usesReference(cfg) ? referenceLogProbs(ctx, detached) : undefined;
    const refMs = refLogp ? performance.now() - t2 : 0;
    if (refLogp) owned.push(refLogp);
    // 5'. reinforce_baseline: per-token advantages [N, C], the KL in the rewards (log π_old: the policy now).
    let rb: ReinforceBaselineResult | undefined;
    if (reinforce) {
      const sampledLogp = refLogp ? (oldLogp ?? detached(ctx.policy)) : undefined;
      if (sampledLogp && sampledLogp !== oldLogp) owned.push(sampledLogp);
      rb = reinforceBaselineAdvantages({
        rewards: scores.total,
        groupSize: G,
        mask: maskRows,
        beta: cfg.beta,
        logp: sampledLogp?.arraySync(),
        refLogp: refLogp?.arraySync(),
      });
      advantages = rb.perCompletion;
      advT = tf.tensor2d(rb.advantages, [N, C], "float32");
      owned.push(advT);
    }
    const memory = tf.memory(); // what the step holds as its update starts (the reference weights included)

    // 7. μ updates (reinforce_baseline: no KL term in the loss, it is in the advantages).
    const lossRef = rb ? undefined : refLogp;
    if (!advT) throw new Error("GrpoTrainer.step: no advantages (internal error)");
    const sums = await update(ctx, step, { rows, completions, image, mask, advT, oldLogp, refLogp: lossRef });
    const updateMs = performance.now() - t1;

    // 8. Metrics and the samples of the step.
    const metrics = stepMetrics({
      step,
      lr: lrAt(cfg, step),
      config: cfg,
      sums,
      scores,
      completions,
      finishReasons: gen.finishReasons,
      generateMs,
      updateMs,
      callMs: gen.callMs,
      refMs,
      stepMs: performance.now() - t0,
      memory: { tensors: memory.numTensors, bytes: memory.numBytes },
    });
    if (rb) {
      metrics["advantage_estimator/reinforce_baseline"] = 1;
      metrics["advantages/whiten_mean"] = rb.mean;
      metrics["advantages/whiten_std"] = rb.std;
      if (refLogp) {
        // The KL in the rewards: k1 at sampling time (GRPO logs the loss's k3 instead).
        metrics.kl = rb.klMean;
        metrics.kl_seq = rb.klSeqMean;
      }
    }
    const samples: StepSamples<S> = {
      step,
      groupSize: G,
      prompts: batch.prompts.map((p) => [...p]),
      samples: [...batch.samples],
      completions: texts,
      completionIds: completions.map((c) => [...c]),
      finishReasons: [...gen.finishReasons],
      rewards: scores.perFn,
      reward: scores.total,
      advantages,
      errors: scores.errors,
      estimator: reinforce ? "reinforce_baseline" : "grpo",
      ...(rb && { tokenAdvantages: rb.advantages.map((row, i) => row.slice(0, completions[i]?.length ?? 0)) }),
    };
    return { metrics, samples };
  } finally {
    tf.dispose(owned);
  }
}

/** Whether a step computes log π_ref: for the KL term (β ≠ 0), or to log the KL to the start (`logKl`). */
export function usesReference(config: Pick<GrpoConfig, "beta" | "logKl">): boolean {
  return config.beta !== 0 || config.logKl === true;
}

/** G completions per prompt row from π_θ, with the step's own rng, in the config's generation mode. */
function sample<S>(ctx: StepContext<S>, rows: Ids, image: ImageInput | null, step: number): GroupGeneration {
  const cfg = ctx.config;
  return generateGroups(
    ctx.policy,
    rows,
    image,
    cfg.groupSize,
    {
      maxNewTokens: cfg.maxCompletionLength,
      temperature: cfg.temperature,
      topK: cfg.topK,
      topP: cfg.topP,
      greedy: false, // Llava.generate defaults to greedy
      stopIds: ctx.tokenizer.stopIds,
      padId: ctx.tokenizer.padId,
      rng: samplingRng(cfg.seed, step),
    },
    cfg.generation,
  );
}

/** The completion mask of completions padded to one length C: the stop token kept; truncated ones dropped if asked. */
function maskOf(
  completions: readonly (readonly number[])[],
  stopIds: readonly number[],
  maskTruncated: boolean,
): { maskRows: number[][]; C: number } {
  const C = Math.max(1, ...completions.map((c) => c.length));
  const stop = new Set(stopIds);
  const marked = completions.map((c) => [
    ...c.map((id) => (stop.has(id) ? STOP_MARK : id)),
    ...new Array<number>(C - c.length).fill(PAD_MARK),
  ]);
  return { maskRows: completionMask(marked, STOP_MARK, { maskTruncated }), C };
}

/** log π_ref: the reference policy's, or the policy's own with the reference weights swapped in. */
function referenceLogProbs<S>(
  ctx: StepContext<S>,
  detached: (p: Pick<Policy, "logProbs">) => tf.Tensor2D,
): tf.Tensor2D {
  if (ctx.ref) return detached(ctx.ref);
  if (!ctx.refWeights)
    throw new Error("GrpoTrainer.step: β ≠ 0 (or logKl) needs a reference policy or reference weights");
  return withWeights(ctx.named, ctx.refWeights, () => detached(ctx.policy));
}

/**
 * The μ gradient steps on one batch of samples, through core's `updateStep`; returns the sums of what they measured.
 */
async function update<S>(
  ctx: StepContext<S>,
  step: number,
  t: {
    rows: Ids;
    completions: Ids;
    image: ImageInput | null;
    mask: tf.Tensor2D;
    /** [N] per completion (GRPO) or [N, C] per token (reinforce_baseline). */
    advT: tf.Tensor1D | tf.Tensor2D;
    oldLogp: tf.Tensor2D | undefined;
    refLogp: tf.Tensor2D | undefined;
  },
): Promise<UpdateSums> {
  const cfg = ctx.config;
  const vars = ctx.named.map(([, v]) => v);
  const lpOpts = { padId: ctx.tokenizer.padId, temperature: cfg.temperature, entropy: true };
  const sums: UpdateSums = { loss: 0, gradNorm: 0, kl: 0, klSeq: 0, low: 0, high: 0, region: 0, entropy: 0 };
  for (let it = 0; it < cfg.numIterations; it++) {
    const u = await updateStep(
      () => {
        const lp = ctx.policy.logProbs(t.rows, t.completions, t.image, lpOpts);
        const out = grpoLoss({
          logp: lp.logProbs,
          oldLogp: t.oldLogp,
          refLogp: t.refLogp,
          mask: t.mask,
          advantages: t.advT,
          beta: t.refLogp ? cfg.beta : 0, // no reference log-probs: β·KL is not in the loss (reinforce_baseline)
          lossType: cfg.lossType,
          epsilon: cfg.epsilon,
          epsilonHigh: cfg.epsilonHigh,
          maxCompletionLength: cfg.maxCompletionLength,
        });
        // Masked token mean of the entropy (NaN if the policy does not compute it).
        const entropy: tf.Scalar = lp.entropy
          ? tf.div(tf.sum(tf.mul(lp.entropy, t.mask)), tf.maximum(tf.sum(t.mask), 1))
          : tf.scalar(NaN);
        const zero = tf.scalar(0);
        const aux = {
          kl: out.kl ?? zero,
          klSeq: out.klSeqMean ?? zero,
          low: out.clipRatioLowMean,
          high: out.clipRatioHighMean,
          region: out.clipRatioRegionMean,
          entropy,
        };
        return { loss: out.loss, aux };
      },
      {
        vars,
        optimizer: ctx.optimizer,
        lr: lrAt(cfg, step),
        clip: gradClip(cfg),
        label: "GrpoTrainer",
        where: `step ${step}, iteration ${it}`,
      },
    );
    sums.loss += u.loss;
    sums.gradNorm += u.gradNorm;
    for (const k of ["kl", "klSeq", "low", "high", "region", "entropy"] as const) sums[k] += u.aux[k];
  }
  return sums;
}
