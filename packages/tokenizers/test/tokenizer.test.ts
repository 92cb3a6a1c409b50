import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { initBackend, tf } from "@vlab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EOT_TOKEN,
  SOT_TOKEN,
  buildWordTokenizer,
  loadTokenizer,
  saveTokenizer,
  tokenize,
  tokenizeIds,
  type TextTokenizer,
} from "../src/tokenizer.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-data-tok-"));
let corpus: string[];
let tok: TextTokenizer;

/** Captions and questions in the style of shapes world (@vlab/data builds the same kind from its scenes). */
function shapesCorpus(): string[] {
  const colours = ["red", "green", "blue", "yellow", "purple", "orange"];
  const shapes = ["circle", "square", "triangle", "star", "hexagon", "diamond"];
  const out: string[] = [];
  colours.forEach((c, i) =>
    shapes.forEach((s, j) => {
      const c2 = colours[(i + j + 1) % colours.length] ?? "red";
      const s2 = shapes[(i + 2 * j + 1) % shapes.length] ?? "circle";
      out.push(
        `a photo of a ${j % 2 ? "small" : "large"} ${c} ${s}`,
        `a ${c} ${s} left of a ${c2} ${s2}`,
        `two shapes: a ${c} ${s} and a ${c2} ${s2}`,
        `how many shapes are there? ${(i + j) % 4}`,
        `what color is the large one ? ${c}`,
        `is there an ${c} ${s} ? ${(i + j) % 2 ? "yes" : "no"}`,
      );
    }),
  );
  return out;
}

