/**
 * OpenRLHF's reinforce_baseline (lmm-r1's estimator) against worked numbers, the loss with per-token advantages, and
 * the trainer running it.
 *
 * The vectors were worked by hand (the intermediate rewards and returns below) and checked with a float64 numpy
 * transcription of lmm-r1's `compute_advantages_and_returns`, `compute_reward`, `get_cumulative_returns` and the
 * whitening (experience_maker.py, models/utils.py); the numbers pasted here are numpy's.
 */
import { tf } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { grpoConfig, type GrpoConfig } from "../src/config.js";
import { grpoLoss } from "../src/loss.js";
import { presets } from "../src/presets.js";
import { reinforceBaselineAdvantages } from "../src/reinforce.js";
import { GrpoTrainer } from "../src/trainer.js";
import { containsTarget, testBackend, tinyPolicy, tokenizer, toyBatch, type ToySample } from "./toy.js";

beforeAll(testBackend);

const close = (got: number[][], want: number[][], digits = 12) =>
  got.forEach((row, i) => row.forEach((x, t) => expect(x, `[${i}][${t}]`).toBeCloseTo(want[i]![t]!, digits)));

// Two prompts × G = 2, C = 3. Masked entries hold 9 (log-probs of padding: any value, ignored).
const mask = [
  [1, 1, 1],
  [1, 1, 0],
  [1, 0, 0],
  [1, 1, 1],
];
const k1 = [
  [0.2, -0.1, 0.3],
  [0.5, 0.1, 9],
  [-0.2, 9, 9],
  [0, 0, 0.4],
];
const refLogp = k1.map((row) => row.map(() => -1));
const logp = k1.map((row) => row.map((k) => -1 + k)); // log π_old − log π_ref = k1
const worked = { rewards: [1, 0, 2, 0], groupSize: 2, mask, beta: 0.1, logp, refLogp };

