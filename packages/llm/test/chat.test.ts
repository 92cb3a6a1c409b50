import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "@vlab/core";
import {
  applyChatTemplate,
  buildChatTokenizer,
  buildLabels,
  embedMultimodal,
  IGNORE_INDEX,
  QWEN2_VL_TEMPLATE,
  type ChatMessage,
} from "../src/index.js";
import { maxDiff, tinyModel } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const X = IGNORE_INDEX;

describe("ChatML template", () => {
  it("renders spec §1.9's Qwen2-VL example exactly", () => {
    const text = applyChatTemplate(
      [{ role: "user", content: [{ type: "image" }, { type: "text", text: "Describe." }] }],
      { ...QWEN2_VL_TEMPLATE, addGenerationPrompt: true },
    );
    expect(text).toBe(
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe.<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("plain ChatML: no default system prompt, N placeholders per image, an explicit system message kept", () => {
    const msgs: ChatMessage[] = [
      { role: "system", content: "be brief" },
      { role: "user", content: [{ type: "image" }, { type: "text", text: "what?" }] },
      { role: "assistant", content: "a circle" },
    ];
    expect(
      applyChatTemplate(msgs, { imageTokens: 3, defaultSystemPrompt: "ignored: a system message is present" }),
    ).toBe(
      "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\n<|image_pad|><|image_pad|><|image_pad|>what?<|im_end|>\n<|im_start|>assistant\na circle<|im_end|>\n",
    );
  });
});

describe("ChatTokenizer", () => {
  const tok = buildChatTokenizer(["what shape is it?", "a red circle", "and its colour?", "red", "be brief"]);

  it("knows the special tokens and splits them out of text", () => {
    expect([tok.padId, tok.imStartId, tok.imEndId, tok.imageTokenId]).toEqual([0, 1, 2, 3]);
    expect(tok.eosId).toBe(tok.vocabSize - 1);
    expect(tok.stopIds).toEqual([tok.imEndId, tok.eosId]);
    const ids = tok.encode("<|im_start|>user\nwhat<|image_pad|><|image_pad|>red<|im_end|>\n");
    expect(ids.map((i) => tok.tokenizer.idToToken(i))).toEqual([
      "<|im_start|>",
      "user",
      "what",
      "<|image_pad|>",
      "<|image_pad|>",
      "red",
      "<|im_end|>",
    ]);
    expect(tok.assistantHeader.map((i) => tok.tokenizer.idToToken(i))).toEqual(["<|im_start|>", "assistant"]);
  });

  it("labels a worked ChatML example: only the answer and its <|im_end|> are supervised", () => {
    const ids = tok.encodeChat(
      [
        { role: "system", content: "be brief" },
        { role: "user", content: [{ type: "image" }, { type: "text", text: "what shape is it?" }] },
        { role: "assistant", content: "a red circle" },
      ],
      { imageTokens: 2 },
    );
    const tokens = ids.map((i) => tok.tokenizer.idToToken(i));
    // The word tokenizer drops the "\n"s; a BPE tokenizer would keep them (masked like their neighbours).
    expect(tokens).toEqual([
      "<|im_start|>",
      "system",
      "be",
      "brief",
      "<|im_end|>",
      "<|im_start|>",
      "user",
      "<|image_pad|>",
      "<|image_pad|>",
      "what",
      "shape",
      "is",
      "it",
      "?",
      "<|im_end|>",
      "<|im_start|>",
      "assistant",
      "a",
      "red",
      "circle",
      "<|im_end|>",
    ]);
    const id = (t: string) => tok.tokenizer.tokenToId(t)!;
    expect(tok.labels(ids)).toEqual([
      ...new Array(17).fill(X), // everything up to and including "<|im_start|>assistant"
      id("a"),
      id("red"),
      id("circle"),
      id("<|im_end|>"),
    ]);
  });
});

describe("buildLabels", () => {
  it("supervises every assistant turn, masks images, supervises a cut-off answer to the end", () => {
    // ids: 1 = im_start, 2 = im_end, 3 = image, 11 = "assistant", 9 = "user"
    const ids = [1, 9, 3, 3, 10, 2, 1, 11, 20, 21, 2, 1, 9, 12, 2, 1, 11, 22, 3, 23];
    expect(buildLabels(ids, { assistantHeader: [1, 11], endId: 2, imageTokenId: 3 })).toEqual([
      X,
      X,
      X,
      X,
      X,
      X,
      X,
      X,
      20,
      21,
      2,
      X,
      X,
      X,
      X,
      X,
      X,
      22,
      X,
      23,
    ]);
    // a header made of several tokens (BPE: "<|im_start|>", "assistant", "\n")
    expect(buildLabels([1, 11, 5, 7, 2, 5], { assistantHeader: [1, 11, 5], endId: 2 })).toEqual([X, X, X, 7, 2, X]);
  });
});

describe("multimodal input", () => {
  it("replaces the placeholders in order (row-major over the batch) by feature rows; text rows are embeddings", () => {
    const m = tinyModel({ imageTokenId: 3 });
    const ids = [
      [5, 3, 3, 6],
      [3, 7, 8, 9],
    ];
    const feats = tf.tensor2d(
      Array.from({ length: 3 * 32 }, (_, i) => i / 10),
      [3, 32],
    );
    const out = embedMultimodal(m, ids, feats);
    const plain = m.embed([
      [5, 0, 0, 6],
      [0, 7, 8, 9],
    ]);
    const row = (t: tf.Tensor, b: number, i: number) => tf.slice(t, [b, i, 0], [1, 1, 32]).reshape([1, 32]);
    const f = (k: number) => tf.slice(feats, [k, 0], [1, 32]);
    const pairs: [tf.Tensor, tf.Tensor][] = [
      [row(out, 0, 1), f(0)],
      [row(out, 0, 2), f(1)],
      [row(out, 1, 0), f(2)],
      [row(out, 0, 0), row(plain, 0, 0)],
      [row(out, 1, 3), row(plain, 1, 3)],
    ];
    for (const [a, b] of pairs) expect(maxDiff(a, b)).toBe(0);
    tf.dispose([out, plain, feats, ...pairs.flat()]);
    m.dispose();
  });

  it("refuses a placeholder count that differs from the feature rows, saying both numbers", () => {
    const m = tinyModel({ imageTokenId: 3 });
    const feats = tf.zeros([2, 32]);
    expect(() => embedMultimodal(m, [[3, 3, 5, 3]], feats)).toThrow(
      "embedMultimodal: the ids hold 3 image placeholder tokens (id 3) but the image features have 2 rows",
    );
    expect(() => embedMultimodal(m, [[5, 6]], feats)).toThrow(/hold 0 image placeholder tokens .* have 2 rows/);
    expect(() => embedMultimodal(m, [[3, 3]], tf.zeros([2, 16]))).toThrow(/must be \[N, 32\]/);
    feats.dispose();
    m.dispose();
  });

  it("accepts LLaVA's out-of-vocabulary placeholder (−200); gradients reach the image features", () => {
    const m = tinyModel({ imageTokenId: -200 });
    const feats = tf.variable(tf.randomNormal([2, 32], 0, 1, "float32", 3));
    const ids = [[5, -200, -200, 6]];
    const { grads } = tf.variableGrads(
      () => tf.sum(m.forward(null, { inputsEmbeds: m.embedMultimodal(ids, feats) })) as tf.Scalar,
      [feats],
    );
    expect(tf.tidy(() => tf.norm(grads[feats.name]!).dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([feats, grads]);
    m.dispose();
  });

  it("generate and logProbs take image features: batched equals each prompt alone", () => {
    const m = tinyModel({ imageTokenId: 3 }, 7);
    const prompts = [
      [5, 3, 3, 6],
      [7, 3, 8],
    ];
    const feats = tf.randomNormal([3, 32], 0, 1, "float32", 4);
    const both = m.generate(prompts, { maxNewTokens: 5, greedy: true, imageEmbeds: feats });
    const f0 = tf.slice(feats, [0, 0], [2, 32]);
    const f1 = tf.slice(feats, [2, 0], [1, 32]);
    expect(m.generate([prompts[0]!], { maxNewTokens: 5, greedy: true, imageEmbeds: f0 }).tokens[0]).toEqual(
      both.tokens[0],
    );
    expect(m.generate([prompts[1]!], { maxNewTokens: 5, greedy: true, imageEmbeds: f1 }).tokens[0]).toEqual(
      both.tokens[1],
    );
    const lp = m.logProbs(prompts, both.tokens, { imageEmbeds: feats });
    const lp1 = m.logProbs([prompts[1]!], [both.tokens[1]!], { imageEmbeds: f1 });
    expect(maxDiff(tf.slice(lp.logProbs, [1, 0], [1, -1]), lp1.logProbs)).toBeLessThan(1e-4);
    // without the features the answer differs (else this test proves nothing about them)
    const noImage = m.generate([[5, 9, 9, 6]], { maxNewTokens: 5, greedy: true });
    expect(noImage.tokens[0]).not.toEqual(both.tokens[0]);
    tf.dispose([feats, f0, f1, lp.logProbs, lp.mask, lp1.logProbs, lp1.mask]);
    m.dispose();
  });
});
