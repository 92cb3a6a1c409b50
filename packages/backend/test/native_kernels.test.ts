// The native matmuls (native_kernels/, native/src/gemm.cc) against tfjs's cpu backend: forward
// and gradients, transposed operands, batches and broadcasting, sizes that are not multiples of the
// micro-tile, fused bias and activations, the threaded paths, and no leaks. Every case also runs
// with the native kernels switched off (the wasm fallback a machine without a compiler gets).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeBackend, initBackend } from "../src/backend.js";
import { configureNativeKernels, nativeAddon, nativeStatus, setNativeThreads } from "../src/native_addon.js";
import { expectClose, expectSameOnBoth, runOn, t, withGrads } from "./equivalence.js";

const loaded = nativeStatus().loaded;

beforeAll(async () => {
  await initBackend("wasm");
});

afterAll(() => {
  configureNativeKernels({ enabled: true });
});

describe("the addon", () => {
  it("describeBackend says whether native kernels run, and why not", () => {
    const info = describeBackend();
    expect(info.name).toBe("wasm");
    expect(info.native).toBeDefined();
    if (loaded) {
      expect(info.native).toMatchObject({ active: true });
      expect(info.native!.kernel).toMatch(/avx|portable/);
      expect(info.native!.threads).toBeGreaterThanOrEqual(1);
      expect(info.registeredByVlab.some((r) => r.startsWith("BatchMatMul (wasm, native"))).toBe(true);
      expect(info.registeredByVlab.some((r) => r.startsWith("_FusedMatMul (wasm, native"))).toBe(true);
      configureNativeKernels({ enabled: false });
      expect(describeBackend().native).toMatchObject({ active: false });
      configureNativeKernels({ enabled: true });
    } else {
      expect(info.native!.active).toBe(false);
      expect(info.native!.reason).toBeTruthy();
    }
  });

  const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "index.js");
  it.skipIf(!fs.existsSync(dist))("VLAB_NATIVE=0 turns it off in a fresh process", () => {
    const script =
      `const c = await import(${JSON.stringify(dist)}); await c.initBackend("wasm"); ` +
      `console.log(JSON.stringify(c.describeBackend().native));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, VLAB_NATIVE: "0", VLAB_BACKEND: "" },
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const native = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(native).toEqual({ active: false, reason: "disabled by VLAB_NATIVE=0" });
  });

  // Every micro-kernel this CPU can run (the process above uses the best one), each in a process of
  // its own since the choice is made once: odd shapes, transposes, a batch, bias and relu, against
  // a float64 reference.
  it.skipIf(!loaded)("every micro-kernel (VLAB_NATIVE_ISA=avx512, avx2, portable) computes correctly", () => {
    const file = (nativeStatus() as { path: string }).path;
    const script =
      `
      const addon = require(${JSON.stringify(file)});
      addon.setThreads(2);
      let seed = 1;
      const rnd = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) ` +
      `* 2 - 1);
      let worst = 0;
      for (const [m, n, k, batch] of [[1, 1, 1, 1], [7, 13, 5, 1], [37, 70, 300, 1], [6, 33, 257, 3], [130, 65, ` +
      `129, 2], [300, 200, 150, 1]])
        for (const ta of [0, 1]) for (const tb of [0, 1]) {
          const a = rnd(batch * m * k), b = rnd(batch * k * n), bias = rnd(n), c = new Float32Array(batch * m * n);
          addon.matmul(a, b, c, bias, m, n, k, ta, tb, batch, m * k, k * n, 1, 0);
          for (let q = 0; q < batch; q++) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
            let s = bias[j];
            for (let p = 0; p < k; p++) s += (ta ? a[q*m*k + p*m + i] : a[q*m*k + i*k + p]) * (tb ? b[q*k*n + j*k + ` +
      `p] : b[q*k*n + p*n + j]);
            worst = Math.max(worst, Math.abs(Math.max(s, 0) - c[q*m*n + i*n + j]) / Math.sqrt(k));
          }
        }
      console.log(JSON.stringify({ kernel: addon.info().kernel, worst }));`;
    for (const isa of ["avx512", "avx2", "portable"]) {
      const r = spawnSync(process.execPath, ["-e", script], {
        env: { ...process.env, VLAB_NATIVE_ISA: isa },
        encoding: "utf8",
      });
      expect(r.status, r.stderr).toBe(0);
      const { kernel, worst } = JSON.parse(r.stdout.trim());
      if (isa === "portable") expect(kernel).toMatch(/^portable/);
      expect(worst, `${isa} → ${kernel}`).toBeLessThan(1e-5);
    }
  });

  it.skipIf(!loaded)("rejects arrays too small for the sizes instead of touching other memory", () => {
    const addon = nativeAddon()!;
    const a = new Float32Array(6);
    const b = new Float32Array(6);
    expect(() => addon.matmul(a, b, new Float32Array(3), null, 2, 2, 3, 0, 0, 1, 0, 0, 0, 0)).toThrow(
      /out is too small/,
    );
    expect(() => addon.matmul(a, b, new Float32Array(8), null, 2, 2, 3, 0, 0, 2, 6, 6, 0, 0)).toThrow(/a is too small/);
    expect(() => addon.matmul(a, b, new Float32Array(4), new Float32Array(3), 2, 2, 3, 0, 0, 1, 0, 0, 0, 0)).toThrow(
      /bias/,
    );
    expect(() => addon.matmul(a, b, new Float32Array(4), null, 2, 2, 3, 0, 0, 1, 0, 0, 3, 0)).toThrow(/activation/);
    expect(() =>
      addon.matmul(a, b, new Float32Array(4), null, 2, 2, 3, 0, 0, 1, 0, 0, 0, 0, new Int32Array([1])),
    ).toThrow(/aIndex/);
    expect(() => addon.softmaxXent(new Float32Array(4), new Int32Array([0, 2]), new Float32Array(2), 2, 2)).toThrow(
      /label/,
    );
  });
});

/** Both ways a wasm user can run: with the addon (where built) and without. */
const modes = loaded ? (["native", "fallback"] as const) : (["fallback"] as const);

function inMode(mode: "native" | "fallback"): void {
  configureNativeKernels({ enabled: mode === "native" });
}

// [a shape, b shape, transposeA, transposeB]
type MatMulCase = [number[], number[], boolean, boolean];
const matmulCases: MatMulCase[] = [
  [[1, 1], [1, 1], false, false],
  [[7, 13], [13, 5], false, false],
  [[13, 7], [13, 5], true, false],
  [[7, 13], [5, 13], false, true],
  [[13, 7], [5, 13], true, true],
  [[37, 70], [70, 33], false, false], // nothing a multiple of the 6x16 / 6x32 tiles
  [[70, 37], [33, 70], true, true],
  [[130, 257], [65, 257], false, true],
  [[3, 7, 5], [3, 5, 9], false, false], // batched
  [[3, 5, 7], [3, 9, 5], true, true],
  [[4, 7, 5], [5, 9], false, false], // one weight for every batch entry
  [[4, 7, 5], [1, 9, 5], false, true],
  [[7, 5], [4, 5, 9], false, false], // one left operand for every batch entry
  [[2, 3, 6, 4], [2, 3, 4, 5], false, false], // rank 4
  [[16, 64, 32], [16, 64, 32], false, true], // attention scores: many batch entries (threaded per entry)
  [[3, 100, 90], [3, 90, 80], false, false], // few large entries (threaded, shared packed B)
  [[300, 200], [150, 200], false, true], // one large product (threaded)
  [[260, 300], [260, 170], true, false],
];

const name = ([a, b, ta, tb]: MatMulCase) => `[${a}]${ta ? "ᵀ" : ""} x [${b}]${tb ? "ᵀ" : ""}`;

for (const mode of modes) {
  describe(`BatchMatMul (${mode})`, () => {
    beforeAll(() => inMode(mode));
    for (const c of matmulCases) {
      const [as, bs, ta, tb] = c;
      const sameBatch = as.length === bs.length && as.slice(0, -2).every((d, i) => d === bs[i]);
      it(`${name(c)}: forward${sameBatch ? " and gradients" : ""} equal cpu`, async () => {
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb);
        // tfjs's matMul gradient does not reduce broadcast batch dimensions: forward only there.
        const cs = sameBatch ? withGrads(() => [t(1, as), t(2, bs)], f) : () => [f(t(1, as), t(2, bs))];
        await expectSameOnBoth(cs, 1e-5);
      });
    }

    it("empty products: K = 0 gives zeros, M = 0 an empty result", async () => {
      await expectSameOnBoth(() => [
        tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4])),
        tf.matMul(tf.zeros([0, 5]), t(3, [5, 2])),
      ]);
    });
  });
}

describe.skipIf(!loaded)("batch broadcasting (NumPy rules)", () => {
  beforeAll(() => inMode("native"));
  // tfjs-backend-cpu pairs batch entries modulo their count, which is wrong for [2, 1] x [1, 3];
  // the reference therefore tiles both operands to the full batch first.
  const cases: [number[], number[], (a: tf.Tensor, b: tf.Tensor) => [tf.Tensor, tf.Tensor]][] = [
    [[2, 1, 4, 5], [1, 3, 5, 6], (a, b) => [tf.tile(a, [1, 3, 1, 1]), tf.tile(b, [2, 1, 1, 1])]],
    [[2, 1, 4, 5], [2, 3, 5, 6], (a, b) => [tf.tile(a, [1, 3, 1, 1]), b]],
    [[3, 1, 4, 5], [2, 5, 6], (a, b) => [tf.tile(a, [1, 2, 1, 1]), tf.tile(tf.reshape(b, [1, 2, 5, 6]), [3, 1, 1, 1])]],
  ];
  for (const [as, bs, full] of cases) {
    it(`[${as}] x [${bs}]`, async () => {
      const ref = await runOn("cpu", () => {
        const [a, b] = full(t(1, as), t(2, bs));
        return [tf.matMul(a, b)];
      });
      const got = await runOn("wasm", () => [tf.matMul(t(1, as), t(2, bs))]);
      expectClose(got, ref, 1e-5);
    });
  }
});

for (const mode of modes) {
  describe(`_FusedMatMul (${mode})`, () => {
    beforeAll(() => inMode(mode));
    const acts = ["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu", "prelu"] as const;
    for (const activation of acts) {
      it(`${activation} with a per-column bias, transposed operands, odd sizes`, async () => {
        await expectSameOnBoth(() => [
          tf.fused.matMul({
            a: t(4, [37, 29]),
            b: t(5, [33, 37]),
            transposeA: true,
            transposeB: true,
            bias: t(6, [33]),
            activation,
            preluActivationWeights: activation === "prelu" ? t(7, [33]) : undefined,
            leakyreluAlpha: 0.15,
          }),
        ]);
      });
    }

    it("scalar, [1, N], full [M, N] and batched biases; no bias", async () => {
      await expectSameOnBoth(() => [
        tf.fused.matMul({ a: t(8, [9, 6]), b: t(9, [6, 11]), bias: tf.scalar(0.7) }),
        tf.fused.matMul({ a: t(8, [9, 6]), b: t(9, [6, 11]), bias: t(10, [1, 11]), activation: "relu" }),
        tf.fused.matMul({ a: t(8, [9, 6]), b: t(9, [6, 11]), bias: t(11, [9, 11]), activation: "relu" }),
        tf.fused.matMul({ a: t(12, [2, 9, 6]), b: t(13, [2, 6, 11]), bias: t(14, [11]), activation: "sigmoid" }),
        tf.fused.matMul({ a: t(12, [2, 9, 6]), b: t(13, [2, 6, 11]) }),
      ]);
    });

    it("gradients through bias and relu (what Linear layers train with)", async () => {
      await expectSameOnBoth(
        withGrads(
          () => [t(15, [40, 24]), t(16, [30, 24]), t(17, [30])],
          (x, w, b) => tf.fused.matMul({ a: x!, b: w!, transposeB: true, bias: b!, activation: "relu" }),
        ),
      );
      await expectSameOnBoth(
        withGrads(
          () => [t(18, [60, 24]), t(19, [24, 30]), t(20, [30])],
          (x, w, b) => tf.fused.matMul({ a: x!, b: w!, bias: b! }),
        ),
      );
    });
  });
}

describe.skipIf(!loaded)("threads", () => {
  beforeAll(() => inMode("native"));
  afterAll(() => setNativeThreads(Math.max(1, describeBackend().native?.threads ?? 1)));

  it("1 and 2 threads give bit-identical results on every parallel path", async () => {
    const shapes: [number[], number[], boolean, boolean][] = [
      [[300, 200], [150, 200], false, true], // one product, shared packed B
      [[16, 64, 32], [16, 32, 64], false, false], // many batch entries
      [[2, 200, 130], [2, 130, 190], false, false], // few batch entries
      [[3, 1100], [4100, 1100], false, true], // K·N over the shared-B limit: column ranges
    ];
    const run = async (threads: number) => {
      setNativeThreads(threads);
      return runOn("wasm", () => shapes.map(([as, bs, ta, tb], i) => tf.matMul(t(30 + i, as), t(40 + i, bs), ta, tb)));
    };
    const threads = nativeStatus().loaded ? (nativeStatus() as { threads: number }).threads : 1;
    const one = await run(1);
    const two = await run(2);
    setNativeThreads(threads);
    two.forEach((r, i) =>
      expect(Buffer.from(r.values.buffer).equals(Buffer.from(one[i]!.values.buffer)), `case ${i}`).toBe(true),
    );
    // and the large-B case against cpu
    const ref = await runOn("cpu", () => [tf.matMul(t(33, [3, 1100]), t(43, [4100, 1100]), false, true)]);
    expectClose([two[3]!], ref, 1e-5);
  });
});

describe("Sum over leading axes (bias gradients)", () => {
  for (const mode of modes) {
    it(`${mode}: equals cpu`, async () => {
      inMode(mode);
      await expectSameOnBoth(() => [
        tf.sum(t(50, [2048, 33]), 0),
        tf.sum(t(51, [4, 5, 6]), [0, 1], true),
        tf.sum(t(52, [300, 700]), 0), // large enough for two threads
        tf.sum(t(53, [4, 5, 6]), [0, 2]), // not leading: the previous kernel
      ]);
    });
  }
});

describe("Transpose", () => {
  for (const mode of modes) {
    it(`${mode}: every permutation of odd shapes, int32, rank 1 to 5, gradients`, async () => {
      inMode(mode);
      await expectSameOnBoth(() => [
        tf.transpose(t(70, [3, 5, 4, 7]), [0, 2, 1, 3]), // attention's head split: rows copied
        tf.transpose(t(71, [3, 5, 4, 7]), [3, 1, 0, 2]), // last axis moves: element by element
        tf.transpose(t(72, [33, 65])),
        tf.transpose(t(73, [2, 3, 2, 3, 5]), [4, 2, 0, 3, 1]),
        tf.transpose(t(74, [64, 64, 4, 32]), [0, 2, 1, 3]), // large enough for two threads
        tf.cast(
          tf.transpose(
            tf.tensor3d(
              Array.from({ length: 24 }, (_, i) => i * 3 - 7),
              [2, 3, 4],
              "int32",
            ),
            [2, 0, 1],
          ),
          "float32",
        ),
        tf.transpose(tf.zeros([0, 3]), [1, 0]),
      ]);
      await expectSameOnBoth(
        withGrads(
          () => [t(75, [2, 6, 3, 5])],
          (x) => tf.transpose(x!, [0, 2, 1, 3]),
        ),
      );
    });
  }
});

describe("memory", () => {
  for (const mode of modes) {
    it(`${mode}: a training-like loop leaks no tensor and no wasm buffer`, async () => {
      inMode(mode);
      await tf.setBackend("wasm");
      const w = tf.variable(t(60, [24, 16]));
      const b = tf.variable(t(61, [24]));
      const step = () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => {
            // [40, 24]
            const h2 = tf.fused.matMul({ a: t(62, [40, 16]), b: w, transposeB: true, bias: b, activation: "relu" });
            const h = tf.reshape(h2, [4, 10, 24]);
            const s = tf.matMul(h, h, false, true); // [4, 10, 10]
            return tf.sum(tf.fused.matMul({ a: s, b: h, transposeA: true })) as tf.Scalar;
          });
          w.assign(tf.sub(w, tf.mul(grads[w.name]!, 1e-3)));
          b.assign(tf.sub(b, tf.mul(grads[b.name]!, 1e-3)));
          return value;
        });
      step().dispose();
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      for (let i = 0; i < 3; i++) step().dispose();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.engine().backend.numDataIds()).toBe(buffers);
      tf.dispose([w, b]);
    });
  }
});
