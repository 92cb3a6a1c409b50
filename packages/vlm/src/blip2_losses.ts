/**
 * BLIP-2's stage-1 objectives (Li et al. 2023, sec. 3.2; salesforce/LAVIS, lavis/models/blip2_models/blip2_qformer.py
 * `Blip2Qformer.forward`), on the Q-Former of blip2.ts, for a batch of B (image, text) pairs:
 *
 *   ITC  sim_i2t[b, c] = max_q q[b, q] · t[c] / temp,  sim_t2i[c, b] = max_q t[c] · q[b, q] / temp      [B, B]
 *        L_itc = (CE_ls(sim_i2t, arange B) + CE_ls(sim_t2i, arange B)) / 2                label smoothing 0.1
 *   ITM  hard negatives drawn by ITC similarity: w = softmax(sim) + 1e-4 with the positive set to 0, one draw per
 *        row (`torch.multinomial`); the batch becomes 3B: texts [pos, pos, neg] with images [pos, neg, pos],
 *        labels [1]·B + [0]·2B; L_itm = CE(itm_head(query outputs).mean over queries, labels)
 *   ITG  decoder input = the text with position 0 ([CLS]) replaced by [DEC]; labels = that input with padding −100,
 *        shifted left by one (the logit at t predicts t + 1); L_lm = CE_ls(logits, labels, 0.1), the text rows seeing
 *        the queries through the ITC query pass's keys / values (so L_lm trains the queries too)
 *   L = L_itc + L_itm + L_lm
 *
 * CE_ls is PyTorch's `F.cross_entropy(…, label_smoothing=ε)`: the target distribution is (1 − ε)·onehot + ε / C, and
 * the mean is over the targets that are not −100. LAVIS gathers negatives across GPUs; here the batch is one device's.
 * The negatives are sampled with a seeded core `Rng` (the same seed gives the same negatives).
 */
import { crossEntropy, tf, type Rng } from "@vlab/core";
import { IGNORE_INDEX } from "@vlab/llm";
import type { KeyValue } from "./blip2_bert.js";
import type { Blip2Qformer, Blip2Text } from "./blip2.js";

/**
 * Mean cross-entropy with label smoothing ε over the rows of logits [..., C] whose target is not −100 (PyTorch's
 * `cross_entropy(label_smoothing=ε, ignore_index=-100)`): per row −Σ_c ((1 − ε)·[c = y] + ε/C) · log softmax(z)_c.
 * 0 when every target is −100.
 */
export function labelSmoothedCrossEntropy(logits: tf.Tensor, targets: ArrayLike<number>, smoothing = 0.1): tf.Scalar {
  const C = logits.shape[logits.rank - 1];
  if (C === undefined) throw new Error("labelSmoothedCrossEntropy: logits need a last axis of classes");
  const n = logits.size / C;
  if (targets.length !== n)
    throw new Error(`labelSmoothedCrossEntropy: ${targets.length} targets for ${n} rows of logits`);
  if (!(smoothing >= 0 && smoothing <= 1))
    throw new RangeError(`labelSmoothedCrossEntropy: smoothing must be in [0, 1], got ${smoothing}`);
  const y = new Int32Array(n);
  const valid = new Float32Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const t = targets[i] ?? IGNORE_INDEX;
    if (t === IGNORE_INDEX) continue;
    if (!Number.isInteger(t) || t < 0 || t >= C)
      throw new RangeError(`labelSmoothedCrossEntropy: target ${t} at row ${i} is neither −100 nor in [0, ${C})`);
    y[i] = t;
    valid[i] = 1;
    count++;
  }
  return tf.tidy(() => {
    if (count === 0) return tf.scalar(0);
    const logp = tf.logSoftmax(tf.reshape(logits, [n, C])); // [n, C]
    const q = tf.add(tf.mul(tf.oneHot(tf.tensor1d(y, "int32"), C), 1 - smoothing), smoothing / C); // [n, C]
    const perRow = tf.neg(tf.sum(tf.mul(q, logp), -1)); // [n]
    return tf.div(tf.sum(tf.mul(perRow, tf.tensor1d(valid))), count) as tf.Scalar;
  });
}

/** ITC's two similarity matrices, already divided by the temperature. */
export interface ItcSimilarity {
  /** [B_img, B_txt]: image b against text c, max over b's queries. */
  simI2t: tf.Tensor2D;
  /** [B_txt, B_img]: text c against image b, max over b's queries. */
  simT2i: tf.Tensor2D;
}

