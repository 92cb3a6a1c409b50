/**
 * The GRPO trainer: R1-V's training run (Deep-Agent/R1-V's `Qwen2VLGRPOTrainer`, on TRL v0.14) on core's
 * training loop. It holds what lasts across steps — the policy, the reference weights, the optimizer, the
 * step count and the history — and runs
 *
 *   trainLoop (@vlab/core train.ts)       interrupt check, progress / log lines, checkpoint every k steps
 *     step hook: grpoStep (step.ts)       sample → score → advantages → μ updates (core's updateStep)
 *
 * config.ts holds the options (TRL's names), metrics.ts what a step logs (TRL's names), score.ts the rewards.
 *
 * Which parameters it trains: the policy's trainable ones, less those the freeze options (`freezeVision`,
 * `freezeLlm`; VisualThinker-R1-Zero's flags, freeze.ts) take out — by name, without touching the model's own flags;
 * `frozen` lists them. `advantageEstimator` picks GRPO's group normalisation or OpenRLHF's reinforce_baseline
 * (reinforce.ts); a checkpoint records both settings (when not the defaults) and refuses to resume under others.
 *
 * The reference policy: `ref` if given, else (β ≠ 0, or `logKl` for the KL to the start) a frozen copy of the
 * policy's trainable weights taken when the trainer is made (reference.ts), swapped in for the reference pass and
 * saved in checkpoints. With β = 0 and no `logKl` there is none: `referenceCost()` says what it holds (0 then), the
 * step metrics `ref_ms`, `step_ms` and `memory/bytes` what it costs per step.
 *
 * Checkpoints (atomic safetensors): the trainable weights, the reference weights (prefixed "ref."), the AdamW
 * moments, the step, the history and the seed. Each step's sampling rng is derived from (seed, step), so a
 * run resumed from a checkpoint continues exactly as the uninterrupted run would have.
 */
import {
  AdamW,
  assignByName,
  loadCheckpoint,
  saveCheckpoint,
  tf,
  trainLoop,
  withScope,
  type Progress,
} from "@vlab/core";
import { existsSync } from "node:fs";
import { checkGrpoConfig, lrAt, type GrpoConfig } from "./config.js";
import type { GrpoMetrics, StepSamples } from "./metrics.js";
import { freezePlan } from "./freeze.js";
import type { Policy } from "./policy.js";
import { copyWeights, tensorCost, type RefWeights } from "./reference.js";
import { checkRewards, type RewardSpec } from "./score.js";
import { grpoStep, usesReference, type GrpoBatch, type GrpoTokenizer } from "./step.js";

export interface GrpoTrainerOptions<S> {
  policy: Policy;
  /**
   * Reference policy for the KL term (only its logProbs is used). Default: a frozen copy of `policy`'s weights,
   * when β ≠ 0.
   */
  ref?: Pick<Policy, "logProbs">;
  tokenizer: GrpoTokenizer;
  rewards: readonly RewardSpec<S>[];
  config: GrpoConfig;
  /**
   * Default: AdamW over the policy's trainable parameters (less those the config's freeze options freeze), lr and
   * weightDecay from the config. A given optimizer only ever receives gradients of those parameters.
   */
  optimizer?: AdamW;
}

export interface GrpoTrainOptions<S> {
  /** Train until this many steps are completed (a resumed run continues up to it). */
  steps: number;
  /**
   * The batch of step `step` (pick the data from `step`, so that a resume sees the same batches). Tensors it creates
   * are freed after the step.
   */
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
  /**
   * Parameter names the freeze options took out of training (freeze.ts); empty without them, or with
   * `faithfulFreeze` (VisualThinker's flags that freeze nothing).
   */
  readonly frozen: readonly string[];

  private readonly named: [string, tf.Variable][];
  private readonly ownsOptimizer: boolean;
  /** The reference weights when no `ref` is given and β ≠ 0 (by trainable parameter name). */
  private refWeights: RefWeights | null = null;
  private readonly warned = new Set<string>();

  constructor(opts: GrpoTrainerOptions<S>) {
    const { policy, tokenizer, rewards, config } = opts;
    checkGrpoConfig(config);
    checkRewards(rewards);
    if (tokenizer.stopIds.length === 0) throw new Error("GrpoTrainer: the tokenizer has no stop ids");
    this.policy = policy;
    this.ref = opts.ref;
    this.tokenizer = tokenizer;
    this.rewards = rewards;
    this.config = { ...config };
    // The model's trainable parameters, less those the freeze options freeze (all of them without the options).
    const plan = freezePlan(policy.namedParameters(), config);
    this.named = plan.trainable;
    this.frozen = plan.frozen;
    this.ownsOptimizer = !opts.optimizer;
    this.optimizer =
      opts.optimizer ?? new AdamW(this.named, { lr: lrAt(this.config, 0), weightDecay: config.weightDecay });
    if (usesReference(config) && !opts.ref) this.refWeights = copyWeights(this.named);
  }

