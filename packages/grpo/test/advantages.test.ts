import { Rng, tf } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { groupAdvantages, rewardStats } from "../src/advantages.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Uniform [0, 1) numbers from core's seeded generator. */
function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

const close = (got: ArrayLike<number>, want: readonly number[], digits: number) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]!).toBeCloseTo(w, digits));
};

// Worked vectors: (r − mean) / (std + 1e-4) with the Bessel std, computed with numpy as TRL's GRPOTrainer and
// R1-V's trainer compute them.
describe("groupAdvantages — worked vectors", () => {
  it("[1,0,0,0]: mean 0.25, std 0.5 → [1.49970006, −0.49990002 ×3]", () => {
    close(groupAdvantages([1, 0, 0, 0], 4), [1.49970006, -0.49990002, -0.49990002, -0.49990002], 8);
  });

  it("[1,0,0,0] with scale 'none' (Dr. GRPO) → [0.75, −0.25 ×3]", () => {
    expect(groupAdvantages([1, 0, 0, 0], 4, { scale: "none" })).toEqual([0.75, -0.25, -0.25, -0.25]);
  });

  it("[1,1,1,1]: std 0 → all 0, a zero-signal group (counted by frac_reward_zero_std)", () => {
    expect(groupAdvantages([1, 1, 1, 1], 4)).toEqual([0, 0, 0, 0]);
    expect(rewardStats([1, 1, 1, 1], 4).fracZeroStd).toBe(1);
  });
});

describe("groupAdvantages — worked cases", () => {
  it("groups are independent; the std is Bessel-corrected (÷(n−1))", () => {
    // Group [1, 0]: mean 0.5, std √((0.25 + 0.25)/1) = √0.5, A = ±0.5/(√0.5 + 1e-4).
    // Group [2, 0]: mean 1, std √((1 + 1)/1) = √2, A = ±1/(√2 + 1e-4) — a biased std (÷n: 1) would give ±1/(1 + 1e-4).
    const b = 0.5 / (Math.SQRT1_2 + 1e-4);
    const a = 1 / (Math.SQRT2 + 1e-4);
    close(groupAdvantages([1, 0, 0, 0, 2, 0], 2), [b, -b, 0, 0, a, -a], 12);
  });

  it("scale 'batch': the mean is still per group, the std is the whole batch's", () => {
    // Batch [1,0,0,0, 1,1,1,1]: mean 0.625, Σ(r − 0.625)² = 5·0.375² + 3·0.625² = 1.875, std = √(1.875/7).
    const std = Math.sqrt(1.875 / 7); // 0.51754917
    const hi = 0.75 / (std + 1e-4);
    const lo = -0.25 / (std + 1e-4);
    close(groupAdvantages([1, 0, 0, 0, 1, 1, 1, 1], 4, { scale: "batch" }), [hi, lo, lo, lo, 0, 0, 0, 0], 12);
    expect(hi).toBeCloseTo(1.448858, 6);
  });

  it("eps is configurable (lmm-r1's group_norm uses 1e-9)", () => {
    close(groupAdvantages([1, 0, 0, 0], 4, { eps: 1e-9 }), [1.5, -0.5, -0.5, -0.5], 8); // 0.75/0.5, −0.25/0.5
  });

  it("a NaN reward is left out of the mean and std and gets advantage 0", () => {
    // Valid [1, 0, 0]: mean 1/3; Σ dev² = 4/9 + 1/9 + 1/9 = 2/3, ÷2 → std = √(1/3).
    const s = Math.sqrt(1 / 3) + 1e-4;
    close(groupAdvantages([1, NaN, 0, 0], 4), [2 / 3 / s, 0, -1 / 3 / s, -1 / 3 / s], 12);
    expect(groupAdvantages([NaN, NaN], 2)).toEqual([0, 0]);
  });

  it("groups of one: std taken as 0, advantage 0 (torch would give NaN)", () => {
    expect(groupAdvantages([3, 5], 1)).toEqual([0, 0]);
  });

  it("rejects rewards that do not split into groups", () => {
    expect(() => groupAdvantages([1, 2, 3], 2)).toThrow(/3 rewards do not split into groups of 2/);
    expect(() => groupAdvantages([1, 2], 0)).toThrow();
    expect(() => groupAdvantages([1, 2], 2, { scale: "nope" as "none" })).toThrow(/unknown scale/);
  });
});

describe("groupAdvantages — tensors", () => {
  it("agree with the arrays for every scale (random rewards, NaNs and a constant group included)", () => {
    const rand = prng(3);
    const r = Array.from({ length: 32 }, () => Math.floor(rand() * 3));
    r[5] = NaN;
    r.fill(2, 24, 32); // the last group is constant
    for (const scale of ["group", "batch", "none"] as const) {
      const t = tf.tensor1d(r);
      const before = tf.memory().numTensors;
      const a = groupAdvantages(t, 8, { scale });
      expect(tf.memory().numTensors).toBe(before + 1); // only the result
      close(a.dataSync(), groupAdvantages(r, 8, { scale }), 5);
      tf.dispose([t, a]);
    }
  });

  it("the worked vector on a tensor", () => {
    const t = tf.tensor1d([1, 0, 0, 0]);
    const a = groupAdvantages(t, 4);
    close(a.dataSync(), [1.49970006, -0.49990002, -0.49990002, -0.49990002], 6);
    tf.dispose([t, a]);
  });
});

describe("rewardStats", () => {
  it("TRL ≥ 0.15 logs the batch std; TRL 0.14 / R1-V the mean of group stds", () => {
    // Groups [1,0,0,0] (std 0.5) and [1,1,1,1] (std 0); batch std √(1.875/7) as above.
    const s = rewardStats([1, 0, 0, 0, 1, 1, 1, 1], 4);
    expect(s.mean).toBe(0.625);
    expect(s.std).toBeCloseTo(Math.sqrt(1.875 / 7), 12);
    expect(s.groupStdMean).toBe(0.25);
    expect(s.fracZeroStd).toBe(0.5);
  });
});
