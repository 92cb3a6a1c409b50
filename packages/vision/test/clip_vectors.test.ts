// CLIP's constants and small rules, worked out from openai/CLIP (clip/model.py: logit_scale init and QuickGELU,
// build_attention_mask, initialize_parameters; notebooks/Prompt_Engineering_for_ImageNet.ipynb: ensembling) and
// open_clip's ClipLoss (src/open_clip/loss.py) with the logit-scale clamp of src/training/train.py.
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, MASK_MIN, quickGelu, gelu, tf, attentionWeights } from "@vlab/core";
import {
  Clip,
  clipLoss,
  ensembleEmbeddings,
  eotPositions,
  fillTemplate,
  IMAGENET_TEMPLATES_7,
  LOGIT_SCALE_INIT,
  LOGIT_SCALE_MAX,
  textCausalMask,
  zeroShotClassify,
  zeroShotWeights,
} from "../src/index.js";

beforeAll(async () => {
  await initBackend("cpu");
});

const tiny = () =>
  new Clip({
    embedDim: 16,
    imageResolution: 16,
    visionPatchSize: 8,
    visionWidth: 32,
    visionLayers: 1,
    contextLength: 8,
    vocabSize: 50,
    transformerWidth: 32,
    transformerLayers: 1,
  });

describe("CLIP's constants", () => {
  it("QuickGELU(x) = x·σ(1.702x), not exact GELU", () => {
    const y = quickGelu(tf.tensor1d([1, -1, 2])).dataSync();
    expect(y[0]).toBeCloseTo(0.8457957659328212, 6);
    expect(y[1]).toBeCloseTo(-0.1542042340671787, 6);
    expect(y[2]).toBeCloseTo(1.9356586231442083, 6);
    expect(gelu(tf.scalar(1)).dataSync()[0]).toBeCloseTo(0.8413447460685429, 6);
  });

  it("logit_scale starts at ln(1/0.07) and is clamped to [0, ln 100]", () => {
    expect(LOGIT_SCALE_INIT).toBe(2.659260036932778);
    expect(Math.exp(LOGIT_SCALE_INIT)).toBeCloseTo(14.285714285714286, 10);
    expect(LOGIT_SCALE_MAX).toBe(4.605170185988092);
    const clip = tiny();
    expect(clip.logit_scale.shape).toEqual([]);
    expect(clip.logit_scale.dataSync()[0]).toBeCloseTo(2.659260036932778, 6);
    expect(clip.scale).toBeCloseTo(14.2857, 3);
    clip.logit_scale.assign(tf.scalar(7));
    clip.clampLogitScale();
    expect(clip.logit_scale.dataSync()[0]).toBeCloseTo(4.605170185988092, 6);
    expect(clip.scale).toBeCloseTo(100, 3);
    clip.logit_scale.assign(tf.scalar(-1));
    clip.clampLogitScale();
    expect(clip.logit_scale.dataSync()[0]).toBe(0);
    const before = tf.memory().numTensors;
    clip.clampLogitScale();
    expect(tf.memory().numTensors).toBe(before);
    clip.dispose();
  });
});

describe("symmetric contrastive loss", () => {
  it("equal logits give ln B (B = 4)", () => {
    const loss = clipLoss(tf.fill([4, 4], 3.7) as tf.Tensor2D);
    expect(loss.dataSync()[0]).toBeCloseTo(1.3862943611198906, 6);
  });

  it("orthonormal features with scale 100 give ≈ 0 (ln(1 + e^-100))", () => {
    const f = tf.eye(2);
    const logits = tf.mul(tf.matMul(f, f, false, true), 100) as tf.Tensor2D;
    expect(Array.from(logits.dataSync())).toEqual([100, 0, 0, 100]);
    expect(clipLoss(logits).dataSync()[0]).toBeCloseTo(0, 10);
  });

  it("is the mean of the two directions' cross-entropies", () => {
    const z = [
      [1, 2, 0],
      [0.5, -1, 3],
      [2, 2, 1],
    ];
    const ce = (rows: number[][]) =>
      rows.reduce((s, r, i) => s + Math.log(r.reduce((a, v) => a + Math.exp(v), 0)) - r[i]!, 0) / rows.length;
    const zt = z[0]!.map((_, j) => z.map((r) => r[j]!));
    const expected = (ce(z) + ce(zt)) / 2;
    expect(clipLoss(tf.tensor2d(z)).dataSync()[0]).toBeCloseTo(expected, 5);
    expect(clipLoss(tf.tensor2d(z), tf.tensor2d(zt)).dataSync()[0]).toBeCloseTo(expected, 5);
    expect(() => clipLoss(tf.zeros([2, 3]) as tf.Tensor2D)).toThrow(/square/);
  });
});

