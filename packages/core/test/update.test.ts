import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// tfjs-core alone registers no gradients; the union package does (as backend.ts imports it).
import "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, type Grads } from "../src/optim.js";
import { updateStep } from "../src/update.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** f(w) = Σ (w − target)²: gradient 2(w − target), norm 2‖w − target‖. */
function quadratic(init: number[], target: number[]) {
  const w = tf.variable(tf.tensor1d(init));
  const t = tf.tensor1d(target);
  const loss = () => tf.sum(tf.square(tf.sub(w, t))) as tf.Scalar;
  return { w, loss, dispose: () => tf.dispose([w, t]) };
}

describe("updateStep", () => {
  it(
    "applies the same AdamW step as variableGrads + " + "optimizer.step, returns loss and norm, leaks nothing",
    async () => {
      const a = quadratic([1, 2], [0, 0]);
      const b = quadratic([1, 2], [0, 0]);
      const oa = new AdamW([a.w], { lr: 0.1 });
      const ob = new AdamW([b.w], { lr: 0.1 });
      const before = tf.memory().numTensors;
      const u = await updateStep(a.loss, { vars: [a.w], optimizer: oa, lr: 0.1, label: "test", where: "step 0" });
      expect(tf.memory().numTensors).toBe(before);
      expect(u.loss).toBeCloseTo(5, 6);
      expect(u.gradNorm).toBeCloseTo(2 * Math.sqrt(5), 5);
      expect(u.aux).toEqual({});
      tf.tidy(() => ob.step(tf.variableGrads(b.loss, [b.w]).grads, 0.1));
      expect(Array.from(a.w.dataSync())).toEqual(Array.from(b.w.dataSync()));
      for (const x of [oa, ob, a, b]) x.dispose();
    },
  );

  it("reads named side values computed with the loss; they take no part in the gradient", async () => {
    const a = quadratic([3], [1]);
    const opt = new AdamW([a.w], { lr: 0.1 });
    const before = tf.memory().numTensors;
    const u = await updateStep(
      () => ({ loss: a.loss(), aux: { twice: tf.mul(a.w.sum(), 2) as tf.Scalar, seven: tf.scalar(7) } }),
      { vars: [a.w], optimizer: opt, lr: 0.1, label: "test", where: "step 0" },
    );
    expect(u.aux).toEqual({ twice: 6, seven: 7 });
    expect(u.gradNorm).toBeCloseTo(4, 6); // 2 · (3 − 1): the side values add nothing
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    a.dispose();
  });

  it("clips to the global norm only when given a clip and the norm exceeds it", async () => {
    const seen: number[] = [];
    class Spy extends AdamW {
      override step(g: Grads, lr?: number) {
        const list = Array.isArray(g) ? g : g instanceof Map ? [...g.values()] : Object.values(g);
        seen.push(Math.hypot(...list.flatMap((t) => Array.from(t?.dataSync() ?? []))));
        super.step(g, lr);
      }
    }
    const a = quadratic([3, 4], [0, 0]); // gradient [6, 8], norm 10
    const opt = new Spy([a.w], { lr: 0 });
    const opts = { vars: [a.w], optimizer: opt, lr: 0, label: "test", where: "step 0" };
    await updateStep(a.loss, opts);
    await updateStep(a.loss, { ...opts, clip: 2 });
    await updateStep(a.loss, { ...opts, clip: 20 });
    expect(seen[0]).toBeCloseTo(10, 5);
    expect(seen[1]).toBeCloseTo(2, 5); // 10 · 2 / (10 + 1e-6)
    expect(seen[2]).toBeCloseTo(10, 5);
    opt.dispose();
    a.dispose();
  });

  it("refuses a non-finite loss or gradient norm without applying the update or leaking", async () => {
    const a = quadratic([1, 2], [0, 0]);
    const opt = new AdamW([a.w], { lr: 0.1 });
    const before = tf.memory().numTensors;
    const opts = { vars: [a.w], optimizer: opt, lr: 0.1, label: "MyTrainer", where: "step 4, iteration 1" };
    await expect(
      updateStep(() => ({ loss: tf.mul(a.loss(), NaN) as tf.Scalar, aux: { x: tf.scalar(1) } }), opts),
    ).rejects.toThrow(
      "MyTrainer: loss is NaN at step 4, iteration 1; stopped before applying that update (the parameters keep their " +
        "values)",
    );
    await expect(updateStep(() => tf.sum(tf.sqrt(tf.abs(tf.sub(a.w, a.w)))) as tf.Scalar, opts)).rejects.toThrow(
      /gradient norm is (NaN|Infinity) \(loss 0\) at step 4/,
    );
    expect(Array.from(a.w.dataSync())).toEqual([1, 2]);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    a.dispose();
  });
});
