import { Rng, tf } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { groupAdvantages } from "../src/advantages.js";
import { LOSS_TYPES, grpoLoss, type GrpoLossInput, type GrpoLossOutput, type LossType } from "../src/loss.js";
import { presets } from "../src/presets.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Uniform [0, 1) numbers from core's seeded generator. */
function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

type ArrayInput = GrpoLossInput<number[][], number[]>;

/** The settings of an input (β, lossType, ε, …) without its arrays, to combine with tensors. */
function cfg(inp: ArrayInput) {
  const { logp: _l, oldLogp: _o, refLogp: _r, mask: _m, advantages: _a, ...rest } = inp;
  return rest;
}

/** The same input as tensors, the loss and metrics read back as numbers, and the tensor count checked. */
function viaTensors(inp: ArrayInput): GrpoLossOutput<number> {
  const t = (m: number[][] | undefined) => (m ? tf.tensor2d(m) : undefined);
  const args = {
    ...cfg(inp),
    logp: tf.tensor2d(inp.logp),
    oldLogp: t(inp.oldLogp),
    refLogp: t(inp.refLogp),
    mask: tf.tensor2d(inp.mask),
    advantages: tf.tensor1d(inp.advantages),
  };
  const before = tf.memory().numTensors;
  const out = grpoLoss(args);
  const made = Object.keys(out).length;
  expect(tf.memory().numTensors).toBe(before + made); // only the returned scalars
  const nums = Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, (v as tf.Scalar).dataSync()[0]]),
  ) as GrpoLossOutput<number>;
  tf.dispose([out, args]);
  expect(tf.memory().numTensors).toBe(before - Object.values(args).filter((v) => v instanceof tf.Tensor).length);
  return nums;
}

// Vector L, worked with numpy from the loss of R1-V's trainer (TRL v0.14's per-sequence mean). The "·" entries are
// padding: NaN here, to show they are ignored.
const L: ArrayInput = {
  logp: [
    [-0.5, -1.0, NaN, NaN],
    [-0.2, -0.3, -0.4, -0.6],
  ],
  refLogp: [
    [-0.6, -0.8, NaN, NaN],
    [-0.2, -0.5, -0.4, -0.9],
  ],
  mask: [
    [1, 1, 0, 0],
    [1, 1, 1, 1],
  ],
  advantages: [1, -1],
  beta: 0.04,
  lossType: "grpo",
};
// Σ_t KL per row from the per-token KL: [0.00483742 + 0.02140276, 0.01873075 + 0.04081822].
const KL_ROWS = [0.00483742 + 0.02140276, 0.01873075 + 0.04081822];

