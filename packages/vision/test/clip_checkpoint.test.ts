// Real-checkpoint loading, checked without real weights: a tiny random CLIP is written in openai's
// and in Hugging Face's layout (the HF names and transposes are written out here, independently of
// the loader), reloaded from safetensors, and checked against a plain-loop reference forward pass.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, loadSafetensors, Rng, saveSafetensors, tf } from "@vlab/core";
import {
  Clip,
  CLIP_NAME_MAP,
  detectClipLayout,
  inferClipConfig,
  loadClipSafetensors,
  loadClipStateDict,
  type ClipConfig,
} from "../src/index.js";

const CFG: ClipConfig = {
  embedDim: 32,
  imageResolution: 32,
  visionPatchSize: 8,
  visionWidth: 128, // 2 heads (width / 64)
  visionLayers: 2,
  contextLength: 16,
  vocabSize: 100,
  transformerWidth: 64, // 1 head
  transformerLayers: 2,
};

let dir: string;
let clip: Clip;
let sd: Record<string, tf.Tensor>; // openai layout, randomised values (LayerNorms too)
let pixels: tf.Tensor4D;
let ids: tf.Tensor2D;

beforeAll(async () => {
  await initBackend("wasm");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-clip-"));
  clip = new Clip({ ...CFG, seed: 1 });
  // Randomise everything (LayerNorm gains/biases too), so that swapped tensors cannot go unnoticed.
  const rng = new Rng(7);
  for (const [name, v] of Object.entries(clip.stateDict())) {
    const noise = rng.normalArray(v.size, name.includes("ln_") && name.endsWith("weight") ? 0.2 : 0.1);
    if (name.includes("ln_") && name.endsWith("weight")) noise.forEach((x, i) => (noise[i] = 1 + x));
    if (name === "logit_scale") noise[0] = 4.2;
    (v as tf.Variable).assign(tf.tensor(noise, v.shape));
  }
  sd = clip.stateDict();
  pixels = tf.tensor4d(new Rng(3).normalArray(2 * 3 * 32 * 32), [2, 3, 32, 32]);
  ids = tf.tensor2d(
    [
      [98, 5, 17, 42, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [98, 61, 3, 3, 8, 11, 70, 2, 99, 99, 99, 99, 99, 99, 99, 99], // padded with EOT: the first one counts
    ],
    undefined,
    "int32",
  );
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

// -------------------------------------------------------------------------------------------
// An independent reference: plain loops in float64 over the openai-layout arrays.

type Arr = { shape: number[]; d: Float32Array };
const arrays = (tensors: Record<string, tf.Tensor>) =>
  Object.fromEntries(
    Object.entries(tensors).map(([k, t]) => [k, { shape: t.shape, d: t.dataSync() as Float32Array }]),
  ) as Record<string, Arr>;

function layerNorm(x: number[], w: Arr, b: Arr): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const vr = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(vr + 1e-5)) * w.d[i]! + b.d[i]!);
}
/** y = W x + b with W [out, in] (PyTorch Linear). */
function linear(x: number[], W: Arr, b?: Arr): number[] {
  const [out, inn] = W.shape as [number, number];
  return Array.from({ length: out }, (_, o) => {
    let s = b ? b.d[o]! : 0;
    for (let i = 0; i < inn; i++) s += W.d[o * inn + i]! * x[i]!;
    return s;
  });
}
/** y = x P with P [in, out] (CLIP's proj / text_projection). */
function project(x: number[], P: Arr): number[] {
  const [, out] = P.shape as [number, number];
  return Array.from({ length: out }, (_, o) => x.reduce((s, v, i) => s + v * P.d[i * out + o]!, 0));
}
function block(X: number[][], S: Record<string, Arr>, pre: string, heads: number, causal: boolean): number[][] {
  const w = X[0]!.length;
  const hd = w / heads;
  const T = X.length;
  const h1 = X.map((x) => layerNorm(x, S[`${pre}.ln_1.weight`]!, S[`${pre}.ln_1.bias`]!));
  const qkv = h1.map((x) => linear(x, S[`${pre}.attn.in_proj_weight`]!, S[`${pre}.attn.in_proj_bias`]!));
  const att = X.map((_, i) => {
    const o = new Array<number>(w).fill(0);
    for (let h = 0; h < heads; h++) {
      const keys = causal ? i + 1 : T;
      const s = Array.from({ length: keys }, (_, j) => {
        let dot = 0;
        for (let c = 0; c < hd; c++) dot += qkv[i]![h * hd + c]! * qkv[j]![w + h * hd + c]!;
        return dot / Math.sqrt(hd);
      });
      const mx = Math.max(...s);
      const e = s.map((v) => Math.exp(v - mx));
      const z = e.reduce((a, v) => a + v, 0);
      for (let j = 0; j < keys; j++)
        for (let c = 0; c < hd; c++) o[h * hd + c]! += (e[j]! / z) * qkv[j]![2 * w + h * hd + c]!;
    }
    return linear(o, S[`${pre}.attn.out_proj.weight`]!, S[`${pre}.attn.out_proj.bias`]!);
  });
  const Y = X.map((x, i) => x.map((v, c) => v + att[i]![c]!));
  return Y.map((y) => {
    const hid = linear(
      layerNorm(y, S[`${pre}.ln_2.weight`]!, S[`${pre}.ln_2.bias`]!),
      S[`${pre}.mlp.c_fc.weight`]!,
      S[`${pre}.mlp.c_fc.bias`]!,
    );
    const act = hid.map((v) => v / (1 + Math.exp(-1.702 * v))); // QuickGELU
    const m = linear(act, S[`${pre}.mlp.c_proj.weight`]!, S[`${pre}.mlp.c_proj.bias`]!);
    return y.map((v, c) => v + m[c]!);
  });
}
function refEncodeImage(S: Record<string, Arr>, img: Float32Array, H: number, W: number): number[] {
  const conv = S["visual.conv1.weight"]!;
  const [w, , p] = conv.shape as [number, number, number, number];
  const gh = H / p,
    gw = W / p;
  const X: number[][] = [Array.from(S["visual.class_embedding"]!.d)];
  for (let gy = 0; gy < gh; gy++)
    for (let gx = 0; gx < gw; gx++)
      X.push(
        Array.from({ length: w }, (_, o) => {
          let s = 0;
          for (let c = 0; c < 3; c++)
            for (let i = 0; i < p; i++)
              for (let j = 0; j < p; j++)
                s += conv.d[((o * 3 + c) * p + i) * p + j]! * img[(c * H + gy * p + i) * W + gx * p + j]!;
          return s;
        }),
      );
  const pos = S["visual.positional_embedding"]!;
  let Z = X.map((x, t) =>
    layerNorm(
      x.map((v, c) => v + pos.d[t * w + c]!),
      S["visual.ln_pre.weight"]!,
      S["visual.ln_pre.bias"]!,
    ),
  );
  for (let l = 0; l < 2; l++) Z = block(Z, S, `visual.transformer.resblocks.${l}`, w / 64, false);
  return project(layerNorm(Z[0]!, S["visual.ln_post.weight"]!, S["visual.ln_post.bias"]!), S["visual.proj"]!);
}
function refEncodeText(S: Record<string, Arr>, row: number[]): number[] {
  const tok = S["token_embedding.weight"]!;
  const pos = S["positional_embedding"]!;
  const w = tok.shape[1]!;
  let Z = row.map((id, t) => Array.from({ length: w }, (_, c) => tok.d[id * w + c]! + pos.d[t * w + c]!));
  for (let l = 0; l < 2; l++) Z = block(Z, S, `transformer.resblocks.${l}`, w / 64, true);
  const eot = row.indexOf(Math.max(...row));
  return project(layerNorm(Z[eot]!, S["ln_final.weight"]!, S["ln_final.bias"]!), S["text_projection"]!);
}