/** sim[b, c] = max_q imageFeats[b, q] · textFeat[c] / temp, and its text-to-image twin (see the file comment). */
export function itcSimilarity(imageFeats: tf.Tensor, textFeat: tf.Tensor, temp: tf.Tensor | number): ItcSimilarity {
  const [B, N, E] = imageFeats.shape as [number, number, number];
  if (imageFeats.rank !== 3 || textFeat.rank !== 2 || textFeat.shape[1] !== E)
    throw new Error(
      `itcSimilarity: image features must be [B, N, E] and text features [B', E], got ` +
        `[${imageFeats.shape.join(", ")}] and [${textFeat.shape.join(", ")}]`,
    );
  return tf.tidy(() => {
    const perQuery = tf.reshape(tf.matMul(tf.reshape(imageFeats, [B * N, E]), textFeat, false, true), [B, N, -1]);
    const simI2t = tf.div(tf.max(perQuery, 1), temp) as tf.Tensor2D; // [B, B'] the best query per pair
    // LAVIS computes sim_t2q separately; on one device its max over queries is the same numbers transposed.
    return { simI2t, simT2i: tf.transpose(simI2t) as tf.Tensor2D };
  }) as unknown as ItcSimilarity;
}

/** (CE_ls(sim_i2t, arange B) + CE_ls(sim_t2i, arange B)) / 2, label smoothing 0.1 as LAVIS. */
export function itcLoss(sim: ItcSimilarity, smoothing = 0.1): tf.Scalar {
  const [B, C] = sim.simI2t.shape;
  if (B !== C) throw new Error(`itcLoss: similarities must be square [B, B] (B pairs), got [${B}, ${C}]`);
  const targets = Array.from({ length: B }, (_, i) => i);
  return tf.tidy(
    () =>
      tf.div(
        tf.add(
          labelSmoothedCrossEntropy(sim.simI2t, targets, smoothing),
          labelSmoothedCrossEntropy(sim.simT2i, targets, smoothing),
        ),
        2,
      ) as tf.Scalar,
  );
}

/**
 * softmax(row) + 1e-4 with the positives set to 0: LAVIS's sampling weights of hard negatives. The positive of row b
 * is column b, and, with `positive` (row b, column c → true), every column that also matches row b — LAVIS's
 * `image_id` mask (`Blip2Qformer.forward`: pairs of the same image are never drawn as negatives), here any pair
 * known to match. A row whose every column is positive keeps only the diagonal masked (nothing else to draw).
 */
export function hardNegativeWeights(
  sim: readonly (readonly number[])[],
  positive?: (row: number, column: number) => boolean,
): number[][] {
  return sim.map((row, b) => {
    if (row.length !== sim.length) throw new Error(`hardNegativeWeights: sim must be square, row ${b} is not`);
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const total = e.reduce((a, v) => a + v, 0);
    const masked = row.map((_, c) => c === b || (positive?.(b, c) ?? false));
    const keep = masked.every(Boolean) ? row.map((_, c) => c !== b) : masked.map((m) => !m);
    return e.map((v, c) => (keep[c] ? v / total + 1e-4 : 0));
  });
}

/** One index drawn with probability weights[i] / Σ weights (`torch.multinomial(weights, 1)`); one `rng.next()`. */
export function sampleIndex(weights: readonly number[], rng: Rng): number {
  const total = weights.reduce((a, w) => a + w, 0);
  if (!(total > 0) || weights.some((w) => !(w >= 0)))
    throw new RangeError(`sampleIndex: weights must be non-negative with a positive sum, got [${weights.join(", ")}]`);
  let u = rng.next() * total;
  let last = 0;
  for (const [i, w] of weights.entries()) {
    if (w <= 0) continue;
    last = i;
    u -= w;
    if (u < 0) return i;
  }
  return last; // rounding left u ≥ 0: the last index with weight
}

/** For each text the index of a negative image, for each image the index of a negative text. */
export interface HardNegatives {
  negImageForText: number[];
  negTextForImage: number[];
}

/**
 * LAVIS's draw: a negative image per text from w_t2i, then a negative text per image from w_i2t (B ≥ 2).
 * `matches[b][c]`, when given, says image b matches text c (B × B): those pairs are never drawn as negatives.
 */
export function sampleHardNegatives(
  simI2t: readonly (readonly number[])[],
  simT2i: readonly (readonly number[])[],
  rng: Rng,
  matches?: readonly (readonly boolean[])[],
): HardNegatives {
  if (simI2t.length < 2) throw new RangeError(`sampleHardNegatives: ITM's negatives need a batch of 2 or more pairs`);
  if (matches && (matches.length !== simI2t.length || matches.some((r) => r.length !== simI2t.length)))
    throw new RangeError(`sampleHardNegatives: matches must be ${simI2t.length} × ${simI2t.length} like the batch`);
  const wT2i = hardNegativeWeights(simT2i, matches && ((text, image) => matches[image]?.[text] === true));
  const wI2t = hardNegativeWeights(simI2t, matches && ((image, text) => matches[image]?.[text] === true));
  return {
    negImageForText: wT2i.map((w) => sampleIndex(w, rng)),
    negTextForImage: wI2t.map((w) => sampleIndex(w, rng)),
  };
}

