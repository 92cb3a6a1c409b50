/**
 * BLIP-2's image-text retrieval (Li et al. 2023, sec. 4.4: "we first select k = 128 candidates based on the
 * image-text feature similarity, followed by a re-ranking based on pairwise ITM scores"; salesforce/LAVIS,
 * lavis/models/blip2_models/blip2.py `compute_sim_matrix`, blip2_qformer.py `compute_itm`):
 *
 *   sim[i, t]   = max_q q[i, q] · t[t]                      ITC: every image against every text (no temperature)
 *   itm(i, t)   = itm_head(Qformer([queries; text t], image i)[:, :N])[:, 1].mean()   the "match" logit
 *   i2t[i, t]   = itm(i, t) + sim[i, t]   for the k texts of largest sim[i, ·];   −100 elsewhere
 *   t2i[t, i]   = itm(i, t) + sim[i, t]   for the k images of largest sim[·, t];  −100 elsewhere
 *
 * The matrices feed @vlab/eval's `recallAtK` like any similarity.
 */
import { tf } from "@vlab/core";
import type { Blip2Qformer, Blip2Text } from "./blip2.js";
import { itcSimilarity } from "./blip2_losses.js";

/** LAVIS's fill for the pairs ITM did not score. */
export const NOT_RERANKED = -100;

/** Image features encoded once for retrieval: `ln_vision`'s output and the queries' contrastive features. */
export interface Blip2ImageIndex {
  imageEmbeds: tf.Tensor3D; // [I, S, w]
  imageFeats: tf.Tensor3D; // [I, N, E]
}

/** Encodes images (features [I, S, encoderWidth] of the frozen encoder) for `retrievalScores`; dispose when done. */
export function encodeImages(model: Blip2Qformer, features: tf.Tensor): Blip2ImageIndex {
  return tf.tidy(() => {
    const imageEmbeds = model.imageEmbeds(features);
    const query = model.queryOutput(imageEmbeds);
    return { imageEmbeds, imageFeats: model.imageFeats(query.hidden) };
  }) as unknown as Blip2ImageIndex;
}

/** The ITC similarity of every image and text [I][T]: the best query's cosine. */
export function itcScores(model: Blip2Qformer, index: Blip2ImageIndex, text: Blip2Text): number[][] {
  const sim = tf.tidy(() => itcSimilarity(index.imageFeats, model.textFeat(text), 1).simI2t);
  const out = sim.arraySync();
  sim.dispose();
  return out;
}

/** `compute_itm`: the ITM "match" logit of pairs (image row i with text row i), averaged over the queries. */
export function itmScores(model: Blip2Qformer, imageEmbeds: tf.Tensor, text: Blip2Text): number[] {
  const logits = model.itmLogits(text, imageEmbeds); // [K, 2]; the mean over queries commutes with itm_head
  const out = (logits.arraySync() as number[][]).map((row) => row[1] ?? NaN);
  logits.dispose();
  return out;
}

/** The indices of the k largest values (largest first; ties keep the lower index first). */
function topK(values: readonly number[], k: number): number[] {
  return values
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

function pickRows(text: Blip2Text, rows: readonly number[]): Blip2Text {
  const at = <T>(xs: readonly T[], i: number): T => {
    const x = xs[i];
    if (x === undefined) throw new RangeError(`retrievalScores: text row ${i} is out of range`);
    return x;
  };
  return { ids: rows.map((i) => at(text.ids, i)), mask: rows.map((i) => at(text.mask, i)) };
}

export interface RetrievalScores {
  /** ITC alone [I][T]. */
  sim: number[][];
  /** Image → text after ITM re-ranking of each image's top k [I][T] (−100 outside the top k). */
  i2t: number[][];
  /** Text → image after ITM re-ranking of each text's top k [T][I]. */
  t2i: number[][];
}

/** ITC for every pair, then ITM on each row's top k (see the file comment). */
export function retrievalScores(
  model: Blip2Qformer,
  index: Blip2ImageIndex,
  text: Blip2Text,
  k: number,
): RetrievalScores {
  const sim = itcScores(model, index, text);
  const I = sim.length;
  const T = text.ids.length;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`retrievalScores: k must be a positive integer, got ${k}`);
  const i2t = sim.map(() => new Array<number>(T).fill(NOT_RERANKED));
  const t2i = Array.from({ length: T }, () => new Array<number>(I).fill(NOT_RERANKED));
  // itm(i, t) + sim[i, t] for each (image, text) pair, in one ITM pass
  const rerank = (pairs: readonly (readonly [number, number])[]): number[] => {
    const imageRows = pairs.map(([i]) => i);
    const textRows = pairs.map(([, t]) => t);
    const images = tf.gather(index.imageEmbeds, imageRows);
    try {
      const itm = itmScores(model, images, pickRows(text, textRows));
      return pairs.map(([i, t], j) => (itm[j] ?? NaN) + (sim[i]?.[t] ?? NaN));
    } finally {
      images.dispose();
    }
  };
  sim.forEach((row, i) => {
    const texts = topK(row, k);
    const scores = rerank(texts.map((t) => [i, t] as const));
    texts.forEach((t, j) => ((i2t[i] ?? [])[t] = scores[j] ?? NaN));
  });
  t2i.forEach((row, t) => {
    const column = sim.map((r) => r[t] ?? NaN);
    const images = topK(column, k);
    const scores = rerank(images.map((i) => [i, t] as const));
    images.forEach((i, j) => (row[i] = scores[j] ?? NaN));
  });
  return { sim, i2t, t2i };
}
