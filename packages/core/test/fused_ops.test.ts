// The fused ops (@vlab/backend's src/fused/) as core's layers reach them through faster.ts: one kernel
// forward and one backward for GELU, layer norm, attention's softmax and softmax cross-entropy, one
// kernel per AdamW update. On wasm they run in the native addon (where it was
// built); on cpu the same calls compose tfjs ops, the reference compared against here, forward and
// gradients. Without the addon the calls compose tfjs ops on wasm too (last test).
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  configureFusedOps,
  configureNativeKernels,
  describeBackend,
  initBackend,
  nativeStatus,
} from "../src/backend.js";
import { faster } from "../src/faster.js";
import { MASK_MIN, MultiHeadAttention, causalMask, paddingMask } from "../src/attention.js";
import { gelu, LayerNorm } from "../src/layers.js";
import { crossEntropy } from "../src/losses.js";
import { AdamW } from "../src/optim.js";
import { Rng } from "../src/rng.js";
import { expectSameOnBoth, runOn, t, withGrads } from "../../backend/test/equivalence.js";

const loaded = nativeStatus().loaded;

beforeAll(async () => {
  await initBackend("wasm");
});

afterAll(() => {
  configureNativeKernels({ enabled: true });
  configureFusedOps({ enabled: true });
});

/** A tensor whose values cover the interesting range of an activation: 0, ±tiny, ±large. */
function spread(seed: number, shape: number[], scale = 3): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.mul(t(seed, shape), scale);
    const flat = x.dataSync().slice();
    const special = [0, -0, 1e-6, -1e-6, 8, -8, 30, -30];
    special.forEach((v, i) => i < flat.length && (flat[i] = v));
    return tf.tensor(flat, shape);
  });
}

describe.skipIf(!loaded)("registration", () => {
  it("the fused kernels are registered for wasm and listed by describeBackend", () => {
    const names = describeBackend().registeredByVlab;
    for (const k of [
      "VlabGelu",
      "VlabGeluGrad",
      "VlabLayerNorm",
      "VlabLayerNormGrad",
      "VlabSoftmaxCrossEntropy",
      "VlabSoftmaxCrossEntropyGrad",
      "VlabAdamWUpdate",
      "VlabScaledMaskedSoftmax",
      "VlabScaledSoftmax",
      "VlabScaledMaskedSoftmaxGrad",
    ]) {
      expect(names.some((n) => n.startsWith(`${k} (wasm`))).toBe(true);
      expect(tf.getKernel(k, "cpu")).toBeUndefined(); // cpu stays the composite reference
    }
  });
});

