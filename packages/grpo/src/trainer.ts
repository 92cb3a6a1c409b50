/**
 * The GRPO trainer: one step of R1-V (its TRL 0.14 `compute_loss`, spec §1.1), with TRL v1.9's options.
 *
 * For a batch of B prompts (each with its sample S, e.g. `{ solution }`, and optionally an image):
 *
 *   1. prompts    each prompt repeated G times, its image too (repeat_interleave: a group stays together)
 *   2. sample     G completions per prompt from π_θ, one batched call: temperature, top-k / top-p,
 *                 stop at the tokenizer's stop ids, at most maxCompletionLength tokens; the sampling rng
 *                 is derived from (seed, step) alone, so a resumed run draws what an uninterrupted one did
 *   3. mask       completion mask, the stop token kept (mask.ts); with maskTruncated, completions that
 *                 never stopped get an all-zero mask (TRL `mask_truncated_completions`)
 *   4. log-probs  log π_old only when μ > 1 (with μ = 1, π_old = π_θ detached, as TRL); log π_ref only
 *                 when β ≠ 0 (β = 0 never touches a reference model)
 *   5. rewards    decode (special tokens skipped), r_i = Σ_k w_k r_i^(k); a reward function that throws or
 *                 returns a non-finite value counts as missing (TRL's nansum; all missing → NaN → A_i = 0)
 *                 and is reported in the metrics
 *   6. advantage  A_i = (r_i − mean(r_group)) / (std(r_group) + 1e-4), Bessel std (advantages.ts)
 *   7. loss       grpoLoss (loss.ts): ℓ = −min(ρA, clip(ρ)A) + β·KL_k3, aggregated by lossType
 *   8. update     μ times: gradients (tf.variableGrads), NaN/Inf guard (a bad update is never applied),
 *                 clip to maxGradNorm (global norm), AdamW step
 *   9. metrics    as TRL logs them (names below); the samples of the step stay in `lastGroup`
 *
 * R1-V's run is `grpoConfig(presets.r1v)`: G = 8, β = 0.04, μ = 1, "grpo" (per-sequence mean)
 * aggregation, temperature 1. With μ = 1 the ratio is 1 in value, so the logged loss is β·(mean of the
 * per-sequence mean KL): 0 at the first step, growing as π_θ drifts (open-r1#239, spec §2.4). One
 * difference from R1-V, as TRL ≥ 0.16: the log-probs divide the logits by the sampling temperature
 * (no change at R1-V's temperature 1). A step's batch is the whole optimizer batch (R1-V's 16 prompts ×
 * 8); there is no gradient accumulation, so the preset's `gradientAccumulationSteps` is not used.
 *
 * The reference policy: `ref` if given, else (β ≠ 0) a frozen copy of the policy's trainable weights
 * taken when the trainer is made, swapped in for the reference pass and saved in checkpoints.
 *
 * Metrics of a step (`GrpoMetrics`), TRL's names:
 *   loss, grad_norm (before clipping), lr                       (means over the μ iterations)
 *   reward, reward_std (whole batch), reward_group_std (mean group std: R1-V / TRL 0.14's reward_std)
 *   rewards/<name>/mean, rewards/<name>/std, rewards/<name>/nan (missing values), rewards/<name>/errors (throws)
 *   frac_reward_zero_std                                         groups with no learning signal
 *   kl (masked token mean, TRL ≥ 0.15), kl_seq (mean of per-sequence means, R1-V)   only when β ≠ 0
 *   entropy                                                      masked token mean of the policy's entropy
 *   completions/mean_length, min_length, max_length, clipped_ratio (share that hit maxCompletionLength)
 *   clip_ratio/low_mean, clip_ratio/high_mean, clip_ratio/region_mean
 *   generate_ms, update_ms                                       wall time of sampling and of the rest
 *
 * Memory: every tensor a step makes is freed by its end; tensor values are read outside tidy scopes.
 */
