/**
 * Qwen2-VL's position machinery: smartResize, visionRotaryIds, getRopeIndex, windowIndex. The spec's vectors (T1, T3,
 * the worked M-RoPE example) and cases worked by hand from transformers' code, each derivation in a comment.
 */
import { describe, expect, it } from "vitest";
import {
  getRopeIndex,
  roundHalfEven,
  smartResize,
  SMART_RESIZE_LIBRARY,
  visionRotaryIds,
  windowIndex,
} from "../src/index.js";

const VS = 151652; // <|vision_start|>
const VE = 151653; // <|vision_end|>
const P = 151655; // <|image_pad|>
const V = 151656; // <|video_pad|>
const [A, B, C, D, E] = [10, 11, 12, 13, 14];

describe("smartResize", () => {
  const lib = { ...SMART_RESIZE_LIBRARY };
  it("T1: library bounds, with Python's round-half-to-even (70×70 → 56×56, not 84×84)", () => {
    expect(smartResize(224, 224, lib)).toEqual([224, 224]); // 64 merged tokens
    expect(smartResize(480, 640, lib)).toEqual([476, 644]); // grid (1, 34, 46): 391 tokens
    expect(smartResize(28, 28, lib)).toEqual([56, 56]); // min_pixels branch: β = 2
    expect(smartResize(70, 70, lib)).toEqual([56, 56]); // 70 / 28 = 2.5 → 2
    expect(smartResize(98, 98, lib)).toEqual([112, 112]); // 3.5 → 4
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(-2.5)).toBe(-2);
    expect(roundHalfEven(2.4)).toBe(2);
  });

  it("max_pixels branch uses the original size: 2000×3000 → 812×1204 (library), 1988×2996 (released bounds)", () => {
    // round: 71·28 × 107·28 = 1988 × 2996 > 1,003,520; β = √(6e6 / 1,003,520) = 2.4452;
    // ⌊2000 / β / 28⌋ = 29 → 812, ⌊3000 / β / 28⌋ = 43 → 1204. Under 12,845,056 nothing shrinks.
    expect(smartResize(2000, 3000, lib)).toEqual([812, 1204]);
    expect(smartResize(2000, 3000)).toEqual([1988, 2996]);
  });

  it("qwen-vl-utils keeps sides ≥ factor where the library refuses them; both refuse an aspect ratio above 200", () => {
    // 10×30: round → 0 and 28, kept at 28 × 28 = 784 < 3136; β = √(3136 / 300) = 3.233;
    // ⌈10 β / 28⌉ = 2 → 56, ⌈30 β / 28⌉ = 4 → 112.
    expect(smartResize(10, 30, { flavour: "qwen-vl-utils" })).toEqual([56, 112]);
    expect(() => smartResize(10, 30)).toThrow(/height 10 and width 30 must be at least the factor 28/);
    expect(() => smartResize(28, 5700)).toThrow(/aspect ratio 28×5700 is above 200/);
    expect(() => smartResize(28, 5700, { flavour: "qwen-vl-utils" })).toThrow(/above 200/);
    expect(smartResize(28, 5000, lib)).toEqual([28, 5012]); // ratio 178.6: allowed
    expect(() => smartResize(NaN, 30)).toThrow(/positive/);
  });
});

describe("visionRotaryIds", () => {
  it("T3: grid (1, 4, 6) in block-major order", () => {
    const { h, w } = visionRotaryIds([[1, 4, 6]], 2);
    expect(h).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3, 2, 2, 3, 3]);
    expect(w).toEqual([0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5]);
  });

  it("repeats a video's grid per temporal slice and concatenates images; refuses odd grids", () => {
    const { h, w } = visionRotaryIds([
      [2, 2, 2],
      [1, 2, 4],
    ]);
    expect(h).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]);
    expect(w).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3]);
    expect(() => visionRotaryIds([[1, 3, 4]])).toThrow(/gridThw\[0\] = \[1, 3, 4\]: h and w must be multiples of 2/);
    expect(() => visionRotaryIds([[1, 4]])).toThrow(/three positive integers/);
  });
});