describe("grpoLoss — vector L", () => {
  it("grpo (R1-V) loss = 0.00056015 = 0.04 × 0.01400367 (the open-r1 #239 identity)", () => {
    const out = grpoLoss(L);
    expect(out.loss).toBeCloseTo(0.00056015, 8);
    expect(out.klSeqMean).toBeCloseTo(0.01400367, 8);
    expect(out.loss).toBeCloseTo(0.04 * out.klSeqMean!, 15);
    // TRL ≥ 0.15's `kl` is the token mean instead: (Σ of the six per-token KLs)/6.
    expect(out.kl).toBeCloseTo((KL_ROWS[0]! + KL_ROWS[1]!) / 6, 8);
    expect([out.clipRatioLowMean, out.clipRatioHighMean, out.clipRatioRegionMean]).toEqual([0, 0, 0]); // μ = 1: ρ = 1
  });

  it("the other aggregations of the same tokens (hand-worked)", () => {
    // Σ_{i,t} ℓ = −(2 tokens · A=1) − (4 tokens · A=−1) + 0.04 · ΣKL = 2 + 0.04 · 0.08578915 = 2.00343157.
    const total = 2 + 0.04 * (KL_ROWS[0]! + KL_ROWS[1]!);
    expect(grpoLoss({ ...L, lossType: "bnpo" }).loss).toBeCloseTo(total / 6, 8); // 0.33390526: 6 active tokens
    expect(grpoLoss({ ...L, lossType: "dr_grpo" }).loss).toBeCloseTo(total / (2 * 4), 8); // B · L_max, L_max = T = 4
    expect(grpoLoss({ ...L, lossType: "dr_grpo", maxCompletionLength: 256 }).loss).toBeCloseTo(total / (2 * 256), 10);
    expect(grpoLoss({ ...L, lossType: "dapo" }).loss).toBeCloseTo(total / 6, 8); // local tokens: = bnpo
    expect(grpoLoss({ ...L, lossType: "dapo", numItemsInBatch: 24, numProcesses: 2 }).loss).toBeCloseTo(total / 12, 8);
    expect(grpoLoss({ ...L, lossType: "bnpo" }).loss).toBeCloseTo(0.33390526, 8);
  });

  it("gradient accumulation divides grpo / bnpo / dr_grpo, not dapo (its normaliser is global)", () => {
    for (const lossType of LOSS_TYPES) {
      const one = grpoLoss({ ...L, lossType }).loss;
      const two = grpoLoss({ ...L, lossType, gradientAccumulationSteps: 2 }).loss;
      expect(two).toBeCloseTo(lossType === "dapo" ? one : one / 2, 12);
    }
  });

  it("tensors give the same numbers, ignore the NaN padding, and leave nothing behind", () => {
    for (const lossType of LOSS_TYPES) {
      const a = grpoLoss({ ...L, lossType });
      const t = viaTensors({ ...L, lossType });
      for (const k of Object.keys(a) as (keyof typeof a)[]) expect(t[k], `${lossType} ${k}`).toBeCloseTo(a[k]!, 6);
    }
  });

  it("gradient = (−A_i + β(1 − e^Δ)) / (|o_i| · B) per active token, 0 on padding", () => {
    // Token (0,0): Δ = −0.6 + 0.5 = −0.1, 1 − e^−0.1 = 0.09516258; (−1 + 0.04 · 0.09516258)/(2 · 2) = −0.24904837.
    // Token (1,3): Δ = −0.9 + 0.6 = −0.3, 1 − e^−0.3 = 0.25918178; (+1 + 0.04 · 0.25918178)/(4 · 2) = 0.12629591.
    const lp = tf.tensor2d(L.logp);
    const args = {
      ...cfg(L),
      refLogp: tf.tensor2d(L.refLogp!),
      mask: tf.tensor2d(L.mask),
      advantages: tf.tensor1d(L.advantages),
    };
    const g = tf
      .grad((x) => grpoLoss({ ...args, logp: x as tf.Tensor2D }).loss)(lp)
      .arraySync() as number[][];
    tf.dispose([lp, args.refLogp, args.mask, args.advantages]);
    expect(g[0]![0]).toBeCloseTo(-0.24904837, 6);
    expect(g[1]![3]).toBeCloseTo(0.12629591, 6);
    const len = [2, 4];
    for (let i = 0; i < 2; i++)
      for (let t = 0; t < 4; t++) {
        const want = L.mask[i]![t]
          ? (-L.advantages[i]! + 0.04 * (1 - Math.exp(L.refLogp![i]![t]! - L.logp[i]![t]!))) / (len[i]! * 2)
          : 0;
        expect(g[i]![t]).toBeCloseTo(want, 6);
      }
  });
});