function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...Array.from(expected, Math.abs));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / scale);
  expect(worst).toBeLessThanOrEqual(rel);
}

// -------------------------------------------------------------------------------------------
// Hugging Face CLIPModel layout, written out by hand from transformers' conversion script.

function toHuggingFace(S: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  const tower = (openaiPrefix: string, hf: string, layers: number, width: number) => {
    for (let i = 0; i < layers; i++) {
      const o = `${openaiPrefix}transformer.resblocks.${i}.`;
      const h = `${hf}.encoder.layers.${i}.`;
      const [qw, kw, vw] = tf.split(S[`${o}attn.in_proj_weight`]!, 3, 0);
      const [qb, kb, vb] = tf.split(S[`${o}attn.in_proj_bias`]!, 3, 0);
      Object.assign(out, {
        [`${h}self_attn.q_proj.weight`]: qw,
        [`${h}self_attn.k_proj.weight`]: kw,
        [`${h}self_attn.v_proj.weight`]: vw,
        [`${h}self_attn.q_proj.bias`]: qb,
        [`${h}self_attn.k_proj.bias`]: kb,
        [`${h}self_attn.v_proj.bias`]: vb,
        [`${h}self_attn.out_proj.weight`]: S[`${o}attn.out_proj.weight`],
        [`${h}self_attn.out_proj.bias`]: S[`${o}attn.out_proj.bias`],
        [`${h}layer_norm1.weight`]: S[`${o}ln_1.weight`],
        [`${h}layer_norm1.bias`]: S[`${o}ln_1.bias`],
        [`${h}layer_norm2.weight`]: S[`${o}ln_2.weight`],
        [`${h}layer_norm2.bias`]: S[`${o}ln_2.bias`],
        [`${h}mlp.fc1.weight`]: S[`${o}mlp.c_fc.weight`],
        [`${h}mlp.fc1.bias`]: S[`${o}mlp.c_fc.bias`],
        [`${h}mlp.fc2.weight`]: S[`${o}mlp.c_proj.weight`],
        [`${h}mlp.fc2.bias`]: S[`${o}mlp.c_proj.bias`],
      });
      expect(qw!.shape).toEqual([width, width]);
    }
  };
  tower("visual.", "vision_model", 2, 128);
  tower("", "text_model", 2, 64);
  Object.assign(out, {
    "vision_model.embeddings.patch_embedding.weight": S["visual.conv1.weight"],
    "vision_model.embeddings.class_embedding": S["visual.class_embedding"],
    "vision_model.embeddings.position_embedding.weight": S["visual.positional_embedding"],
    "vision_model.embeddings.position_ids": tf.range(0, 17, 1, "int32").reshape([1, 17]),
    "vision_model.pre_layrnorm.weight": S["visual.ln_pre.weight"],
    "vision_model.pre_layrnorm.bias": S["visual.ln_pre.bias"],
    "vision_model.post_layernorm.weight": S["visual.ln_post.weight"],
    "vision_model.post_layernorm.bias": S["visual.ln_post.bias"],
    "visual_projection.weight": tf.transpose(S["visual.proj"]!),
    "text_model.embeddings.token_embedding.weight": S["token_embedding.weight"],
    "text_model.embeddings.position_embedding.weight": S["positional_embedding"],
    "text_model.embeddings.position_ids": tf.range(0, 16, 1, "int32").reshape([1, 16]),
    "text_model.final_layer_norm.weight": S["ln_final.weight"],
    "text_model.final_layer_norm.bias": S["ln_final.bias"],
    "text_projection.weight": tf.transpose(S["text_projection"]!),
    logit_scale: S["logit_scale"],
  });
  return out;
}

