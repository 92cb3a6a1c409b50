import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend.js";
import { configureWasmMatMul } from "../src/kernels/BatchMatMul.js";
import { vlabRegistrations } from "../src/kernels/register.js";
import { configureNativeKernels } from "../src/native_addon.js";
import { data } from "./equivalence.js";

// These tests are about the kernels in kernels/: keep the native ones (native_kernels/,
// tested in native_kernels.test.ts), which sit on top of them, out of the way.
beforeAll(async () => {
  await initBackend("wasm");
  configureNativeKernels({ enabled: false });
});

afterAll(() => {
  configureWasmMatMul({ enabled: true, minWorkPerBatch: 24 * 1024, minWorkTotal: 32 * 1024 });
  configureNativeKernels({ enabled: true });
});

type Case = () => tf.Tensor[];

/** Runs `f` on a backend and returns copies of its outputs. */
async function run(backend: "cpu" | "wasm", f: Case): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const res = outs.map((t) => ({ shape: t.shape, values: Float32Array.from(t.dataSync()) }));
  tf.dispose(outs);
  return res;
}

/** wasm must equal cpu within 1e-5 relative to each output's largest magnitude. */
async function expectSameOnBoth(f: Case, rel = 1e-5): Promise<void> {
  const ref = await run("cpu", f);
  const got = await run("wasm", f);
  expect(got.length).toBe(ref.length);
  ref.forEach((r, i) => {
    const g = got[i]!;
    expect(g.shape).toEqual(r.shape);
    let scale = 0;
    let maxDiff = 0;
    for (let j = 0; j < r.values.length; j++) {
      scale = Math.max(scale, Math.abs(r.values[j]!));
      maxDiff = Math.max(maxDiff, Math.abs(r.values[j]! - g.values[j]!));
    }
    expect(Number.isFinite(maxDiff)).toBe(true);
    expect(maxDiff, `output ${i}: max |wasm - cpu| = ${maxDiff}, scale ${scale}`).toBeLessThanOrEqual(
      rel * Math.max(scale, 1e-3),
    );
  });
  await tf.setBackend("wasm");
}

/** The outputs of `fn` followed by the gradients of a random projection of them w.r.t. `inputs`. */
function withGrads(inputs: () => tf.Tensor[], fn: (...xs: tf.Tensor[]) => tf.Tensor): Case {
  return () => {
    const xs = inputs();
    const y = fn(...xs);
    const r = tf.tensor(data(99, y.size), y.shape);
    const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(fn(...a), r)))(xs);
    return [y, ...g];
  };
}

const t = (seed: number, shape: number[]) =>
  tf.tensor(
    data(
      seed,
      shape.reduce((a, b) => a * b, 1),
    ),
    shape,
  );

describe("registration", () => {
  it("records what it registered", () => {
    const names = vlabRegistrations();
    for (const k of ["UnsortedSegmentSum (wasm)", "Conv2DBackpropFilter (wasm)", "Einsum (wasm)"])
      expect(names).toContain(k);
    expect(names.some((n) => n.startsWith("BatchMatMul (wasm"))).toBe(true);
    expect(names).toContain("grad:Greater");
    expect(tf.getKernel("UnsortedSegmentSum", "wasm")).toBeDefined();
  });
});

describe("UnsortedSegmentSum (gradient of gather)", () => {
  it("forward equals cpu, out-of-range ids dropped", async () => {
    await expectSameOnBoth(() => [
      tf.unsortedSegmentSum(t(1, [7, 3]), tf.tensor1d([0, 2, 2, 1, 3, 0, -1], "int32"), 4),
      tf.unsortedSegmentSum(t(2, [5]), tf.tensor1d([1, 1, 0, 4, 4], "int32"), 6),
    ]);
  });

  it("embedding lookup gradient equals cpu (2-D ids with repeats)", async () => {
    await expectSameOnBoth(
      withGrads(
        () => [t(3, [10, 4])],
        (w) =>
          tf.reshape(
            tf.gather(
              w!,
              tf.reshape(
                tf.tensor2d(
                  [
                    [1, 3, 3, 9],
                    [0, 1, 1, 1],
                  ],
                  [2, 4],
                  "int32",
                ),
                [-1],
              ),
            ),
            [2, 4, 4],
          ),
      ),
    );
  });
});

