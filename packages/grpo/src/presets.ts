/**
 * GRPO settings as plain config objects: R1-V's published run, and TRL's current defaults.
 *
 *   const cfg = presets.r1v;
 *   const A = groupAdvantages(rewards, cfg.numGenerations, { scale: cfg.scaleRewards, eps: cfg.advantageEps });
 *   const { loss } = grpoLoss({ ...cfg, logp, refLogp, mask, advantages: A });
 *
 * The field names of the loss settings are `grpoLoss`'s, so a preset spreads straight into it —
 * including `gradientAccumulationSteps` (r1v: 2), which divides each micro-batch's loss as HF Trainer
 * does, and `maxCompletionLength` (dr_grpo's L_max).
 * Sources: R1-V's CLEVR run (Deep-Agent/R1-V: README and `src/scripts/run_grpo_clevr.sh`, on the `GRPOConfig`
 * defaults of TRL v0.14.0, which its `setup.py` pins) and TRL v1.9.0's `trl/trainer/grpo_config.py`.
 */
import type { ScaleRewards } from "./advantages.js";
import type { LossType } from "./loss.js";

export interface GrpoPreset {
  /** Where the numbers come from. */
  source: string;
  /** G: completions sampled per prompt (TRL `num_generations`). */
  numGenerations: number;
  /** KL coefficient β. */
  beta: number;
  /** μ: gradient steps per batch of samples (TRL `num_iterations`); 1 means ratio = 1, no clipping. */
  numIterations: number;
  /** Clip range ε (below 1, and above unless epsilonHigh differs). */
  epsilon: number;
  /** Clip range above 1. */
  epsilonHigh: number;
  /** Loss aggregation. */
  lossType: LossType;
  /** How advantages are scaled (TRL `scale_rewards`). */
  scaleRewards: ScaleRewards;
  /** Added to the std in the advantage. */
  advantageEps: number;
  /** Per-token KL estimator. */
  klEstimator: "k3";
  /** Sampling temperature actually used. */
  temperature: number;
  /** Nucleus sampling (1 = off); absent where the run did not set it. */
  topP?: number;
  /** Top-k sampling (0 = off); absent where the run did not set it. */
  topK?: number;
  /** Prompt tokens kept; null = no limit. */
  maxPromptLength: number | null;
  /** Tokens generated at most per completion (also dr_grpo's L_max). */
  maxCompletionLength: number;
  /** Zero the mask of completions with no EOS (TRL `mask_truncated_completions`). */
  maskTruncatedCompletions: boolean;
  /** AdamW learning rate. */
  learningRate: number;
  /** Learning-rate schedule (HF Trainer default: linear decay). */
  lrScheduler: "linear" | "constant";
  /** Warmup share of the steps. */
  warmupRatio: number;
  /** Reward functions, summed. */
  rewardFunctions: readonly string[];
  /** Their weights; null = all 1 (TRL `reward_weights`). */
  rewardWeights: readonly number[] | null;
  /** What a per-device batch counts: prompts (R1-V, TRL 0.14) or completions (TRL ≥ 0.15). */
  batchCounts: "prompts" | "completions";
  /** Per-device batch (in `batchCounts` units), gradient accumulation, processes; where the source gives them. */
  perDeviceTrainBatchSize?: number;
  gradientAccumulationSteps?: number;
  numProcesses?: number;
  /** TRL ≥ 0.20: "token" ratios (GSPO's "sequence" is not implemented here). */
  importanceSamplingLevel?: "token";
  /** TRL v1.9: how several reward functions are normalised. */
  multiObjectiveAggregation?: "sum_then_normalize";
}

/** R1-V's CLEVR run on TRL 0.14 (README of the first release, `run_grpo_clevr.sh`). */
const r1v: GrpoPreset = {
  source: "Deep-Agent/R1-V 033f53c README + src/scripts/run_grpo_clevr.sh, trl==0.14.0 defaults",
  numGenerations: 8,
  beta: 0.04, // TRL 0.14 default, not overridden (= DeepSeekMath's)
  numIterations: 1,
  // TRL 0.14 has no clipping at all; with μ = 1 the ratio is 1, so ε never acts. 0.2 is TRL's later default.
  epsilon: 0.2,
  epsilonHigh: 0.2,
  lossType: "grpo", // per-sequence mean, then mean over the B·G completions
  scaleRewards: "group", // TRL 0.14 always divides by the group std
  advantageEps: 1e-4,
  klEstimator: "k3",
  temperature: 1, // hard-coded ("# HACK") whatever --temperature says; TRL 0.14's default is 0.9
  maxPromptLength: 1024, // first README and script; the current README says 512
  maxCompletionLength: 256, // not set → TRL 0.14 default; the current README passes 512
  maskTruncatedCompletions: false, // EOS kept in the mask; truncated completions trained on
  learningRate: 1e-6,
  lrScheduler: "linear", // HF Trainer default, no warmup
  warmupRatio: 0,
  // @vlab/rewards: accuracyReward { mode: "r1v" }, formatReward { variant: "r1v" }
  rewardFunctions: ["accuracy", "format"],
  rewardWeights: [1, 1], // r ∈ {0, 1, 2}
  batchCounts: "prompts",
  perDeviceTrainBatchSize: 1, // "keep B = 1": batched training is buggy
  gradientAccumulationSteps: 2,
  numProcesses: 8, // 8 GPUs × 1 × 2 = 16 prompts × 8 = 128 completions per optimizer step; reported at step 100
};

/** TRL v1.9.0's GRPOConfig defaults (DAPO token-level loss, no KL). */
const modern: GrpoPreset = {
  source: "huggingface/trl v1.9.0 trl/trainer/grpo_config.py",
  numGenerations: 8,
  beta: 0, // since v0.19; the reference model is not even loaded
  numIterations: 1,
  epsilon: 0.2,
  epsilonHigh: 0.2, // epsilon_high = None → ε
  lossType: "dapo", // since v0.22
  scaleRewards: "group",
  advantageEps: 1e-4,
  klEstimator: "k3",
  temperature: 1, // since v0.18
  topP: 1,
  topK: 0,
  maxPromptLength: null, // removed
  maxCompletionLength: 256,
  maskTruncatedCompletions: false,
  learningRate: 1e-6,
  lrScheduler: "linear",
  warmupRatio: 0,
  rewardFunctions: [],
  rewardWeights: null,
  batchCounts: "completions", // a group may span processes; (processes × batch × steps_per_generation) % G == 0
  importanceSamplingLevel: "token",
  multiObjectiveAggregation: "sum_then_normalize",
};

export const presets: { readonly r1v: Readonly<GrpoPreset>; readonly modern: Readonly<GrpoPreset> } = Object.freeze({
  r1v: Object.freeze(r1v),
  modern: Object.freeze(modern),
});
