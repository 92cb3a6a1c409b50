import { tf } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { k3, klK3 } from "../src/kl.js";
import { completionMask } from "../src/mask.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("klK3 — worked vectors", () => {
  // logp, ref, KL = exp(ref − logp) − (ref − logp) − 1 (Schulman's k3, as TRL and R1-V), d/dlogp = 1 − exp(ref − logp).
  const logp = [-1.0, -2.0];
  const ref = [-1.5, -1.0];

  it("values: 0.10653066, 0.71828183", () => {
    const kl = klK3(logp, ref);
    expect(kl[0]).toBeCloseTo(0.10653066, 8);
    expect(kl[1]).toBeCloseTo(0.71828183, 8);
  });

  it("tensor values and gradient d/dlogp = 1 − e^Δ: 0.39346934, −1.71828183", () => {
    const lp = tf.tensor1d(logp);
    const rf = tf.tensor1d(ref);
    const before = tf.memory().numTensors;
    const kl = klK3(lp, rf);
    const g = tf.grad((x) => tf.sum(klK3(x, rf)))(lp);
    expect(tf.memory().numTensors).toBe(before + 2); // kl and g only
    const v = kl.dataSync();
    const d = g.dataSync();
    expect(v[0]).toBeCloseTo(0.10653066, 6);
    expect(v[1]).toBeCloseTo(0.71828183, 6);
    expect(d[0]).toBeCloseTo(0.39346934, 6);
    expect(d[1]).toBeCloseTo(-1.71828183, 6);
    tf.dispose([lp, rf, kl, g]);
  });
});

describe("klK3 — worked cases", () => {
  it("0 when the policies agree, positive otherwise", () => {
    expect(k3(-0.7, -0.7)).toBe(0);
    for (const d of [-3, -0.1, 0.1, 3]) expect(k3(0, d)).toBeGreaterThan(0);
  });

  it("stays accurate for tiny differences (expm1): k3 ≈ Δ²/2", () => {
    // Δ = 1e-8: e^Δ − Δ − 1 = Δ²/2 + Δ³/6 + … = 5.0000000167e-17. expm1(Δ) − Δ keeps 7–8 digits of it;
    // the textbook exp(Δ) − Δ − 1 gives −1.1e-16 (wrong sign: exp(Δ) carries an error of ~1e-16).
    const exact = 5.0000000167e-17;
    expect(k3(0, 1e-8) / exact).toBeCloseTo(1, 6);
    expect((Math.exp(1e-8) - 1e-8 - 1) / exact).toBeLessThan(0);
  });

  it("the per-token KL of the loss test's vector L (two rows, 2-D arrays and tensors)", () => {
    const logp = [
      [-0.5, -1.0],
      [-0.2, -0.3],
    ];
    const ref = [
      [-0.6, -0.8],
      [-0.2, -0.5],
    ];
    const want = [
      [0.00483742, 0.02140276],
      [0, 0.01873075],
    ];
    klK3(logp, ref).forEach((row, i) => row.forEach((v, t) => expect(v).toBeCloseTo(want[i]![t]!, 8)));
    const t = tf.tidy(() => klK3(tf.tensor2d(logp), tf.tensor2d(ref)).arraySync());
    t.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(want[i]![j]!, 6)));
  });

  it("shape mismatches are errors", () => {
    expect(() => klK3([[1, 2]], [[1]])).toThrow(/lengths differ/);
    expect(() => klK3([1, 2], [1])).toThrow(/same shape/);
    tf.tidy(() => {
      expect(() => klK3(tf.zeros([2, 3]), tf.zeros([3, 2]))).toThrow(/shapes differ/);
    });
  });
});

describe("completionMask — worked cases (R1-V / TRL: the mask runs up to and including the first EOS)", () => {
  it("M: ids [5,7,2,0,0], EOS 2 → [1,1,1,0,0] (the EOS itself counts)", () => {
    expect(completionMask([5, 7, 2, 0, 0], 2)).toEqual([1, 1, 1, 0, 0]);
    expect(completionMask([[5, 7, 2, 0, 0]], 2)).toEqual([[1, 1, 1, 0, 0]]);
    const ids = tf.tensor2d([[5, 7, 2, 0, 0]], undefined, "int32");
    const m = completionMask(ids, 2);
    expect(m.arraySync()).toEqual([[1, 1, 1, 0, 0]]);
    tf.dispose([ids, m]);
  });

  it("the first EOS ends the completion; no EOS → all ones (truncated at max length)", () => {
    expect(
      completionMask(
        [
          [2, 0, 0],
          [5, 2, 2],
          [5, 6, 7],
        ],
        2,
      ),
    ).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
  });

  it("maskTruncated zeroes completions with no EOS, unless they end in the pad id", () => {
    const ids = [
      [5, 2, 0],
      [5, 6, 7],
      [5, 6, 0],
    ];
    expect(completionMask(ids, 2, { maskTruncated: true })).toEqual([
      [1, 1, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(completionMask(ids, 2, { maskTruncated: true, padId: 0 })).toEqual([
      [1, 1, 0],
      [0, 0, 0],
      [1, 1, 1],
    ]);
  });

  it("tensors agree with arrays for every option, and leave nothing behind", () => {
    let x = 12345;
    const rand = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const ids = Array.from({ length: 16 }, () => Array.from({ length: 9 }, () => Math.floor(rand() * 6)));
    const t = tf.tensor2d(ids, undefined, "int32");
    for (const opts of [{}, { maskTruncated: true }, { maskTruncated: true, padId: 0 }]) {
      const before = tf.memory().numTensors;
      const m = completionMask(t, 2, opts);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(m.arraySync()).toEqual(completionMask(ids, 2, opts));
      m.dispose();
    }
    t.dispose();
  });
});
