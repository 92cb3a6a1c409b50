/**
 * OpenRLHF's `reinforce_baseline` advantage estimator (REINFORCE++-baseline), as LMM-R1 trains with it
 * (TideDra/lmm-r1, `--advantage_estimator reinforce_baseline`, `--init_kl_coef 0.001`; OpenRLHF underneath).
 *
 * Reference code (lmm-r1 @ 2e98315): `openrlhf/trainer/ppo_utils/experience_maker.py`,
 * `RemoteExperienceMaker.make_experience` (the KL), `.compute_advantages_and_returns` (the baseline, rewards, returns,
 * whitening) and `.get_cumulative_returns`; `openrlhf/models/utils.py`, `compute_approx_kl` and `compute_reward`
 * (OpenRLHF/OpenRLHF). For completion i of a group of G, with completion mask M and β = `init_kl_coef`:
 *
 *   1. baseline   r̃_i = clip(r_i − mean_g(r), −10, 10)         group mean, no /std; clip = `reward_clip_range`
 *   2. KL (k1)    kl_{i,t} = log π_old(c_t) − log π_ref(c_t)     `compute_approx_kl(kl_estimator="k1")`, at sampling
 *                                                                  time: a number, no gradient flows through it
 *   3. rewards    ρ_{i,t} = −β·kl_{i,t} + [t = last_i]·r̃_i       `compute_reward`: r̃ on the last unmasked token
 *   4. returns    G_{i,t} = Σ_{s ≥ t} M_{i,s}·ρ_{i,s}             `get_cumulative_returns`, γ = 1 (forced to 1 for this
 *                                                                  estimator); advantages = returns
 *   5. whitening  A_{i,t} = (G_{i,t} − μ) / √max(σ², 1e-8)        μ, σ² = mask-weighted mean and *biased* variance over
 *                                                                  every completion token of the batch
 *
 * So every token of completion i shares its group-relative reward, minus β times the KL of the tokens from it to the
 * end, and the whole batch's token advantages are standardised together (not per group as GRPO's). The KL is part of
 * the reward here, not a loss term (GRPO adds β·KL_k3 to the loss): the trainer calls the loss with β = 0. The policy
 * loss is PPO's clipped ratio (`PolicyLoss`, token_level_loss on: a masked mean over all tokens of the micro-batch,
 * our lossType "bnpo"). `stdNorm: false` is OpenRLHF's `--no_advantage_std_norm` (mean subtracted, no division).
 *
 * Missing rewards (NaN) get r̃ = 0 and are left out of the group mean (advantages.ts's "none" scaling). A completion
 * with no unmasked token (e.g. cut off under maskTruncated) gets no reward and no advantage. Positions outside the
 * mask get advantage 0 here (OpenRLHF leaves (0 − μ)/σ there; the loss ignores them either way). With no unmasked
 * token in the batch, every advantage is 0.
 *
 * Layout as advantages.ts: rewards [N] with N = (#prompts)·G, a prompt's G completions adjacent; matrices [N, C].
 */
import { groupAdvantages } from "./advantages.js";
import { matrixShape, sameShape, type Matrix } from "./shapes.js";

export interface ReinforceBaselineInput {
  /** Total reward per completion [N] (NaN = missing). */
  rewards: ArrayLike<number>;
  /** G: completions per prompt, adjacent. */
  groupSize: number;
  /** Completion mask [N, C]: nonzero = the token counts. */
  mask: Matrix;
  /** KL coefficient β (OpenRLHF `init_kl_coef`; lmm-r1 0.001). 0 (or less): no KL in the rewards. */
  beta: number;
  /** log π_old of the sampled tokens [N, C] (the policy at sampling time). Needed when β > 0. */
  logp?: Matrix;
  /** log π_ref [N, C] of the reference model. Needed when β > 0. */
  refLogp?: Matrix;
  /** `reward_clip_range`, applied to the baseline-subtracted reward (OpenRLHF default [−10, 10]). */
  rewardClip?: readonly [number, number];
  /** Divide by the token std after subtracting the mean (default true; false = `--no_advantage_std_norm`). */
  stdNorm?: boolean;
}

export interface ReinforceBaselineResult {
  /** A_{i,t} [N, C] (0 outside the mask). */
  advantages: number[][];
  /** G_{i,t} [N, C]: the returns before whitening (0 outside the mask). */
  returns: number[][];
  /** ρ_{i,t} [N, C]: per-token rewards, −β·k1 plus r̃ on the last token (0 outside the mask). */
  tokenRewards: number[][];
  /** r̃_i [N]: the group-mean-baselined, clipped reward. */
  shaped: number[];
  /** k1 per token [N, C] (0 outside the mask; all 0 without log-probs). */
  kl: number[][];
  /** Masked token mean of k1 (the `kl` metric in this mode), and the mean of per-completion means (`kl_seq`). */
  klMean: number;
  klSeqMean: number;
  /** The whitening's μ and σ (√ of the biased variance, before the 1e-8 floor). */
  mean: number;
  std: number;
  /** Per completion: the mean of its token advantages (0 with no unmasked token), to show beside GRPO's A_i. */
  perCompletion: number[];
}

