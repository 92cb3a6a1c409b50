/**
 * Qwen2-VL end to end at a tiny size: processor → vision tower → tokens spliced into the LM → M-RoPE. Generation
 * with the KV cache against uncached decoding, batches against rows alone, log-probs against forward, names.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "@vlab/core";
import { expandVisionPads, qwen2VlProcess, Qwen2VL, type Qwen2VlVision } from "../src/index.js";
import { naive, striped, tinyText } from "./qwen2_vl_helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const [VS, VE, PAD] = [61, 62, 63];
const text = { ...tinyText, imageTokenId: PAD };
const tiny = (variant: "qwen2-vl" | "qwen2.5-vl" = "qwen2-vl") =>
  new Qwen2VL({
    text,
    vision: { variant, depth: 2, embedDim: 16, numHeads: 2, windowSize: 56 },
    visionStartTokenId: VS,
  });

describe("Qwen2VL", () => {
  it("names its parameters as Hugging Face's Qwen2VLForConditionalGeneration", () => {
    const m = tiny();
    const names = m.namedParameters().map(([n]) => n);
    for (const n of [
      "visual.patch_embed.proj.weight",
      "visual.blocks.1.attn.qkv.weight",
      "visual.merger.mlp.2.weight",
      "model.embed_tokens.weight",
      "model.layers.1.self_attn.q_proj.bias",
      "model.norm.weight",
      "lm_head.weight",
    ])
      expect(names).toContain(n);
    expect(names.every((n) => /^(visual|model|lm_head)\./.test(n))).toBe(true);
    m.dispose();
  });

  for (const variant of ["qwen2-vl", "qwen2.5-vl"] as const) {
    it(`${variant}: own image sizes; cached = uncached generation; batched, left-padded = alone`, async () => {
      const m = tiny(variant);
      const a = await qwen2VlProcess([striped(56, 112, 1)]); // grid (1, 8, 4): 8 tokens
      const b = await qwen2VlProcess([striped(84, 56, 2)]); // grid (1, 4, 6): 6 tokens
      expect([...a.gridThw, ...b.gridThw]).toEqual([
        [1, 8, 4],
        [1, 4, 6],
      ]);
      const pa = expandVisionPads([5, VS, PAD, VE, 9, 10], a.gridThw, PAD);
      const pb = expandVisionPads([VS, PAD, VE, 7], b.gridThw, PAD);
      const alone = [naive(m, pa, a, 5), naive(m, pb, b, 5)];
      const both: Qwen2VlVision = {
        pixelValues: Float32Array.from([...a.pixelValues, ...b.pixelValues]),
        gridThw: [...a.gridThw, ...b.gridThw],
      };
      const opts = { maxNewTokens: 5, greedy: true, stopIds: [] };
      expect(m.generate([pa, pb], both, opts).tokens).toEqual(alone);
      expect(m.generate([pa, pb], both, { ...opts, fastDecode: false }).tokens).toEqual(alone);
      // numReturnSequences 2: each prompt and image once (M-RoPE positions continue per prompt), the samples of the
      // rows and images repeated
      const twice: Qwen2VlVision = {
        pixelValues: Float32Array.from([...a.pixelValues, ...a.pixelValues, ...b.pixelValues, ...b.pixelValues]),
        gridThw: [...a.gridThw, ...a.gridThw, ...b.gridThw, ...b.gridThw],
      };
      const sampled = { maxNewTokens: 5, seed: 4, stopIds: [] };
      const want = m.generate([pa, pa, pb, pb], twice, sampled).tokens;
      expect(m.generate([pa, pb], both, { ...sampled, numReturnSequences: 2 }).tokens).toEqual(want);
      m.dispose();
    });
  }

  it("logProbs of generated tokens equal forward's; no tensors leak", async () => {
    const m = tiny();
    const v = await qwen2VlProcess([striped(56, 56, 3)]);
    const prompt = expandVisionPads([4, VS, PAD, VE, 8], v.gridThw, PAD);
    const { tokens } = m.generate([prompt], v, { maxNewTokens: 4, seed: 1 });
    const before = tf.memory().numTensors;
    const r = m.logProbs([prompt], tokens, v);
    const got = r.logProbs.arraySync()[0]!;
    tf.dispose([r.logProbs, r.mask]);
    const logits = m.forward([[...prompt, ...tokens[0]!]], v);
    const ref = tf.tidy(() => tf.logSoftmax(tf.reshape(logits, [prompt.length + 4, -1])).arraySync() as number[][]);
    logits.dispose();
    tokens[0]!.forEach((t, i) => expect(got[i]).toBeCloseTo(ref[prompt.length - 1 + i]![t]!, 4));
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it("snapshot and restore: a copy of every weight, loaded back after the weights change", () => {
    const m = tiny("qwen2.5-vl");
    const snap = m.snapshot();
    expect(Object.keys(snap).sort()).toEqual(Object.keys(m.stateDict()).sort());
    const [name, v] = m.namedParameters().find(([k]) => k.startsWith("visual."))!;
    const before = v.dataSync().slice();
    tf.tidy(() => v.assign(tf.add(v, 1)));
    expect(snap[name]!.dataSync()).toEqual(before); // a copy, not the variable
    m.restore(snap);
    expect(v.dataSync()).toEqual(before);
    tf.dispose(Object.values(snap));
    m.dispose();
  });

  it("says when the pads and the images do not match", async () => {
    const m = tiny();
    const v = await qwen2VlProcess([striped(56, 56, 3)]);
    expect(() => m.forward([[VS, PAD, VE]], v)).toThrow(/1 image placeholder token .* 4 rows/);
    expect(() => new Qwen2VL({ text: { ...text, mropeSection: undefined } })).toThrow(/mropeSection/);
    const bad = { pixelValues: new Float32Array(1000), gridThw: [[1, 2, 2]] };
    expect(() => m.forward([[VS, PAD, VE]], bad)).toThrow(/1000 values, not rows of C·T·P·P = 1176/);
    m.dispose();
  });
});
