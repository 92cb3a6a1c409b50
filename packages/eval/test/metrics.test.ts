import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { accuracy, confusionMatrix, perClassAccuracy } from "../src/metrics.js";

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});

describe("metrics", () => {
  it("accuracy over arrays and tensors (logits are argmaxed)", () => {
    expect(accuracy([0, 1, 2, 2], [0, 1, 1, 2])).toBe(0.75);
    expect(accuracy(new Int32Array([1, 1]), [1, 0])).toBe(0.5);
    const logits = tf.tensor2d([[2, 1], [0, 3], [5, 1]]);
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
    expect(confusionMatrix([0], [0], 2)).toEqual([[1, 0], [0, 0]]);
    expect(() => confusionMatrix([3], [0], 2)).toThrow(/pred\[0\] = 3 is not a class in 0..1/);
    expect(() => confusionMatrix([0.5], [0])).toThrow(/is not a class/);
    expect(perClassAccuracy([0, 1, 1], [0, 1, 0], 3)).toEqual([0.5, 1, NaN]);
  });
});
