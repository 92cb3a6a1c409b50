/**
 * Combining rewards: r_i = Σ_k w_k · r_i^(k), as TRL's GRPOTrainer does (`reward_weights`, default
 * all 1). R1-V sums accuracy and format unweighted (r ∈ {0, 1, 2}); lmm-r1 uses 0.5·format + accuracy.
 *
 * A reward function may return null (TRL: None, "not applicable to this sample"); such a term is left
 * out of the sum (TRL's nansum). If every term is missing the total is NaN, which
 * `groupAdvantages` (@vlab/grpo) turns into an advantage of 0. A function that throws or returns a
 * non-finite number counts as missing.
 */
import { asText } from "./text.js";

/** A reward of one completion; `example` carries the dataset columns (solution, boxes, …). */
export type RewardFn<E> = (completion: string, example: E) => number | null | undefined;

export interface RewardTerm<E> {
  /** Name under which the part is reported (TRL logs `rewards/<name>/mean`). */
  name: string;
  fn: RewardFn<E>;
  /** Weight in the sum (default 1). */
  weight?: number;
}

export interface CombinedReward {
  /** Σ_k w_k r^(k) over the terms present; NaN if none is. */
  total: number;
  /** Each term's unweighted value, null where it was missing. */
  parts: Record<string, number | null>;
}

/** Σ w_k v_k over the finite values (weights default to 1); NaN when no value is finite. */
export function weightedSum(values: readonly (number | null | undefined)[], weights?: readonly number[]): number {
  let total = 0;
  let any = false;
  values.forEach((v, k) => {
    if (typeof v !== "number" || !Number.isFinite(v)) return;
    const w = weights?.[k] ?? 1;
    total += w * v;
    any = true;
  });
  return any ? total : NaN;
}

/**
 * One reward function out of several weighted ones.
 *
 *   const r1v = combineRewards([
 *     { name: "accuracy", fn: (c, ex: { solution: string }) => accuracyReward(c, ex.solution) },
 *     { name: "format", fn: (c) => formatReward(c) },
 *   ]);
 *   r1v(completion, { solution: "<answer> 3 </answer>" }).total   // 0, 1 or 2
 *
 * A non-string completion gets 0 from every term. Never throws.
 */
export function combineRewards<E>(
  terms: readonly RewardTerm<E>[],
): (completion: unknown, example: E) => CombinedReward {
  return (completion, example) => {
    const text = asText(completion);
    const parts: Record<string, number | null> = {};
    const values = terms.map((t) => {
      let v: number | null = 0;
      if (text !== null) {
        try {
          const r = t.fn(text, example);
          v = typeof r === "number" && Number.isFinite(r) ? r : null;
        } catch {
          v = null;
        }
      }
      parts[t.name] = v;
      return v;
    });
    return {
      total: weightedSum(
        values,
        terms.map((t) => t.weight ?? 1),
      ),
      parts,
    };
  };
}
