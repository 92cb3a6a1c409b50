/**
 * Supervised fine-tuning on chat transcripts: which tokens are trained on, and the loss.
 *
 * Labels (the ChatML analogue of LLaVA's masking: haotian-liu/LLaVA, llava/train/train.py, `preprocess_v1`). A label
 * sequence has the length of the ids; −100 (IGNORE_INDEX) marks a token that is not predicted:
 *
 *   <|im_start|>system\n…<|im_end|>\n<|im_start|>user\n<|image_pad|>…question<|im_end|>\n    −100
 *   <|im_start|>assistant\n                                                                   −100
 *   answer tokens <|im_end|>                                                                  supervised
 *   \n (and anything up to the next assistant header)                                         −100
 *
 * Every assistant turn is supervised the same way; image placeholders are always −100.
 *
 * Batches are padded on the right, the labels with −100 (`rightPadWithLabels`), as LLaVA's
 * `DataCollatorForSupervisedDataset` pads them.
 *
 * Loss (Hugging Face's `ForCausalLMLoss`): the logit at position t predicts the token at t + 1, so
 * logits[:, :-1] are scored against labels[:, 1:]; cross-entropy is averaged over the labels that
 * are not −100.
 */
import { tf } from "@vlab/core";
import { rightPad, type PaddedBatch } from "./batch.js";
import { gatherLogProbs } from "./logprobs.js";

/** The label of a token that is not trained on (PyTorch's `ignore_index`). */
export const IGNORE_INDEX = -100;

export interface LabelTokens {
  /** The ids that open an assistant turn: the tokens of `<|im_start|>assistant\n`. */
  assistantHeader: readonly number[];
  /** The id that closes a turn (`<|im_end|>`); it is supervised, so the model learns to stop. */
  endId: number;
  /** Image placeholder id: always −100. */
  imageTokenId?: number;
}

function startsAt(ids: readonly number[], i: number, pat: readonly number[]): boolean {
  if (pat.length === 0 || i + pat.length > ids.length) return false;
  for (let k = 0; k < pat.length; k++) if (ids[i + k] !== pat[k]) return false;
  return true;
}

/**
 * Labels for one tokenised chat: the assistant answers and their closing `<|im_end|>` keep their ids;
 * everything else (system, user, the assistant headers, image placeholders, padding) is −100. An
 * answer cut off before its `<|im_end|>` is supervised to the end.
 */
export function buildLabels(ids: readonly number[], tokens: LabelTokens): number[] {
  const { assistantHeader, endId, imageTokenId } = tokens;
  if (assistantHeader.length === 0) throw new Error("buildLabels: assistantHeader is empty");
  const labels = new Array<number>(ids.length).fill(IGNORE_INDEX);
  let skip = 0; // tokens of a header still to pass
  let answering = false;
  for (const [t, id] of ids.entries()) {
    if (skip > 0) skip--;
    else if (answering) {
      labels[t] = id;
      if (id === endId) answering = false;
    } else if (startsAt(ids, t, assistantHeader)) {
      answering = true;
      skip = assistantHeader.length - 1;
    }
  }
  if (imageTokenId !== undefined) ids.forEach((id, t) => id === imageTokenId && (labels[t] = IGNORE_INDEX));
  return labels;
}

/** Token ids with their labels (same length), one training sequence. */
export interface LabelledSequence {
  ids: readonly number[];
  labels: readonly number[];
}

/** A right-padded batch with its labels [B, L], −100 at the padding. */
export interface LabelledBatch extends PaddedBatch {
  labels: number[][];
}

/** Right-pads ids with `padId` and labels with −100 to the longest sequence (see `rightPad`). */
export function rightPadWithLabels(seqs: readonly LabelledSequence[], padId: number): LabelledBatch {
  const batch = rightPad(
    seqs.map((s) => s.ids),
    padId,
  );
  const labels = seqs.map((s, b) => {
    if (s.labels.length !== s.ids.length)
      throw new Error(`rightPadWithLabels: sequence ${b} has ${s.ids.length} ids but ${s.labels.length} labels`);
    return [...s.labels, ...new Array<number>(batch.width - s.labels.length).fill(IGNORE_INDEX)];
  });
  return { ...batch, labels };
}

/**
 * Mean next-token cross-entropy over the labels that are not −100, shifted by one:
 * logits [B, T, V] at t are scored against labels [B, T] at t + 1. A scalar (0 when nothing is supervised).
 */
export function sftLoss(logits: tf.Tensor, labels: readonly (readonly number[])[] | tf.Tensor): tf.Scalar {
  if (logits.rank !== 3) throw new Error(`sftLoss: logits must be [B, T, V], got [${logits.shape.join(", ")}]`);
  const [B, T, V] = logits.shape as [number, number, number];
  const rows = labels instanceof tf.Tensor ? (labels.arraySync() as number[][]) : labels;
  if (rows.length !== B || rows.some((r) => r.length !== T))
    throw new Error(`sftLoss: labels must be [${B}, ${T}] like the logits`);
  const targets = new Int32Array(B * (T - 1));
  const weights = new Float32Array(B * (T - 1));
  let count = 0;
  for (const [b, row] of rows.entries()) {
    for (const [t1, y] of row.entries()) {
      if (t1 === 0 || y === IGNORE_INDEX) continue; // the first token is predicted by nothing
      if (!(y >= 0 && y < V))
        throw new RangeError(`sftLoss: label ${y} at [${b}, ${t1}] is neither −100 nor a token id in [0, ${V})`);
      targets[b * (T - 1) + t1 - 1] = y;
      weights[b * (T - 1) + t1 - 1] = 1;
      count++;
    }
  }
  return tf.tidy(() => {
    if (count === 0 || T < 2) return tf.scalar(0);
    const shifted = tf.reshape(tf.slice(logits, [0, 0, 0], [B, T - 1, V]), [B * (T - 1), V]); // [N, V]
    const lp = gatherLogProbs(shifted, targets); // [N]
    return tf.div(tf.neg(tf.sum(tf.mul(lp, tf.tensor1d(weights)))), count) as tf.Scalar;
  });
}
