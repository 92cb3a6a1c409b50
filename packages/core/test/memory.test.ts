import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { countTensors, expectNoLeak, withScope } from "../src/memory.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("memory", () => {
  it("countTensors follows tf.memory()", () => {
    const n = countTensors();
    const t = tf.ones([2]);
    expect(countTensors()).toBe(n + 1);
    t.dispose();
    expect(countTensors()).toBe(n);
  });

  it("expectNoLeak passes clean code, counts leaks, ignores returned tensors", async () => {
    await expectNoLeak(() => tf.tidy(() => tf.add(tf.ones([3]), 1).dispose()));
    let leak: tf.Tensor[] = [];
    await expect(
      expectNoLeak(() => {
        leak = [tf.ones([1]), tf.zeros([1])];
      }, "my step"),
    ).rejects.toThrow(/my step: leaked 2 tensors/);
    tf.dispose(leak);
    const r = await expectNoLeak(async () => {
      await new Promise((res) => setTimeout(res, 1));
      return { y: tf.tidy(() => tf.mul(tf.ones([2]), 3)) };
    });
    expect(Array.from(r.y.dataSync())).toEqual([3, 3]);
    r.y.dispose();
  });

  it("withScope frees intermediates of async code and keeps the result", async () => {
    const n = countTensors();
    const out = await withScope(async () => {
      const a = tf.ones([4]);
      await new Promise((res) => setImmediate(res));
      const b = tf.add(a, a);
      return [b, tf.sum(b)] as const;
    });
    expect(countTensors()).toBe(n + 2);
    expect(out[1].dataSync()[0]).toBe(8);
    tf.dispose([...out]);
    expect(countTensors()).toBe(n);
    await expect(
      withScope(async () => {
        tf.ones([2]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(countTensors()).toBe(n);
  });
});