describe("prompt ensembling", () => {
  it("average of normalised embeddings, renormalised: (e1+e2)/‖e1+e2‖, not (e1+e2)/2", () => {
    const e1 = [3, 4, 0]; // ‖·‖ = 5
    const e2 = [0, 0, 2];
    const w = ensembleEmbeddings(tf.tensor2d([e1, e2])).dataSync();
    const u1 = e1.map((v) => v / 5);
    const u2 = [0, 0, 1];
    const sum = u1.map((v, i) => v + u2[i]!);
    const n = Math.hypot(...sum);
    sum.forEach((v, i) => expect(w[i]).toBeCloseTo(v / n, 6));
    const half = sum.map((v) => v / 2);
    expect(Math.hypot(...half)).toBeLessThan(0.99); // the un-renormalised mean is not a unit vector
    expect(Math.hypot(...Array.from(w))).toBeCloseTo(1, 6);
  });

  it("templates: the 7 ImageNet ones, filled with the class name", () => {
    expect(IMAGENET_TEMPLATES_7).toHaveLength(7);
    expect(fillTemplate("itap of a {}.", "cat")).toBe("itap of a cat.");
    expect(fillTemplate((c) => `${c}!`, "dog")).toBe("dog!");
  });

  it("zeroShotWeights and zeroShotClassify with a stand-in encoder", async () => {
    // Text "encoder": the feature is [number of a's, number of b's, 1] in the text.
    const enc = {
      encodeText: (ids: tf.Tensor2D) => tf.tidy(() => tf.cast(ids, "float32") as tf.Tensor2D),
      encodeImage: (px: tf.Tensor) => tf.tidy(() => tf.reshape(px, [px.shape[0]!, -1]) as tf.Tensor2D),
    };
    const tokenize = (texts: string[]) =>
      tf.tensor2d(
        texts.map((t) => [[...t].filter((c) => c === "a").length, [...t].filter((c) => c === "b").length, 1]),
        undefined,
        "int32",
      );
    const before = tf.memory().numTensors;
    const W = await zeroShotWeights(enc, tokenize, ["a", "b"], ["{}", "{}{}"]);
    expect(W.shape).toEqual([3, 2]);
    // class "a": e1 = [1,0,1], e2 = [2,0,1] → normalise, mean, renormalise
    const u1 = [1, 0, 1].map((v) => v / Math.SQRT2);
    const u2 = [2, 0, 1].map((v) => v / Math.sqrt(5));
    const m = u1.map((v, i) => (v + u2[i]!) / 2);
    const nm = Math.hypot(...m);
    const col0 = (W.arraySync() as number[][]).map((r) => r[0]!);
    m.forEach((v, i) => expect(col0[i]).toBeCloseTo(v / nm, 5));
    const logits = await zeroShotClassify(enc, tf.tensor4d([[[[1, 0, 0]]], [[[0, 1, 0]]]]), W, { batchSize: 1 });
    expect(logits.shape).toEqual([2, 2]);
    expect(Array.from(tf.argMax(logits, 1).dataSync())).toEqual([0, 1]);
    expect(logits.arraySync()[0]![0]).toBeCloseTo(100 * col0[0]!, 3);
    tf.dispose([W, logits]);
    expect(tf.memory().numTensors).toBe(before + 2); // the two inline input tensors above (tensor4d and argMax)
  });
});

