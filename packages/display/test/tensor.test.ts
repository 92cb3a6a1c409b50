import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { formatTensorValues, tensorBundle, tensorStats, tensorSummary } from "../src/tensor.js";

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});

const plain = (t: tf.Tensor, o = {}) => tensorBundle(t, o)["text/plain"] as string;

describe("tensorBundle", () => {
  it("summarises a float tensor and previews its values", () => {
    const t = tf.tensor2d([
      [1, -1.2, 3.4],
      [0, 0.5, -0.7],
    ]);
    expect(plain(t)).toBe(
      "Tensor float32 [2, 3]  min -1.2 max 3.4 mean 0.5 std 1.485\n" +
        "[[ 1.0000, -1.2000,  3.4000],\n" +
        " [ 0.0000,  0.5000, -0.7000]]",
    );
    const h = tensorBundle(t)["text/html"] as string;
    expect(h).toContain("<table>");
    expect(h.match(/<tr>/g)).toHaveLength(2);
    expect(h).toContain("Tensor float32 [2, 3]");
    t.dispose();
  });

  it("handles int32, bool, scalar, empty and string tensors", () => {
    expect(plain(tf.tensor1d([1, 2, 3], "int32"))).toBe("Tensor int32 [3]  min 1 max 3 mean 2 std 0.8165\n[1, 2, 3]");
    expect(plain(tf.tensor1d([true, false, true], "bool"))).toBe("Tensor bool [3]  true 2/3\n[ true, false,  true]");
    expect(plain(tf.scalar(3.5))).toBe("Tensor float32 []\n3.5000");
    expect(plain(tf.scalar(7, "int32"))).toBe("Tensor int32 []\n7");
    expect(plain(tf.zeros([0, 3]))).toBe("Tensor float32 [0, 3]  (empty)\n[]");
    expect(plain(tf.tensor1d(["a", "bc"], "string"))).toBe('Tensor string [2]\n[ "a", "bc"]');
  });

  it("counts NaN and Inf and keeps them out of the statistics", () => {
    const t = tf.tensor1d([1, NaN, Infinity, 2, -Infinity]);
    expect(tensorSummary(t)).toBe("Tensor float32 [5]  min 1 max 2 mean 1.5 std 0.5  nan 1  inf 2");
    expect(formatTensorValues(t)).toBe("[  1.,  nan,  inf,   2., -inf]");
    expect(tensorSummary(tf.tensor1d([NaN, NaN]))).toBe("Tensor float32 [2]  nan 2");
  });

  it("abbreviates large tensors with ... like PyTorch", () => {
    const t = tf.reshape(tf.range(0, 2000, 1, "int32"), [20, 100]);
    const text = formatTensorValues(t);
    expect(text.split("\n")).toEqual([
      "[[   0,    1,    2, ...,   97,   98,   99],",
      " [ 100,  101,  102, ...,  197,  198,  199],",
      " [ 200,  201,  202, ...,  297,  298,  299],",
      " ...,",
      " [1700, 1701, 1702, ..., 1797, 1798, 1799],",
      " [1800, 1801, 1802, ..., 1897, 1898, 1899],",
      " [1900, 1901, 1902, ..., 1997, 1998, 1999]]",
    ]);
    // maxValues controls when abbreviation starts
    expect(formatTensorValues(tf.range(0, 10, 1, "int32"), { maxValues: 4, edgeItems: 2 })).toBe("[0, 1, ..., 8, 9]");
    // rank 3: blank line between blocks
    expect(formatTensorValues(tf.reshape(tf.range(0, 8, 1, "int32"), [2, 2, 2]))).toBe(
      "[[[0, 1],\n  [2, 3]],\n\n [[4, 5],\n  [6, 7]]]",
    );
  });

  it("uses scientific notation for wide value ranges", () => {
    expect(formatTensorValues(tf.tensor1d([1e-6, 1]))).toBe("[1.0000e-06, 1.0000e+00]");
  });

  it("wraps long rows", () => {
    const lines = formatTensorValues(tf.div(tf.range(0, 60), 3)).split("\n");
    expect(lines.length).toBeGreaterThan(3);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it("describes a disposed tensor instead of throwing", () => {
    const t = tf.ones([2]);
    t.dispose();
    expect(plain(t)).toBe("Tensor float32 [2]  (disposed)");
  });

  it("computes stable statistics", () => {
    const s = tensorStats(new Float64Array([1e8 + 1, 1e8 + 2, 1e8 + 3]));
    expect(s.mean).toBeCloseTo(1e8 + 2, 3);
    expect(s.std).toBeCloseTo(Math.sqrt(2 / 3), 3);
  });
});