/** ITM's 3B batch: texts [pos, pos, neg] and the index of the image each goes with [pos, neg, pos]; labels. */
export function itmBatch(
  text: Blip2Text,
  negatives: HardNegatives,
): { text: Blip2Text; imageIndex: number[]; labels: number[] } {
  const B = text.ids.length;
  const pick = <T>(rows: readonly T[], idx: readonly number[]): T[] =>
    idx.map((i) => {
      const r = rows[i];
      if (r === undefined) throw new RangeError(`itmBatch: negative index ${i} is not in [0, ${B})`);
      return r;
    });
  const neg = negatives.negTextForImage;
  const own = Array.from({ length: B }, (_, i) => i);
  return {
    text: {
      ids: [...text.ids, ...text.ids, ...pick(text.ids, neg)],
      mask: [...text.mask, ...text.mask, ...pick(text.mask, neg)],
    },
    imageIndex: [...own, ...pick(own, negatives.negImageForText), ...own],
    labels: [...new Array<number>(B).fill(1), ...new Array<number>(2 * B).fill(0)],
  };
}

/** L_itm: cross-entropy of the 3B pairs' ITM logits against [1]·B + [0]·2B (no smoothing, as LAVIS). */
export function itmLoss(model: Blip2Qformer, text: Blip2Text, imageEmbeds: tf.Tensor, negatives: HardNegatives) {
  const batch = itmBatch(text, negatives);
  return tf.tidy(() => {
    const images = tf.gather(imageEmbeds, tf.tensor1d(batch.imageIndex, "int32")); // [3B, S, w], gradients kept
    return crossEntropy(model.itmLogits(batch.text, images), batch.labels);
  });
}

/** ITG's decoder input (position 0 → bos) and its labels (padding → −100), not yet shifted. */
export function itgInputs(
  text: Blip2Text,
  ids: { bosTokenId: number; padTokenId: number },
): { text: Blip2Text; labels: number[][] } {
  const decoder = text.ids.map((row) => row.map((id, t) => (t === 0 ? ids.bosTokenId : id)));
  return {
    text: { ids: decoder, mask: text.mask },
    labels: decoder.map((row) => row.map((id) => (id === ids.padTokenId ? IGNORE_INDEX : id))),
  };
}

/** L_lm: ITG's label-smoothed next-token loss over the text (see the file comment). */
export function itgLoss(model: Blip2Qformer, text: Blip2Text, pastKeyValues: readonly KeyValue[], smoothing = 0.1) {
  const { text: input, labels } = itgInputs(text, model.config);
  return tf.tidy(() => {
    const logits = model.itgLogits(input, pastKeyValues); // [B, L, V]
    const [B, L, V] = logits.shape;
    const shifted = tf.slice(logits, [0, 0, 0], [B, L - 1, V]); // position t predicts t + 1
    return labelSmoothedCrossEntropy(
      shifted,
      labels.flatMap((row) => row.slice(1)),
      smoothing,
    );
  });
}

/** The three stage-1 losses and their sum, as core's `updateStep` takes a loss with side values. */
export interface Stage1Loss {
  loss: tf.Scalar;
  aux: { itc: tf.Scalar; itm: tf.Scalar; lm: tf.Scalar };
}

/**
 * One stage-1 forward pass (LAVIS `Blip2Qformer.forward`): image features [B, S, encoderWidth] from the frozen
 * encoder, their B captions; L = L_itc + L_itm + L_lm. The negatives are drawn from `rng`, never among the pairs
 * `opts.matches` marks as matching (image b, text c), as LAVIS excludes pairs of the same `image_id`.
 */
export function blip2Stage1Loss(
  model: Blip2Qformer,
  features: tf.Tensor,
  text: Blip2Text,
  rng: Rng,
  opts: { matches?: readonly (readonly boolean[])[] } = {},
): Stage1Loss {
  if (features.shape[0] !== text.ids.length)
    throw new Error(`blip2Stage1Loss: ${features.shape[0]} images but ${text.ids.length} texts`);
  const out = tf.tidy(() => {
    const imageEmbeds = model.imageEmbeds(features); // [B, S, w]
    const query = model.queryOutput(imageEmbeds); // [B, N, D] and the keys / values ITG reads
    const sim = itcSimilarity(model.imageFeats(query.hidden), model.textFeat(text), model.temp);
    const itc = itcLoss(sim);
    const negatives = sampleHardNegatives(
      sim.simI2t.arraySync() as number[][],
      sim.simT2i.arraySync() as number[][],
      rng,
      opts.matches,
    );
    const itm = itmLoss(model, text, imageEmbeds, negatives);
    const lm = itgLoss(model, text, query.pastKeyValues);
    return { loss: tf.addN([itc, itm, lm]), itc, itm, lm };
  });
  return { loss: out.loss as tf.Scalar, aux: { itc: out.itc, itm: out.itm, lm: out.lm } };
}