describe("GatherV2 row copies", () => {
  it("equals cpu for axis 0 (2-D ids, 3-D table, int32, narrow rows) and other axes", async () => {
    await expectSameOnBoth(() => [
      tf.gather(
        t(50, [6, 20]),
        tf.tensor2d(
          [
            [5, 0, 0],
            [2, 2, 3],
          ],
          [2, 3],
          "int32",
        ),
      ),
      tf.gather(t(51, [4, 3, 5]), tf.tensor1d([3, 1], "int32")),
      tf.cast(
        tf.gather(
          tf.tensor2d(
            [
              [1, 2],
              [3, 4],
              [5, 6],
            ],
            [3, 2],
            "int32",
          ),
          tf.tensor1d([2, 0, 2], "int32"),
        ),
        "float32",
      ),
      tf.gather(t(52, [5, 40]), tf.tensor1d([4, 1], "int32"), -2),
      tf.gather(t(53, [3, 4, 5]), tf.tensor1d([3, 0], "int32"), 1),
    ]);
  });

  it("rejects out-of-range indices", async () => {
    await tf.setBackend("wasm");
    const before = tf.engine().backend.numDataIds();
    const x = t(54, [3, 20]);
    const i = tf.tensor1d([0, 3], "int32");
    expect(() => tf.gather(x, i)).toThrow(/index value 3 is not in \[0, 2\]/);
    tf.dispose([x, i]);
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });
});

describe("Sum over leading axes", () => {
  it("equals cpu (leading axes, keepDims, negative axes, and the fallback)", async () => {
    await expectSameOnBoth(() => [
      tf.sum(t(60, [30, 7]), 0),
      tf.sum(t(61, [4, 5, 6]), [0, 1]),
      tf.sum(t(62, [4, 5, 6]), [1, 0], true),
      tf.sum(t(63, [4, 5, 6]), -3),
      tf.sum(t(64, [4, 5, 6]), [0, 2]), // not leading: original kernel
      tf.sum(t(65, [4, 5]), [0, 1]), // everything: original kernel
    ]);
  });

  it("bias gradient of a broadcast add equals cpu", async () => {
    await expectSameOnBoth(
      withGrads(
        () => [t(66, [3, 4, 8]), t(67, [8])],
        (x, b) => tf.add(x!, b!),
      ),
    );
  });
});

