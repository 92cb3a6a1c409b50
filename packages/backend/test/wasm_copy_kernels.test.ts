// The copy kernels of kernels/ (Identity sharing its buffer; Slice, SplitV, Concat and identity
// Transpose as memmoves inside the wasm heap) against tfjs's cpu backend, and the safety
// of shared buffers.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend.js";
import { expectSameOnBoth, t, withGrads } from "./equivalence.js";

beforeAll(async () => {
  await initBackend("wasm");
});

const ints = (shape: number[]) =>
  tf.tensor(
    Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 37) % 101) - 50),
    shape,
    "int32",
  );
const bools = (shape: number[]) =>
  tf.tensor(
    Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i * 7) % 3 === 0),
    shape,
    "bool",
  );
const asFloat = (x: tf.Tensor) => tf.cast(x, "float32");

describe("Slice", () => {
  it("equals cpu for every rank, partial and whole axes, -1 sizes, int32 and bool", async () => {
    await expectSameOnBoth(() => [
      tf.slice(t(1, [10]), [3], [4]),
      tf.slice(t(2, [6, 20]), [1, 5], [3, 7]),
      tf.slice(t(3, [6, 20]), [2, 0], [-1, 20]), // contiguous rows
      tf.slice(t(4, [4, 5, 6]), [1, 2, 0], [2, 3, 6]), // whole last axis joins the run
      tf.slice(t(5, [4, 5, 6]), [0, 0, 3], [4, 5, 1]), // runs of one element
      tf.slice(t(6, [2, 3, 4, 5, 6]), [1, 0, 1, 2, 0], [1, 3, 2, 3, 6]), // rank 5
      tf.slice(t(7, [3, 4]), [0, 0], [3, 4]), // everything
      tf.slice(t(8, [3, 4]), [1, 1], [0, 2]), // empty
      asFloat(tf.slice(ints([5, 9]), [1, 2], [3, 5])),
      asFloat(tf.slice(bools([5, 9]), [1, 2], [3, 5])),
    ]);
  });
});

describe("SplitV and Concat", () => {
  it("split equals cpu (even, uneven, -1, every axis, int32)", async () => {
    await expectSameOnBoth(() => [
      ...tf.split(t(10, [32, 6, 384]), 3, -1), // attention's fused qkv
      ...tf.split(t(11, [5, 7, 9]), [2, 4, 1], 1),
      ...tf.split(t(12, [6, 4]), [1, -1], 0),
      ...tf.split(ints([4, 10]), [3, 7], 1).map(asFloat),
    ]);
  });

  it("concat equals cpu (every axis, ragged widths, an empty part, one part, int32, bool)", async () => {
    await expectSameOnBoth(() => [
      tf.concat([t(20, [3, 4, 5]), t(21, [3, 4, 2]), t(22, [3, 4, 7])], -1),
      tf.concat([t(23, [3, 4, 5]), t(24, [3, 1, 5])], 1),
      tf.concat([t(25, [2, 3]), t(26, [4, 3])], 0),
      tf.concat([t(27, [2, 3]), tf.zeros([2, 0]), t(28, [2, 1])], 1),
      tf.concat([t(29, [2, 3])], 1),
      asFloat(tf.concat([ints([2, 3]), ints([2, 5])], 1)),
      asFloat(tf.concat([bools([2, 3]), bools([2, 5])], 1)),
    ]);
  });

  it("gradients through split, concat and slice equal cpu", async () => {
    await expectSameOnBoth(
      withGrads(
        () => [t(30, [4, 6, 12])],
        (x) => {
          const [q, k, v] = tf.split(x!, 3, -1);
          return tf.concat([tf.mul(q!, k!), tf.slice(v!, [0, 1, 0], [4, 4, 4])], 1);
        },
      ),
    );
  });
});

describe("Identity and identity Transpose share the buffer safely", () => {
  it("a clone keeps its values when the variable it came from is reassigned or disposed", async () => {
    await tf.setBackend("wasm");
    const buffers = tf.engine().backend.numDataIds();
    const init = tf.tensor1d([1, 2, 3]);
    const next = tf.tensor1d([7, 8, 9]);
    const v = tf.variable(init);
    const c = tf.clone(v);
    const p = tf.transpose(v, [0]);
    v.assign(next);
    tf.dispose([init, next]);
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(p.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([7, 8, 9]);
    v.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    c.dispose();
    expect(Array.from(p.dataSync())).toEqual([1, 2, 3]);
    p.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
  });

  it("transposes with other permutations still move data", async () => {
    await expectSameOnBoth(() => [
      tf.transpose(t(40, [2, 3, 4]), [0, 1, 2]),
      tf.transpose(t(41, [2, 3, 4]), [0, 2, 1]),
      tf.transpose(t(42, [2, 3, 4, 5]), [0, 2, 1, 3]),
    ]);
  });
});