import {
  AdamW,
  Rng,
  assignByName,
  globalNorm,
  interruptRequested,
  loadCheckpoint,
  saveCheckpoint,
  scaleGrads,
  tf,
  watchInterrupt,
  withScope,
  type Progress,
} from "@vlab/core";
import type { GenerateResult } from "@vlab/llm";
import { weightedSum, type RewardTerm } from "@vlab/rewards";
import { existsSync } from "node:fs";
import { groupAdvantages, rewardStats, type ScaleRewards } from "./advantages.js";
import { LOSS_TYPES, grpoLoss, type LossType } from "./loss.js";
import { completionMask } from "./mask.js";
import { batchImage, imageTensor, namedTrainable, type BatchImages, type ImageInput, type Policy } from "./policy.js";
import type { GrpoPreset } from "./presets.js";

// --- configuration ------------------------------------------------------------------------------

export interface GrpoConfig {
  /** G: completions sampled per prompt (TRL `num_generations`; R1-V 8). */
  groupSize: number;
  /** KL coefficient β (R1-V 0.04; TRL ≥ 0.19: 0, and then no reference model is needed). */
  beta: number;
  /** Clip range ε below 1 (and above unless epsilonHigh is set). Acts only when μ > 1. */
  epsilon: number;
  /** Clip range above 1 (DAPO clip-higher); default ε. */
  epsilonHigh?: number;
  /** μ: gradient steps per batch of samples (TRL `num_iterations`). */
  numIterations: number;
  /** Loss aggregation: grpo (R1-V) | bnpo | dr_grpo | dapo (TRL v1.9); see loss.ts. */
  lossType: LossType;
  /** Advantage scaling (TRL `scale_rewards`): "group" | "batch" | "none" (Dr. GRPO). */
  scaleRewards: ScaleRewards;
  /** Added to the std in the advantage (1e-4). */
  advantageEps: number;
  /** Sampling temperature (> 0; R1-V 1). The log-probs use it too. */
  temperature: number;
  /** Top-k sampling (0 = off). */
  topK: number;
  /** Nucleus sampling (1 = off). */
  topP: number;
  /** Tokens generated at most per completion (also dr_grpo's L_max). */
  maxCompletionLength: number;
  /** AdamW learning rate: a constant or a schedule `step => lr`. */
  lr: number | ((step: number) => number);
  /** Clip gradients to this global norm (HF Trainer's max_grad_norm, default 1); 0 or Infinity: no clipping. */
  maxGradNorm: number;
  /** Zero the mask of completions that never stopped (TRL `mask_truncated_completions`). */
  maskTruncated: boolean;
  /** Seed of the sampling: step s samples with an rng derived from (seed, s). */
  seed: number;
  /** AdamW decoupled weight decay (HF Trainer default 0). */
  weightDecay: number;
}

/**
 * A trainer config from a preset (presets.r1v, presets.modern) with overrides:
 *   grpoConfig(presets.r1v, { groupSize: 4, lr: 1e-3, maxCompletionLength: 8 })
 * The learning rate is the preset's constant (its "linear" decay needs the run's length: pass a schedule
 * as `lr` for it). An epsilonHigh equal to the preset's epsilon follows an overridden epsilon (TRL: None → ε).
 */
export function grpoConfig(preset: Readonly<GrpoPreset>, overrides: Partial<GrpoConfig> = {}): GrpoConfig {
  const base: GrpoConfig = {
    groupSize: preset.numGenerations,
    beta: preset.beta,
    epsilon: preset.epsilon,
    numIterations: preset.numIterations,
    lossType: preset.lossType,
    scaleRewards: preset.scaleRewards,
    advantageEps: preset.advantageEps,
    temperature: preset.temperature,
    topK: preset.topK ?? 0,
    topP: preset.topP ?? 1,
    maxCompletionLength: preset.maxCompletionLength,
    lr: preset.learningRate,
    maxGradNorm: 1,
    maskTruncated: preset.maskTruncatedCompletions,
    seed: 0,
    weightDecay: 0,
  };
  if (preset.epsilonHigh !== preset.epsilon) base.epsilonHigh = preset.epsilonHigh;
  const out: GrpoConfig = { ...base };
  for (const [k, v] of Object.entries(overrides))
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}

