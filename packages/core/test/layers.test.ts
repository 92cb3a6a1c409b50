import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend.js";
import {
  activation,
  Embedding,
  gelu,
  geluTanh,
  LayerNorm,
  Linear,
  MLP,
  quickGelu,
  RMSNorm,
  silu,
  SwiGLU,
} from "../src/layers.js";
import type { Module } from "../src/module.js";
import { Rng, setSeed } from "../src/rng.js";

beforeAll(async () => {
  await initBackend("cpu");
});

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!), `index ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(expected[i]!)),
    );
  }
}

const randn = (seed: number, shape: number[]) =>
  tf.tensor(new Rng(seed).normalArray(shape.reduce((a, b) => a * b, 1)), shape);

describe("activations (PyTorch reference values)", () => {
  const xs = [-2, -1, -0.5, 0, 0.5, 1, 2, 3];
  // torch.nn.functional.gelu, gelu(approximate="tanh"), x*sigmoid(1.702x), silu
  const ref = {
    gelu: [
      -0.04550026389635842, -0.15865525393145707, -0.15426876936299344, 0, 0.34573123063700656, 0.8413447460685429,
      1.9544997361036416, 2.99595030590511,
    ],
    geluTanh: [
      -0.04540230591222494, -0.15880800939172324, -0.15428599017485606, 0, 0.34571400982514394, 0.8411919906082768,
      1.954597694087775, 2.996362607918227,
    ],
    quickGelu: [
      -0.06434137685579186, -0.1542042340671787, -0.1496115633936199, 0, 0.35038843660638014, 0.8457957659328212,
      1.9356586231442083, 2.981928690292214,
    ],
    silu: [
      -0.2384058440442351, -0.2689414213699951, -0.1887703343990727, 0, 0.3112296656009273, 0.7310585786300049,
      1.7615941559557646, 2.8577223804673,
    ],
  };
  for (const [name, fn] of [
    ["gelu", gelu],
    ["geluTanh", geluTanh],
    ["quickGelu", quickGelu],
    ["silu", silu],
  ] as const) {
    it(name, () => {
      const y = fn(tf.tensor1d(xs));
      close(y.dataSync(), ref[name], 2e-6);
      y.dispose();
    });
  }

  it("gelu's gradient is Φ(x) + x φ(x), on cpu and wasm", async () => {
    const expected = xs.map(
      (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI),
    );
    for (const backend of ["cpu", "wasm"] as const) {
      await initBackend(backend);
      const g = tf.grad((x: tf.Tensor) => tf.sum(gelu(x)))(tf.tensor1d(xs));
      close(g.dataSync(), expected, 2e-6);
      g.dispose();
    }
    await initBackend("cpu");
  });

  it("activation() maps Hugging Face hidden_act names", () => {
    expect(activation("gelu_new")).toBe(geluTanh);
    expect(activation("gelu_pytorch_tanh")).toBe(geluTanh);
    expect(activation("quick_gelu")).toBe(quickGelu);
    expect(activation("swish")).toBe(silu);
    expect(() => activation("mish")).toThrow(/unknown activation/);
  });
});

/** Abramowitz–Stegun 7.1.26 is not precise enough for a reference: use a series / continued fraction. */
function erf(x: number): number {
  const t = Math.abs(x);
  let sum = 0;
  let term = t;
  for (let n = 0; n < 80; n++) {
    sum += term / (2 * n + 1);
    term *= (-t * t) / (n + 1);
  }
  return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
}

describe("Linear", () => {
  it("is x Wᵀ + b with PyTorch's [out, in] layout, over any leading dims", () => {
    const lin = new Linear(3, 2);
    expect(lin.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ["weight", [2, 3]],
      ["bias", [2]],
    ]);
    lin.weight.assign(
      tf.tensor2d([
        [1, 2, 3],
        [-1, 0, 1],
      ]),
    );
    lin.bias!.assign(tf.tensor1d([0.5, -0.5]));
    const x = tf.tensor3d([
      [
        [1, 0, 0],
        [0, 1, 0],
      ],
      [
        [1, 1, 1],
        [2, 0, -1],
      ],
    ]); // [2, 2, 3]
    const y = lin.forward(x);
    expect(y.shape).toEqual([2, 2, 2]);
    close(y.dataSync(), [1.5, -1.5, 2.5, -0.5, 6.5, -0.5, -0.5, -3.5]);
    tf.dispose([x, y]);
    lin.dispose();
  });

  it("bias: false has no bias parameter", () => {
    const lin = new Linear(4, 5, { bias: false });
    expect(lin.namedParameters().map(([n]) => n)).toEqual(["weight"]);
    expect(lin.bias).toBeNull();
    lin.dispose();
  });

  it("initialises like torch.nn.Linear: U(-1/√in, 1/√in), seeded", () => {
    setSeed(3);
    const a = new Linear(64, 32);
    setSeed(3);
    const b = new Linear(64, 32);
    const w = a.weight.dataSync();
    expect(Array.from(w)).toEqual(Array.from(b.weight.dataSync()));
    const bound = 1 / 8;
    expect(Math.max(...w)).toBeLessThanOrEqual(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeCloseTo(bound / Math.sqrt(3), 2); // the std of U(-b, b)
    expect(Math.max(...a.bias!.dataSync())).toBeLessThanOrEqual(bound);
    a.dispose();
    b.dispose();
  });

  it("rejects a wrong input width", () => {
    const lin = new Linear(3, 2);
    const x = tf.zeros([2, 4]);
    expect(() => lin.forward(x)).toThrow(/Linear\(3, 2\)/);
    x.dispose();
    lin.dispose();
  });
});

describe("Embedding", () => {
  it("looks up rows for ids of any shape", () => {
    const emb = new Embedding(5, 3);
    emb.weight.assign(
      tf.tensor2d([
        [0, 0, 0],
        [1, 1, 1],
        [2, 2, 2],
        [3, 3, 3],
        [4, 4, 4],
      ]),
    );
    const y = emb.forward(
      tf.tensor2d(
        [
          [4, 1],
          [0, 4],
        ],
        [2, 2],
        "int32",
      ),
    );
    expect(y.shape).toEqual([2, 2, 3]);
    expect(Array.from(y.dataSync())).toEqual([4, 4, 4, 1, 1, 1, 0, 0, 0, 4, 4, 4]);
    const z = emb.forward([2, 3]);
    expect(Array.from(z.dataSync())).toEqual([2, 2, 2, 3, 3, 3]);
    tf.dispose([y, z]);
    emb.dispose();
  });

  it("initialises N(0, 1) like torch.nn.Embedding", () => {
    setSeed(0);
    const emb = new Embedding(100, 50);
    const w = emb.weight.dataSync();
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(std).toBeGreaterThan(0.95);
    expect(std).toBeLessThan(1.05);
    emb.dispose();
  });
});

describe("normalisation", () => {
  it("LayerNorm: zero mean, unit variance, then weight and bias", () => {
    const ln = new LayerNorm(4);
    expect(ln.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ["weight", [4]],
      ["bias", [4]],
    ]);
    const x = tf.tensor2d([
      [1, 2, 3, 4],
      [-1, -1, 1, 1],
    ]);
    const y = ln.forward(x);
    // row 1: mean 2.5, var 1.25; row 2: mean 0, var 1
    const s = 1 / Math.sqrt(1.25 + 1e-5);
    close(y.dataSync(), [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, ...[-1, -1, 1, 1].map((v) => v / Math.sqrt(1 + 1e-5))]);
    ln.weight!.assign(tf.tensor1d([1, 2, 3, 4]));
    ln.bias!.assign(tf.tensor1d([1, 1, 1, 1]));
    const y2 = ln.forward(x);
    close(
      y2.dataSync().slice(4),
      [-1, -2, 3, 4].map((v) => v / Math.sqrt(1 + 1e-5) + 1),
    );
    tf.dispose([x, y, y2]);
    ln.dispose();
  });

  it("RMSNorm: x · rsqrt(mean(x²) + eps) · weight", () => {
    const rms = new RMSNorm(3, { eps: 1e-6 });
    expect(rms.namedParameters().map(([n]) => n)).toEqual(["weight"]);
    rms.weight!.assign(tf.tensor1d([1, 0.5, 2]));
    const x = tf.tensor2d([
      [1, 2, 2],
      [0, 0, 3],
    ]);
    const y = rms.forward(x);
    const r1 = 1 / Math.sqrt(3 + 1e-6);
    const r2 = 1 / Math.sqrt(3 + 1e-6);
    close(y.dataSync(), [1 * r1, 1 * r1, 4 * r1, 0, 0, 6 * r2]);
    tf.dispose([x, y]);
    rms.dispose();
  });
});

describe("feed-forward blocks", () => {
  it("MLP = fc2(act(fc1(x))), names fc1 / fc2", () => {
    const mlp = new MLP(4, 8, { activation: "quick_gelu" });
    expect(mlp.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ["fc1.weight", [8, 4]],
      ["fc1.bias", [8]],
      ["fc2.weight", [4, 8]],
      ["fc2.bias", [4]],
    ]);
    const x = randn(1, [2, 3, 4]);
    const y = mlp.forward(x);
    const ref = mlp.fc2.forward(quickGelu(mlp.fc1.forward(x)));
    expect(y.shape).toEqual([2, 3, 4]);
    close(y.dataSync(), ref.dataSync());
    tf.dispose([x, y, ref]);
    mlp.dispose();
  });

  it("SwiGLU = down(silu(gate(x)) · up(x)), Llama names, no biases", () => {
    const ff = new SwiGLU(4, 6);
    expect(ff.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ["gate_proj.weight", [6, 4]],
      ["up_proj.weight", [6, 4]],
      ["down_proj.weight", [4, 6]],
    ]);
    const x = randn(2, [5, 4]);
    const y = ff.forward(x);
    const ref = tf.matMul(
      tf.mul(silu(tf.matMul(x, ff.gate_proj.weight, false, true)), tf.matMul(x, ff.up_proj.weight, false, true)),
      ff.down_proj.weight,
      false,
      true,
    );
    close(y.dataSync(), ref.dataSync());
    tf.dispose([x, y, ref]);
    ff.dispose();
  });
});

describe("memory: forward + backward in tidy leaks nothing", () => {
  const cases: [string, () => Module & { forward(x: tf.Tensor): tf.Tensor }, () => tf.Tensor][] = [
    ["Linear", () => new Linear(8, 4), () => randn(3, [2, 3, 8])],
    ["Embedding", () => new Embedding(10, 4), () => tf.tensor2d([[1, 2, 2]], [1, 3], "int32")],
    ["LayerNorm", () => new LayerNorm(8), () => randn(4, [3, 8])],
    ["RMSNorm", () => new RMSNorm(8), () => randn(5, [3, 8])],
    ["MLP gelu", () => new MLP(8, 16), () => randn(6, [2, 8])],
    ["MLP gelu_tanh", () => new MLP(8, 16, { activation: "gelu_tanh" }), () => randn(6, [2, 8])],
    ["SwiGLU", () => new SwiGLU(8, 16), () => randn(7, [2, 8])],
  ];
  for (const backend of ["cpu", "wasm"] as const) {
    for (const [name, make, input] of cases) {
      it(`${name} on ${backend}`, async () => {
        await initBackend(backend);
        const m = make();
        const x = input();
        const step = () =>
          tf.tidy(() => {
            const { value, grads } = tf.variableGrads(
              () => tf.sum(tf.square(m.forward(x))) as tf.Scalar,
              m.trainableParameters(),
            );
            expect(Object.keys(grads)).toHaveLength(m.parameters().length);
            tf.dispose(grads);
            return value;
          });
        step().dispose();
        const before = tf.memory().numTensors;
        step().dispose();
        expect(tf.memory().numTensors).toBe(before);
        x.dispose();
        m.dispose();
      });
    }
  }
});