describe("reinforceBaselineAdvantages (OpenRLHF reinforce_baseline)", () => {
  it("matches the worked vector: baseline, k1 reward, returns, whitening with the biased std", () => {
    const r = reinforceBaselineAdvantages(worked);
    // 1. r − group mean: [1, 0] → ±0.5, [2, 0] → ±1 (no /std).
    expect(r.shaped).toEqual([0.5, -0.5, 1, -1]);
    // 3. −0.1·k1 per token, plus r̃ on the last unmasked token.
    close(r.tokenRewards, [
      [-0.02, 0.01, 0.47],
      [-0.05, -0.51, 0],
      [1.02, 0, 0],
      [0, 0, -1.04],
    ]);
    // 4. Returns: sums from t to the end.
    close(r.returns, [
      [0.46, 0.48, 0.47],
      [-0.56, -0.51, 0],
      [1.02, 0, 0],
      [-1.04, -1.04, -1.04],
    ]);
    // 5. μ = −1.76 / 9, σ² = 5.5218 / 9 − μ² (biased, over the 9 tokens).
    expect(r.mean).toBeCloseTo(-0.1955555555555556, 14);
    expect(r.std).toBeCloseTo(0.7584796358668381, 14);
    close(r.advantages, [
      [0.8643021177573813, 0.8906706569431997, 0.8774863873502905],
      [-0.48049338071935777, -0.41457203275481164, 0], // masked: 0 here (OpenRLHF: (0 − μ)/σ, ignored by the loss)
      [1.6026212149602967, 0, 0],
      [-1.1133383211789996, -1.1133383211789996, -1.1133383211789996],
    ]);
    // k1 as logged: token mean 1.2 / 9; mean of the per-completion means (0.4/3 + 0.6/2 − 0.2 + 0.4/3) / 4.
    expect(r.klMean).toBeCloseTo(1.2 / 9, 14);
    expect(r.klSeqMean).toBeCloseTo((0.4 / 3 + 0.3 - 0.2 + 0.4 / 3) / 4, 14);
    expect(r.perCompletion[2]).toBeCloseTo(1.6026212149602967, 12);
    // The whitened advantages have mean 0 and (biased) variance 1 over the tokens.
    const on = r.advantages.flatMap((row, i) => row.filter((_, t) => mask[i]![t] === 1));
    const m = on.reduce((a, b) => a + b, 0) / on.length;
    expect(m).toBeCloseTo(0, 12);
    expect(on.reduce((a, b) => a + (b - m) ** 2, 0) / on.length).toBeCloseTo(1, 12);
  });

  it("stdNorm false (--no_advantage_std_norm) only subtracts the mean", () => {
    const r = reinforceBaselineAdvantages({ ...worked, stdNorm: false });
    close(r.advantages, [
      [0.6555555555555556, 0.6755555555555556, 0.6655555555555556],
      [-0.36444444444444446, -0.3144444444444444, 0],
      [1.2155555555555555, 0, 0],
      [-0.8444444444444444, -0.8444444444444444, -0.8444444444444444],
    ]);
  });

  it("β = 0: no KL, no log-probs needed; the baselined reward is clipped to [−10, 10]", () => {
    // One group of 4: mean 7.5, r̃ = [22.5 → 10, −7.5, −7.5, −7.5]. Returns over 7 tokens: μ = −2.5, σ² = 62.5.
    const r = reinforceBaselineAdvantages({
      rewards: [30, 0, 0, 0],
      groupSize: 4,
      mask: [
        [1, 1],
        [1, 0],
        [1, 1],
        [1, 1],
      ],
      beta: 0,
    });
    expect(r.shaped).toEqual([10, -7.5, -7.5, -7.5]);
    expect(r.mean).toBeCloseTo(-2.5, 14);
    expect(r.std).toBeCloseTo(Math.sqrt(62.5), 14);
    const hi = 1.5811388300841895;
    const lo = -0.6324555320336758;
    close(r.advantages, [
      [hi, hi],
      [lo, 0],
      [lo, lo],
      [lo, lo],
    ]);
    expect(r.klMean).toBe(0);
    // A wider clip range keeps 22.5.
    expect(reinforceBaselineAdvantages({ ...worked, rewardClip: [-100, 100], rewards: [50, 0, 0, 0] }).shaped).toEqual([
      25, -25, 0, 0,
    ]);
  });

  it("a missing reward gets r̃ = 0 (left out of the group mean); a fully masked completion gets nothing", () => {
    const r = reinforceBaselineAdvantages({
      rewards: [NaN, 1, 3, 5],
      groupSize: 2,
      mask: [
        [1, 1],
        [1, 0],
        [0, 0],
        [1, 1],
      ],
      beta: 0,
    });
    expect(r.shaped).toEqual([0, 0, -1, 1]);
    expect(r.returns).toEqual([
      [0, 0],
      [0, 0],
      [0, 0], // row 2's −1 has no token to sit on
      [1, 1],
    ]);
    expect(r.advantages[2]).toEqual([0, 0]);
    expect(r.perCompletion[2]).toBe(0);
    // Nothing unmasked at all: zeros, no NaN.
    const none = reinforceBaselineAdvantages({ rewards: [1, 0], groupSize: 2, mask: [[0], [0]], beta: 0 });
    expect(none.advantages).toEqual([[0], [0]]);
    expect(none.mean).toBe(0);
  });

  it("clear errors on bad input", () => {
    expect(() => reinforceBaselineAdvantages({ ...worked, logp: undefined, refLogp: undefined })).toThrow(
      /β > 0 needs logp/,
    );
    expect(() => reinforceBaselineAdvantages({ ...worked, rewards: [1, 0, 2] })).toThrow(/3 rewards for 4 mask rows/);
    expect(() => reinforceBaselineAdvantages({ ...worked, refLogp: [[0, 0, 0]] })).toThrow(/refLogp has shape/);
    expect(() => reinforceBaselineAdvantages({ ...worked, groupSize: 3 })).toThrow(/groups of 3/);
    expect(() => reinforceBaselineAdvantages({ ...worked, rewardClip: [1, -1] })).toThrow(/rewardClip/);
  });
});

describe("grpoLoss with per-token advantages [B, T]", () => {
  it("arrays and tensors agree; a constant row equals the per-completion advantage; bnpo of whitened A is 0", () => {
    const r = reinforceBaselineAdvantages(worked);
    const lp = logp.map((row) => row.map((x, t) => x + 0.01 * t));
    const base = { logp: lp, mask, beta: 0, lossType: "bnpo" as const };
    const a = grpoLoss({ ...base, advantages: r.advantages });
    // μ = 1: the value is −(token mean of A) = 0 after whitening.
    expect(a.loss).toBeCloseTo(0, 12);
    const g = grpoLoss({ ...base, lossType: "grpo", advantages: r.advantages });
    // grpo: −mean over completions of the per-completion mean of A.
    expect(g.loss).toBeCloseTo(-r.perCompletion.reduce((x, y) => x + y, 0) / 4, 12);
    const T = (m: number[][]) => tf.tensor2d(m);
    const before = tf.memory().numTensors;
    const args = { ...base, lossType: "grpo" as const, logp: T(lp), mask: T(mask), advantages: T(r.advantages) };
    const out = grpoLoss(args);
    expect(out.loss.dataSync()[0]).toBeCloseTo(g.loss, 5);
    tf.dispose([out, args.logp, args.mask, args.advantages]);
    expect(tf.memory().numTensors).toBe(before);
    // Per token with every token of a row equal = per completion.
    const perRow = [0.3, -0.2, 1, -1.1];
    const rows = perRow.map((x) => [x, x, x]);
    expect(grpoLoss({ ...base, lossType: "grpo", advantages: rows }).loss).toBeCloseTo(
      grpoLoss({ ...base, lossType: "grpo", advantages: perRow }).loss,
      14,
    );
    expect(() => grpoLoss({ ...base, advantages: [[1, 2]] as number[][] })).toThrow(/advantages has 1 entries/);
  });
});

