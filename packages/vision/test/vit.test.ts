import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, Rng, tf } from "@vlab/core";
import { attentionMaps, attentionRollout, clsAttention, Clip, patchify, VisionTransformer } from "../src/index.js";

beforeAll(async () => {
  await initBackend("wasm");
});

const randn = (seed: number, shape: number[]) =>
  tf.tensor(new Rng(seed).normalArray(shape.reduce((a, b) => a * b, 1)), shape);
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

const cfg = { imageSize: 32, patchSize: 8, width: 128, layers: 3, outputDim: 24 }; // heads = 128/64 = 2

describe("patch embedding as one matmul", () => {
  it("equals a stride-p convolution with the same weight (square and rectangular images)", () => {
    for (const [H, W] of [
      [16, 16],
      [16, 24],
    ] as const) {
      const vit = new VisionTransformer({ ...cfg, imageSize: [H, W] });
      const x = randn(1, [2, 3, H, W]);
      const tokens = vit.conv1.forward(x); // [B, g², w]
      // conv2d in NHWC with the filter [p, p, 3, w], stride p: the textbook patch embedding.
      const conv = tf.conv2d(
        tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D,
        tf.transpose(vit.conv1.weight, [2, 3, 1, 0]) as tf.Tensor4D,
        8,
        "valid",
      ); // [B, gh, gw, w]
      const ref = tf.reshape(conv, [2, (H / 8) * (W / 8), 128]);
      expect(tokens.shape).toEqual([2, (H / 8) * (W / 8), 128]);
      expect(maxDiff(tokens, ref)).toBeLessThan(1e-4);
      vit.dispose();
    }
  });

  it("patchify orders patches row-major and values (channel, row, column) within a patch", () => {
    const x = tf.range(0, 2 * 4 * 6, 1, "float32").reshape([1, 2, 4, 6]); // C=2, H=4, W=6, p=2 → grid 2×3
    const p = patchify(x, 2).arraySync()[0]!;
    expect(p).toHaveLength(6);
    // patch (row 0, col 1): channel 0 rows 0-1 cols 2-3, then channel 1
    expect(p[1]).toEqual([2, 3, 8, 9, 26, 27, 32, 33]);
    // patch (row 1, col 0)
    expect(p[3]).toEqual([12, 13, 18, 19, 36, 37, 42, 43]);
  });
});

describe("VisionTransformer", () => {
  it("shapes, hidden states (layers + 1), attention weights, patch features and no leaks", () => {
    const vit = new VisionTransformer(cfg);
    expect(vit.config.heads).toBe(2);
    expect(vit.positional_embedding.shape).toEqual([17, 128]);
    const x = randn(2, [2, 3, 32, 32]);
    const before = tf.memory().numTensors;
    const out = vit.forwardOutputs(x, { hiddenStates: true, attentions: true });
    expect(out.pooled.shape).toEqual([2, 24]);
    expect(out.lastHiddenState.shape).toEqual([2, 17, 128]);
    expect(out.hiddenStates!.map((h) => h.shape)).toEqual(Array(4).fill([2, 17, 128]));
    expect(out.attentions!.map((a) => a.shape)).toEqual(Array(3).fill([2, 2, 17, 17]));
    // attention rows sum to 1
    const sums = tf.tidy(() => tf.sum(out.attentions![0]!, -1).dataSync());
    for (const s of sums) expect(s).toBeCloseTo(1, 5);
    expect(maxDiff(out.hiddenStates![3]!, out.lastHiddenState)).toBe(0);
    // LLaVA's features: second-to-last hidden state without CLS
    const feats = vit.patchFeatures(x, -2);
    expect(feats.shape).toEqual([2, 16, 128]);
    expect(tf.tidy(() => maxDiff(feats, tf.slice(out.hiddenStates![2]!, [0, 1, 0], [-1, -1, -1])))).toBe(0);
    const pooled = vit.forward(x);
    expect(maxDiff(pooled, out.pooled)).toBeLessThan(1e-6);
    tf.dispose([out.pooled, out.lastHiddenState, ...out.hiddenStates!, ...out.attentions!, feats, pooled]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => vit.patchFeatures(x, 5)).toThrow(/layer 5 is out of range for 3 blocks/);
    vit.dispose();
  });

  it("rectangular images: 16×32 with patch 8 → 2×4 grid; output differs from a transposed image", () => {
    const vit = new VisionTransformer({ ...cfg, imageSize: [16, 32] });
    expect(vit.grid).toEqual([2, 4]);
    const y = vit.forward(randn(3, [1, 3, 16, 32]));
    expect(y.shape).toEqual([1, 24]);
    expect(() => vit.forward(randn(3, [1, 3, 32, 16]))).toThrow(/image is 32×16 but this model takes 16×32/);
    expect(() => new VisionTransformer({ ...cfg, imageSize: [20, 32] })).toThrow(/not a multiple of the patch size 8/);
    vit.dispose();
  });

  it("GELU instead of QuickGELU, no projection", () => {
    const vit = new VisionTransformer({ ...cfg, activation: "gelu", outputDim: 0 });
    expect(vit.proj).toBeNull();
    expect(vit.forward(randn(4, [1, 3, 32, 32])).shape).toEqual([1, 128]);
    vit.dispose();
  });

  it("clear errors for wrong pixel tensors", () => {
    const vit = new VisionTransformer(cfg);
    expect(() => vit.forward(tf.zeros([3, 32, 32]))).toThrow(
      /pixels must be a 4-D tensor \[B, 3, 32, 32\], got shape \[3, 32, 32\]/,
    );
    expect(() => vit.forward(tf.zeros([1, 4, 32, 32]))).toThrow(/3 colour channels \(RGB\) on axis 1, got 4/);
    expect(() => vit.forward(tf.zeros([1, 32, 32, 3]))).toThrow(/channels-last/);
    expect(() => vit.forward(tf.zeros([1, 3, 48, 48]))).toThrow(
      /image is 48×48 but this model takes 32×32 \(a 4×4 grid of 8-px patches \+ CLS = 17 positions\)/,
    );
    expect(() => vit.forward(tf.zeros([1, 3, 32, 32], "int32"))).toThrow(/float32/);
    vit.dispose();
  });

  it("state dict uses openai's names, including attn.in_proj_weight", () => {
    const vit = new VisionTransformer({ ...cfg, layers: 1 });
    expect(Object.keys(vit.stateDict()).sort()).toEqual(
      [
        "conv1.weight",
        "class_embedding",
        "positional_embedding",
        "ln_pre.weight",
        "ln_pre.bias",
        "transformer.resblocks.0.attn.in_proj_weight",
        "transformer.resblocks.0.attn.in_proj_bias",
        "transformer.resblocks.0.attn.out_proj.weight",
        "transformer.resblocks.0.attn.out_proj.bias",
        "transformer.resblocks.0.ln_1.weight",
        "transformer.resblocks.0.ln_1.bias",
        "transformer.resblocks.0.mlp.c_fc.weight",
        "transformer.resblocks.0.mlp.c_fc.bias",
        "transformer.resblocks.0.mlp.c_proj.weight",
        "transformer.resblocks.0.mlp.c_proj.bias",
        "transformer.resblocks.0.ln_2.weight",
        "transformer.resblocks.0.ln_2.bias",
        "ln_post.weight",
        "ln_post.bias",
        "proj",
      ].sort(),
    );
    const other = new VisionTransformer({ ...cfg, layers: 1, seed: 5 });
    other.loadStateDict(vit.stateDict());
    const x = randn(5, [1, 3, 32, 32]);
    expect(maxDiff(other.forward(x), vit.forward(x))).toBe(0);
    vit.dispose();
    other.dispose();
  });
});

