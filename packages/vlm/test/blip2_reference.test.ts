// BLIP-2's Q-Former and stage-1 losses against a PyTorch transcription of LAVIS (fixtures/blip2_reference.py, run
// with torch 1.13): the same weights loaded by LAVIS's names, the same inputs, every intermediate compared.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "@vlab/core";
import {
  Blip2Qformer,
  hardNegativeWeights,
  itcLoss,
  itcSimilarity,
  itgLoss,
  itgMask,
  itmBatch,
  itmLoss,
  labelSmoothedCrossEntropy,
  type Blip2Text,
} from "../src/index.js";
import { maxDiff } from "./helpers.js";

type Nested = number | Nested[];
interface Reference {
  config: Record<string, number>;
  weights: Record<string, { shape: number[]; data: number[] }>;
  features: Nested;
  ids: number[][];
  mask: number[][];
  negImageForText: number[];
  negTextForImage: number[];
  queryHidden: Nested;
  textHidden: Nested;
  imageFeats: Nested;
  textFeat: Nested;
  simI2t: number[][];
  simT2i: number[][];
  lossItc: number;
  weightsT2i: number[][];
  itmLogits: Nested;
  lossItm: number;
  lmLogits: Nested;
  lossLm: number;
  t9Itg: number[][];
  t9Itm: number[];
  crossEntropy: { logits: number[][]; targets: number[]; ls0: number; ls01: number; ls05: number };
}

const ref = JSON.parse(readFileSync(new URL("./fixtures/blip2_reference.json", import.meta.url), "utf8")) as Reference;
const t = (x: Nested) => tf.tensor(x as number[]);
/** max |got − want| for a nested array of numbers (the reference tensor freed). */
const diff = (got: tf.Tensor, want: Nested) => {
  const w = t(want);
  const d = maxDiff(got, w);
  w.dispose();
  return d;
};

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

function loadReference(): Blip2Qformer {
  const model = new Blip2Qformer({ config: ref.config });
  const tensors = Object.fromEntries(
    Object.entries(ref.weights).map(([k, w]) => [k, tf.tensor(w.data, w.shape, "float32")]),
  );
  model.loadStateDict(tensors); // strict: every LAVIS name is one of the model's, and the reverse
  tf.dispose(Object.values(tensors));
  return model;
}

describe("BLIP-2 against the PyTorch transcription of LAVIS", () => {
  it("label-smoothed cross-entropy with ignored targets equals F.cross_entropy", () => {
    const { logits, targets } = ref.crossEntropy;
    const z = tf.tensor2d(logits);
    for (const [eps, want] of [
      [0, ref.crossEntropy.ls0],
      [0.1, ref.crossEntropy.ls01],
      [0.5, ref.crossEntropy.ls05],
    ] as const) {
      const got = labelSmoothedCrossEntropy(z, targets, eps);
      expect(got.dataSync()[0]).toBeCloseTo(want, 5);
      got.dispose();
    }
    z.dispose();
  });

  it("T9: the masks equal LAVIS's get_extended_attention_mask run in torch", () => {
    expect(itgMask(2, [[1, 1, 0]], { hasQuery: true })[0]).toEqual(ref.t9Itg);
    expect(ref.t9Itm).toEqual([[1, 1, 1, 1, 0]]);
  });

  it("the query pass, the text pass, ITC's similarities and loss, the negatives' weights", () => {
    const model = loadReference();
    const before = tf.memory().numTensors;
    const text: Blip2Text = { ids: ref.ids, mask: ref.mask };
    const feats = t(ref.features);
    const imageEmbeds = model.imageEmbeds(feats);
    const query = model.queryOutput(imageEmbeds);
    expect(diff(query.hidden, ref.queryHidden)).toBeLessThan(2e-5);
    const textHidden = model.textOutput(text);
    expect(diff(textHidden, ref.textHidden)).toBeLessThan(2e-5);
    const imageFeats = model.imageFeats(query.hidden);
    const textFeat = model.textFeat(text);
    expect(diff(imageFeats, ref.imageFeats)).toBeLessThan(2e-5);
    expect(diff(textFeat, ref.textFeat)).toBeLessThan(2e-5);
    const sim = itcSimilarity(imageFeats, textFeat, model.temp);
    expect(diff(sim.simI2t, ref.simI2t)).toBeLessThan(2e-4);
    expect(diff(sim.simT2i, ref.simT2i)).toBeLessThan(2e-4);
    const loss = itcLoss(sim);
    expect(loss.dataSync()[0]).toBeCloseTo(ref.lossItc, 4);
    const w = hardNegativeWeights(sim.simT2i.arraySync());
    w.forEach((row, b) => row.forEach((v, c) => expect(v).toBeCloseTo(ref.weightsT2i[b]![c]!, 5)));
    tf.dispose([feats, imageEmbeds, query.hidden, ...query.pastKeyValues.flat(), textHidden, imageFeats, textFeat]);
    tf.dispose([sim.simI2t, sim.simT2i, loss]);
    expect(tf.memory().numTensors).toBe(before); // everything the passes made is freed above
    model.dispose();
  });

  it("ITM on the 3B batch [pos, pos, neg] × [pos, neg, pos] and ITG with the query pass's keys / values", () => {
    const model = loadReference();
    const text: Blip2Text = { ids: ref.ids, mask: ref.mask };
    const negatives = { negImageForText: ref.negImageForText, negTextForImage: ref.negTextForImage };
    const feats = t(ref.features);
    const imageEmbeds = model.imageEmbeds(feats);
    const batch = itmBatch(text, negatives);
    const images = tf.gather(imageEmbeds, batch.imageIndex);
    const logits = model.itmLogits(batch.text, images);
    expect(diff(logits, ref.itmLogits)).toBeLessThan(2e-5);
    const lossItm = itmLoss(model, text, imageEmbeds, negatives);
    expect(lossItm.dataSync()[0]).toBeCloseTo(ref.lossItm, 5);
    const query = model.queryOutput(imageEmbeds);
    const decoder = { ids: ref.ids.map((r) => [ref.config.bosTokenId!, ...r.slice(1)]), mask: ref.mask };
    const lm = model.itgLogits(decoder, query.pastKeyValues);
    expect(diff(lm, ref.lmLogits)).toBeLessThan(5e-5);
    const lossLm = itgLoss(model, text, query.pastKeyValues);
    expect(lossLm.dataSync()[0]).toBeCloseTo(ref.lossLm, 5);
    tf.dispose([feats, imageEmbeds, images, logits, lossItm, query.hidden, ...query.pastKeyValues.flat(), lm, lossLm]);
    model.dispose();
  });
});