describe("Conv2DBackpropFilter", () => {
  const cases: [
    string,
    number[],
    number[],
    number,
    "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]],
  ][] = [
    ["3x3 stride 1 same", [2, 7, 7, 3], [3, 3, 3, 4], 1, "same"],
    ["3x3 stride 2 valid", [1, 9, 8, 2], [3, 3, 2, 3], 2, "valid"],
    ["3x3 stride 2 same", [2, 8, 8, 2], [3, 3, 2, 3], 2, "same"],
    ["patch embedding 4x4 stride 4", [2, 8, 8, 3], [4, 4, 3, 5], 4, "valid"],
    [
      "explicit padding",
      [1, 5, 6, 2],
      [2, 3, 2, 2],
      1,
      [
        [0, 0],
        [1, 0],
        [2, 1],
        [0, 0],
      ],
    ],
  ];
  for (const [name, xs, ws, stride, pad] of cases) {
    it(`${name}: conv2d forward and both gradients equal cpu`, async () => {
      await expectSameOnBoth(
        withGrads(
          () => [t(4, xs), t(5, ws)],
          (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
        ),
      );
    });
  }
});

describe("kernels run through the cpu backend", () => {
  it("depthwise conv2d gradients equal cpu", async () => {
    await expectSameOnBoth(
      withGrads(
        () => [t(6, [2, 6, 6, 3]), t(7, [3, 3, 3, 2])],
        (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"),
      ),
    );
  });

  it("einsum equals cpu", async () => {
    await expectSameOnBoth(() => [
      tf.einsum("ij,jk->ik", t(8, [3, 4]), t(9, [4, 5])),
      tf.einsum("bij,bjk->bik", t(10, [2, 3, 4]), t(11, [2, 4, 2])),
    ]);
  });
});

describe("BatchMatMul through XNNPACK", () => {
  const shapes: [string, number[], number[], boolean, boolean][] = [
    ["2-D plain", [33, 20], [20, 17], false, false],
    ["2-D b transposed", [33, 20], [17, 20], false, true],
    ["2-D a transposed", [20, 33], [20, 17], true, false],
    ["2-D both transposed", [20, 33], [17, 20], true, true],
    ["batched", [3, 12, 8], [3, 8, 10], false, false],
    ["batched, b transposed (Q Kᵀ)", [4, 12, 8], [4, 10, 8], false, true],
    ["batched, a transposed", [3, 8, 12], [3, 8, 10], true, false],
    ["4-D batched", [2, 3, 6, 5], [2, 3, 5, 4], false, false],
  ];
  // Broadcasting across ranks: tfjs-core's BatchMatMul gradient does not reduce over the broadcast
  // dims (it fails on cpu too), so forward only.
  const broadcast: [string, number[], number[], boolean, boolean][] = [
    ["batch × shared weight (fold)", [2, 3, 6, 5], [5, 4], false, false],
    ["batch × shared weight, transposed", [2, 6, 5], [4, 5], false, true],
    ["shared × batch", [6, 5], [3, 5, 4], false, false],
    ["shared, transposed × batch", [5, 6], [3, 4, 5], true, true],
  ];
  for (const forced of [true, false]) {
    for (const [name, sa, sb, ta, tb] of shapes) {
      it(`${name}${forced ? "" : " (default thresholds)"}: forward and gradients equal cpu`, async () => {
        configureWasmMatMul(
          forced ? { minWorkPerBatch: 0, minWorkTotal: 0 } : { minWorkPerBatch: 24 * 1024, minWorkTotal: 32 * 1024 },
        );
        await expectSameOnBoth(
          withGrads(
            () => [t(12, sa), t(13, sb)],
            (a, b) => tf.matMul(a!, b!, ta, tb),
          ),
        );
      });
    }
    for (const [name, sa, sb, ta, tb] of broadcast) {
      it(`${name}${forced ? "" : " (default thresholds)"}: forward equals cpu`, async () => {
        configureWasmMatMul(
          forced ? { minWorkPerBatch: 0, minWorkTotal: 0 } : { minWorkPerBatch: 24 * 1024, minWorkTotal: 32 * 1024 },
        );
        await expectSameOnBoth(() => [tf.matMul(t(12, sa), t(13, sb), ta, tb)]);
      });
    }
  }

  it("large enough to take the XNNPACK path with default thresholds", async () => {
    configureWasmMatMul({ minWorkPerBatch: 24 * 1024, minWorkTotal: 32 * 1024 });
    await expectSameOnBoth(() => [
      tf.matMul(t(14, [64, 48]), t(15, [40, 48]), false, true),
      tf.matMul(t(16, [48, 64]), t(17, [48, 40]), true, false),
      tf.matMul(t(18, [4, 32, 48]), t(19, [4, 32, 48]), false, true),
    ]);
  });
});

describe("zero gradients of comparisons", () => {
  it("where(greater(x, 0), x, 2x) and friends differentiate on both backends", async () => {
    await expectSameOnBoth(
      withGrads(
        () => [t(20, [4, 5]), t(21, [4, 5])],
        (x, y) =>
          tf.add(
            tf.where(tf.greater(x!, 0), x!, tf.mul(x!, 2)),
            tf.where(tf.logicalAnd(tf.lessEqual(x!, y!), tf.notEqual(y!, 0)), y!, tf.zerosLike(y!)),
          ),
      ),
    );
  });
});

describe("what training needs, forward and backward, wasm vs cpu", () => {
  const ops: [string, number[][], (...xs: tf.Tensor[]) => tf.Tensor][] = [
    ["softmax", [[3, 7]], (x) => tf.softmax(x!)],
    [
      "logSoftmax cross-entropy",
      [[4, 6]],
      (x) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(x!), tf.oneHot(tf.tensor1d([0, 5, 2, 2], "int32"), 6)), -1)),
    ],
    [
      "layer norm from moments",
      [[3, 8]],
      (x) => {
        const mean = tf.mean(x!, -1, true);
        const c = tf.sub(x!, mean);
        return tf.mul(c, tf.rsqrt(tf.add(tf.mean(tf.square(c), -1, true), 1e-5)));
      },
    ],
    ["gelu (erf)", [[20]], (x) => tf.mul(tf.mul(x!, 0.5), tf.add(tf.erf(tf.mul(x!, Math.SQRT1_2)), 1))],
    [
      "gelu (tanh)",
      [[20]],
      (x) =>
        tf.mul(tf.mul(x!, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x!, tf.mul(tf.pow(x!, 3), 0.044715)), 0.7978845608)), 1)),
    ],
    ["sigmoid", [[20]], (x) => tf.sigmoid(x!)],
    [
      "slice / concat / 4-D transpose",
      [[2, 3, 4, 5]],
      (x) =>
        tf.concat(
          [
            tf.transpose(tf.slice(x!, [0, 1, 0, 0], [2, 2, 4, 5]), [0, 2, 1, 3]),
            tf.transpose(tf.slice(x!, [0, 0, 0, 0], [2, 1, 4, 5]), [0, 2, 1, 3]),
          ],
          2,
        ),
    ],
    [
      "split / reshape",
      [[4, 6]],
      (x) => {
        const [a, b] = tf.split(x!, 2, 1);
        return tf.reshape(tf.mul(a!, b!), [2, 2, 3]);
      },
    ],
    [
      "maximum / minimum",
      [
        [3, 5],
        [3, 5],
      ],
      (x, y) => tf.add(tf.maximum(x!, y!), tf.minimum(x!, 0.1)),
    ],
    ["cumsum", [[3, 5]], (x) => tf.cumsum(x!, 1)],
    [
      "pad / tile",
      [[2, 3]],
      (x) =>
        tf.tile(
          tf.pad(x!, [
            [1, 0],
            [0, 2],
          ]),
          [2, 1],
        ),
    ],
    ["mean / max / logSumExp", [[3, 5]], (x) => tf.stack([tf.mean(x!, -1), tf.max(x!, -1), tf.logSumExp(x!, -1)])],
  ];
  for (const [name, shapes, fn] of ops) {
    it(name, async () => {
      await expectSameOnBoth(withGrads(() => shapes.map((s, i) => t(30 + i, s)), fn));
    });
  }
});

