import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, setSeed } from "@vlab/core";
import { buildChatTokenizer } from "@vlab/llm";
import { tinyClip, tinyLm, tinyVlm } from "../src/index.js";
import { maxDiff } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const tok = buildChatTokenizer(["a red circle", "a blue square"]);

describe("tinyVlm", () => {
  it(
    "builds the notebooks' CLIP, LM and LLaVA: 16 image tokens of width 64 for 32-px images, the LM's ids from the " +
      "tokenizer",
    () => {
      const { clip, lm, llava } = tinyVlm({
        imageSize: 32,
        patchSize: 8,
        clipVocabSize: 40,
        tokenizer: tok,
        lmWidth: 48,
        seed: 3,
      });
      expect(llava.vision_tower).toBe(clip.visual);
      expect(llava.language_model).toBe(lm);
      expect(llava.imageTokens).toBe(16);
      expect(clip.visual.config.width).toBe(64);
      expect(clip.config.contextLength).toBe(24);
      expect(lm.config).toMatchObject({
        vocabSize: tok.vocabSize,
        hiddenSize: 48,
        intermediateSize: 192,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        tieWordEmbeddings: true,
        padTokenId: tok.padId,
        eosTokenId: [tok.eosId],
        imageTokenId: tok.imageTokenId,
      });
      expect(llava.multi_modal_projector.type).toBe("mlp2x_gelu");
      llava.dispose();
      clip.dispose();
    },
  );

  it("is the same model as its parts built one by one, from the same seeds", () => {
    setSeed(5);
    const whole = tinyVlm({ imageSize: 16, patchSize: 8, clipVocabSize: 30, tokenizer: tok, lmWidth: 32, seed: 9 });
    setSeed(5);
    const clip = tinyClip({ imageSize: 16, patchSize: 8, vocabSize: 30 });
    const lm = tinyLm(tok, 32);
    expect(maxDiff(whole.lm.model.embed_tokens.weight, lm.model.embed_tokens.weight)).toBe(0);
    expect(maxDiff(whole.clip.visual.conv1.weight, clip.visual.conv1.weight)).toBe(0);
    whole.llava.dispose();
    whole.clip.dispose();
    clip.dispose();
    lm.dispose();
  });
});

describe("tinyQwen2Vl", () => {
  it("builds the Qwen2-VL-style model on the chat tokenizer: M-RoPE section of its heads, tokens by grid", async () => {
    const { expandVisionPads, qwen2VlProcess, tinyQwen2Vl } = await import("../src/index.js");
    setSeed(1);
    for (const [lmWidth, section] of [
      [64, [2, 3, 3]],
      [96, [4, 4, 4]],
    ] as const) {
      const m = tinyQwen2Vl({ tokenizer: tok, lmWidth, seed: 2 });
      expect(m.config.text.mropeSection).toEqual(section);
      expect(m.imageTokenId).toBe(tok.imageTokenId);
      expect(m.visionStartTokenId).toBe(tok.tokenizer.tokenToId("<|vision_start|>"));
      const image = { width: 28, height: 56, data: new Uint8Array(28 * 56 * 3).fill(90) };
      const v = await qwen2VlProcess([image], { resize: { minPixels: 28 * 28 } });
      expect(v.gridThw).toEqual([[1, 4, 2]]); // 56 × 28 px at its own size: 2 tokens
      const chat = tok.encode("<|vision_start|><|image_pad|><|vision_end|>a");
      const ids = expandVisionPads(chat, v.gridThw, tok.imageTokenId);
      const out = m.generate([ids], v, { maxNewTokens: 3, greedy: true, stopIds: [] });
      expect(out.tokens[0]).toHaveLength(3);
      m.dispose();
    }
  });
});
