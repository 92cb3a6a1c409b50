// faster.ts: an op name picks a faster kernel of @vlab/backend where one applies, else null (the
// caller computes the reference math). The kernels' numerics are tested in fused_ops.test.ts.
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { configureFusedOps, initBackend, nativeStatus } from "../src/backend.js";
import { faster, fasterSoftmaxApplies } from "../src/faster.js";

afterAll(() => configureFusedOps({ enabled: true }));

describe("faster", () => {
  it("gives null on cpu, where the reference math is what runs", async () => {
    await initBackend("cpu");
    const x = tf.ones([2, 4]);
    const w = tf.ones([4]);
    const b = tf.zeros([4]);
    expect(faster("gelu", x)).toBeNull();
    expect(faster("layerNorm", x, w, b, 1e-5)).toBeNull();
    expect(fasterSoftmaxApplies("float32", [1, 1, 2, 4])).toBe(false);
    tf.dispose([x, w, b]);
  });

  it.skipIf(!nativeStatus().loaded)(
    "gives the fused kernel's result on wasm, and null where it does not apply",
    async () => {
      await initBackend("wasm");
      const x = tf.tensor2d([[-1, 0, 1, 2]]);
      const y = faster("gelu", x);
      expect(y).not.toBeNull();
      expect(y?.shape).toEqual([1, 4]);
      const xi = tf.cast(x, "int32");
      const badMask = tf.zeros([1, 1, 2, 3]);
      expect(faster("gelu", xi)).toBeNull(); // not float32
      expect(fasterSoftmaxApplies("float32", [1, 1, 2, 4])).toBe(true);
      expect(fasterSoftmaxApplies("float32", [1, 1, 2, 4], badMask)).toBe(false); // the mask's last axis differs
      configureFusedOps({ enabled: false });
      expect(faster("gelu", x)).toBeNull();
      configureFusedOps({ enabled: true });
      tf.dispose([x, xi, badMask, y ?? []]);
    },
  );
});
