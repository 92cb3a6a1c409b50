import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  accuracy,
  confusionMatrix,
  perClassAccuracy,
  recallAtK,
  recallChance,
  retrievalReport,
} from "../src/metrics.js";

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});

describe("metrics", () => {
  it("accuracy over arrays and tensors (logits are argmaxed)", () => {
    expect(accuracy([0, 1, 2, 2], [0, 1, 1, 2])).toBe(0.75);
    expect(accuracy(new Int32Array([1, 1]), [1, 0])).toBe(0.5);
    const logits = tf.tensor2d([
      [2, 1],
      [0, 3],
      [5, 1],
    ]);
    const before = tf.memory().numTensors;
    expect(accuracy(logits, tf.tensor1d([0, 1, 1], "int32"))).toBeCloseTo(2 / 3);
    expect(tf.memory().numTensors).toBe(before + 1); // only the target tensor created above
    expect(() => accuracy([1], [1, 2])).toThrow(/pred has 1 labels but target has 2/);
    expect(() => accuracy([], [])).toThrow(/no labels/);
    expect(() => accuracy(tf.zeros([1, 1, 1]), [0])).toThrow(/rank-1 tensor of labels or rank-2/);
  });

  it("confusion matrix: rows are targets, columns predictions", () => {
    expect(confusionMatrix([0, 1, 1, 2], [0, 1, 2, 2])).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 1, 1],
    ]);
    expect(confusionMatrix([0], [0], 2)).toEqual([
      [1, 0],
      [0, 0],
    ]);
    expect(() => confusionMatrix([3], [0], 2)).toThrow(/pred\[0\] = 3 is not a class in 0..1/);
    expect(() => confusionMatrix([0.5], [0])).toThrow(/is not a class/);
    expect(perClassAccuracy([0, 1, 1], [0, 1, 0], 3)).toEqual([0.5, 1, NaN]);
  });
});

