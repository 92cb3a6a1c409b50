// What notebook 01 measures on a trained ViT, on hand-made inputs: attention on a box, position-embedding similarity.
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "@vlab/core";
import { adjacentMinusDistant, attentionOnBox, positionEmbeddingSimilarity, VisionTransformer } from "../src/index.js";

beforeAll(async () => {
  await initBackend("cpu");
});

describe("attentionOnBox", () => {
  const map = [
    [4, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 4],
  ];
  it("is (mass share on the box) / (area share of the box)", () => {
    // The box covers the top-left 2×2 patches (8-px patches): half the mass on a quarter of the grid.
    expect(attentionOnBox(map, [0, 0, 16, 16], 8)).toBe(0.5 / (4 / 16));
    // A box touching a patch's edge does not cover it (the middle 2×2 holds no mass); one pixel past it does (3×3).
    expect(attentionOnBox(map, [8, 8, 24, 24], 8)).toBe(0);
    expect(attentionOnBox(map, [8, 8, 25, 25], 8)).toBe(0.5 / (9 / 16));
  });
  it("is 1 for a uniform map", () => {
    const uniform = map.map((row) => row.map(() => 1));
    expect(attentionOnBox(uniform, [3, 3, 20, 12], 8)).toBeCloseTo(1, 12);
  });
  it("refuses a malformed box", () => {
    expect(() => attentionOnBox(map, [0, 0, 8], 8)).toThrow(/box must be \[x0, y0, x1, y1\]/);
  });
});

describe("position-embedding similarity", () => {
  it("adjacentMinusDistant compares grid neighbours with patches 3 or more steps apart", () => {
    // A 2×2 grid has no pair 3 apart; a 1×4 row has: 0–3.
    const n = 4;
    const sim = Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => 1 - Math.abs(a - b) / 4));
    expect(adjacentMinusDistant(sim, 4)).toBeCloseTo(0.75 - 0.25, 12);
    expect(() => adjacentMinusDistant(sim, 2)).toThrow(/no near or no far pairs/);
  });
  it("positionEmbeddingSimilarity is [g², g²] cosines with ones on the diagonal, and frees its tensors", () => {
    const vit = new VisionTransformer({ imageSize: 16, patchSize: 8, width: 16, layers: 1, heads: 2, seed: 3 });
    const before = tf.memory().numTensors;
    const sim = positionEmbeddingSimilarity(vit);
    expect(tf.memory().numTensors).toBe(before);
    expect(sim).toHaveLength(4);
    sim.forEach((row, i) => {
      expect(row).toHaveLength(4);
      expect(row[i]).toBeCloseTo(1, 5);
      row.forEach((v) => expect(Math.abs(v)).toBeLessThanOrEqual(1 + 1e-6));
    });
    vit.dispose();
  });
});
