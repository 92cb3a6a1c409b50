/**
 * What a GRPO step logs, under TRL's names (TRL v1.9.0 `docs/source/grpo_trainer.md`, "Logged metrics"), and
 * the samples it keeps to show in a notebook.
 *
 *   loss, grad_norm (before clipping), lr                        means over the μ iterations
 *   reward, reward_std (whole batch), reward_group_std            mean group std: R1-V / TRL 0.14's reward_std
 *   rewards/<name>/mean, /std, /nan (missing values), /errors (throws)
 *   frac_reward_zero_std                                          groups with no learning signal
 *   kl (masked token mean, TRL ≥ 0.15), kl_seq (mean of per-sequence means, R1-V)   when β ≠ 0, or with logKl
 *   entropy                                                       masked token mean of the policy's entropy
 *   completions/mean_length, min_length, max_length, clipped_ratio (share that hit maxCompletionLength)
 *   clip_ratio/low_mean, clip_ratio/high_mean, clip_ratio/region_mean
 *   generate_ms, update_ms                                        wall time of sampling and of the rest
 *   generate_calls, generate_ms/<k>                               the generate calls (1 batched, G sequential), each
 *                                                                 one's wall time
 *   ref_ms                                                        the reference pass (0 when there is none)
 *   step_ms                                                       the whole step (TRL `step_time`, in ms)
 *   memory/tensors, memory/bytes                                  tfjs tensors held as the update starts: the
 *                                                                 model, the reference weights, the step's tensors
 *   advantage_estimator/reinforce_baseline = 1, advantages/whiten_mean, advantages/whiten_std
 *                                                                 only with advantageEstimator "reinforce_baseline"
 *                                                                 (reinforce.ts); kl and kl_seq are then its k1
 *                                                                 at sampling time (GRPO's: the loss's k3)
 */
import type { GenerateResult } from "@vlab/llm";
import { rewardStats } from "./advantages.js";
import type { AdvantageEstimator, GrpoConfig } from "./config.js";
import type { RewardError, Scores } from "./score.js";

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
  generate_calls: number;
  ref_ms: number;
  step_ms: number;
  "memory/tensors": number;
  "memory/bytes": number;
  /** rewards/<name>/mean, /std, /nan, /errors; generate_ms/<k>. */
  [key: string]: number | undefined;
}

/** What the μ updates of a step measured, summed over the iterations (the metrics are their means). */
export interface UpdateSums {
  loss: number;
  gradNorm: number;
  /** Masked token mean of the KL (TRL ≥ 0.15). */
  kl: number;
  /** Mean of the per-sequence mean KL (R1-V). */
  klSeq: number;
  /** clip_ratio/low_mean, high_mean, region_mean. */
  low: number;
  high: number;
  region: number;
  entropy: number;
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
  /**
   * Per completion: GRPO's A_i; with reinforce_baseline, the mean of the completion's token advantages (see
   * `tokenAdvantages`).
   */
  advantages: number[];
  errors: RewardError[];
  /** Which estimator made the advantages (config `advantageEstimator`). */
  estimator: AdvantageEstimator;
  /** reinforce_baseline only: each completion's per-token advantages (one per completion token). */
  tokenAdvantages?: number[][];
}

/** The metrics of a step from what it sampled, scored and measured. */
export function stepMetrics(m: {
  step: number;
  lr: number;
  config: Pick<GrpoConfig, "beta" | "numIterations" | "groupSize" | "logKl">;
  sums: UpdateSums;
  scores: Scores;
  completions: readonly (readonly number[])[];
  finishReasons: GenerateResult["finishReasons"];
  generateMs: number;
  updateMs: number;
  /** Wall time of each generate call. */
  callMs: readonly number[];
  refMs: number;
  stepMs: number;
  memory: { tensors: number; bytes: number };
}): GrpoMetrics {
  const { sums, scores, completions } = m;
  const { beta, groupSize: G } = m.config;
  const mu = m.config.numIterations;
  const N = completions.length;
  const lengths = completions.map((c) => c.length);
  const stats = rewardStats(scores.total, G);
  const out: GrpoMetrics = {
    step: m.step,
    loss: sums.loss / mu,
    grad_norm: sums.gradNorm / mu,
    lr: m.lr,
    reward: stats.mean,
    reward_std: stats.std,
    reward_group_std: stats.groupStdMean,
    frac_reward_zero_std: stats.fracZeroStd,
    entropy: sums.entropy / mu,
    "completions/mean_length": lengths.reduce((a, b) => a + b, 0) / N,
    "completions/min_length": Math.min(...lengths),
    "completions/max_length": Math.max(...lengths),
    "completions/clipped_ratio": m.finishReasons.filter((r) => r === "length").length / N,
    "clip_ratio/low_mean": sums.low / mu,
    "clip_ratio/high_mean": sums.high / mu,
    "clip_ratio/region_mean": sums.region / mu,
    generate_ms: m.generateMs,
    update_ms: m.updateMs,
    generate_calls: m.callMs.length,
    ref_ms: m.refMs,
    step_ms: m.stepMs,
    "memory/tensors": m.memory.tensors,
    "memory/bytes": m.memory.bytes,
  };
  m.callMs.forEach((ms, k) => (out[`generate_ms/${k}`] = ms));
  if (beta !== 0 || m.config.logKl === true) {
    out.kl = sums.kl / mu;
    out.kl_seq = sums.klSeq / mu;
  }
  for (const [name, v] of Object.entries(scores.perFn)) {
    const st = rewardStats(v, G);
    out[`rewards/${name}/mean`] = st.mean;
    out[`rewards/${name}/std`] = st.std;
    out[`rewards/${name}/nan`] = v.filter((x) => Number.isNaN(x)).length;
    out[`rewards/${name}/errors`] = scores.errors.filter((e) => e.reward === name).length;
  }
  return out;
}

/** Group k of a step as table rows: completion, each reward, the total and the advantage. */
export function groupTable<S>(s: StepSamples<S>, k: number): Record<string, string | number>[] {
  const G = s.groupSize;
  if (!(Number.isInteger(k) && k >= 0 && k * G < s.completions.length))
    throw new RangeError(`groupTable: no group ${k} (the step has ${s.completions.length / G})`);
  return s.completions.slice(k * G, (k + 1) * G).map((completion, j) => {
    const i = k * G + j;
    const row: Record<string, string | number> = { completion };
    for (const [name, v] of Object.entries(s.rewards)) row[name] = at(v, i, name);
    row.reward = at(s.reward, i, "reward");
    row.advantage = at(s.advantages, i, "advantage");
    row.length = at(s.completionIds, i, "completionIds").length;
    return row;
  });
}

/** xs[i], or a clear error when a step's arrays disagree in length. */
function at<T>(xs: readonly T[], i: number, what: string): T {
  const x = xs[i];
  if (x === undefined) throw new RangeError(`groupTable: ${what} has no entry for completion ${i}`);
  return x;
}