function checkConfig(c: GrpoConfig): void {
  const bad = (what: string) => {
    throw new Error(`GrpoTrainer: ${what}`);
  };
  if (!Number.isInteger(c.groupSize) || c.groupSize < 2)
    bad(`groupSize must be an integer ≥ 2 (a group of one has no baseline), got ${c.groupSize}`);
  if (!Number.isInteger(c.numIterations) || c.numIterations < 1)
    bad(`numIterations must be a positive integer, got ${c.numIterations}`);
  if (!LOSS_TYPES.includes(c.lossType)) bad(`unknown lossType "${c.lossType}" (one of ${LOSS_TYPES.join(", ")})`);
  if (!["group", "batch", "none"].includes(c.scaleRewards)) bad(`unknown scaleRewards "${c.scaleRewards}"`);
  if (!(Number.isFinite(c.beta) && c.beta >= 0)) bad(`beta must be a number ≥ 0, got ${c.beta}`);
  if (!(c.temperature > 0)) bad(`temperature must be > 0 (sampling), got ${c.temperature}`);
  if (!Number.isInteger(c.maxCompletionLength) || c.maxCompletionLength < 1)
    bad(`maxCompletionLength must be a positive integer, got ${c.maxCompletionLength}`);
  if (!(c.maxGradNorm >= 0)) bad(`maxGradNorm must be ≥ 0, got ${c.maxGradNorm}`);
  if (typeof c.lr !== "function" && !(c.lr >= 0)) bad(`lr must be ≥ 0 or a schedule, got ${c.lr}`);
  if (!Number.isFinite(c.seed)) bad(`seed must be a number, got ${c.seed}`);
}

/** The sampling rng of step `step`: a function of (seed, step) only, so resuming needs no rng state. */
export function samplingRng(seed: number, step: number): Rng {
  return new Rng((step + 1) * 4294967296 + (seed >>> 0));
}

// --- inputs and outputs -------------------------------------------------------------------------

/** What the trainer needs of a tokenizer (a ChatTokenizer has it). */
export interface GrpoTokenizer {
  decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
  /** Generation stops after any of these (kept in the completion and its mask). */
  readonly stopIds: readonly number[];
  readonly padId: number;
}

/** A reward function: `fn(completion text, the prompt's sample)`, weighted (default 1) into the total. */
export type RewardSpec<S> = RewardTerm<S>;

/** One step's input: B prompts (token ids), their samples, and optionally one image per prompt. */
export interface GrpoBatch<S> extends BatchImages {
  prompts: readonly (readonly number[])[];
  samples: readonly S[];
}

export interface GrpoMetrics {
  step: number;
  loss: number;
  grad_norm: number;
  lr: number;
  reward: number;
  reward_std: number;
  reward_group_std: number;
  frac_reward_zero_std: number;
  entropy: number;
  kl?: number;
  kl_seq?: number;
  "completions/mean_length": number;
  "completions/min_length": number;
  "completions/max_length": number;
  "completions/clipped_ratio": number;
  "clip_ratio/low_mean": number;
  "clip_ratio/high_mean": number;
  "clip_ratio/region_mean": number;
  generate_ms: number;
  update_ms: number;
  /** rewards/<name>/mean, /std, /nan, /errors. */
  [key: string]: number | undefined;
}

export interface RewardError {
  reward: string;
  /** Completion index in the step (group = floor(index / G)). */
  index: number;
  message: string;
}

/** Everything a step sampled and scored, to show in a notebook (see `groupTable`). */
export interface StepSamples<S> {
  step: number;
  groupSize: number;
  prompts: number[][];
  samples: S[];
  /** B·G completions, group k at [k·G, (k+1)·G). */
  completions: string[];
  completionIds: number[][];
  finishReasons: GenerateResult["finishReasons"];
  /** Each reward function's value per completion (NaN where missing). */
  rewards: Record<string, number[]>;
  /** The weighted total per completion. */
  reward: number[];
  advantages: number[];
  errors: RewardError[];
}

