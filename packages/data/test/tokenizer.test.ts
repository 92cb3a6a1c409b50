import { initBackend } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { shapesDataset } from "../src/dataset.js";
import { buildWordTokenizer, EOT_TOKEN, tokenize } from "../src/index.js";

beforeAll(async () => {
  await initBackend("cpu");
});

// The tokenizer itself is tested in @vlab/tokenizers; here: data re-exports it, and it covers shapes world's text.
describe("word tokenizer over shapes world", () => {
  it("encodes every caption, question and answer without an unknown word and decodes them back", async () => {
    const ds = await shapesDataset({ seed: 0, n: 300, render: false });
    const corpus = [...ds.allCaptions.flat(), ...ds.qa.flat().map((q) => `${q.question} ${q.answer}`)];
    const tok = buildWordTokenizer(corpus);
    expect(tok.tokenToId(EOT_TOKEN)).toBe(tok.vocabSize - 1);
    expect(tok.tokenToId("a")).toBe(3); // the most frequent word, right after the specials
    const unk = tok.tokenToId("<unk>");
    for (const text of corpus) {
      const ids = tok.encode(text);
      expect(ids).not.toContain(unk);
      expect(tok.encode(tok.decode(ids))).toEqual(ids);
    }
    const t = tokenize(tok, corpus.slice(0, 4), { contextLength: 32 });
    expect(t.shape).toEqual([4, 32]);
    t.dispose();
  });
});
