import { beforeAll, describe, expect, it } from "vitest";
import { Rng, initBackend, tf } from "@vlab/core";
import { instructionDataset, type InstructionDataset } from "@vlab/data";
import { IGNORE_INDEX, buildChatTokenizer } from "@vlab/llm";
import { lmTextCorpus, lmTextSequences, objectList, pretrainLmOnText, tinyLm } from "../src/index.js";

let ds: InstructionDataset;
beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
  ds = await instructionDataset({ seed: 3, n: 4, split: "train", objects: [2, 2], width: 32, height: 32 });
});

describe("the LM's text-only pre-training (notebooks 03 and 04)", () => {
  it("lists a scene's objects from left to right", () => {
    const scene = ds.scenes[0]!;
    const xs = [...scene.objects].sort((a, b) => a.x - b.x);
    expect(objectList(scene)).toBe(xs.map((o) => `${o.color} ${o.shape}`).join(" , "));
  });

  it("builds chats without their image, closed captions and captions after their object list, all supervised", () => {
    const corpus = lmTextCorpus(ds);
    expect(corpus.some((t) => t.includes("<image>"))).toBe(false);
    const tok = buildChatTokenizer(corpus);
    const seqs = lmTextSequences(tok, ds);
    const chats = ds.instructions.flat().length;
    const captions = ds.allCaptions.flat().length;
    expect(seqs).toHaveLength(chats + 2 * captions);
    // a chat: ChatML without image placeholders, every token supervised
    expect(seqs[0]!.ids[0]).toBe(tok.imStartId);
    expect(seqs[0]!.ids).not.toContain(tok.imageTokenId);
    expect(seqs.every((s) => s.labels.join() === s.ids.join())).toBe(true);
    expect(seqs.flatMap((s) => s.labels)).not.toContain(IGNORE_INDEX);
    // a caption, closed by <|im_end|>
    const caption = ds.allCaptions[0]![0]!;
    expect(seqs[chats]!.ids).toEqual([...tok.encode(caption), tok.imEndId]);
    // the same caption after its scene's object list
    expect(seqs[chats + captions]!.ids).toEqual([
      ...tok.encode(`${objectList(ds.scenes[0]!)} ${caption}`),
      tok.imEndId,
    ]);
  });

  it("trains the LM on them: lower loss, the same run for the same seed, no tensor left behind", async () => {
    const tok = buildChatTokenizer(lmTextCorpus(ds));
    const seqs = lmTextSequences(tok, ds);
    const run = async () => {
      const lm = tinyLm(tok, 32, new Rng(1));
      const before = tf.memory().numTensors;
      const r = await pretrainLmOnText(lm, seqs, { steps: 30, batch: 8, seed: 5 });
      r.optimizer.dispose();
      expect(tf.memory().numTensors).toBe(before);
      lm.dispose();
      return r.history.map((h) => h.loss);
    };
    const [a, b] = [await run(), await run()];
    expect(a).toEqual(b);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(a.slice(-5))).toBeLessThan(mean(a.slice(0, 5)) - 0.5);
    await expect(pretrainLmOnText(tinyLm(tok, 32), [], { steps: 1, seed: 0 })).rejects.toThrow(/no sequences/);
  });
});