describe("grpoLoss — PPO clip vectors (ε = 0.2)", () => {
  // One token per completion; oldLogp 0, so ρ = exp(logp).
  const one = (rho: number, A: number, extra: Partial<ArrayInput> = {}) =>
    grpoLoss({
      logp: [[Math.log(rho)]],
      oldLogp: [[0]],
      mask: [[1]],
      advantages: [A],
      beta: 0,
      lossType: "grpo",
      epsilon: 0.2,
      ...extra,
    });

  it("ρ = 1.5, A = +1 → −1.2 (high-clipped); ρ = 0.5, A = −1 → +0.8 (low-clipped)", () => {
    expect(one(1.5, 1).loss).toBeCloseTo(-1.2, 12);
    expect(one(0.5, -1).loss).toBeCloseTo(0.8, 12);
    expect(one(1.5, 1).clipRatioHighMean).toBe(1);
    expect(one(0.5, -1).clipRatioLowMean).toBe(1);
  });

  it("the min keeps the pessimistic side: no clipping where it would help the objective", () => {
    // ρ = 1.5, A = −1: −min(−1.5, −1.2) = 1.5 (unclipped, not counted); ρ = 0.5, A = +1: −min(0.5, 0.8) = −0.5.
    expect(one(1.5, -1).loss).toBeCloseTo(1.5, 12);
    expect(one(0.5, 1).loss).toBeCloseTo(-0.5, 12);
    expect(one(1.5, -1).clipRatioRegionMean).toBe(0);
    expect(one(0.5, 1).clipRatioRegionMean).toBe(0);
  });

  it("epsilonHigh (DAPO clip-higher 0.28) widens only the upper side", () => {
    expect(one(1.5, 1, { epsilonHigh: 0.28 }).loss).toBeCloseTo(-1.28, 12);
    expect(one(0.5, -1, { epsilonHigh: 0.28 }).loss).toBeCloseTo(0.8, 12);
    expect(one(1.25, 1, { epsilonHigh: 0.28 }).clipRatioHighMean).toBe(0); // 1.25 < 1.28: inside
  });

  it("clip metrics over a batch: token means, and min / max over per-sequence shares", () => {
    // Row 0: one high-clipped token (ρ 1.5, A +1) and one inside (ρ 1); row 1: one low-clipped token (ρ 0.5, A −1).
    const inp: ArrayInput = {
      logp: [
        [Math.log(1.5), 0],
        [Math.log(0.5), 0],
      ],
      oldLogp: [
        [0, 0],
        [0, 0],
      ],
      mask: [
        [1, 1],
        [1, 0],
      ],
      advantages: [1, -1],
      beta: 0,
      lossType: "bnpo",
    };
    const out = grpoLoss(inp);
    expect(out.clipRatioHighMean).toBeCloseTo(1 / 3, 12); // 1 of 3 active tokens
    expect(out.clipRatioLowMean).toBeCloseTo(1 / 3, 12);
    expect(out.clipRatioRegionMean).toBeCloseTo(2 / 3, 12);
    expect(out.clipRatioLowMin).toBe(0); // per-sequence low shares [0, 1]
    expect(out.clipRatioHighMax).toBe(0.5); // per-sequence high shares [0.5, 0]
    // bnpo: (−1.2 − 1·1 + 0.8)/3, where the inside token of row 0 contributes −ρA = −1.
    expect(out.loss).toBeCloseTo((-1.2 - 1 + 0.8) / 3, 12);
    const t = viaTensors(inp);
    for (const k of Object.keys(out) as (keyof typeof out)[]) expect(t[k], k).toBeCloseTo(out[k]!, 6);
  });
});

/** A random batch: `groups` prompts × G completions, rewards in {0, 1, 2}, random lengths. */
function randomBatch(seed: number, groups: number, G: number, T: number): ArrayInput {
  const rand = prng(seed);
  const B = groups * G;
  const rewards = Array.from({ length: B }, () => Math.floor(rand() * 3));
  const logp = Array.from({ length: B }, () => Array.from({ length: T }, () => -0.05 - 3 * rand()));
  const refLogp = logp.map((row) => row.map((v) => v + (rand() - 0.5)));
  const mask = Array.from({ length: B }, () => {
    const n = 1 + Math.floor(rand() * T);
    return Array.from({ length: T }, (_, t) => (t < n ? 1 : 0));
  });
  return { logp, refLogp, mask, advantages: groupAdvantages(rewards, G), beta: 0.04, lossType: "grpo" };
}

describe("open-r1 #239: with μ = 1 the loss value is β · mean KL", () => {
  it("grpo aggregation, random batches: loss = β · klSeqMean, since Σ A_i = 0 in each group", () => {
    for (const seed of [1, 2, 3]) {
      const inp = randomBatch(seed, 2, 4, 6);
      const out = grpoLoss(inp);
      expect(out.loss).toBeCloseTo(0.04 * out.klSeqMean!, 12);
      expect(out.klSeqMean!).toBeGreaterThan(0);
      expect(viaTensors(inp).loss).toBeCloseTo(0.04 * out.klSeqMean!, 6);
    }
  });

  it("at the first step (π = π_ref) the loss is exactly 0, but the gradient is not", () => {
    const inp = randomBatch(4, 2, 4, 5);
    inp.refLogp = inp.logp;
    expect(grpoLoss(inp).loss).toBe(0);
    const lp = tf.tensor2d(inp.logp);
    const [ref, mask, adv] = [tf.tensor2d(inp.logp), tf.tensor2d(inp.mask), tf.tensor1d(inp.advantages)];
    const g = tf.grad(
      (x) => grpoLoss({ ...cfg(inp), logp: x as tf.Tensor2D, refLogp: ref, mask, advantages: adv }).loss,
    )(lp);
    expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0.01);
    tf.dispose([lp, ref, mask, adv, g]);
  });

  it("token-level aggregation (bnpo) is not ≈ 0: −Σ|o_i|A_i / Σ|o_i| + β · token-mean KL (trl#2703)", () => {
    const inp = randomBatch(5, 2, 4, 6);
    const len = inp.mask.map((r) => r.reduce((a, b) => a + b, 0));
    const policy = -len.reduce((a, n, i) => a + n * inp.advantages[i]!, 0) / len.reduce((a, b) => a + b, 0);
    const out = grpoLoss({ ...inp, lossType: "bnpo" });
    expect(out.loss).toBeCloseTo(policy + 0.04 * out.kl!, 12);
    expect(Math.abs(policy)).toBeGreaterThan(1e-3); // this batch's lengths differ enough to show it
  });
});