describe("GrpoTrainer with advantageEstimator reinforce_baseline", () => {
  const cfg = (over: Partial<GrpoConfig> = {}) =>
    grpoConfig(presets.r1v, {
      groupSize: 4,
      maxCompletionLength: 4,
      lr: 1e-2,
      seed: 3,
      lossType: "bnpo",
      advantageEstimator: "reinforce_baseline",
      ...over,
    });
  const lengthy = [
    { name: "target", fn: containsTarget },
    { name: "chars", fn: (c: string) => c.length / 20 },
  ];

  it("steps use the estimator's per-token advantages, log it, fold the KL in the rewards; no leaks", async () => {
    const policy = tinyPolicy(4);
    const t = new GrpoTrainer<ToySample>({ policy, tokenizer, rewards: lengthy, config: cfg({ beta: 0.5 }) });
    const before = tf.memory().numTensors;
    const m0 = await t.step(toyBatch(2));
    expect(tf.memory().numTensors).toBe(before);
    const g0 = t.lastGroup!;
    expect(g0.estimator).toBe("reinforce_baseline");
    expect(m0["advantage_estimator/reinforce_baseline"]).toBe(1);
    // Step 0: the policy is the reference, so k1 = 0 exactly and the advantages are those of the rewards alone.
    expect(m0.kl).toBe(0);
    const maskOf = (ids: number[][]) => {
      const C = Math.max(1, ...ids.map((c) => c.length));
      return ids.map((c) => Array.from({ length: C }, (_, k) => (k < c.length ? 1 : 0)));
    };
    const alone = reinforceBaselineAdvantages({
      rewards: g0.reward,
      groupSize: 4,
      mask: maskOf(g0.completionIds),
      beta: 0,
    });
    expect(g0.tokenAdvantages?.map((row) => row.length)).toEqual(g0.completionIds.map((c) => c.length));
    g0.tokenAdvantages!.forEach((row, i) => row.forEach((a, k) => expect(a).toBeCloseTo(alone.advantages[i]![k]!, 6)));
    expect(g0.advantages).toEqual(alone.perCompletion);
    expect(m0.reward_std).toBeGreaterThan(0);
    // bnpo and μ = 1: the logged loss is −(token mean of the whitened advantages) = 0 (and no KL term).
    expect(Math.abs(m0.loss)).toBeLessThan(1e-6);
    // Step 1: the policy moved; k1 ≠ 0 and the advantages are no longer those of the rewards alone.
    const m1 = await t.step(toyBatch(2, 1));
    expect(tf.memory().numTensors).toBe(before);
    const g1 = t.lastGroup!;
    expect(Number.isFinite(m1.kl) && m1.kl !== 0).toBe(true);
    const alone1 = reinforceBaselineAdvantages({
      rewards: g1.reward,
      groupSize: 4,
      mask: maskOf(g1.completionIds),
      beta: 0,
    });
    const gap = Math.max(
      ...g1.tokenAdvantages!.flatMap((row, i) => row.map((a, k) => Math.abs(a - alone1.advantages[i]![k]!))),
    );
    expect(gap).toBeGreaterThan(1e-4);
    t.dispose();
    policy.model.dispose();
  });

  it("grpo (default) logs no estimator key; a checkpoint keeps the estimator; unknown names are refused", async () => {
    const policy = tinyPolicy(5);
    const g = new GrpoTrainer<ToySample>({
      policy,
      tokenizer,
      rewards: lengthy,
      config: cfg({ advantageEstimator: undefined }),
    });
    const m = await g.step(toyBatch(2));
    expect(m["advantage_estimator/reinforce_baseline"]).toBeUndefined();
    expect(g.lastGroup?.estimator).toBe("grpo");
    expect(g.lastGroup?.tokenAdvantages).toBeUndefined();
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "grpo-rb-"));
    try {
      const path = join(dir, "g.safetensors");
      g.save(path);
      const r = new GrpoTrainer<ToySample>({ policy, tokenizer, rewards: lengthy, config: cfg() });
      expect(() => r.restore(path)).toThrow(/advantageEstimator grpo, this trainer has reinforce_baseline/);
      r.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(
      () =>
        new GrpoTrainer({ policy, tokenizer, rewards: lengthy, config: cfg({ advantageEstimator: "rloo" as never }) }),
    ).toThrow(/unknown advantageEstimator "rloo"/);
    g.dispose();
    policy.model.dispose();
  });
});