describe.skipIf(!loaded)("fused ops", () => {
  it("gelu: forward and gradient equal cpu (odd sizes, zeros, large values, threaded size)", async () => {
    for (const shape of [[1], [7, 13], [3, 5, 129], [300, 257]]) {
      await expectSameOnBoth(
        withGrads(
          () => [spread(1, shape)],
          (x) => gelu(x!),
        ),
        2e-6,
        undefined,
        `[${shape}]`,
      );
    }
  });

  it("layer norm: forward and gradients of x, weight, bias equal the composed ops on cpu", async () => {
    const composed = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number) => {
      const centred = tf.sub(x, tf.mean(x, -1, true));
      const variance = tf.mean(tf.square(centred), -1, true);
      return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), w), b);
    };
    for (const [shape, eps] of [
      [[3, 8], 1e-5],
      [[5, 7, 33], 1e-6],
      [[600, 128], 1e-5],
      [[4, 1], 1e-5],
    ] as [number[], number][]) {
      const d = shape[shape.length - 1]!;
      const inputs = () => [tf.add(t(2, shape), 3), t(3, [d]), t(4, [d])];
      const fused = withGrads(inputs, (x, w, b) => {
        const y = faster("layerNorm", x!, w!, b!, eps);
        if (!y) throw new Error("the fused layer norm should be available on wasm");
        return y;
      });
      await expectSameOnBoth(
        fused,
        1e-5,
        withGrads(inputs, (x, w, b) => composed(x!, w!, b!, eps)),
        `[${shape}]`,
      );
    }
  });

  it("the LayerNorm module uses it and equals cpu", async () => {
    const f = () => {
      const ln = new LayerNorm(33);
      ln.weight!.assign(t(5, [33]));
      ln.bias!.assign(t(6, [33]));
      const y = ln.forward(t(7, [4, 6, 33]));
      ln.dispose();
      return [y];
    };
    await expectSameOnBoth(f, 1e-5);
  });

  it("scaled masked softmax: forward and gradients (scores and mask) equal the composed ops on cpu", async () => {
    const composed = (x: tf.Tensor, m: tf.Tensor | undefined, scale: number) =>
      tf.softmax(m ? tf.add(tf.mul(x, scale), tf.maximum(m, MASK_MIN)) : tf.mul(x, scale), -1);
    const maskOf = (kind: string): tf.Tensor | undefined => {
      if (kind === "none") return undefined;
      if (kind === "causal") return causalMask(5, 7);
      if (kind === "padding")
        return paddingMask([
          [1, 1, 1, 0, 0, 1, 1],
          [0, 0, 0, 0, 0, 0, 0],
        ]); // row 2: all masked
      return tf.tensor(
        Array.from({ length: 2 * 5 * 7 }, (_, i) => (i % 4 === 0 ? -Infinity : Math.sin(i))),
        [2, 1, 5, 7],
      ); // -inf, learned-bias-like
    };
    for (const kind of ["none", "causal", "padding", "bias"]) {
      const inputs = () => {
        const m = maskOf(kind);
        return m ? [t(40, [2, 3, 5, 7]), m] : [t(40, [2, 3, 5, 7])];
      };
      const fused = withGrads(inputs, (x, m) => {
        const y = faster("scaledMaskedSoftmax", x!, m, 0.37, MASK_MIN);
        if (!y) throw new Error("the fused softmax should be available on wasm");
        return y;
      });
      // -Infinity in the mask has no finite gradient to compare; differentiate x only there.
      await expectSameOnBoth(
        fused,
        1e-5,
        withGrads(inputs, (x, m) => composed(x!, m, 0.37)),
        kind,
      );
    }
  });

  it("MultiHeadAttention with a causal mask: output and every gradient equal cpu", async () => {
    const f = () => {
      const attn = new MultiHeadAttention(16, 4, { qkvFused: true, rng: new Rng(3) });
      const mask = causalMask(6);
      const x = t(41, [2, 6, 16]);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(attn.forward(x, { mask }), t(42, [2, 6, 16]))) as tf.Scalar,
      );
      const out = [value, ...attn.namedParameters().map(([, p]) => grads[p.name]!)];
      attn.dispose();
      return out;
    };
    await expectSameOnBoth(f, 1e-5);
  });

  it("crossEntropy: loss and gradient equal cpu (ragged vocab, large logits)", async () => {
    for (const [shape, scale] of [
      [[6, 10], 1],
      [[2, 3, 257], 4],
      [[5, 7], 60],
    ] as [number[], number][]) {
      const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const v = shape[shape.length - 1]!;
      const targets = Array.from({ length: rows }, (_, i) => (i * 7 + 3) % v);
      await expectSameOnBoth(
        withGrads(
          () => [tf.mul(t(5, shape), scale)],
          (z) => tf.reshape(crossEntropy(z!, tf.tensor(targets, shape.slice(0, -1), "int32")), [1]),
        ),
        1e-5,
        undefined,
        `[${shape}]`,
      );
    }
  });

  it("crossEntropy rejects a target outside [0, V)", async () => {
    await tf.setBackend("wasm");
    const z = t(6, [2, 4]);
    expect(() => crossEntropy(z, [1, 4])).toThrow(/label|not in/);
    z.dispose();
  });

  it("AdamW: three steps move the parameters as on cpu (weight decay on some, one frozen step)", async () => {
    const trajectory = () => {
      const p1 = tf.variable(t(7, [13, 5]), true, `adam-w-${Math.random()}`);
      const p2 = tf.variable(t(8, [5]), true, `adam-b-${Math.random()}`);
      const opt = new AdamW(
        [
          ["w", p1],
          ["b", p2],
        ],
        { lr: 0.05, weightDecay: 0.1, decay: (name) => name === "w" },
      );
      for (let s = 0; s < 3; s++) {
        const g1 = tf.mul(t(10 + s, [13, 5]), s + 1);
        const g2 = t(20 + s, [5]);
        opt.step(s === 1 ? [g1, null] : [g1, g2]);
        tf.dispose([g1, g2]);
      }
      const out = [tf.clone(p1), tf.clone(p2), ...Object.values(opt.stateDict())];
      opt.dispose();
      tf.dispose([p1, p2]);
      return out;
    };
    await expectSameOnBoth(trajectory, 1e-5);
  });

  it("a training step with every fused op leaks no tensor and no wasm buffer", async () => {
    await tf.setBackend("wasm");
    const ln = new LayerNorm(16);
    const w = tf.variable(t(30, [16, 12]));
    const opt = new AdamW([["w", w], ...ln.namedParameters()]);
    const step = () => {
      const { value, grads } = tf.tidy(() =>
        tf.variableGrads(() => {
          const h = gelu(ln.forward(t(31, [2, 5, 16]))); // [2, 5, 16]
          const logits = tf.reshape(tf.matMul(tf.reshape(h, [10, 16]), w), [2, 5, 12]);
          return crossEntropy(
            logits,
            tf.tensor2d(
              [
                [1, 2, 3, 4, 5],
                [6, 7, 8, 9, 10],
              ],
              [2, 5],
              "int32",
            ),
          );
        }),
      );
      opt.step(grads);
      tf.dispose(grads);
      value.dispose();
    };
    step();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    opt.dispose();
    ln.dispose();
    w.dispose();
  });
});

describe("switched off", () => {
  it(
    "with fused ops or the native kernels off, the same " + "calls compose tfjs ops on wasm, with the same results",
    async () => {
      const f = () => {
        const x = spread(40, [4, 9]);
        const ln = new LayerNorm(9);
        const y = [gelu(x), crossEntropy(x, [0, 3, 8, 2]), ln.forward(x)];
        ln.dispose();
        return y;
      };
      const fused = await runOn("wasm", f);
      configureFusedOps({ enabled: false });
      const composite = await runOn("wasm", f);
      configureFusedOps({ enabled: true });
      configureNativeKernels({ enabled: false });
      const noNative = await runOn("wasm", f);
      configureNativeKernels({ enabled: true });
      for (const other of [composite, noNative])
        fused.forEach((r, i) =>
          r.values.forEach((v, j) => expect(Math.abs(v - other[i]!.values[j]!)).toBeLessThan(1e-5)),
        );
    },
  );
});
