import { tf } from "@vlab/core";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { checkGrpoConfig, gradClip, grpoConfig, lrAt } from "../src/config.js";
import { stepMetrics } from "../src/metrics.js";
import { presets } from "../src/presets.js";
import { copyWeights, withWeights } from "../src/reference.js";
import { checkRewards, scoreCompletions } from "../src/score.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("config helpers", () => {
  it("lrAt reads a constant or a schedule; gradClip is off at 0 and Infinity (HF Trainer's max_grad_norm)", () => {
    expect(lrAt({ lr: 0.5 }, 3)).toBe(0.5);
    expect(lrAt({ lr: (s) => s / 10 }, 3)).toBe(0.3);
    expect(gradClip({ maxGradNorm: 1 })).toBe(1);
    expect(gradClip({ maxGradNorm: 0 })).toBeUndefined();
    expect(gradClip({ maxGradNorm: Infinity })).toBeUndefined();
  });

  it("checkGrpoConfig names the bad field", () => {
    const ok = grpoConfig(presets.r1v);
    expect(() => checkGrpoConfig(ok)).not.toThrow();
    expect(() => checkGrpoConfig({ ...ok, numIterations: 0 })).toThrow(/numIterations/);
    expect(() => checkGrpoConfig({ ...ok, temperature: 0 })).toThrow(/temperature/);
    expect(() => checkGrpoConfig({ ...ok, maxGradNorm: -1 })).toThrow(/maxGradNorm/);
    expect(() => checkGrpoConfig({ ...ok, scaleRewards: "all" as never })).toThrow(/scaleRewards/);
  });
});

describe("scoreCompletions", () => {
  it("weights the rewards, counts a throw or a non-finite value as missing, warns once per function", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const rewards = [
      { name: "len", fn: (c: string) => c.length },
      { name: "half", weight: 0.5, fn: (c: string, s: { bad: boolean }) => (s.bad ? NaN : 2) },
      { name: "boom", fn: (c: string) => (c === "x" ? 1 : Number.parseFloat(JSON.parse(c))) },
    ];
    checkRewards(rewards);
    const warned = new Set<string>();
    const s = scoreCompletions(
      rewards,
      [
        { text: "x", sample: { bad: false } },
        { text: "yy", sample: { bad: true } },
        { text: "zzz", sample: { bad: true } },
      ],
      warned,
    );
    expect(s.perFn.len).toEqual([1, 2, 3]);
    expect(s.perFn.half).toEqual([2, NaN, NaN]);
    expect(s.perFn.boom).toEqual([1, NaN, NaN]);
    expect(s.total).toEqual([1 + 0.5 * 2 + 1, 2, 3]);
    expect(s.errors.map((e) => [e.reward, e.index])).toEqual([
      ["boom", 1],
      ["boom", 2],
    ]);
    expect(warn).toHaveBeenCalledOnce();
    warn.mockRestore();
    expect([...warned]).toEqual(["boom"]);
    // Every reward missing: the total is NaN (advantage 0 later).
    const none = scoreCompletions([{ name: "nan", fn: () => NaN }], [{ text: "a", sample: {} }], new Set());
    expect(none.total).toEqual([NaN]);
    expect(() => checkRewards([rewards[0]!, rewards[0]!])).toThrow(/unique/);
  });
});

describe("reference weights", () => {
  it("swap in for a call and back, even when the call throws; a missing weight is named", () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const named: [string, tf.Variable][] = [["w", w]];
    const ref = copyWeights(named);
    w.assign(tf.tensor1d([5, 6]));
    const before = tf.memory().numTensors;
    expect(withWeights(named, ref, () => Array.from(w.dataSync()))).toEqual([1, 2]);
    expect(Array.from(w.dataSync())).toEqual([5, 6]);
    expect(() =>
      withWeights(named, ref, () => {
        throw new Error("inside");
      }),
    ).toThrow("inside");
    expect(Array.from(w.dataSync())).toEqual([5, 6]);
    expect(() => withWeights(named, new Map(), () => 0)).toThrow(/no reference weight for parameter "w"/);
    expect(Array.from(w.dataSync())).toEqual([5, 6]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, ...ref.values()]);
  });
});

describe("stepMetrics", () => {
  it("means over μ, kl only when β ≠ 0, rewards/<name>/… per function, lengths and clipped share", () => {
    const sums = { loss: 2, gradNorm: 4, kl: 0.2, klSeq: 0.4, low: 0, high: 0.2, region: 0.2, entropy: 6 };
    const scores = {
      perFn: { a: [1, 0, NaN, 1] },
      total: [1, 0, NaN, 1],
      errors: [{ reward: "a", index: 2, message: "no" }],
    };
    const base = {
      step: 3,
      lr: 0.1,
      sums,
      scores,
      completions: [[1, 2], [3], [4, 5, 6], [7]],
      finishReasons: ["stop", "stop", "length", "stop"] as ("stop" | "length")[],
      generateMs: 1,
      updateMs: 2,
      callMs: [0.25, 0.5],
      refMs: 0.75,
      stepMs: 3.5,
      memory: { tensors: 10, bytes: 400 },
    };
    const m = stepMetrics({ ...base, config: { beta: 0.04, numIterations: 2, groupSize: 2 } });
    expect(m).toMatchObject({ step: 3, loss: 1, grad_norm: 2, lr: 0.1, entropy: 3, kl: 0.1, kl_seq: 0.2 });
    expect(m).toMatchObject({ "clip_ratio/high_mean": 0.1, "completions/mean_length": 7 / 4 });
    expect(m).toMatchObject({ "completions/min_length": 1, "completions/max_length": 3 });
    expect(m).toMatchObject({ "completions/clipped_ratio": 0.25, "rewards/a/nan": 1, "rewards/a/errors": 1 });
    expect(m["rewards/a/mean"]).toBeCloseTo(2 / 3, 12);
    expect(m).toMatchObject({ generate_calls: 2, "generate_ms/0": 0.25, "generate_ms/1": 0.5, ref_ms: 0.75 });
    expect(m).toMatchObject({ step_ms: 3.5, "memory/tensors": 10, "memory/bytes": 400 });
    const m0 = stepMetrics({ ...base, config: { beta: 0, numIterations: 1, groupSize: 2 } });
    expect("kl" in m0 || "kl_seq" in m0).toBe(false);
    // β = 0 with logKl: the KL to the start is logged
    const mk = stepMetrics({ ...base, config: { beta: 0, numIterations: 2, groupSize: 2, logKl: true } });
    expect(mk).toMatchObject({ kl: 0.1, kl_seq: 0.2 });
  });
});
