// The hand-written ONNX writer (graph.ts): protobuf basics, models onnxruntime loads and runs
// (symbolic shapes, initializers of each type, attributes of each kind), and small hand-made CLIP-like
// encoders whose onnxruntime outputs are checked against the same math in tfjs, run through OnnxClip.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { initBackend, Rng, tf } from "@vlab/core";
import {
  encodeOnnxModel,
  encodeVarint,
  OnnxClip,
  OnnxGraphBuilder,
  onnxAttr,
  describeOnnxSession,
} from "../src/index.js";
import { maxRelErr } from "./helpers.js";

beforeAll(async () => {
  await initBackend("cpu");
});

describe("protobuf encoding", () => {
  it("encodes varints as protobuf does (7 bits a byte, low first; negatives in 10 bytes)", () => {
    expect([...encodeVarint(0)]).toEqual([0]);
    expect([...encodeVarint(1)]).toEqual([1]);
    expect([...encodeVarint(127)]).toEqual([0x7f]);
    expect([...encodeVarint(300)]).toEqual([0xac, 0x02]);
    expect([...encodeVarint(2 ** 32)]).toEqual([0x80, 0x80, 0x80, 0x80, 0x10]);
    expect([...encodeVarint(-1)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect([...encodeVarint(-2n)]).toEqual([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it("starts a model with ir_version (field 1, varint) and names the producer", () => {
    const g = new OnnxGraphBuilder("id");
    g.input("x", "float32", [2]);
    g.op("Identity", ["x"], {}, "y");
    g.output("y", "float32", [2]);
    const bytes = g.encode();
    expect([...bytes.subarray(0, 2)]).toEqual([0x08, 8]); // ir_version = 8
    // producer_name (field 2)
    expect([...bytes.subarray(2, 8)]).toEqual([0x12, 4, ...new TextEncoder().encode("vlab")]);
  });

  it("refuses graphs that read undefined values or define one twice", () => {
    expect(() =>
      encodeOnnxModel({
        graph: {
          name: "bad",
          inputs: [{ name: "x", dtype: "float32" }],
          outputs: [{ name: "y", dtype: "float32" }],
          nodes: [{ opType: "Add", inputs: ["x", "w"], outputs: ["y"] }],
        },
      }),
    ).toThrow(/reads "w" before anything defines it/);
    expect(() =>
      encodeOnnxModel({
        graph: {
          name: "bad",
          inputs: [{ name: "x", dtype: "float32" }],
          outputs: [{ name: "z", dtype: "float32" }],
          nodes: [],
        },
      }),
    ).toThrow(/output "z" is never computed/);
    const g = new OnnxGraphBuilder();
    g.input("x", "float32");
    expect(() => g.input("x", "float32")).toThrow(/already used/);
    expect(() => g.initializer("w", "float32", [2, 2], [1, 2, 3])).not.toThrow();
    expect(() => g.encode()).toThrow(/hold 4 values but data has 3/);
  });
});

describe("models onnxruntime loads", () => {
  it(
    "runs a graph with a symbolic batch, float32 / int64 " + "initializers and int, float, ints, string attributes",
    async () => {
      const g = new OnnxGraphBuilder("attrs");
      g.input("x", "float32", ["batch", 2, 3]);
      const w = g.initializer("w", "float32", [3], new Float32Array([1, -2, 0.5]));
      const t = g.op("Transpose", [g.op("Mul", ["x", w])], { perm: onnxAttr.ints([0, 2, 1]) }); // [B, 3, 2]
      const flat = g.op("Reshape", [t, g.int64s([0, -1])]); // [B, 6]
      const sm = g.op("Softmax", [flat], { axis: onnxAttr.int(-1) }, "probs");
      const ln = g.op(
        "LayerNormalization",
        [flat, g.initializer("ones", "float32", [6], new Float32Array(6).fill(1))],
        { axis: onnxAttr.int(-1), epsilon: onnxAttr.float(0.25) },
        "normed",
      );
      const padded = g.op(
        "Pad",
        [flat, g.initializer("pads", "int64", [4], new BigInt64Array([0n, 1n, 0n, 2n]))],
        { mode: onnxAttr.string("edge") },
        "padded",
      ); // [B, 9]
      const idx = g.op("ArgMax", [flat], { axis: onnxAttr.int(1), keepdims: onnxAttr.int(0) }, "argmax");
      g.output(sm, "float32", ["batch", 6]);
      g.output(ln, "float32", ["batch", 6]);
      g.output(padded, "float32", ["batch", 9]);
      g.output(idx, "int64", ["batch"]);
      const session = await InferenceSession.create(g.encode({ metadata: { author: "test" } }));
      try {
        const io = describeOnnxSession(session);
        expect(io.inputs).toEqual([{ name: "x", type: "float32", shape: ["batch", 2, 3] }]);
        expect(io.outputs.map((o) => o.name)).toEqual(["probs", "normed", "padded", "argmax"]);

        const xs = [0.1, 0.2, 0.3, 1, 2, 3, -1, 0, 1, 4, 5, 6];
        const r = await session.run({ x: new Tensor("float32", Float32Array.from(xs), [2, 2, 3]) });
        // The same in tfjs.
        const x = tf.tensor3d(xs, [2, 2, 3]);
        const f = tf.reshape(tf.transpose(tf.mul(x, tf.tensor1d([1, -2, 0.5])), [0, 2, 1]), [2, 6]);
        const mean = tf.mean(f, -1, true);
        const v = tf.mean(tf.square(tf.sub(f, mean)), -1, true);
        const expectedLn = tf.div(tf.sub(f, mean), tf.sqrt(tf.add(v, 0.25)));
        expect(maxRelErr(r.probs!.data as Float32Array, tf.softmax(f).dataSync())).toBeLessThan(1e-5);
        expect(maxRelErr(r.normed!.data as Float32Array, expectedLn.dataSync())).toBeLessThan(1e-5);
        const fd = f.arraySync() as number[][];
        expect(r.padded!.dims).toEqual([2, 9]);
        const padRow = (row: number[]) => [row[0]!, ...row, row[5]!, row[5]!]; // "edge": repeat the border values
        expect(Array.from(r.padded!.data as Float32Array)).toEqual(Array.from(Float32Array.from(fd.flatMap(padRow))));
        expect(Array.from(r.argmax!.data as BigInt64Array)).toEqual(
          fd.map((row) => BigInt(row.indexOf(Math.max(...row)))),
        );
        tf.dispose([x, f, mean, v, expectedLn]);
      } finally {
        await session.release();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Hand-made encoders: patchify-as-matmul + LayerNorm + mean-pool + projection for images,
// Gather + mean-pool + projection for text; the same math written again in tfjs.
// ---------------------------------------------------------------------------------------------

const IMG = 8; // image side
const P = 4; // patch side
const D = 6; // token width
const E = 5; // embedding size
const V = 11; // vocabulary

describe("hand-made encoders: onnxruntime == tfjs", () => {
  const rng = new Rng(3);
  const patchW = rng.normalArray(3 * P * P * D, 0.2); // [3p², D]
  const lnScale = rng.normalArray(D, 0.1).map((x) => 1 + x);
  const lnBias = rng.normalArray(D, 0.1);
  const imgProj = rng.normalArray(D * E, 0.3); // [D, E]
  const tokTable = rng.normalArray(V * D, 1); // [V, D]
  const txtProj = rng.normalArray(D * E, 0.3); // [D, E]

  function visionModel(): Uint8Array {
    const g = new OnnxGraphBuilder("tiny_vision");
    const gh = IMG / P;
    g.input("pixel_values", "float32", ["batch", 3, IMG, IMG]);
    const grid = g.op("Reshape", ["pixel_values", g.int64s([0, 3, gh, P, gh, P])]);
    const patches = g.op("Reshape", [
      g.op("Transpose", [grid], { perm: onnxAttr.ints([0, 2, 4, 1, 3, 5]) }),
      g.int64s([0, gh * gh, 3 * P * P]),
    ]);
    const tokens = g.op("MatMul", [patches, g.initializer("patch_w", "float32", [3 * P * P, D], patchW)]);
    const normed = g.op(
      "LayerNormalization",
      [tokens, g.initializer("ln_w", "float32", [D], lnScale), g.initializer("ln_b", "float32", [D], lnBias)],
      { axis: onnxAttr.int(-1), epsilon: onnxAttr.float(1e-5) },
    );
    // opset 17: axes is an attribute
    const pooled = g.op("ReduceMean", [normed], { axes: onnxAttr.ints([1]), keepdims: onnxAttr.int(0) });
    g.op("MatMul", [pooled, g.initializer("proj", "float32", [D, E], imgProj)], {}, "image_embeds");
    g.output("image_embeds", "float32", ["batch", E]);
    return g.encode();
  }

  function textModel(idsType: "int64" | "int32", withMask = false): Uint8Array {
    const g = new OnnxGraphBuilder("tiny_text");
    g.input("input_ids", idsType, ["batch", "sequence"]);
    if (withMask) g.input("attention_mask", idsType, ["batch", "sequence"]);
    const emb = g.op("Gather", [g.initializer("tok", "float32", [V, D], tokTable), "input_ids"], {
      axis: onnxAttr.int(0),
    }); // [B, T, D]
    let pooled: string;
    if (withMask) {
      // Masked mean: Σ m·x / Σ m.
      // [B, T, 1]
      const m = g.op("Unsqueeze", [g.op("Cast", ["attention_mask"], { to: onnxAttr.int(1) }), g.int64s([2])]);
      pooled = g.op("Div", [
        g.op("ReduceSum", [g.op("Mul", [emb, m]), g.int64s([1])], { keepdims: onnxAttr.int(0) }),
        g.op("ReduceSum", [m, g.int64s([1])], { keepdims: onnxAttr.int(0) }),
      ]);
    } else {
      pooled = g.op("ReduceMean", [emb], { axes: onnxAttr.ints([1]), keepdims: onnxAttr.int(0) });
    }
    g.op("MatMul", [pooled, g.initializer("proj", "float32", [D, E], txtProj)], {}, "text_embeds");
    g.output("text_embeds", "float32", ["batch", E]);
    return g.encode();
  }

  function tfjsImage(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const B = pixels.shape[0];
      const gh = IMG / P;
      const patches = tf.reshape(tf.transpose(tf.reshape(pixels, [B, 3, gh, P, gh, P]), [0, 2, 4, 1, 3, 5]), [
        B,
        gh * gh,
        3 * P * P,
      ]);
      const tokens = tf.reshape(tf.matMul(tf.reshape(patches, [-1, 3 * P * P]), tf.tensor2d(patchW, [3 * P * P, D])), [
        B,
        gh * gh,
        D,
      ]);
      const mean = tf.mean(tokens, -1, true);
      const centred = tf.sub(tokens, mean);
      const normed = tf.add(
        tf.mul(tf.div(centred, tf.sqrt(tf.add(tf.mean(tf.square(centred), -1, true), 1e-5))), lnScale),
        lnBias,
      );
      return tf.matMul(tf.mean(normed, 1), tf.tensor2d(imgProj, [D, E])) as tf.Tensor2D;
    });
  }

  function tfjsText(ids: tf.Tensor2D, mask?: number[][]): tf.Tensor2D {
    return tf.tidy(() => {
      const emb = tf.gather(tf.tensor2d(tokTable, [V, D]), ids); // [B, T, D]
      const m = mask ? tf.expandDims(tf.tensor2d(mask), 2) : tf.onesLike(tf.expandDims(tf.cast(ids, "float32"), 2));
      return tf.matMul(tf.div(tf.sum(tf.mul(emb, m), 1), tf.sum(m, 1)), tf.tensor2d(txtProj, [D, E])) as tf.Tensor2D;
    });
  }

  let clip64: OnnxClip;
  let clip32: OnnxClip;
  afterAll(async () => {
    await clip64?.dispose();
    await clip32?.dispose();
  });

  it("OnnxClip runs them: images and int64 / int32 token ids give the tfjs numbers", async () => {
    clip64 = await OnnxClip.load({ visionModel: visionModel(), textModel: textModel("int64") });
    clip32 = await OnnxClip.load({ visionModel: visionModel(), textModel: textModel("int32") });
    expect(clip64.executionProviders).toEqual({ vision: ["cpu"], text: ["cpu"] });
    expect(clip64.describe().text.inputs).toEqual([{ name: "input_ids", type: "int64", shape: ["batch", "sequence"] }]);
    expect(clip32.describe().text.inputs[0]!.type).toBe("int32");

    const before = tf.memory().numTensors;
    const pixels = tf.tensor4d(new Rng(5).normalArray(2 * 3 * IMG * IMG, 1), [2, 3, IMG, IMG]);
    const ids = tf.tensor2d(
      [
        [1, 2, 3, 10],
        [4, 4, 0, 7],
      ],
      [2, 4],
      "int32",
    );
    const img = await clip64.encodeImage(pixels);
    const want = tfjsImage(pixels);
    expect(img.shape).toEqual([2, E]);
    expect(img.dtype).toBe("float32");
    expect(maxRelErr(img.dataSync(), want.dataSync())).toBeLessThan(1e-5);

    const t64 = await clip64.encodeText(ids);
    const t32 = await clip32.encodeText(ids);
    const tw = tfjsText(ids);
    expect(t64.shape).toEqual([2, E]);
    expect(maxRelErr(t64.dataSync(), tw.dataSync())).toBeLessThan(1e-5);
    expect(Array.from(t32.dataSync())).toEqual(Array.from(t64.dataSync())); // same model, other id type
    const fromArrays = await clip64.encodeText([
      [1, 2, 3, 10],
      [4, 4, 0, 7],
    ]);
    expect(Array.from(fromArrays.dataSync())).toEqual(Array.from(t64.dataSync()));
    tf.dispose([pixels, ids, img, want, t64, t32, tw, fromArrays]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("fills an attention_mask input: all ones by default, or the caller's", async () => {
    const clip = await OnnxClip.load({ visionModel: visionModel(), textModel: textModel("int64", true) });
    try {
      const ids = tf.tensor2d(
        [
          [1, 2, 3, 0],
          [5, 6, 0, 0],
        ],
        [2, 4],
        "int32",
      );
      const mask = [
        [1, 1, 1, 0],
        [1, 1, 0, 0],
      ];
      const ones = await clip.encodeText(ids);
      const masked = await clip.encodeText(ids, { attentionMask: mask });
      const wantOnes = tfjsText(ids);
      const wantMasked = tfjsText(ids, mask);
      expect(maxRelErr(ones.dataSync(), wantOnes.dataSync())).toBeLessThan(1e-5);
      expect(maxRelErr(masked.dataSync(), wantMasked.dataSync())).toBeLessThan(1e-5);
      await expect(clip.encodeText(ids, { attentionMask: [[1, 1]] })).rejects.toThrow(
        /attentionMask has shape \[1, 2\] but ids have \[2, 4\]/,
      );
      tf.dispose([ids, ones, masked, wantOnes, wantMasked]);
    } finally {
      await clip.dispose();
    }
  });

  it("finds other input / output names, or takes them from `names`", async () => {
    const g = new OnnxGraphBuilder("renamed");
    g.input("image", "float32", [null, 3, IMG, IMG]);
    const pooled = g.op(
      "ReduceMean",
      ["image"],
      { axes: onnxAttr.ints([2, 3]), keepdims: onnxAttr.int(0) },
      "colour_means",
    ); // [B, 3]
    g.op("Mul", [pooled, g.scalar(2)], {}, "doubled");
    g.output("colour_means", "float32", [null, 3]);
    g.output("doubled", "float32", [null, 3]);
    const vision = g.encode();
    // One float image input is found; two outputs without an "embeds" name are ambiguous.
    await expect(OnnxClip.load({ visionModel: vision, textModel: textModel("int64") })).rejects.toThrow(
      /cannot tell which output holds the image features \(outputs: colour_means \(float32 \[\?, 3\]\), doubled/,
    );
    await expect(
      OnnxClip.load({
        visionModel: vision,
        textModel: textModel("int64"),
        names: { pixelValues: "pixels", imageEmbeds: "doubled" },
      }),
    ).rejects.toThrow(/names.pixelValues: there is no "pixels" \(the model has image \(float32 \[\?, 3, 8, 8\]\)\)/);
    const clip = await OnnxClip.load({
      visionModel: vision,
      textModel: textModel("int64"),
      names: { imageEmbeds: "doubled" },
    });
    try {
      const px = tf.ones([2, 3, IMG, IMG]) as tf.Tensor4D;
      const out = await clip.encodeImage(px);
      expect(Array.from(out.dataSync())).toEqual([2, 2, 2, 2, 2, 2]);
      tf.dispose([px, out]);
    } finally {
      await clip.dispose();
    }
  });

  it("names the input and both shapes when an image has the wrong size", async () => {
    const small = tf.zeros([1, 3, 4, 4]) as tf.Tensor4D;
    await expect(clip64.encodeImage(small)).rejects.toThrow(
      /input "pixel_values" expects shape \[batch, 3, 8, 8\], got \[1, 3, 4, 4\] \(dim 2: expected 8, got 4\)/,
    );
    const last = tf.zeros([1, IMG, IMG, 3]) as tf.Tensor4D;
    await expect(clip64.encodeImage(last)).rejects.toThrow(/channels-last/);
    const ints = tf.zeros([1, 3, IMG, IMG], "int32") as tf.Tensor4D;
    await expect(clip64.encodeImage(ints)).rejects.toThrow(/pixels must be float32/);
    const flat = tf.zeros([3, IMG, IMG]) as unknown as tf.Tensor4D;
    await expect(clip64.encodeImage(flat)).rejects.toThrow(/4-D tensor/);
    const ids3 = tf.zeros([1, 2, 3], "int32") as unknown as tf.Tensor2D;
    await expect(clip64.encodeText(ids3)).rejects.toThrow(/ids must be 2-D \[B, T\], got shape \[1, 2, 3\]/);
    const floatIds = tf.zeros([1, 3]) as tf.Tensor2D;
    await expect(clip64.encodeText(floatIds)).rejects.toThrow(/ids must be int32/);
    tf.dispose([small, last, ints, flat, ids3, floatIds]);
  });

  it("reports onnxruntime's own failures with the feeds and the model's inputs", async () => {
    const bad = tf.tensor2d([[1, 99]], [1, 2], "int32"); // 99 is outside the 11-row table
    const quiet = await OnnxClip.load({
      visionModel: visionModel(),
      textModel: textModel("int64"),
      logSeverityLevel: 4,
    }); // onnxruntime prints no error line
    await expect(quiet.encodeText(bad)).rejects.toThrow(
      /OnnxClip.encodeText: onnxruntime failed on input_ids int64 \[1, 2\] \(the model takes input_ids \(int64 \[batch, sequence\]\)\)/,
    );
    bad.dispose();
    await quiet.dispose();
  });
});