/** Group k of a step as table rows: completion, each reward, the total and the advantage. */
export function groupTable<S>(s: StepSamples<S>, k: number): Record<string, string | number>[] {
  const G = s.groupSize;
  if (!(k >= 0 && k * G < s.completions.length))
    throw new RangeError(`groupTable: no group ${k} (the step has ${s.completions.length / G})`);
  return Array.from({ length: G }, (_, j) => {
    const i = k * G + j;
    const row: Record<string, string | number> = { completion: s.completions[i]! };
    for (const [name, v] of Object.entries(s.rewards)) row[name] = v[i]!;
    row.reward = s.reward[i]!;
    row.advantage = s.advantages[i]!;
    row.length = s.completionIds[i]!.length;
    return row;
  });
}

export interface GrpoTrainerOptions<S> {
  policy: Policy;
  /** Reference policy for the KL term (only its logProbs is used). Default: a frozen copy of `policy`'s weights, when β ≠ 0. */
  ref?: Pick<Policy, "logProbs">;
  tokenizer: GrpoTokenizer;
  rewards: readonly RewardSpec<S>[];
  config: GrpoConfig;
  /** Default: AdamW over the policy's trainable parameters, lr from the config, weightDecay from the config. */
  optimizer?: AdamW;
}

export interface GrpoTrainOptions<S> {
  /** Train until this many steps are completed (a resumed run continues up to it). */
  steps: number;
  /** The batch of step `step` (pick the data from `step`, so that a resume sees the same batches). Tensors it creates are freed after the step. */
  batch: (step: number) => GrpoBatch<S>;
  /** Save a checkpoint every `every` steps, at the end, and on interrupt (atomically). */
  checkpoint?: { path: string; every: number };
  /** Continue from `checkpoint.path` if it exists: weights, optimizer moments, reference weights, step, history. */
  resume?: boolean;
  /** Progress display (`@vlab/display`'s progress bar); default: a log line about every tenth of the run. */
  progress?: Progress;
  /** Called after each step (and its checkpoint). */
  onStep?: (metrics: GrpoMetrics, step: number) => void | Promise<void>;
}

export interface GrpoTrainResult {
  /** Metrics of every completed step (those before a resume included). */
  history: GrpoMetrics[];
  stopped: "done" | "interrupted";
}

const REF_PREFIX = "ref.";
const CHECKPOINT_KIND = "vlab.grpo/1";
/** Stand-ins for "a stop id" and "padding" when building the completion mask (ids are ≥ 0). */
const STOP_MARK = -1;
const PAD_MARK = -2;

// --- the trainer --------------------------------------------------------------------------------

export class GrpoTrainer<S = unknown> {
  readonly policy: Policy;
  readonly ref: Pick<Policy, "logProbs"> | undefined;
  readonly tokenizer: GrpoTokenizer;
  readonly rewards: readonly RewardSpec<S>[];
  readonly config: GrpoConfig;
  readonly optimizer: AdamW;
  /** Completed steps (by `step` or `train`). */
  stepCount = 0;
  /** Metrics of every completed step. */
  history: GrpoMetrics[] = [];
  /** What the last step sampled and scored. */
  lastGroup: StepSamples<S> | null = null;

  private readonly named: [string, tf.Variable][];
  private readonly ownsOptimizer: boolean;
  /** The reference weights when no `ref` is given and β ≠ 0 (by trainable parameter name). */
  private refWeights: Map<string, tf.Tensor> | null = null;
  private readonly warned = new Set<string>();

  constructor(opts: GrpoTrainerOptions<S>) {
    const { policy, tokenizer, rewards, config } = opts;
    checkConfig(config);
    if (rewards.length === 0) throw new Error("GrpoTrainer: give at least one reward function");
    const names = new Set<string>();
    for (const r of rewards) {
      if (!r.name || names.has(r.name))
        throw new Error(`GrpoTrainer: reward names must be unique and non-empty, got "${r.name}"`);
      if (r.weight !== undefined && !Number.isFinite(r.weight))
        throw new Error(`GrpoTrainer: reward "${r.name}" has weight ${r.weight}`);
      names.add(r.name);
    }
    if (tokenizer.stopIds.length === 0) throw new Error("GrpoTrainer: the tokenizer has no stop ids");
    this.policy = policy;
    this.ref = opts.ref;
    this.tokenizer = tokenizer;
    this.rewards = rewards;
    this.config = { ...config };
    this.named = namedTrainable(policy);
    if (this.named.length === 0) throw new Error("GrpoTrainer: the policy has no trainable parameters");
    this.ownsOptimizer = !opts.optimizer;
    this.optimizer = opts.optimizer ?? new AdamW(this.named, { lr: this.lrAt(0), weightDecay: config.weightDecay });
    if (config.beta !== 0 && !opts.ref) {
      this.refWeights = new Map(this.named.map(([n, v]) => [n, tf.keep(tf.clone(v))]));
    }
  }