describe("getRopeIndex", () => {
  it("§1.10: A B C + an image of grid (1, 4, 6) + D E", () => {
    const ids = [[A, B, C, VS, P, P, P, P, P, P, VE, D, E]];
    const { positionIds, ropeDeltas } = getRopeIndex(ids, { imageGridThw: [[1, 4, 6]] });
    expect(positionIds[0]).toEqual([[0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 7, 8, 9]]);
    expect(positionIds[1]).toEqual([[0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 7, 8, 9]]);
    expect(positionIds[2]).toEqual([[0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9]]);
    expect(ropeDeltas).toEqual([-3]);
  });

  it("two images: text after each continues at the largest id + 1", () => {
    // A vs | image (1,4,4) → 2×2 merged, from 2 | ve B vs from max 3 + 1 = 4 | image (1,2,4) → 1×2, from 7 |
    // ve C from 8 + 1 = 9. Delta 10 + 1 − 13 = −2.
    const ids = [[A, VS, P, P, P, P, VE, B, VS, P, P, VE, C]];
    const r = getRopeIndex(ids, {
      imageGridThw: [
        [1, 4, 4],
        [1, 2, 4],
      ],
    });
    expect(r.positionIds[0]).toEqual([[0, 1, 2, 2, 2, 2, 4, 5, 6, 7, 7, 9, 10]]);
    expect(r.positionIds[1]).toEqual([[0, 1, 2, 2, 3, 3, 4, 5, 6, 7, 7, 9, 10]]);
    expect(r.positionIds[2]).toEqual([[0, 1, 2, 3, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
    expect(r.ropeDeltas).toEqual([-2]);
  });

  describe("a video of grid (2, 2, 4): T = 2 slices of 1 × 2 merged tokens", () => {
    const ids = [[VS, V, V, V, V, VE, D]];
    const videoGridThw = [[2, 2, 4]];
    it("Qwen2-VL: t counts the slices", () => {
      // vs 0 | slices from 1: (1,1,1) (1,1,2) (2,1,1) (2,1,2) | ve D from 2 + 1 = 3. Delta 4 + 1 − 7 = −2.
      const r = getRopeIndex(ids, { videoGridThw });
      expect(r.positionIds).toEqual([[[0, 1, 1, 2, 2, 3, 4]], [[0, 1, 1, 1, 1, 3, 4]], [[0, 1, 2, 1, 2, 3, 4]]]);
      expect(r.ropeDeltas).toEqual([-2]);
    });
    it("Qwen2.5-VL: t = trunc(slice · seconds per slice · tokens per second)", () => {
      // 1 s a slice, 2 per second: slice 1 at t = 1 + 2 = 3; ve D from 3 + 1 = 4. Delta 5 + 1 − 7 = −1.
      const r = getRopeIndex(ids, { videoGridThw, mode: "qwen2.5-vl", secondPerGridTs: [1], tokensPerSecond: 2 });
      expect(r.positionIds[0]).toEqual([[0, 1, 1, 3, 3, 4, 5]]);
      expect(r.positionIds[1]).toEqual([[0, 1, 1, 1, 1, 4, 5]]);
      expect(r.positionIds[2]).toEqual([[0, 1, 2, 1, 2, 4, 5]]);
      expect(r.ropeDeltas).toEqual([-1]);
      // 0.25 s a slice: 1 · 0.25 · 2 = 0.5 truncates to 0, both slices at t = 1; ve D from 2 + 1 = 3.
      const q = getRopeIndex(ids, { videoGridThw, mode: "qwen2.5-vl", secondPerGridTs: [0.25] });
      expect(q.positionIds[0]).toEqual([[0, 1, 1, 1, 1, 3, 4]]);
      // an image in Qwen2.5-VL mode is the same as in Qwen2-VL's
      const img = [[A, VS, P, P, VE]];
      const imageGridThw = [[1, 2, 4]];
      expect(getRopeIndex(img, { imageGridThw, mode: "qwen2.5-vl" })).toEqual(getRopeIndex(img, { imageGridThw }));
    });
  });

  it("left padding: padded columns get 1, each row counts its own tokens, grids are taken in batch order", () => {
    // row 0: pad pad | A 0, vs 1, image (1,2,4) from 2: (2,2,2) (2,2,3), ve 4. Delta 4 + 1 − 7 = −2.
    // row 1: A 0, B 1, vs 2, image from 3: (3,3,3) (3,3,4), ve 5, C 6. Delta 6 + 1 − 7 = 0.
    const ids = [
      [0, 0, A, VS, P, P, VE],
      [A, B, VS, P, P, VE, C],
    ];
    const attentionMask = [
      [0, 0, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1, 1],
    ];
    const r = getRopeIndex(ids, {
      attentionMask,
      imageGridThw: [
        [1, 2, 4],
        [1, 2, 4],
      ],
    });
    expect(r.positionIds[0]).toEqual([
      [1, 1, 0, 1, 2, 2, 4],
      [0, 1, 2, 3, 3, 5, 6],
    ]);
    expect(r.positionIds[2]).toEqual([
      [1, 1, 0, 1, 2, 3, 4],
      [0, 1, 2, 3, 4, 5, 6],
    ]);
    expect(r.ropeDeltas).toEqual([-2, 0]);
  });

  it("text only: cumsum(mask) − 1 on all three axes (padding 1), delta max + 1 − L; without a mask 0 … L − 1", () => {
    const r = getRopeIndex(
      [
        [A, B, C],
        [A, B, C],
      ],
      {
        attentionMask: [
          [0, 1, 1],
          [1, 1, 1],
        ],
      },
    );
    for (const axis of r.positionIds)
      expect(axis).toEqual([
        [1, 0, 1],
        [0, 1, 2],
      ]);
    expect(r.ropeDeltas).toEqual([-1, 0]);
    const plain = getRopeIndex([[A, B, C, D]]);
    expect(plain.positionIds).toEqual([[[0, 1, 2, 3]], [[0, 1, 2, 3]], [[0, 1, 2, 3]]]);
    expect(plain.ropeDeltas).toEqual([0]);
  });

  it("refuses prompts and grids that do not match, saying where", () => {
    const ids = [[A, VS, P, P, VE]];
    expect(() => getRopeIndex(ids, { imageGridThw: [] })).toThrow(
      /row 0 has more images than imageGridThw lists \(0\)/,
    );
    expect(() => getRopeIndex(ids, { imageGridThw: [[1, 4, 4]] })).toThrow(
      /grid \[1, 4, 4\] needs 4 pad tokens from position 2, but position 4 holds 151653/,
    );
    expect(() =>
      getRopeIndex(ids, {
        imageGridThw: [
          [1, 2, 4],
          [1, 2, 4],
        ],
      }),
    ).toThrow(/hold 1 images and 0 videos, the grids list 2 and 0/);
    expect(() => getRopeIndex([[A], [A, B]])).toThrow(/differ in length/);
  });
});

describe("windowIndex", () => {
  it("a merged grid that does not divide into windows: 6 × 5 tokens in 4 × 4 windows", () => {
    // grid (1, 12, 10) → 6 × 5 merged; windows (rows 0-3, cols 0-3), (0-3, 4), (4-5, 0-3), (4-5, 4).
    const r = windowIndex([[1, 12, 10]]);
    expect(r.windowIndex).toEqual([
      ...[0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18],
      ...[4, 9, 14, 19],
      ...[20, 21, 22, 23, 25, 26, 27, 28],
      ...[24, 29],
    ]);
    expect(r.cuWindowSeqlens).toEqual([0, 64, 80, 112, 120]); // window sizes × 4 patches
  });

  it("drops the padding's empty windows when the grid divides (unique_consecutive); offsets later images", () => {
    // 56-px windows (2 × 2 merged): each 2 × 2 image is one window, plus three empty ones from the padding.
    const r = windowIndex(
      [
        [1, 4, 4],
        [1, 4, 4],
      ],
      { windowSize: 56 },
    );
    expect(r.windowIndex).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.cuWindowSeqlens).toEqual([0, 16, 32]);
    // a video: each temporal slice is windowed on its own
    const v = windowIndex([[2, 4, 4]], { windowSize: 28 });
    expect(v.windowIndex).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(v.cuWindowSeqlens).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32]);
  });
});
