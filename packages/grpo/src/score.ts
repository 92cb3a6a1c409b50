/**
 * Scoring a step's completions: every reward function on every completion, then the weighted total
 *
 *   r_i = Σ_k w_k r_i^(k)                              (R1-V: accuracy + format, unweighted; TRL `reward_weights`)
 *
 * A reward function that throws, or returns a non-finite value, counts as missing for that completion: it
 * is left out of the sum, as TRL v1.9's nansum over `None` rewards (`_generate_and_score_completions` in
 * `trl/trainer/grpo_trainer.py`); a completion with every reward missing gets NaN, and then advantage 0.
 * Throws are collected (and warned about once per function) so the metrics can report them.
 */
import { weightedSum, type RewardTerm } from "@vlab/rewards";

/** A reward function: `fn(completion text, the prompt's sample)`, weighted (default 1) into the total. */
export type RewardSpec<S> = RewardTerm<S>;

export interface RewardError {
  reward: string;
  /** Completion index in the step (group = floor(index / G)). */
  index: number;
  message: string;
}

export interface Scores {
  /** Each reward function's value per completion (NaN where missing). */
  perFn: Record<string, number[]>;
  /** The weighted total per completion (NaN where every reward is missing). */
  total: number[];
  errors: RewardError[];
}

/** Throws unless the reward functions have unique, non-empty names and finite weights. */
export function checkRewards<S>(rewards: readonly RewardSpec<S>[]): void {
  if (rewards.length === 0) throw new Error("GrpoTrainer: give at least one reward function");
  const names = new Set<string>();
  for (const r of rewards) {
    if (!r.name || names.has(r.name))
      throw new Error(`GrpoTrainer: reward names must be unique and non-empty, got "${r.name}"`);
    if (r.weight !== undefined && !Number.isFinite(r.weight))
      throw new Error(`GrpoTrainer: reward "${r.name}" has weight ${r.weight}`);
    names.add(r.name);
  }
}

/**
 * Every reward function on every completion (each with the sample of its prompt). A throw or a non-finite
 * value becomes NaN; `warned` holds the functions already warned about (one warning each).
 */
export function scoreCompletions<S>(
  rewards: readonly RewardSpec<S>[],
  completions: readonly { text: string; sample: S }[],
  warned: Set<string>,
): Scores {
  const errors: RewardError[] = [];
  const values = rewards.map((r): [string, number[]] => [
    r.name,
    completions.map(({ text, sample }, i) => {
      try {
        const v = r.fn(text, sample);
        return typeof v === "number" && Number.isFinite(v) ? v : NaN;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        errors.push({ reward: r.name, index: i, message });
        if (!warned.has(r.name)) {
          warned.add(r.name);
          console.warn(
            `GrpoTrainer: reward "${r.name}" threw (${message}); such values count as missing (NaN) and are reported ` +
              `in the metrics as rewards/${r.name}/errors`,
          );
        }
        return NaN;
      }
    }),
  ]);
  const weights = rewards.map((r) => r.weight ?? 1);
  const total = completions.map((_, i) =>
    weightedSum(
      values.map(([, v]) => v[i]),
      weights,
    ),
  );
  return { perFn: Object.fromEntries(values), total, errors };
}
