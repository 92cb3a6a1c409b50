import { beforeAll, describe, expect, it } from "vitest";
import { Rng, initBackend, tf } from "@vlab/core";
import {
  BLIP2_TINY,
  Blip2Qformer,
  NOT_RERANKED,
  encodeImages,
  itcSimilarity,
  retrievalScores,
  type Blip2Text,
} from "../src/index.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const CONFIG = { ...BLIP2_TINY, numQueryTokens: 4, vocabSize: 30, encoderWidth: 12, bosTokenId: 29, padTokenId: 0 };
const TEXT: Blip2Text = {
  ids: [
    [1, 5, 7, 9],
    [1, 3, 0, 0],
    [1, 4, 6, 8],
    [1, 2, 2, 0],
  ],
  mask: [
    [1, 1, 1, 1],
    [1, 1, 0, 0],
    [1, 1, 1, 1],
    [1, 1, 1, 0],
  ],
};

describe("BLIP-2 retrieval", () => {
  it("scores ITC for every pair and ITM + ITC for each row's top k, −100 elsewhere (LAVIS compute_sim_matrix)", () => {
    const m = new Blip2Qformer({ config: CONFIG, rng: new Rng(1) });
    const f = tf.randomNormal([3, 5, 12], 0, 1, "float32", 5);
    const index = encodeImages(m, f);
    const before = tf.memory().numTensors;
    const { sim, i2t, t2i } = retrievalScores(m, index, TEXT, 2);
    expect(tf.memory().numTensors).toBe(before);
    // ITC alone: the similarity at temperature 1.
    const want = itcSimilarity(index.imageFeats, m.textFeat(TEXT), 1).simI2t.arraySync();
    sim.forEach((row, i) => row.forEach((v, t) => expect(v).toBeCloseTo(want[i]![t]!, 5)));
    // The pair's ITM "match" logit, by hand.
    const itm = (i: number, t: number) => {
      const img = tf.slice(index.imageEmbeds, [i, 0, 0], [1, -1, -1]);
      const logits = m.itmLogits({ ids: [TEXT.ids[t]!], mask: [TEXT.mask[t]!] }, img);
      return logits.arraySync()[0]![1]!;
    };
    i2t.forEach((row, i) => {
      const top = [0, 1, 2, 3].sort((a, b) => sim[i]![b]! - sim[i]![a]!).slice(0, 2);
      row.forEach((v, t) => {
        if (top.includes(t)) expect(v).toBeCloseTo(itm(i, t) + sim[i]![t]!, 4);
        else expect(v).toBe(NOT_RERANKED);
      });
    });
    t2i.forEach((row, t) => {
      const top = [0, 1, 2].sort((a, b) => sim[b]![t]! - sim[a]![t]!).slice(0, 2);
      row.forEach((v, i) => {
        if (top.includes(i)) expect(v).toBeCloseTo(itm(i, t) + sim[i]![t]!, 4);
        else expect(v).toBe(NOT_RERANKED);
      });
    });
    // k beyond the gallery: every pair re-ranked.
    const all = retrievalScores(m, index, TEXT, 10);
    expect(all.i2t.flat().includes(NOT_RERANKED)).toBe(false);
    expect(() => retrievalScores(m, index, TEXT, 0)).toThrow(/k must be a positive integer/);
    tf.dispose([f, index.imageEmbeds, index.imageFeats]);
    m.dispose();
  });
});