describe("memory", () => {
  it("no tensor or wasm heap leak through the registered kernels", async () => {
    await tf.setBackend("wasm");
    configureWasmMatMul({ minWorkPerBatch: 0, minWorkTotal: 0 });
    const emb = tf.variable(t(40, [10, 8]));
    const filt = tf.variable(t(41, [2, 2, 3, 8]));
    const w = tf.variable(t(42, [8, 8]));
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const e = tf.gather(emb, tf.tensor1d([1, 2, 2, 7], "int32")); // [4, 8]
          const img = tf.conv2d(t(43, [1, 4, 4, 3]) as tf.Tensor4D, filt as tf.Tensor4D, 2, "valid"); // [1, 2, 2, 8]
          const h = tf.add(e, tf.reshape(img, [4, 8]));
          const q = tf.reshape(tf.matMul(h, w, false, true), [2, 2, 8]);
          const s = tf.matMul(q, q, false, true); // batched, transposed
          return tf.sum(tf.where(tf.greater(s, 0), s, tf.mul(s, 0.1)));
        });
        tf.dispose(grads);
        return value;
      });
    step().dispose(); // warm up
    const before = tf.memory().numTensors;
    const ids = tf.engine().backend.numDataIds();
    for (let i = 0; i < 3; i++) step().dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    tf.dispose([emb, filt, w]);
  });
});
