/**
 * The decoder's KV cache (Hugging Face's `DynamicCache`): every layer's keys and values (core's KvCache) plus the
 * attention mask of the cached positions, so that a decoding step feeds only the new tokens:
 *
 *   prefill   forward(prompt [B, P], { cache })    cache holds P positions, mask [B, P]
 *   step      forward(next [B, 1], { cache })      attends to the P + 1 positions, mask [B, P + 1]
 *
 * Make one with `model.newCache()`, pass it to successive `forward` calls, `dispose()` it at the end.
 */
import { KvCache, tf } from "@vlab/core";

export class DecoderCache {
  readonly layers: KvCache[];
  /** Mask [B, S] of every cached position (1 = token, 0 = padding). */
  attentionMask: number[][] = [];

  constructor(numLayers: number) {
    this.layers = Array.from({ length: numLayers }, () => new KvCache());
  }

  /** Cached positions S. */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  /** Rows B (0 while empty). */
  get batchSize(): number {
    return this.attentionMask.length;
  }

  /** The cached mask of row `b` ([] when nothing is cached); a row the cache does not hold is an error. */
  maskRow(b: number): number[] {
    if (this.length === 0) return [];
    const row = this.attentionMask[b];
    if (!row) throw new Error(`DecoderCache: row ${b} is not cached (the cache holds ${this.batchSize} rows)`);
    return row;
  }

  /**
   * Every cached row repeated n times in place (rows a, b → a, a, b, b; torch `repeat_interleave` on the batch): the
   * cache of one prompt's prefill shared by its n completions (generate's `numReturnSequences`).
   */
  repeatRows(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`DecoderCache.repeatRows: n must be a positive integer`);
    if (n === 1) return;
    const rows = Int32Array.from({ length: this.batchSize * n }, (_, r) => Math.floor(r / n));
    for (const l of this.layers) {
      if (!l.k || !l.v) continue;
      const [k, v] = [l.k, l.v];
      [l.k, l.v] = tf.tidy(() => [tf.gather(k, rows), tf.gather(v, rows)]) as [tf.Tensor4D, tf.Tensor4D];
      k.dispose();
      v.dispose();
    }
    this.attentionMask = Array.from(rows, (p) => [...(this.attentionMask[p] ?? [])]);
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.attentionMask = [];
  }
}