describe("grpoLoss — gradients against finite differences", () => {
  /** Central differences of the float64 array loss with respect to logp (oldLogp and refLogp held fixed). */
  function numericGrad(inp: ArrayInput, h = 1e-6): number[][] {
    return inp.logp.map((row, i) =>
      row.map((_, t) => {
        const at = (d: number) =>
          grpoLoss({ ...inp, logp: inp.logp.map((r, k) => r.map((v, u) => (k === i && u === t ? v + d : v))) }).loss;
        return (at(h) - at(-h)) / (2 * h);
      }),
    );
  }

  function tensorGrad(inp: ArrayInput, withOld: boolean): number[][] {
    const lp = tf.tensor2d(inp.logp);
    const fixed = {
      oldLogp: withOld ? tf.tensor2d(inp.oldLogp!) : undefined,
      refLogp: tf.tensor2d(inp.refLogp!),
      mask: tf.tensor2d(inp.mask),
      advantages: tf.tensor1d(inp.advantages),
    };
    const g = tf.grad((x) => grpoLoss({ ...cfg(inp), ...fixed, logp: x as tf.Tensor2D }).loss)(lp);
    const out = g.arraySync() as number[][];
    tf.dispose([lp, g, fixed]);
    return out;
  }

  const expectClose = (a: number[][], b: number[][], tol: number) =>
    a.forEach((row, i) => row.forEach((v, t) => expect(Math.abs(v - b[i]![t]!), `[${i}][${t}]`).toBeLessThan(tol)));

  it("μ > 1 (oldLogp given, some tokens clipped), every loss type", () => {
    const base = randomBatch(11, 2, 3, 5);
    const rand = prng(99);
    // log-ratios in ±0.5 (ρ ∈ [0.61, 1.65]), kept away from the clip kinks at log 0.8 and log 1.2.
    const oldLogp = base.logp.map((row) =>
      row.map((v) => {
        let r = rand() - 0.5;
        for (const kink of [Math.log(0.8), Math.log(1.2)]) if (Math.abs(r - kink) < 0.01) r += 0.05;
        return v - r;
      }),
    );
    const inp = { ...base, oldLogp };
    const clipped = grpoLoss(inp).clipRatioRegionMean;
    expect(clipped).toBeGreaterThan(0); // the case exercises the clipped branch
    for (const lossType of LOSS_TYPES) {
      const x = { ...inp, lossType: lossType as LossType };
      expectClose(tensorGrad(x, true), numericGrad(x), 2e-5);
    }
  });

  it(
    "μ = 1: the tensor loss with oldLogp left out (stop-gradient) " +
      "has the gradient of the loss with oldLogp frozen",
    () => {
      const inp = randomBatch(12, 2, 3, 5);
      for (const lossType of LOSS_TYPES) {
        const x = { ...inp, lossType: lossType as LossType };
        // Numerically, freeze oldLogp at the current values: ρ = 1 at the point, ∂ρ/∂logp = 1.
        expectClose(tensorGrad(x, false), numericGrad({ ...x, oldLogp: inp.logp }), 2e-5);
      }
    },
  );
});

