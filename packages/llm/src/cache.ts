/**
 * The decoder's KV cache (Hugging Face's `DynamicCache`): every layer's keys and values (core's KvCache) plus the
 * attention mask of the cached positions, so that a decoding step feeds only the new tokens:
 *
 *   prefill   forward(prompt [B, P], { cache })    cache holds P positions, mask [B, P]
 *   step      forward(next [B, 1], { cache })      attends to the P + 1 positions, mask [B, P + 1]
 *
 * Make one with `model.newCache()`, pass it to successive `forward` calls, `dispose()` it at the end.
 */
import { KvCache } from "@vlab/core";

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

  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.attentionMask = [];
  }
}
