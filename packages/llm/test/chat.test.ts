import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "@vlab/core";
import {
  applyChatTemplate,
  buildChatTokenizer,
  buildLabels,
  IGNORE_INDEX,
  QWEN2_VL_TEMPLATE,
  type ChatMessage,
} from "../src/index.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const X = IGNORE_INDEX;

describe("ChatML template", () => {
  it("renders the example of Qwen2-VL's chat_template exactly", () => {
    const text = applyChatTemplate(
      [{ role: "user", content: [{ type: "image" }, { type: "text", text: "Describe." }] }],
      { ...QWEN2_VL_TEMPLATE, addGenerationPrompt: true },
    );
    expect(text).toBe(
      "<|im_start|>system\nYou are a helpful " +
        "assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe.<|im_end|>\n<|i" +
        "m_start|>assistant\n",
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
      "<|im_start|>system\nbe " +
        "brief<|im_end|>\n<|im_start|>user\n<|image_pad|><|image_pad|><|image_pad|>what?<|im_end|>\n<|im_start|>assi" +
        "stant\na circle<|im_end|>\n",
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