describe("attention maps", () => {
  it("CLS → patch maps per layer and head, and the rollout, as grids", () => {
    const clip = new Clip({
      embedDim: 16,
      imageResolution: [16, 24],
      visionPatchSize: 8,
      visionWidth: 128,
      visionLayers: 2,
      contextLength: 8,
      vocabSize: 50,
      transformerWidth: 32,
      transformerLayers: 1,
    });
    const x = randn(6, [2, 3, 16, 24]);
    const before = tf.memory().numTensors;
    const maps = attentionMaps(clip, x, { image: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(maps.grid).toEqual([2, 3]);
    expect(maps.layers).toHaveLength(2);
    expect(maps.layers[0]).toHaveLength(2);
    expect(maps.layers[0]![0]).toHaveLength(3);
    expect(maps.heads[1]).toHaveLength(2); // 2 heads
    // the head mean is the mean of the heads
    expect(maps.layers[1]![1]![2]).toBeCloseTo((maps.heads[1]![0]![1]![2]! + maps.heads[1]![1]![1]![2]!) / 2, 6);
    // CLS → patches take less than all of the attention (the CLS → CLS share is left out)
    const total = maps.layers[0]!.flat().reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(1);
    expect(maps.rollout.flat().every((v) => v > 0)).toBe(true);
  });

  it("rollout of one uniform layer and of identity layers (hand-computed)", () => {
    // N = 1 + 4 tokens, uniform attention: Â = ½·(1/5) + ½·I → CLS row = [0.6, 0.1, 0.1, 0.1, 0.1]
    const uniform = tf.fill([1, 1, 5, 5], 0.2) as tf.Tensor4D;
    expect(attentionRollout([uniform], [2, 2])).toEqual(
      [
        [0.1, 0.1],
        [0.1, 0.1],
      ].map((r) => r.map((v) => expect.closeTo(v, 6))),
    );
    // two uniform layers: Â² CLS row on a patch = 0.6·0.1 + 0.1·0.6 + 3·0.1·0.1 = 0.15
    expect(attentionRollout([uniform, uniform], [2, 2])[1]![1]).toBeCloseTo(0.15, 6);
    expect(clsAttention(uniform, [2, 2])).toEqual(
      [
        [0.2, 0.2],
        [0.2, 0.2],
      ].map((r) => r.map((v) => expect.closeTo(v, 6))),
    );
  });
});