describe("CLIP checkpoints", () => {
  it("stateDict() holds exactly openai/CLIP's keys for a ViT CLIP", () => {
    const keys = Object.keys(sd);
    expect(keys).toHaveLength(32 + 29 + 1); // visual 5 + 12·2 + 3, text 2 + 12·2 + 3, logit_scale
    for (const k of [
      "visual.conv1.weight",
      "visual.class_embedding",
      "visual.positional_embedding",
      "visual.ln_pre.bias",
      "visual.proj",
      "visual.transformer.resblocks.1.attn.in_proj_weight",
      "token_embedding.weight",
      "positional_embedding",
      "ln_final.weight",
      "text_projection",
      "transformer.resblocks.0.attn.in_proj_bias",
      "transformer.resblocks.1.mlp.c_proj.weight",
      "logit_scale",
    ]) {
      expect(keys).toContain(k);
    }
    expect(sd["visual.proj"]!.shape).toEqual([128, 32]);
    expect(sd["text_projection"]!.shape).toEqual([64, 32]);
    expect(sd["visual.transformer.resblocks.0.attn.in_proj_weight"]!.shape).toEqual([384, 128]);
    expect(CLIP_NAME_MAP.toOpenai("text.transformer.resblocks.3.attn.in_proj.weight")).toBe(
      "transformer.resblocks.3.attn.in_proj_weight",
    );
    expect(CLIP_NAME_MAP.fromOpenai("ln_final.bias")).toBe("text.ln_final.bias");
    expect(CLIP_NAME_MAP.fromOpenai("visual.transformer.resblocks.0.attn.in_proj_bias")).toBe(
      "visual.transformer.resblocks.0.attn.in_proj.bias",
    );
  });

  it("encodeImage / encodeText match an independent plain-loop implementation (1e-4 relative)", () => {
    const S = arrays(sd);
    const img = clip.encodeImage(pixels).arraySync();
    const txt = clip.encodeText(ids).arraySync();
    const px = pixels.dataSync() as Float32Array;
    for (let b = 0; b < 2; b++) {
      expectRelClose(img[b]!, refEncodeImage(S, px.subarray(b * 3072, (b + 1) * 3072), 32, 32), 1e-4);
      expectRelClose(txt[b]!, refEncodeText(S, (ids.arraySync() as number[][])[b]!), 1e-4);
    }
    // and forward: exp(logit_scale) · cosine similarities
    const { logitsPerImage, logitsPerText } = clip.forward(pixels, ids);
    const cos = (a: number[], b: number[]) =>
      a.reduce((s, v, i) => s + v * b[i]!, 0) / Math.hypot(...a) / Math.hypot(...b);
    expect(logitsPerImage.arraySync()[0]![1]).toBeCloseTo(Math.exp(4.2) * cos(img[0]!, txt[1]!), 3);
    expect(logitsPerText.arraySync()[1]![0]).toBeCloseTo(logitsPerImage.arraySync()[0]![1]!, 5);
  });

  it("openai layout: save → load through safetensors, config inferred from shapes", () => {
    const file = path.join(dir, "openai.safetensors");
    saveSafetensors(file, {
      ...sd,
      input_resolution: tf.scalar(32, "int32"),
      context_length: tf.scalar(16, "int32"),
      vocab_size: tf.scalar(100, "int32"),
    });
    const before = tf.memory().numTensors;
    const loaded = loadClipSafetensors(file);
    expect(loaded.layout).toBe("openai");
    expect(loaded.ignoredKeys.sort()).toEqual(["context_length", "input_resolution", "vocab_size"]);
    expect(loaded.config).toMatchObject({ ...CFG, visionHeads: 2, transformerHeads: 1, activation: "quick_gelu" });
    const c2 = loaded.clip;
    expect(tf.memory().numTensors - before).toBe(c2.parameters().length); // only the model's variables remain
    expectRelClose(c2.encodeImage(pixels).dataSync(), clip.encodeImage(pixels).dataSync(), 1e-5);
    expectRelClose(c2.encodeText(ids).dataSync(), clip.encodeText(ids).dataSync(), 1e-5);
    expect(c2.logit_scale.dataSync()[0]).toBeCloseTo(4.2, 6);
    c2.dispose();
  });

  it(
    "Hugging Face CLIPModel layout: q/k/v fused, projections " + "transposed, pre_layrnorm (sic), position_ids ignored",
    () => {
      const file = path.join(dir, "hf.safetensors");
      saveSafetensors(
        file,
        tf.tidy(() => toHuggingFace(sd)),
      );
      const tensors = loadSafetensors(file);
      expect(detectClipLayout(Object.keys(tensors))).toBe("huggingface");
      const loaded = loadClipStateDict(tensors);
      tf.dispose(tensors);
      expect(loaded.layout).toBe("huggingface");
      expect(loaded.ignoredKeys.sort()).toEqual([
        "text_model.embeddings.position_ids",
        "vision_model.embeddings.position_ids",
      ]);
      const c3 = loaded.clip;
      expectRelClose(c3.encodeImage(pixels).dataSync(), clip.encodeImage(pixels).dataSync(), 1e-5);
      expectRelClose(c3.encodeText(ids).dataSync(), clip.encodeText(ids).dataSync(), 1e-5);
      c3.dispose();
      const c4 = loadClipSafetensors(file).clip;
      expect(c4.config.visionWidth).toBe(128);
      c4.dispose();
    },
  );

  it("refuses a missing or misshapen tensor with its name and both shapes; lists unexpected keys", () => {
    const without = { ...sd };
    delete without["visual.ln_post.bias"];
    expect(() => loadClipStateDict(without).clip).toThrow(
      'missing tensor "visual.ln_post.bias" (expected shape [128])',
    );
    const bad = { ...sd, "transformer.resblocks.1.mlp.c_fc.weight": tf.zeros([255, 64]) };
    expect(() => loadClipStateDict(bad).clip).toThrow(
      'tensor "transformer.resblocks.1.mlp.c_fc.weight" has shape [255, 64], expected [256, 64]',
    );
    const extra = { ...sd, "visual.something_new": tf.zeros([2]), foo: tf.zeros([1]) };
    expect(() => loadClipStateDict(extra).clip).toThrow(/unexpected keys: visual.something_new, foo/);
    const lenient = loadClipStateDict(extra, { strict: false });
    expect(lenient.unexpectedKeys).toEqual(["visual.something_new", "foo"]);
    lenient.clip.dispose();
    const noConv = { ...sd };
    delete noConv["visual.conv1.weight"];
    expect(() => loadClipStateDict(noConv).clip).toThrow(
      /missing tensor "visual.conv1.weight" \(needed to infer the vision width and patch size\)/,
    );
    // Hugging Face names in the messages
    const hf = tf.tidy(() => toHuggingFace(sd));
    const hfMissing = { ...hf };
    delete hfMissing["vision_model.encoder.layers.1.self_attn.k_proj.bias"];
    expect(() => loadClipStateDict(hfMissing).clip).toThrow(
      /missing tensor "vision_model.encoder.layers.1.self_attn.k_proj.bias"/,
    );
    const hfBad = { ...hf, "visual_projection.weight": tf.zeros([32, 127]) };
    expect(() => loadClipStateDict(hfBad).clip).toThrow(
      'tensor "visual.proj" (from visual_projection.weight (transposed)) has shape [127, 32], expected [128, 32]',
    );
    const hfNoLn = { ...hf };
    delete hfNoLn["vision_model.post_layernorm.weight"];
    expect(() => loadClipStateDict(hfNoLn).clip).toThrow(
      /missing tensor "visual.ln_post.weight" \(Hugging Face: vision_model.post_layernorm.weight\) \(expected shape \[128\]\)/,
    );
    expect(() => loadClipStateDict({ "visual.attnpool.c_proj.weight": tf.zeros([1]) }).clip).toThrow(/ResNet CLIP/);
    expect(() => loadClipStateDict({ "model.embed_tokens.weight": tf.zeros([1]) }).clip).toThrow(
      /found neither openai\/CLIP keys/,
    );
  });

  it("infers ViT-B/32's configuration from shapes alone", () => {
    // Shape-only stand-ins (1-element tensors reshaped would not do: use tiny fake tensors of the right rank and
    // shape).
    const shapes: Record<string, number[]> = {
      "visual.conv1.weight": [768, 3, 32, 32],
      "visual.positional_embedding": [50, 768],
      text_projection: [512, 512],
      positional_embedding: [77, 512],
      "token_embedding.weight": [49408, 512],
      "ln_final.weight": [512],
    };
    const fake: Record<string, tf.Tensor> = {};
    for (const [k, s] of Object.entries(shapes)) fake[k] = { shape: s, rank: s.length } as unknown as tf.Tensor;
    for (let i = 0; i < 12; i++) {
      fake[`visual.transformer.resblocks.${i}.attn.in_proj_weight`] = {
        shape: [2304, 768],
        rank: 2,
      } as unknown as tf.Tensor;
      fake[`transformer.resblocks.${i}.attn.in_proj_weight`] = { shape: [1536, 512], rank: 2 } as unknown as tf.Tensor;
    }
    expect(inferClipConfig(fake)).toMatchObject({
      embedDim: 512,
      imageResolution: 224,
      visionPatchSize: 32,
      visionWidth: 768,
      visionLayers: 12,
      visionHeads: 12,
      contextLength: 77,
      vocabSize: 49408,
      transformerWidth: 512,
      transformerLayers: 12,
      transformerHeads: 8,
    });
  });

  it("errors for text: too long, not integers, outside the vocabulary", () => {
    expect(() => clip.encodeText(tf.zeros([1, 17], "int32"))).toThrow(
      /ids have 17 tokens per row but the context length is 16/,
    );
    expect(() => clip.encodeText(tf.zeros([1, 4]))).toThrow(/ids must be int32 token ids, got a float32 tensor/);
    expect(() => clip.encodeText([[1, 2.5]])).toThrow(/ids must be integers, got 2.5 at \[0, 1\]/);
    expect(() => clip.encodeText([[1, 100]])).toThrow(/token id 100 at \[0, 1\] is outside the vocabulary 0..99/);
    expect(() => clip.encodeText(tf.zeros([4], "int32"))).toThrow(/ids must be 2-D \[B, T\]/);
    expect(() => clip.encodeImage(tf.zeros([1, 1, 32, 32]))).toThrow(/encodeImage: pixels must have 3 colour channels/);
  });
});
