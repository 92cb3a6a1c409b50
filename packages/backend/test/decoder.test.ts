/** decoder.ts / native/src/decode.cc: what a wrong call gets (the numbers are tested in @vlab/llm's native_decode). */
import { describe, expect, it } from "vitest";
import { nativeDecoder, nativeStatus, type DecoderShape } from "../src/index.js";

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
  });
});