/** OpenRLHF `reward_clip_range` default. */
export const REWARD_CLIP_RANGE: readonly [number, number] = [-10, 10];
/** The floor on the variance before its inverse square root (`var.clamp(min=1e-8).rsqrt()`). */
export const WHITEN_VAR_FLOOR = 1e-8;

/** Per-token advantages of OpenRLHF's reinforce_baseline; see the file comment. */
export function reinforceBaselineAdvantages(inp: ReinforceBaselineInput): ReinforceBaselineResult {
  const fn = "reinforceBaselineAdvantages";
  const [N, C] = matrixShape(inp.mask, fn, "mask");
  if (inp.rewards.length !== N) throw new Error(`${fn}: ${inp.rewards.length} rewards for ${N} mask rows`);
  if (!Number.isFinite(inp.beta)) throw new Error(`${fn}: beta must be a number, got ${inp.beta}`);
  const beta = Math.max(0, inp.beta); // compute_reward: kl_coef ≤ 0 → 0
  const [lo, hi] = inp.rewardClip ?? REWARD_CLIP_RANGE;
  if (!(lo <= hi)) throw new Error(`${fn}: rewardClip must be [low, high] with low ≤ high, got [${lo}, ${hi}]`);
  const { logp, refLogp } = inp;
  if (beta > 0 && (!logp || !refLogp))
    throw new Error(`${fn}: β > 0 needs logp (the policy at sampling time) and refLogp (the reference model)`);
  if (logp) sameShape(fn, [N, C], matrixShape(logp, fn, "logp"), "logp");
  if (refLogp) sameShape(fn, [N, C], matrixShape(refLogp, fn, "refLogp"), "refLogp");
  if ((logp === undefined) !== (refLogp === undefined)) throw new Error(`${fn}: give logp and refLogp together`);

  // 1. Group-mean baseline (NaN → 0), clipped.
  const shaped = groupAdvantages(inp.rewards, inp.groupSize, { scale: "none" }).map((x) =>
    Math.min(Math.max(x, lo), hi),
  );
  const on = (i: number, t: number) => (inp.mask[i]?.[t] ?? 0) !== 0;
  const zeros = () => Array.from({ length: N }, () => new Array<number>(C).fill(0));
  const kl = zeros();
  const tokenRewards = zeros();
  const returns = zeros();
  const advantages = zeros();
  let klSum = 0;
  let klSeqSum = 0;
  let tokens = 0;
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < N and t < C: every [N, C] input was checked above
     and the row arrays were made [N, C] */
  for (let i = 0; i < N; i++) {
    // 2-3. k1 and the per-token rewards; r̃ on the last unmasked token.
    let last = -1;
    let rowKl = 0;
    let rowCnt = 0;
    for (let t = 0; t < C; t++) {
      if (!on(i, t)) continue;
      last = t;
      const k = logp && refLogp ? logp[i]![t]! - refLogp[i]![t]! : 0;
      kl[i]![t] = k;
      tokenRewards[i]![t] = -beta * k;
      rowKl += k;
      rowCnt++;
    }
    if (last >= 0) tokenRewards[i]![last]! += shaped[i]!;
    // 4. Returns: the masked rewards summed from t to the end (γ = 1).
    let g = 0;
    for (let t = C - 1; t >= 0; t--) {
      if (!on(i, t)) continue;
      g += tokenRewards[i]![t]!;
      returns[i]![t] = g;
    }
    klSum += rowKl;
    klSeqSum += rowKl / Math.max(1, rowCnt);
    tokens += rowCnt;
  }
  // 5. Whitening over every unmasked token of the batch (biased variance).
  let mean = 0;
  let std = 0;
  if (tokens > 0) {
    let s = 0;
    for (let i = 0; i < N; i++) for (let t = 0; t < C; t++) if (on(i, t)) s += returns[i]![t]!;
    mean = s / tokens;
    let ss = 0;
    for (let i = 0; i < N; i++) for (let t = 0; t < C; t++) if (on(i, t)) ss += (returns[i]![t]! - mean) ** 2;
    const variance = ss / tokens;
    std = Math.sqrt(variance);
    const rstd = inp.stdNorm === false ? 1 : 1 / Math.sqrt(Math.max(variance, WHITEN_VAR_FLOOR));
    for (let i = 0; i < N; i++)
      for (let t = 0; t < C; t++) if (on(i, t)) advantages[i]![t] = (returns[i]![t]! - mean) * rstd;
  }
  const perCompletion = advantages.map((row, i) => {
    let s = 0;
    let n = 0;
    row.forEach((a, t) => {
      if (on(i, t)) {
        s += a;
        n++;
      }
    });
    return n > 0 ? s / n : 0;
  });
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return {
    advantages,
    returns,
    tokenRewards,
    shaped,
    kl,
    klMean: klSum / Math.max(1, tokens),
    klSeqMean: N > 0 ? klSeqSum / N : 0,
    mean,
    std,
    perCompletion,
  };
}