describe("grpoLoss — training use", () => {
  it("works under tf.variableGrads and leaves no tensors behind", () => {
    const inp = randomBatch(21, 2, 4, 6);
    const v = tf.variable(tf.tensor2d(inp.logp));
    const fixed = {
      refLogp: tf.tensor2d(inp.refLogp!),
      mask: tf.tensor2d(inp.mask),
      advantages: tf.tensor1d(inp.advantages),
    };
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => grpoLoss({ ...cfg(inp), ...fixed, logp: v }).loss);
    expect(value.dataSync()[0]).toBeCloseTo(grpoLoss(inp).loss, 6);
    expect(Object.keys(grads)).toEqual([v.name]);
    tf.dispose([value, grads]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([v, fixed]);
  });

  it("misuse is an error that says what is wrong", () => {
    expect(() => grpoLoss({ ...L, refLogp: undefined })).toThrow(/beta ≠ 0 needs refLogp/);
    expect(() => grpoLoss({ ...L, lossType: "ppo" as LossType })).toThrow(/unknown lossType "ppo"/);
    expect(() => grpoLoss({ ...L, advantages: [1] })).toThrow(/advantages has 1 entries, expected 2/);
    expect(() =>
      grpoLoss({
        ...L,
        mask: [
          [1, 1, 0],
          [1, 1, 1],
        ],
      }),
    ).toThrow(/mask has shape \[2, 3\], expected \[2, 4\]/);
    expect(() =>
      grpoLoss({
        ...L,
        mask: [
          [1, 1, 0, 0],
          [1, 1, 1],
        ],
      }),
    ).toThrow(/mask row 1 has length 3, expected 4/);
    expect(() => grpoLoss({ ...L, beta: 0, refLogp: undefined })).not.toThrow(); // β = 0: no reference model needed
    tf.tidy(() => {
      expect(() =>
        grpoLoss({
          ...cfg(L),
          logp: tf.zeros([2, 4]) as tf.Tensor2D,
          mask: tf.zeros([2, 3]) as tf.Tensor2D,
          refLogp: tf.zeros([2, 4]) as tf.Tensor2D,
          advantages: tf.zeros([2]) as tf.Tensor1D,
        }),
      ).toThrow(/mask has shape \[2, 3\], expected \[2, 4\]/);
    });
  });
});

describe("presets", () => {
  it("r1v: TRL 0.14 as R1-V ran it; 8 GPUs × 1 prompt × 2 accumulation × G 8 = 128 completions per step", () => {
    const p = presets.r1v;
    expect([p.numGenerations, p.beta, p.numIterations, p.lossType, p.temperature, p.epsilon]).toEqual([
      8,
      0.04,
      1,
      "grpo",
      1,
      0.2,
    ]);
    expect([p.scaleRewards, p.advantageEps, p.maxCompletionLength, p.maxPromptLength, p.learningRate]).toEqual([
      "group",
      1e-4,
      256,
      1024,
      1e-6,
    ]);
    expect(p.numProcesses! * p.perDeviceTrainBatchSize! * p.gradientAccumulationSteps! * p.numGenerations).toBe(128);
    expect(p.rewardFunctions).toEqual(["accuracy", "format"]);
  });

  it("modern: TRL v1.9 defaults (dapo, β = 0, ε = 0.2)", () => {
    const p = presets.modern;
    expect([p.lossType, p.beta, p.epsilon, p.epsilonHigh, p.scaleRewards, p.temperature, p.numGenerations]).toEqual([
      "dapo",
      0,
      0.2,
      0.2,
      "group",
      1,
      8,
    ]);
    expect([p.maxPromptLength, p.maxCompletionLength, p.maskTruncatedCompletions, p.topP, p.topK]).toEqual([
      null,
      256,
      false,
      1,
      0,
    ]);
  });

  it("spread straight into grpoLoss (r1v reproduces vector L per micro-batch; modern needs no reference)", () => {
    // r1v carries gradientAccumulationSteps 2, so each micro-batch's loss is halved (as HF Trainer does):
    // 0.00056015 / 2.
    expect(
      grpoLoss({ ...presets.r1v, logp: L.logp, refLogp: L.refLogp, mask: L.mask, advantages: L.advantages }).loss,
    ).toBeCloseTo(0.00056015 / 2, 8);
    // modern: dapo, β = 0 → −Σ|o_i|A_i/Σ|o_i| = −(2 − 4)/6 = 1/3.
    expect(grpoLoss({ ...presets.modern, logp: L.logp, mask: L.mask, advantages: L.advantages }).loss).toBeCloseTo(
      1 / 3,
      12,
    );
    expect(Object.isFrozen(presets.r1v)).toBe(true);
  });
});
