/**
 * Held-out loss: the mean next-token negative log-likelihood over the supervised tokens of many sequences, in
 * batches. Perplexity is its exponential:
 *
 *   NLL = Σ_batches sftLoss(batch) · n_batch / Σ_batches n_batch      n_batch = supervised tokens of the batch
 *   PPL = exp(NLL)
 *
 * sftLoss already averages over a batch's supervised tokens, so weighting each batch by its count gives the mean
 * over every token, whatever the batch sizes. What the sequences supervise decides what is measured: every text
 * token (a language model's perplexity), or the answers only (`ChatTokenizer.labels`: the answer NLL of a chat model).
 */
import { tf } from "@vlab/core";
import { IGNORE_INDEX, rightPadWithLabels, sftLoss, type LabelledBatch, type LabelledSequence } from "./sft.js";

export interface MeanNllOptions {
  /** Padding id of the right padding. */
  padId: number;
  /** Sequences per forward pass (default 32). */
  batchSize?: number;
}

/**
 * Mean NLL per supervised token of `seqs` (see the file comment). `logits(batch, indices)` runs the model on one
 * right-padded batch and returns logits [B, L, V]; `indices` are the batch's positions in `seqs` (to pick, say, the
 * image features that go with them). It runs inside a tidy scope.
 */
export function meanNll(
  seqs: readonly LabelledSequence[],
  logits: (batch: LabelledBatch, indices: number[]) => tf.Tensor,
  opts: MeanNllOptions,
): number {
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`meanNll: batchSize must be a positive integer, got ${batchSize}`);
  let nll = 0;
  let n = 0;
  for (let start = 0; start < seqs.length; start += batchSize) {
    const chunk = seqs.slice(start, start + batchSize);
    const indices = chunk.map((_, k) => start + k);
    const batch = rightPadWithLabels(chunk, opts.padId);
    const tokens = batch.labels.reduce((s, row) => s + row.slice(1).filter((y) => y !== IGNORE_INDEX).length, 0);
    const loss = tf.tidy(() => sftLoss(logits(batch, indices), batch.labels));
    const [value] = loss.dataSync();
    loss.dispose();
    if (value === undefined) throw new Error("meanNll: the loss has no value");
    nll += value * tokens;
    n += tokens;
  }
  if (n === 0) throw new Error(`meanNll: the ${seqs.length} sequences supervise no token`);
  return nll / n;
}