  private lrAt(step: number): number {
    const { lr } = this.config;
    return typeof lr === "function" ? lr(step) : lr;
  }

  /** One GRPO step on a batch (sample, score, μ updates); see the file comment. Tensors in the batch stay the caller's. */
  async step(batch: GrpoBatch<S>): Promise<GrpoMetrics> {
    const cfg = this.config;
    const G = cfg.groupSize;
    const step = this.stepCount;
    const B = batch.prompts.length;
    if (B === 0) throw new Error("GrpoTrainer.step: no prompts");
    if (batch.samples.length !== B)
      throw new Error(`GrpoTrainer.step: ${B} prompts but ${batch.samples.length} samples`);
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
      const gen = this.policy.generate(rows, image, {
        maxNewTokens: cfg.maxCompletionLength,
        temperature: cfg.temperature,
        topK: cfg.topK,
        topP: cfg.topP,
        greedy: false, // Llava.generate defaults to greedy
        stopIds: this.tokenizer.stopIds,
        padId: this.tokenizer.padId,
        rng: samplingRng(cfg.seed, step),
      });
      const generateMs = performance.now() - t0;
      const t1 = performance.now();
      const completions = gen.tokens;
      if (completions.length !== N)
        throw new Error(`GrpoTrainer.step: the policy generated ${completions.length} completions for ${N} rows`);

      // 3. Completion mask: the stop token kept; truncated completions dropped if maskTruncated.
      const C = Math.max(1, ...completions.map((c) => c.length));
      const stop = new Set(this.tokenizer.stopIds);
      const marked = completions.map((c) => [
        ...c.map((id) => (stop.has(id) ? STOP_MARK : id)),
        ...new Array<number>(C - c.length).fill(PAD_MARK),
      ]);
      const maskRows = completionMask(marked, STOP_MARK, { maskTruncated: cfg.maskTruncated });

      // 5–6. Rewards and advantages (plain numbers).
      const texts = completions.map((c) => this.tokenizer.decode(c, { skipSpecial: true }));
      const scored = this.score(texts, (i) => batch.samples[Math.floor(i / G)]!);
      const advantages = groupAdvantages(scored.total, G, { scale: cfg.scaleRewards, eps: cfg.advantageEps });
      const stats = rewardStats(scored.total, G);

      const mask = tf.tensor2d(maskRows, [N, C], "float32");
      const advT = tf.tensor1d(advantages, "float32");
      owned.push(mask, advT);

      // 4. Old and reference log-probs, no gradients.
      const lpOpts = { padId: this.tokenizer.padId, temperature: cfg.temperature };
      const detached = (p: Pick<Policy, "logProbs">) =>
        tf.tidy(() => p.logProbs(rows, completions, image, lpOpts).logProbs);
      const oldLogp = cfg.numIterations > 1 ? detached(this.policy) : undefined;
      if (oldLogp) owned.push(oldLogp);
      const refLogp =
        cfg.beta !== 0 ? (this.ref ? detached(this.ref) : this.withRefWeights(() => detached(this.policy))) : undefined;
      if (refLogp) owned.push(refLogp);

      // 7–8. μ updates.
      const vars = this.named.map(([, v]) => v);
      const sums = { loss: 0, gradNorm: 0, kl: 0, klSeq: 0, low: 0, high: 0, region: 0, entropy: 0 };
      for (let it = 0; it < cfg.numIterations; it++) {
        const { value, grads, norm, side } = tf.tidy(() => {
          let side: tf.Tensor | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const lp = this.policy.logProbs(rows, completions, image, { ...lpOpts, entropy: true });
            const out = grpoLoss({
              logp: lp.logProbs,
              oldLogp,
              refLogp,
              mask,
              advantages: advT,
              beta: cfg.beta,
              lossType: cfg.lossType,
              epsilon: cfg.epsilon,
              epsilonHigh: cfg.epsilonHigh,
              maxCompletionLength: cfg.maxCompletionLength,
            });
            // Masked token mean of the entropy (NaN if the policy does not compute it).
            const entropy = lp.entropy
              ? tf.div(tf.sum(tf.mul(lp.entropy, mask)), tf.maximum(tf.sum(mask), 1))
              : tf.scalar(NaN);
            const zero = tf.scalar(0);
            side = tf.keep(
              tf.stack([
                out.kl ?? zero,
                out.klSeqMean ?? zero,
                out.clipRatioLowMean,
                out.clipRatioHighMean,
                out.clipRatioRegionMean,
                entropy,
              ]),
            );
            return out.loss;
          }, vars);
          return { value, grads, norm: globalNorm(grads), side: side! };
        });
        let l: number, n: number, s: Float32Array | Int32Array | Uint8Array;
        try {
          const [lv, nv, sv] = await Promise.all([value.data(), norm.data(), side.data()]);
          l = lv[0]!;
          n = nv[0]!;
          s = sv;
        } catch (e) {
          tf.dispose([value, norm, side, ...Object.values(grads)]);
          throw e;
        }
        if (!Number.isFinite(l) || !Number.isFinite(n)) {
          tf.dispose([value, norm, side, ...Object.values(grads)]);
          const what = !Number.isFinite(l) ? `loss is ${l}` : `gradient norm is ${n} (loss ${l})`;
          throw new Error(`GrpoTrainer: ${what} at step ${step}, iteration ${it}; that update was not applied`);
        }
        const clip = cfg.maxGradNorm > 0 && Number.isFinite(cfg.maxGradNorm) && n > cfg.maxGradNorm;
        tf.tidy(() =>
          this.optimizer.step(clip ? scaleGrads(grads, cfg.maxGradNorm / (n + 1e-6)) : grads, this.lrAt(step)),
        );
        tf.dispose([value, norm, side, ...Object.values(grads)]);
        sums.loss += l;
        sums.gradNorm += n;
        sums.kl += s[0]!;
        sums.klSeq += s[1]!;
        sums.low += s[2]!;
        sums.high += s[3]!;
        sums.region += s[4]!;
        sums.entropy += s[5]!;
      }
      const updateMs = performance.now() - t1;

      // 9. Metrics and the samples of the step.
      const mu = cfg.numIterations;
      const lengths = completions.map((c) => c.length);
      const m: GrpoMetrics = {
        step,
        loss: sums.loss / mu,
        grad_norm: sums.gradNorm / mu,
        lr: this.lrAt(step),
        reward: stats.mean,
        reward_std: stats.std,
        reward_group_std: stats.groupStdMean,
        frac_reward_zero_std: stats.fracZeroStd,
        entropy: sums.entropy / mu,
        "completions/mean_length": lengths.reduce((a, b) => a + b, 0) / N,
        "completions/min_length": Math.min(...lengths),
        "completions/max_length": Math.max(...lengths),
        "completions/clipped_ratio": gen.finishReasons.filter((r) => r === "length").length / N,
        "clip_ratio/low_mean": sums.low / mu,
        "clip_ratio/high_mean": sums.high / mu,
        "clip_ratio/region_mean": sums.region / mu,
        generate_ms: generateMs,
        update_ms: updateMs,
      };
      if (cfg.beta !== 0) {
        m.kl = sums.kl / mu;
        m.kl_seq = sums.klSeq / mu;
      }
      for (const r of this.rewards) {
        const v = scored.perFn[r.name]!;
        const st = rewardStats(v, G);
        m[`rewards/${r.name}/mean`] = st.mean;
        m[`rewards/${r.name}/std`] = st.std;
        m[`rewards/${r.name}/nan`] = v.filter((x) => Number.isNaN(x)).length;
        m[`rewards/${r.name}/errors`] = scored.errors.filter((e) => e.reward === r.name).length;
      }
      this.lastGroup = {
        step,
        groupSize: G,
        prompts: batch.prompts.map((p) => [...p]),
        samples: [...batch.samples],
        completions: texts,
        completionIds: completions.map((c) => [...c]),
        finishReasons: [...gen.finishReasons],
        rewards: scored.perFn,
        reward: scored.total,
        advantages,
        errors: scored.errors,
      };
      this.stepCount = step + 1;
      this.history.push(m);
      return m;
    } finally {
      tf.dispose(owned);
    }
  }

  /** Every reward function on every completion; a throw or a non-finite value becomes NaN (missing). */
  private score(
    texts: string[],
    sampleOf: (i: number) => S,
  ): { perFn: Record<string, number[]>; total: number[]; errors: RewardError[] } {
    const perFn: Record<string, number[]> = {};
    const errors: RewardError[] = [];
    for (const r of this.rewards) {
      perFn[r.name] = texts.map((text, i) => {
        try {
          const v = r.fn(text, sampleOf(i));
          return typeof v === "number" && Number.isFinite(v) ? v : NaN;
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          errors.push({ reward: r.name, index: i, message });
          if (!this.warned.has(r.name)) {
            this.warned.add(r.name);
            console.warn(
              `GrpoTrainer: reward "${r.name}" threw (${message}); such values count as missing (NaN) and are reported in the metrics as rewards/${r.name}/errors`,
            );
          }
          return NaN;
        }
      });
    }
    const weights = this.rewards.map((r) => r.weight ?? 1);
    const total = texts.map((_, i) =>
      weightedSum(
        this.rewards.map((r) => perFn[r.name]![i]!),
        weights,
      ),
    );
    return { perFn, total, errors };
  }

  /** Runs `fn` with the reference weights swapped into the policy (restored afterwards, even on error). */
  private withRefWeights<T>(fn: () => T): T {
    const ref = this.refWeights!;
    const saved = this.named.map(([, v]) => tf.clone(v));
    try {
      for (const [n, v] of this.named) v.assign(ref.get(n)!);
      return fn();
    } finally {
      this.named.forEach(([, v], i) => v.assign(saved[i]!));
      tf.dispose(saved);
    }
  }

  /** Writes a checkpoint (atomically): trainable weights, reference weights, AdamW moments, step, history, seed. */
  save(path: string): void {
    const model: Record<string, tf.Tensor> = {};
    for (const [n, v] of this.named) {
      if (n.startsWith(REF_PREFIX))
        throw new Error(`GrpoTrainer.save: parameter "${n}" uses the reserved prefix "${REF_PREFIX}"`);
      model[n] = v;
    }
    if (this.refWeights) for (const [n, t] of this.refWeights) model[REF_PREFIX + n] = t;
    saveCheckpoint(path, {
      model,
      optimizer: this.optimizer,
      step: this.stepCount,
      history: this.history,
      extra: {
        kind: CHECKPOINT_KIND,
        seed: this.config.seed,
        samplingRng: "derived from (seed, step)",
        groupSize: this.config.groupSize,
      },
    });
  }

  /** Restores what `save` wrote: weights, reference weights, optimizer state, step and history. */
  restore(path: string): void {
    const ck = loadCheckpoint(path);
    try {
      if (ck.extra.kind !== CHECKPOINT_KIND)
        throw new Error(`GrpoTrainer.restore: ${path} is not a GRPO trainer checkpoint`);
      if (ck.extra.seed !== this.config.seed) {
        throw new Error(
          `GrpoTrainer.restore: ${path} was made with seed ${String(ck.extra.seed)}, this trainer has seed ${this.config.seed} (the run would not continue the same way)`,
        );
      }
      const weights: Record<string, tf.Tensor> = {};
      const ref: Record<string, tf.Tensor> = {};
      for (const [k, t] of Object.entries(ck.tensors))
        (k.startsWith(REF_PREFIX) ? ref : weights)[k.startsWith(REF_PREFIX) ? k.slice(REF_PREFIX.length) : k] = t;
      assignByName(this.named, weights, { strict: true, label: `checkpoint ${path}` });
      if (this.refWeights && Object.keys(ref).length > 0) {
        for (const [n, old] of this.refWeights) {
          const t = ref[n];
          if (!t) throw new Error(`checkpoint ${path}: missing reference weight "${n}"`);
          this.refWeights.set(n, tf.keep(tf.clone(t)));
          old.dispose();
        }
      }
      this.optimizer.loadStateDict(ck.optimizerState);
    } finally {
      tf.dispose(ck.tensors);
      tf.dispose(ck.optimizerState);
    }
    this.stepCount = ck.step;
    // JSON writes NaN as null: read it back as NaN.
    const hist = Array.isArray(ck.history) ? (ck.history as Record<string, number | null>[]) : [];
    this.history = hist.map(
      (h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v === null ? NaN : v])) as GrpoMetrics,
    );
    this.lastGroup = null;
  }

  /** The training loop: `steps` steps of `step(batch(s))`, checkpoints, clean stop on interrupt. */
  async train(opts: GrpoTrainOptions<S>): Promise<GrpoTrainResult> {
    const { steps, checkpoint, progress, onStep } = opts;
    if (checkpoint && !(Number.isInteger(checkpoint.every) && checkpoint.every >= 1))
      throw new Error(`GrpoTrainer.train: checkpoint.every must be a positive integer, got ${checkpoint.every}`);
    if (opts.resume && checkpoint && existsSync(checkpoint.path)) {
      this.restore(checkpoint.path);
      if (!progress) console.log(`resumed from ${checkpoint.path} at step ${this.stepCount}`);
    }
    const start = this.stepCount;
    const logEvery = Math.max(1, Math.round(steps / 10));
    let stopped = "done" as GrpoTrainResult["stopped"];
    let tLog = performance.now();
    const loop = async () => {
      for (let step = start; step < steps; step++) {
        if (interruptRequested()) {
          stopped = "interrupted";
          break;
        }
        // Tensors the batch function makes (a gathered slice of features …) are freed with the step's scope.
        const m = await withScope(() => this.step(opts.batch(step)), "grpo-step");
        const completed = step + 1;
        if (progress) {
          progress.update(completed, {
            loss: m.loss,
            reward: m.reward,
            ...(m.kl !== undefined && { kl: m.kl }),
            length: m["completions/mean_length"],
          });
        } else if (completed % logEvery === 0 || completed === steps) {
          const now = performance.now();
          const n = completed % logEvery === 0 ? logEvery : completed % logEvery;
          const kl = m.kl !== undefined ? ` | kl ${fmt(m.kl)}` : "";
          console.log(
            `step ${completed}/${steps} | loss ${fmt(m.loss)} | reward ${fmt(m.reward)} ± ${fmt(m.reward_std)}${kl} | len ${m["completions/mean_length"].toFixed(1)} | ${((now - tLog) / n).toFixed(0)} ms/step`,
          );
          tLog = now;
        }
        if (checkpoint && completed % checkpoint.every === 0 && completed !== steps) this.save(checkpoint.path);
        await onStep?.(m, step);
        await new Promise<void>((resolve) => setImmediate(resolve)); // let an interrupt arrive
      }
      if (checkpoint && this.stepCount > start) this.save(checkpoint.path);
    };
    try {
      await watchInterrupt(loop);
    } finally {
      progress?.done?.();
    }
    if (stopped === "interrupted" && !progress) console.log(`interrupted after step ${this.stepCount}`);
    return { history: this.history.slice(), stopped };
  }

  /** Frees the optimizer (if the trainer made it) and the reference weights. The policy stays. */
  dispose(): void {
    if (this.ownsOptimizer) this.optimizer.dispose();
    if (this.refWeights) for (const t of this.refWeights.values()) t.dispose();
    this.refWeights = null;
  }
}

const fmt = (x: number) => (x === 0 || (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4) ? x.toFixed(4) : x.toExponential(3));