describe("retrieval", () => {
  // rows: images, columns: texts; text j describes image j
  const sim = [
    [0.9, 0.1, 0.3, 0.0], // image 0: its text first
    [0.2, 0.1, 0.8, 0.5], // image 1: its text last (rank 4)
    [0.1, 0.3, 0.7, 0.2], // image 2: first
    [0.6, 0.0, 0.1, 0.5], // image 3: second
  ];

  it("recall@k over the diagonal, from arrays and tensors", () => {
    expect(recallAtK(sim, 1)).toBe(0.5);
    expect(recallAtK(sim, 2)).toBe(0.75);
    expect(recallAtK(sim, 4)).toBe(1);
    expect(recallAtK(sim, 10)).toBe(1);
    const t = tf.tensor2d(sim);
    const before = tf.memory().numTensors;
    expect(recallAtK(t, 1)).toBe(0.5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("explicit targets, several correct candidates, and ties at their expected value", () => {
    expect(recallAtK(sim, 1, { targets: [0, 2, 2, 0] })).toBe(1);
    expect(recallAtK(sim, 1, { targets: [[1, 3], [3, 1], [0], [0, 3]] })).toBe(0.25); // only image 3 (text 0)
    // a constant matrix scores chance, k / N
    const flat = Array.from({ length: 5 }, () => new Array(5).fill(1));
    expect(recallAtK(flat, 1)).toBeCloseTo(0.2, 12);
    expect(recallAtK(flat, 2)).toBeCloseTo(0.4, 12);
    // one wrong candidate tied with the right one at the top: half a hit at k = 1
    expect(recallAtK([[1, 1, 0]], 1, { targets: [0] })).toBe(0.5);
    expect(recallAtK([[1, 1, 0]], 2, { targets: [0] })).toBe(1);
    // several correct candidates tied at the top: a constant row with 2 correct of 5 scores 2/5 at k = 1,
    // and 1 − C(3, 2)/C(5, 2) = 0.7 at k = 2 (was 1/4 and 1/2: the other correct candidate counted as absent)
    const row5 = [new Array(5).fill(1)];
    expect(recallAtK(row5, 1, { targets: [[0, 3]] })).toBeCloseTo(0.4, 12);
    expect(recallAtK(row5, 2, { targets: [[0, 3]] })).toBeCloseTo(0.7, 12);
    expect(recallAtK(row5, 4, { targets: [[0, 3]] })).toBe(1);
    // a correct candidate below the best one changes nothing; wrong ones above push the tie down
    expect(recallAtK([[0.9, 0.5, 0.9, 0.9, 0.1]], 2, { targets: [[0, 1]] })).toBeCloseTo(1 - 1 / 3, 12);
    expect(recallAtK([[0.2, 0.9, 0.2, 0.2, 0.2]], 2, { targets: [[0, 2]] })).toBeCloseTo(0.5, 12);
    // recallChance is what a constant matrix scores
    expect(recallChance(1, 16, 112)).toBeCloseTo(1 / 7, 12);
    expect(recallChance(2, 2, 5)).toBeCloseTo(0.7, 12);
    expect(recallChance(5, 1, 20)).toBeCloseTo(0.25, 12);
    expect(recallChance(3, 0, 4)).toBe(0);
    expect(recallChance(1, 0, 0)).toBe(0);
    expect(() => recallChance(1, 6, 5)).toThrow(/0 <= correct <= candidates/);
    expect(() => recallChance(1.5, 1, 5)).toThrow(/k must be a positive integer, got 1.5/);
  });

  it("retrievalReport: both directions", () => {
    const r = retrievalReport(sim, [1, 2, 5]);
    expect(r.i2t).toEqual({ 1: 0.5, 2: 0.75, 5: 1 });
    // texts → images (columns): text 0 finds image 0 first; text 1 (0.1) is behind 0.3 and tied with
    // another 0.1; text 2 (0.7) is behind 0.8; text 3 (0.5) ties with image 1's 0.5 → half a hit
    const cols = sim[0]!.map((_, j) => sim.map((row) => row[j]!));
    expect(r.t2i[1]).toBe(recallAtK(cols, 1));
    expect(r.t2i[1]).toBe(0.375); // (1 + 0 + 0 + 0.5) / 4
    expect(Object.keys(retrievalReport(sim).i2t)).toEqual(["1", "5", "10"]);
  });

  it("retrievalReport with several captions per image (imageOfText)", () => {
    // 2 images, 4 texts: texts 0, 1 describe image 0; texts 2, 3 image 1
    const s = [
      [0.2, 0.9, 0.1, 0.3],
      [0.5, 0.1, 0.4, 0.45],
    ];
    const r = retrievalReport(s, [1], { imageOfText: [0, 0, 1, 1] });
    expect(r.i2t[1]).toBe(0.5); // image 0 → text 1 ✓; image 1 → text 0 ✗
    expect(r.t2i[1]).toBe(0.75); // text 0 → image 1 ✗, texts 1, 2, 3 ✓
  });

  it("clear errors", () => {
    expect(() => recallAtK(sim, 0)).toThrow(/k must be a positive integer/);
    expect(() => recallAtK([[1, 2], [3]], 1)).toThrow(/row 1 has 1 candidates, row 0 has 2/);
    expect(() => recallAtK(sim, 1, { targets: [0, 1] })).toThrow(/2 targets for 4 queries/);
    expect(() => recallAtK(sim, 1, { targets: [0, 1, 2, 9] })).toThrow(
      /target 9 of query 3 is not a candidate in 0..3/,
    );
    expect(() => recallAtK(tf.zeros([2, 2, 2]), 1)).toThrow(/rank-2 tensor/);
    expect(() => retrievalReport([[1, 2, 3]])).toThrow(/needs imageOfText/);
    expect(() => recallAtK([[NaN]], 1)).toThrow(/NaN/);
  });
});