beforeAll(async () => {
  await initBackend("cpu");
  corpus = shapesCorpus();
  tok = buildWordTokenizer(corpus);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("word tokenizer", () => {
  it("puts padding at 0 and <|endoftext|> at the largest id", () => {
    expect(tok.tokenToId("<pad>")).toBe(0);
    expect(tok.tokenToId(SOT_TOKEN)).toBe(1);
    expect(tok.tokenToId("<unk>")).toBe(2);
    expect(tok.eotId).toBe(tok.vocabSize - 1);
    expect(tok.tokenToId(EOT_TOKEN)).toBe(tok.vocabSize - 1);
    expect(tok.eotIsLargest).toBe(true);
    expect(tok.tokenToId("a")).toBe(3); // the most frequent word
    for (const w of ["red", "circle", "left", "of", "photo", "how", "many", "?", ":"])
      expect(tok.tokenToId(w), w).toBeDefined();
  });

  it("lowercases and splits off punctuation", () => {
    expect(tok.tokens("A Photo of an ORANGE star, left-of?")).toEqual([
      "a",
      "photo",
      "of",
      "an",
      "orange",
      "star",
      ",",
      "left",
      "-",
      "of",
      "?",
    ]);
    expect(tok.encode("a zebra")).toEqual([tok.tokenToId("a"), 2]);
  });

  it("keeps added tokens whole, after the specials, and decode keeps them (specials it drops)", () => {
    const r1 = buildWordTokenizer(["<think> there are 3 shapes. </think> <answer> 3 </answer>"], {
      addedTokens: ["<think>", "</think>", "<answer>", "</answer>"],
    });
    // specials 0..2, EOT last
    expect(["<think>", "</think>", "<answer>", "</answer>"].map((t) => r1.tokenToId(t))).toEqual([3, 4, 5, 6]);
    const ids = r1.encode("<think>3 shapes</think><answer> 3 </answer><|endoftext|>");
    expect(ids.map((i) => r1.idToToken(i))).toEqual([
      "<think>",
      "3",
      "shapes",
      "</think>",
      "<answer>",
      "3",
      "</answer>",
      EOT_TOKEN,
    ]);
    expect(r1.decode(ids)).toBe("<think> 3 shapes </think> <answer> 3 </answer>");
    expect(() => buildWordTokenizer([], { addedTokens: ["<pad>"] })).toThrow(/duplicate special or added tokens/);
  });

  it("round trips the corpus", () => {
    for (const text of corpus.slice(0, 200)) {
      const ids = tok.encode(text);
      expect(ids).not.toContain(2);
      expect(tok.encode(tok.decode(ids))).toEqual(ids);
    }
    expect(tok.decode(tok.encode("a photo of a large red circle"))).toBe("a photo of a large red circle");
  });

  it("is deterministic", () => {
    expect(buildWordTokenizer(corpus).json).toEqual(tok.json);
    expect(() => buildWordTokenizer(corpus, { specials: ["<pad>", "<unk>"] })).toThrow(
      /the eot token "<\|endoftext\|>" must be one of the specials/,
    );
  });
});

describe("tokenize (CLIP)", () => {
  it("is [SOT] + ids + [EOT], zero padded, int32", () => {
    const t = tokenize(tok, ["a red circle", "two shapes: a blue square and a red circle"], { contextLength: 16 });
    expect(t.shape).toEqual([2, 16]);
    expect(t.dtype).toBe("int32");
    const rows = t.arraySync();
    const ids = tok.encode("a red circle");
    expect(rows[0]).toEqual([1, ...ids, tok.eotId, ...Array(16 - ids.length - 2).fill(0)]);
    t.dispose();
  });

  it("argmax pooling finds EOT in every row", async () => {
    const texts = [
      "a red circle",
      "a photo of three shapes",
      "is there an orange star ?",
      "what color is the large one ?",
    ];
    const t = tokenize(tok, texts, { contextLength: 12 });
    const pos = tf.argMax(t, -1);
    const want = texts.map((s) => tok.encode(s).length + 1);
    expect(Array.from(await pos.data())).toEqual(want);
    tf.dispose([t, pos]);
  });

  it("throws for a text too long, naming it; truncate cuts and ends with EOT", () => {
    const long = "a red circle left of a blue square";
    const n = tok.encode(long).length + 2;
    expect(() => tokenizeIds(tok, [long], { contextLength: 6 })).toThrow(
      `tokenize: input "${long}" is ${n} tokens long with start and end tokens, too long for context length 6`,
    );
    const cut = tokenizeIds(tok, [long], { contextLength: 6, truncate: true });
    expect(Array.from(cut)).toEqual([1, ...tok.encode(long).slice(0, 4), tok.eotId]);
    expect(Array.from(tokenizeIds(tok, "a", { contextLength: 3 }))).toEqual([1, tok.tokenToId("a"), tok.eotId]);
  });

  it("quotes at most 80 characters of a huge input in its error", () => {
    const huge = "a red circle ".repeat(80_000); // 1,040,000 characters
    let message = "";
    try {
      tokenizeIds(tok, huge);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^tokenize: input "a red circle .{67}"…\(1040000 chars\) is \d+ tokens long/);
    expect(message.length).toBeLessThan(300);
    // A surrogate pair at the cut is kept whole or dropped whole, never split.
    const emoji = "a".repeat(79) + "😀".repeat(100);
    expect(() => tokenizeIds(tok, emoji, { contextLength: 2 })).toThrow(
      `tokenize: input "${"a".repeat(79)}"…(279 chars)`,
    );
  });
});

describe("tokenizer.json files", () => {
  it("a written and reloaded tokenizer gives the same ids", () => {
    const file = saveTokenizer(tok, path.join(dir, "tok", "tokenizer.json"));
    const json = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(json.model.type).toBe("WordLevel");
    expect(json.pre_tokenizer).toEqual({ type: "Whitespace" });
    expect(json.added_tokens.map((t: { content: string }) => t.content)).toEqual([
      "<pad>",
      SOT_TOKEN,
      EOT_TOKEN,
      "<unk>",
    ]);
    for (const again of [
      loadTokenizer(file),
      loadTokenizer(path.dirname(file)),
      loadTokenizer(fs.readFileSync(file, "utf8")),
      loadTokenizer(json),
    ]) {
      for (const text of [...corpus.slice(0, 50), "a zebra eats a red circle"])
        expect(again.encode(text)).toEqual(tok.encode(text));
      expect(again.eotId).toBe(tok.eotId);
      expect(Array.from(tokenizeIds(again, corpus.slice(0, 20), { contextLength: 24 }))).toEqual(
        Array.from(tokenizeIds(tok, corpus.slice(0, 20), { contextLength: 24 })),
      );
    }
    expect(saveTokenizer(tok, path.join(dir, "folder"))).toBe(path.join(dir, "folder", "tokenizer.json"));
  });

  it("loads a user's file of another kind (WordPiece), with its own start and end tokens", () => {
    const vocab = { "[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, red: 4, circle: 5, "##s": 6 };
    const json = {
      added_tokens: [],
      normalizer: { type: "Lowercase" },
      pre_tokenizer: { type: "Whitespace" },
      model: {
        type: "WordPiece",
        vocab,
        unk_token: "[UNK]",
        continuing_subword_prefix: "##",
        max_input_chars_per_word: 100,
      },
    };
    const wp = loadTokenizer(json, { sot: "[CLS]", eot: "[SEP]" });
    expect(wp.encode("Red circles")).toEqual([4, 5, 6]);
    expect(Array.from(tokenizeIds(wp, "red circles", { contextLength: 7 }))).toEqual([2, 4, 5, 6, 3, 0, 0]);
    expect(wp.eotIsLargest).toBe(false);
    expect(() => tokenizeIds(loadTokenizer(json), "red")).toThrow(/has no start token/);
  });

  it("says what is wrong with a bad file", () => {
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, "{ not json");
    expect(() => loadTokenizer(bad)).toThrow(
      new RegExp(`loadTokenizer: ${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not valid JSON`),
    );
    const other = path.join(dir, "other.json");
    fs.writeFileSync(other, JSON.stringify({ hello: "world" }));
    expect(() => loadTokenizer(other)).toThrow(/other\.json is not a tokenizer\.json \(no "model" with a "vocab"\)/);
    expect(() => loadTokenizer(path.join(dir, "nope.json"))).toThrow(/no such file: .*nope\.json/);
    expect(() => loadTokenizer({ model: { type: "Mystery", vocab: {} } })).toThrow(
      'loadTokenizer: tokenizer JSON has a model of type "Mystery"; supported: BPE, WordPiece, WordLevel, Unigram',
    );
    expect(() => loadTokenizer({ model: { type: "BPE", vocab: 3 } })).toThrow(/no vocabulary/);
    expect(() => loadTokenizer({ model: { type: "BPE", vocab: { a: 0 } } })).toThrow(
      /loadTokenizer: tokenizer JSON could not be loaded \(/,
    );
  });
});
