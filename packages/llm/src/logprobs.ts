/**
 * Per-token log-probabilities of given completions under the model — what GRPO's policy ratio and
 * KL term need (TRL's `_get_per_token_logps`):
 *
 *   sequence   [pad… prompt | completion …pad]            prompt left-padded, completion right-padded
 *   logits     the model's output at every position
 *   log p(c_j) = log_softmax(logits[P + j − 1])[c_j]      the logit that PREDICTS token P + j sits one to the left
 *
 * Everything stays on the tensor path (no reads), so `tf.variableGrads` can differentiate it.
 * Only the C hidden states that predict completion tokens go through lm_head, which matters when
 * the vocabulary is large.
 */
import { tf } from "@vlab/core";
import { leftPad, rightPad } from "./batch.js";
import type { EmbedIds, LanguageModel, MropePositions } from "./lm.js";

/** Row b of `a` followed by row b of `b`, for every b (the two have as many rows). */
function concatRows(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number[][] {
  return a.map((row, i) => {
    const tail = b[i];
    if (!tail) throw new Error(`logProbs: ${a.length} prompt rows but ${b.length} completion rows`);
    return [...row, ...tail];
  });
}

/** log_softmax(logits)[i, targets[i]] for logits [N, V] → [N] (differentiable; one gather over the flat table). */
export function gatherLogProbs(logits: tf.Tensor, targets: ArrayLike<number>): tf.Tensor1D {
  const [N, V] = logits.shape;
  if (logits.rank !== 2 || N !== targets.length || V === undefined) {
    throw new Error(
      `gatherLogProbs: logits must be [N, V] with N = ${targets.length} targets, got [${logits.shape.join(", ")}]`,
    );
  }
  const flat = Int32Array.from(targets, (t, i) => {
    if (!(t >= 0 && t < V) || !Number.isInteger(t))
      throw new RangeError(`gatherLogProbs: target ${t} at row ${i} is not a token id in [0, ${V})`);
    return i * V + t;
  });
  return tf.tidy(
    () => tf.gather(tf.reshape(tf.logSoftmax(logits, -1), [-1]), tf.tensor1d(flat, "int32")) as tf.Tensor1D,
  );
}

export interface LogProbsOptions {
  /** Padding id (default: the config's `padTokenId`). */
  padId?: number;
  /**
   * Embeds the padded prompt + completion ids (default: the token embeddings); its `promptLength` is the prompt's
   * width. A vision-language model puts its image features at the prompt's placeholders here (see EmbedIds).
   */
  embed?: EmbedIds;
  /** Divide the logits by this before log_softmax (TRL's GRPO uses the sampling temperature); default 1. */
  temperature?: number;
  /** Also return the entropy of each predicted distribution (GRPO logs it); default false. */
  entropy?: boolean;
  /**
   * M-RoPE position ids [3][B][P + C] of the left-padded prompts followed by the right-padded completions, for a
   * model with `mropeSection` (Qwen2-VL: images on their grids, the completion continuing after the prompt's
   * largest id, as generate placed it).
   */
  mropePositions?: MropePositions;
}

export interface LogProbsResult {
  /** Shape [B, C]: log p of each completion token; 0 at padding. */
  logProbs: tf.Tensor2D;
  /** Shape [B, C]: 1 for completion tokens, 0 for padding (float32). */
  mask: tf.Tensor2D;
  /** Shape [B, C]: −Σ p log p of the distribution each completion token was drawn from; 0 at padding
   *  (`entropy: true`). */
  entropy?: tf.Tensor2D;
}

/**
 * Per-token log-probabilities [B, C] of `completionIds` following `promptIds` (C = longest
 * completion), with the padding mask. Differentiable with respect to the model's parameters.
 */
export function logProbs(
  model: LanguageModel,
  promptIds: readonly (readonly number[])[],
  completionIds: readonly (readonly number[])[],
  opts: LogProbsOptions = {},
): LogProbsResult {
  if (promptIds.length !== completionIds.length)
    throw new Error(`logProbs: ${promptIds.length} prompts but ${completionIds.length} completions`);
  const padId = opts.padId ?? model.config.padTokenId;
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new RangeError(`logProbs: temperature must be > 0, got ${temperature}`);
  const prompts = leftPad(promptIds, padId);
  const completions = rightPad(completionIds, padId);
  const B = promptIds.length;
  const P = prompts.width;
  const C = completions.width;
  if (C === 0)
    return {
      logProbs: tf.zeros([B, 0]) as tf.Tensor2D,
      mask: tf.zeros([B, 0]) as tf.Tensor2D,
      ...(opts.entropy && { entropy: tf.zeros([B, 0]) as tf.Tensor2D }),
    };
  const ids = concatRows(prompts.ids, completions.ids); // [B, P + C]
  const attentionMask = concatRows(prompts.attentionMask, completions.attentionMask);
  const targets = completions.ids.flat(); // [B·C]
  const { embed } = opts;
  const kept = tf.tidy(() => {
    const inputsEmbeds = embed ? embed(ids, P) : undefined; // generated tokens are plain tokens
    const mropePositionIds = opts.mropePositions?.(ids, attentionMask);
    const forward = { attentionMask, inputsEmbeds, mropePositionIds };
    const h = model.hiddenStates(inputsEmbeds ? null : ids, forward); // [B, P + C, D]
    const predicting = tf.slice(h, [0, P - 1, 0], [-1, C, -1]); // positions P−1 … P+C−2 predict the completion
    let logits: tf.Tensor = model.logitsFromHidden(predicting); // [B, C, V]
    if (temperature !== 1) logits = tf.div(logits, temperature);
    const mask = tf.tensor2d(completions.attentionMask, [B, C], "float32");
    const lp = tf.reshape(gatherLogProbs(tf.reshape(logits, [B * C, -1]), targets), [B, C]);
    const out: LogProbsResult = { logProbs: tf.mul(lp, mask) as tf.Tensor2D, mask };
    if (opts.entropy) {
      const logp = tf.logSoftmax(logits, -1); // [B, C, V]
      out.entropy = tf.mul(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)), mask) as tf.Tensor2D;
    }
    return out as unknown as tf.TensorContainerObject; // tidy keeps the tensors of a returned object
  });
  return kept as unknown as LogProbsResult;
}