describe("text transformer: causal mask and end-of-text pooling", () => {
  it("causal mask row i is masked (MASK_MIN, used as −∞) exactly at columns > i", () => {
    const T = 5;
    const m = textCausalMask(T).arraySync()[0]![0]!;
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) expect(m[i]![j]).toBe(j > i ? MASK_MIN : 0);
    // and those keys get exactly zero attention
    const q = tf.randomNormal([1, 1, T, 4], 0, 1, "float32", 1);
    const k = tf.randomNormal([1, 1, T, 4], 0, 1, "float32", 2);
    const w = attentionWeights(q, k, textCausalMask(T)).arraySync()[0]![0]!;
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) expect(w[i]![j]).toBe(0);
  });

  it.each(["cpu", "wasm"] as const)(
    "tf.argMax breaks ties at the FIRST index (%s), and eotPositions does by construction",
    async (backend) => {
      await initBackend(backend);
      const ids = tf.tensor2d(
        [
          [49406, 320, 49407, 49407, 49407], // Hugging Face style: padded with EOT
          [49406, 49407, 0, 0, 0], // openai style: zero padding
          [5, 5, 5, 5, 5],
        ],
        undefined,
        "int32",
      );
      expect(Array.from(tf.argMax(ids, -1).dataSync())).toEqual([2, 1, 0]);
      expect(Array.from(eotPositions(ids).dataSync())).toEqual([2, 1, 0]);
      expect(Array.from(eotPositions(tf.tensor2d([[1, 2, 9, 2]], undefined, "int32"), 2).dataSync())).toEqual([1]);
      await initBackend("cpu");
    },
  );

  it("pools the feature at the end-of-text token: later tokens do not matter, earlier ones do", () => {
    const clip = tiny();
    const a = clip.encodeText([[1, 7, 49, 0, 0, 0, 0, 0]]);
    const b = clip.encodeText([[1, 7, 49, 3, 3, 3, 3, 3]]); // same up to the EOT (the max id), different after
    const c = clip.encodeText([[1, 8, 49, 0, 0, 0, 0, 0]]);
    const d = clip.encodeText([[1, 7, 49]]); // shorter than the context: positions [:3]
    const diff = (x: tf.Tensor, y: tf.Tensor) => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!;
    expect(diff(a, b)).toBeLessThan(1e-6);
    expect(diff(a, d)).toBeLessThan(1e-6);
    expect(diff(a, c)).toBeGreaterThan(1e-4);
    clip.dispose();
  });

  it("with eotTokenId (Hugging Face's eos_token_id), pools at its first occurrence and refuses rows without it", () => {
    const cfg = {
      embedDim: 16,
      imageResolution: 16,
      visionPatchSize: 8,
      visionWidth: 32,
      visionLayers: 1,
      contextLength: 8,
      vocabSize: 50,
      transformerWidth: 32,
      transformerLayers: 1,
    };
    const byArgmax = new Clip(cfg);
    const byId = new Clip({ ...cfg, eotTokenId: 2 });
    const diff = (x: tf.Tensor, y: tf.Tensor) => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!;
    // the first 2 counts, not the larger ids after it (argmax would pool at the 40)
    expect(diff(byId.encodeText([[1, 7, 2, 40, 2]]), byId.encodeText([[1, 7, 2]]))).toBeLessThan(1e-6);
    expect(diff(byArgmax.encodeText([[1, 7, 2, 40, 2]]), byArgmax.encodeText([[1, 7, 2]]))).toBeGreaterThan(1e-4);
    expect(() => byId.encodeText([[1, 7, 40]])).toThrow(/row 0 of ids has no end-of-text token \(id 2\)/);
    byArgmax.dispose();
    byId.dispose();
  });
});

describe("initialisation (openai's initialize_parameters), seeded", () => {
  const std = (t: tf.Tensor) => tf.tidy(() => Math.sqrt(tf.mean(tf.square(t)).dataSync()[0]!));
  it("uses initialize_parameters' standard deviations and the same seed gives the same weights", () => {
    const cfg = {
      embedDim: 64,
      imageResolution: 16,
      visionPatchSize: 8,
      visionWidth: 128,
      visionLayers: 2,
      contextLength: 77,
      vocabSize: 500,
      transformerWidth: 128,
      transformerLayers: 2,
    };
    const clip = new Clip(cfg);
    const sd = clip.stateDict();
    const w = 128;
    const near = (t: tf.Tensor, s: number) => expect(Math.abs(std(t) / s - 1)).toBeLessThan(0.05);
    near(sd["token_embedding.weight"]!, 0.02);
    near(sd["positional_embedding"]!, 0.01);
    near(sd["transformer.resblocks.0.attn.in_proj_weight"]!, w ** -0.5);
    near(sd["transformer.resblocks.1.attn.out_proj.weight"]!, w ** -0.5 * (2 * 2) ** -0.5);
    near(sd["transformer.resblocks.0.mlp.c_fc.weight"]!, (2 * w) ** -0.5);
    near(sd["transformer.resblocks.1.mlp.c_proj.weight"]!, w ** -0.5 * (2 * 2) ** -0.5);
    near(sd["text_projection"]!, w ** -0.5);
    // scale·randn, only 128 samples
    expect(Math.abs(std(sd["visual.class_embedding"]!) / w ** -0.5 - 1)).toBeLessThan(0.2);
    near(sd["visual.proj"]!, w ** -0.5);
    near(sd["visual.positional_embedding"]!, w ** -0.5);
    // nn.MultiheadAttention's own init for the visual blocks: xavier-uniform in_proj, zero biases
    near(sd["visual.transformer.resblocks.0.attn.in_proj_weight"]!, Math.sqrt(6 / (4 * w)) / Math.sqrt(3));
    expect(tf.tidy(() => tf.max(tf.abs(sd["visual.transformer.resblocks.0.attn.in_proj_bias"]!)).dataSync()[0])).toBe(
      0,
    );
    expect(tf.tidy(() => tf.max(tf.abs(sd["transformer.resblocks.0.attn.out_proj.bias"]!)).dataSync()[0])).toBe(0);
    const same = new Clip(cfg);
    const other = new Clip({ ...cfg, seed: 1 });
    const d = (a: Clip, b: Clip, k: string) =>
      tf.tidy(() => tf.max(tf.abs(tf.sub(a.stateDict()[k]!, b.stateDict()[k]!))).dataSync()[0]!);
    expect(d(clip, same, "visual.conv1.weight")).toBe(0);
    expect(d(clip, same, "transformer.resblocks.1.mlp.c_fc.bias")).toBe(0);
    expect(d(clip, other, "visual.conv1.weight")).toBeGreaterThan(0);
    [clip, same, other].forEach((c) => c.dispose());
  });
});