  /**
   * What the trainer holds for the reference policy: its frozen weights (tensors, parameters, bytes as float32), or
   * zeros when there are none (β = 0 without `logKl`, or a separate `ref` given, whose weights are the caller's).
   * `trainable` is the same count for the policy's trainable weights, to compare with.
   */
  referenceCost(): { tensors: number; parameters: number; bytes: number; trainable: ReturnType<typeof tensorCost> } {
    const trainable = tensorCost(this.named.map(([, v]) => v));
    return { ...tensorCost(this.refWeights?.values() ?? []), trainable };
  }

  /**
   * One GRPO step on a batch (sample, score, advantages, μ updates); see step.ts. Tensors in the batch stay the
   * caller's.
   */
  async step(batch: GrpoBatch<S>): Promise<GrpoMetrics> {
    const step = this.stepCount;
    const { metrics, samples } = await grpoStep(
      {
        policy: this.policy,
        ref: this.ref,
        refWeights: this.refWeights,
        named: this.named,
        tokenizer: this.tokenizer,
        rewards: this.rewards,
        config: this.config,
        optimizer: this.optimizer,
        warned: this.warned,
      },
      batch,
      step,
    );
    this.lastGroup = samples;
    this.stepCount = step + 1;
    this.history.push(metrics);
    return metrics;
  }

  /**
   * The training loop (core's `trainLoop`): `steps` steps of `step(batch(s))`, checkpoints, clean stop on interrupt.
   */
  async train(opts: GrpoTrainOptions<S>): Promise<GrpoTrainResult> {
    const { steps, checkpoint, progress, onStep } = opts;
    if (opts.resume && checkpoint && existsSync(checkpoint.path)) {
      this.restore(checkpoint.path);
      if (!progress) console.log(`resumed from ${checkpoint.path} at step ${this.stepCount}`);
    }
    const { stopped } = await trainLoop<GrpoMetrics>({
      label: "GrpoTrainer.train",
      start: this.stepCount,
      steps,
      progress,
      onStep,
      checkpoint: checkpoint && { every: checkpoint.every, save: () => this.save(checkpoint.path) },
      // Tensors the batch function makes (a gathered slice of features …) are freed with the step's scope.
      step: (step) => withScope(() => this.step(opts.batch(step)), "grpo-step"),
      show: (m) => ({
        loss: m.loss,
        reward: m.reward,
        ...(m.kl !== undefined && { kl: m.kl }),
        length: m["completions/mean_length"],
      }),
    });
    return { history: this.history.slice(), stopped };
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
        // Only when set, so that a default run's checkpoint is as before.
        ...(this.freezeKey() !== "none" && { freeze: this.freezeKey() }),
        ...(this.estimator() !== "grpo" && { advantageEstimator: this.estimator() }),
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
          `GrpoTrainer.restore: ${path} was made with seed ${String(ck.extra.seed)}, this trainer has seed ` +
            `${this.config.seed} (the run would not continue the same way)`,
        );
      }
      const same = (what: string, saved: unknown, mine: string) => {
        if (saved !== mine)
          throw new Error(
            `GrpoTrainer.restore: ${path} was made with ${what} ${String(saved)}, this trainer has ${mine}`,
          );
      };
      same("freeze options", ck.extra.freeze ?? "none", this.freezeKey());
      same("advantageEstimator", ck.extra.advantageEstimator ?? "grpo", this.estimator());
      const weights: Record<string, tf.Tensor> = {};
      const ref: Record<string, tf.Tensor> = {};
      for (const [k, t] of Object.entries(ck.tensors)) {
        if (k.startsWith(REF_PREFIX)) ref[k.slice(REF_PREFIX.length)] = t;
        else weights[k] = t;
      }
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

  /** The freeze options as one string for the checkpoint ("none" when no flag is set). */
  private freezeKey(): string {
    const { freezeVision, freezeLlm, faithfulFreeze } = this.config;
    const flags = [freezeVision && "freezeVision", freezeLlm && "freezeLlm"].filter((x) => x);
    if (flags.length === 0) return "none";
    return flags.join("+") + (faithfulFreeze ? " (faithful: nothing frozen)" : "");
  }

  private estimator(): string {
    return this.config.advantageEstimator ?? "grpo";
  }

  /** Frees the optimizer (if the trainer made it) and the reference weights. The policy stays. */
  dispose(): void {
    if (this.ownsOptimizer) this.optimizer.dispose();
    if (this.refWeights) for (const t of this.refWeights.values()) t.dispose();
    this.refWeights = null;
  }
}
