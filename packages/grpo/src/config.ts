/**
 * The GRPO trainer's options, with TRL's `GRPOConfig` names beside ours, and R1-V's values.
 *
 * Sources: R1-V (Deep-Agent/R1-V, `src/r1-v/src/open_r1/trainer/grpo_trainer.py` and the CLEVR run's
 * `src/scripts/run_grpo_clevr.sh`) pins TRL v0.14.0; TRL v1.9.0's `trl/trainer/grpo_config.py` has the current
 * defaults. `presets.ts` holds both runs; `grpoConfig(preset, overrides)` turns one into a trainer config.
 *
 * Sampling: each step samples with an rng derived from (seed, step) alone (`samplingRng`), so a resumed run
 * draws exactly what an uninterrupted one did and a checkpoint needs no rng state.
 */
import { Rng } from "@vlab/core";
import type { ScaleRewards } from "./advantages.js";
import { GENERATION_MODES, type GenerationMode } from "./generation.js";
import { LOSS_TYPES, type LossType } from "./loss.js";
import type { GrpoPreset } from "./presets.js";

export interface GrpoConfig {
  /** G: completions sampled per prompt (TRL `num_generations`; R1-V 8). */
  groupSize: number;
  /** KL coefficient β (TRL `beta`; R1-V 0.04; TRL ≥ 0.19: 0, and then no reference model is needed). */
  beta: number;
  /** Clip range ε below 1, and above unless epsilonHigh is set (TRL `epsilon`, 0.2). Acts only when μ > 1. */
  epsilon: number;
  /** Clip range above 1 (TRL `epsilon_high`, DAPO's clip-higher); default ε. */
  epsilonHigh?: number;
  /** μ: gradient steps per batch of samples (TRL `num_iterations`; R1-V 1). */
  numIterations: number;
  /** Loss aggregation (TRL `loss_type`): grpo (R1-V) | bnpo | dr_grpo | dapo (TRL v1.9's default); see loss.ts. */
  lossType: LossType;
  /** Advantage scaling (TRL `scale_rewards`): "group" | "batch" | "none" (Dr. GRPO). */
  scaleRewards: ScaleRewards;
  /** Added to the std in the advantage (1e-4 in TRL and R1-V). */
  advantageEps: number;
  /** Sampling temperature (> 0; TRL `temperature`; R1-V hard-codes 1). The log-probs divide by it too. */
  temperature: number;
  /** Top-k sampling (TRL `top_k`; 0 = off). */
  topK: number;
  /** Nucleus sampling (TRL `top_p`; 1 = off). */
  topP: number;
  /** Tokens generated at most per completion (TRL `max_completion_length`, 256; also dr_grpo's L_max). */
  maxCompletionLength: number;
  /** AdamW learning rate (TRL `learning_rate`; R1-V 1e-6): a constant or a schedule `step => lr`. */
  lr: number | ((step: number) => number);
  /** Clip gradients to this global norm (HF Trainer's `max_grad_norm`, default 1); 0 or Infinity: no clipping. */
  maxGradNorm: number;
  /** Zero the mask of completions that never stopped (TRL `mask_truncated_completions`, default false). */
  maskTruncated: boolean;
  /** Seed of the sampling: step s samples with an rng derived from (seed, s). */
  seed: number;
  /** AdamW decoupled weight decay (HF Trainer's `weight_decay`, default 0). */
  weightDecay: number;
  /**
   * How a step samples its completions: "batched" (default: one call, R1-V) or "sequential" (one call per
   * generation, open-r1-multimodal); each call's time is in the metrics (generation.ts).
   */
  generation?: GenerationMode;
  /**
   * With β = 0, still measure the KL to the start policy, for logging only (metrics `kl`, `kl_seq`): the trainer then
   * keeps a frozen snapshot of the starting weights and runs one extra forward pass per step with them — the
   * reference model's cost, which β = 0 otherwise saves. Default false. (With β ≠ 0 the KL is always logged.)
   */
  logKl?: boolean;
  /**
   * Freeze the vision side — Qwen2-VL's `visual.*` (tower and merger), LLaVA's `vision_tower.*` — out of training
   * (VisualThinker-R1-Zero `--freeze_vision`; freeze.ts). Default false.
   */
  freezeVision?: boolean;
  /**
   * Freeze the LM body — `model.*`, LLaVA's `language_model.model.*`; lm_head and the projector stay trainable
   * (VisualThinker-R1-Zero `--freeze_llm`; freeze.ts). Default false.
   */
  freezeLlm?: boolean;
  /**
   * VisualThinker's bug: its freeze lines assign an attribute instead of calling `requires_grad_(False)`, so the
   * flags freeze nothing (and its `elif` ignores freezeLlm when freezeVision is set). Default false: flags freeze.
   */
  faithfulFreeze?: boolean;
  /**
   * How rewards become advantages: "grpo" (default; group normalisation, advantages.ts, with β·KL_k3 in the loss)
   * or "reinforce_baseline" (OpenRLHF's, as lmm-r1 trains: group-mean baseline, KL folded into the per-token reward
   * as β·k1, returns, whitening over the batch's completion tokens; reinforce.ts). β is then OpenRLHF's
   * `init_kl_coef` (lmm-r1 0.001), and lmm-r1's loss aggregation is a token mean over the batch: lossType "bnpo".
   */
  advantageEstimator?: AdvantageEstimator;
}

/** The advantage estimators the trainer runs (OpenRLHF's `--advantage_estimator` names). */
export type AdvantageEstimator = "grpo" | "reinforce_baseline";
export const ADVANTAGE_ESTIMATORS: readonly AdvantageEstimator[] = ["grpo", "reinforce_baseline"];

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
  // An override given as undefined keeps the preset's value.
  const defined: Partial<GrpoConfig> = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...base, ...defined };
}

/** Throws a clear error for a config the trainer cannot run. */
export function checkGrpoConfig(c: GrpoConfig): void {
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
  if (c.generation !== undefined && !GENERATION_MODES.includes(c.generation))
    bad(`unknown generation "${c.generation}" (one of ${GENERATION_MODES.join(", ")})`);
  for (const k of ["freezeVision", "freezeLlm", "faithfulFreeze", "logKl"] as const)
    if (c[k] !== undefined && typeof c[k] !== "boolean") bad(`${k} must be true or false, got ${String(c[k])}`);
  if (c.advantageEstimator !== undefined && !ADVANTAGE_ESTIMATORS.includes(c.advantageEstimator))
    bad(`unknown advantageEstimator "${c.advantageEstimator}" (one of ${ADVANTAGE_ESTIMATORS.join(", ")})`);
}

/** The learning rate of step `step`. */
export function lrAt(config: Pick<GrpoConfig, "lr">, step: number): number {
  const { lr } = config;
  return typeof lr === "function" ? lr(step) : lr;
}

/** The gradient clip of `updateStep`: maxGradNorm, or none when it is 0 or Infinity (HF Trainer). */
export function gradClip(config: Pick<GrpoConfig, "maxGradNorm">): number | undefined {
  const c = config.maxGradNorm;
  return c > 0 && Number.isFinite(c) ? c : undefined;
}

/** The sampling rng of step `step`: a function of (seed, step) only, so resuming needs no rng state. */
export function samplingRng(seed: number, step: number): Rng {
  return new Rng((step + 1) * 4294967296 + (seed >>> 0));
}
