/** decoder.ts / native/src/decode.cc: what a wrong call gets (the numbers are tested in @vlab/llm's native_decode). */
import { describe, expect, it } from "vitest";
import { floatToHalf, nativeDecoder, nativeStatus, type DecoderShape } from "../src/index.js";

const SHAPE: DecoderShape = {
  vocabSize: 8,
  hiddenSize: 4,
  intermediateSize: 6,
  numLayers: 1,
  numHeads: 2,
  numKvHeads: 1,
  headDim: 2,
  tied: true,
  qkvBias: false,
  rmsNormEps: 1e-6,
  invFreq: Float64Array.of(1),
};
// embed, [ln1, q, k, v, o, ln2, gate, up, down], norm
const SIZES = [8 * 4, 4, 4 * 4, 2 * 4, 2 * 4, 4 * 4, 4, 6 * 4, 6 * 4, 4 * 6, 4];
const weights = () => SIZES.map((n) => new Float32Array(n).fill(0.1));

describe.skipIf(!nativeStatus().loaded)("nativeDecoder", () => {
  it("steps a well-formed decoder: finite logits of the right size", () => {
    const d = nativeDecoder(SHAPE, weights(), { batch: 2, capacity: 3 })!;
    const logits = d.step(Int32Array.of(1, 2), Int32Array.of(0, 0), Uint8Array.of(1, 1));
    expect(logits).toHaveLength(16);
    expect(logits.every(Number.isFinite)).toBe(true);
    expect(d.length).toBe(1);
    d.free();
    const h = nativeDecoder(SHAPE, weights(), { batch: 2, capacity: 3, kvCache: "float16" })!;
    const half = h.step(Int32Array.of(1, 2), Int32Array.of(0, 0), Uint8Array.of(1, 1));
    expect(h.kvCache).toBe("float16");
    expect(half.every(Number.isFinite)).toBe(true);
    h.free();
  });

  it("names a missing weight, a weight of the wrong size and a bad batch", () => {
    expect(() => nativeDecoder(SHAPE, weights().slice(1), { batch: 1, capacity: 2 })).toThrow(
      /expected 11 weights, got 10/,
    );
    const w = weights();
    w[2] = new Float32Array(3);
    expect(() => nativeDecoder(SHAPE, w, { batch: 1, capacity: 2 })).toThrow(/weight 2 must be a Float32Array of 16/);
    expect(() => nativeDecoder(SHAPE, weights(), { batch: 0, capacity: 2 })).toThrow(/positive integers/);
    expect(() => nativeDecoder({ ...SHAPE, numKvHeads: 3 }, weights(), { batch: 1, capacity: 2 })).toThrow(/kvHeads/);
    const kvCache = "bfloat16" as "float16";
    expect(() => nativeDecoder(SHAPE, weights(), { batch: 1, capacity: 2, kvCache })).toThrow(/kvCache must be/);
  });
});

describe("floatToHalf (the half-precision cache's rounding, as native/src/half.h and F16C)", () => {
  it("encodes exact values, rounds to nearest with ties to even, overflows at 65520 and keeps subnormals", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // the largest half
      [65519, 0x7bff], // below the midpoint to 65536
      [65520, 0x7c00], // the midpoint: ties to even, ∞
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // the smallest normal
      [2 ** -24, 0x0001], // the smallest subnormal
      [2 ** -25, 0x0000], // half of it: ties to even (0)
      [3 * 2 ** -25, 0x0002], // 1.5 units: ties to even (2)
      [1 + 2 ** -11, 0x3c00], // half an ulp above 1: ties to even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // 1.5 ulps: ties to even (2 ulps)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the midpoint
      [1 / 3, 0x3555],
    ];
    for (const [x, h] of cases) expect([x, floatToHalf(x)]).toEqual([x, h]);
    expect(floatToHalf(NaN) & 0x7e00).toBe(0x7e00);
  });
});
