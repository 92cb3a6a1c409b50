/**
 * Rotary position embeddings (RoFormer, Su et al. 2021), in the half-split ("NeoX") layout of
 * Hugging Face's Llama / Qwen2 / Qwen2-VL code:
 *
 *   inv_freq[j] = 1 / θ^(2j/d)                      j = 0 … d/2 − 1   (θ = 10 000 Llama, 1e6 Qwen2)
 *   angle[p, j] = p · inv_freq[j]                   the frequency slot j of a token at position p
 *   emb         = concat(angle, angle)              [.., d]: slot j drives dims j and j + d/2
 *   rotate_half(x) = concat(−x[d/2:], x[:d/2])
 *   RoPE(x, p)  = x · cos(emb) + rotate_half(x) · sin(emb)
 *
 * so the pair (x_j, x_{j+d/2}) is rotated by the angle p·inv_freq[j] — not the interleaved pairs
 * (x_{2j}, x_{2j+1}) of the paper's eq. 34. Both are rotations; the layout decides which checkpoint
 * dims pair up, so a port must use the one its weights were trained with.
 *
 * A rotation keeps norms, and ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ depends on positions only through n − m:
 * relative position enters attention without any learned table.
 *
 * Positions are given per token, [B, T], not assumed to be 0 … T−1: a left-padded batch starts its
 * real tokens at 0 in every row (position = cumsum(attention_mask) − 1), and a decoding step with a
 * KV cache passes the positions of the new tokens only. cos/sin come from a table over positions
 * 0 … L−1 computed once (in float64, stored as float32) and grown by doubling when a larger
 * position appears; a forward pass gathers the rows of its positions. Multimodal RoPE (mrope.ts)
 * gathers the same table once per axis (t, h, w) and mixes frequency slots between the axes.
 */
import { tf } from "@vlab/core";

/** inv_freq[j] = 1 / θ^(2j/d) for j = 0 … d/2 − 1, in float64. */
export function ropeInverseFrequencies(dim: number, theta = 10000): Float64Array {
  if (!Number.isInteger(dim) || dim <= 0 || dim % 2 !== 0)
    throw new RangeError(`RoPE: dim must be a positive even integer, got ${dim}`);
  if (!(theta > 0)) throw new RangeError(`RoPE: theta must be positive, got ${theta}`);
  const inv = new Float64Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) inv[j] = 1 / Math.pow(theta, (2 * j) / dim);
  return inv;
}

/** rotate_half(x) = concat(−x[..., d/2:], x[..., :d/2]) over the last axis. */
export function rotateHalf(x: tf.Tensor): tf.Tensor {
  const d = x.shape[x.rank - 1];
  if (d === undefined || d % 2 !== 0)
    throw new Error(`rotateHalf: last axis must be even, got shape [${x.shape.join(", ")}]`);
  return tf.tidy(() => {
    const [x1, x2] = tf.split(x, 2, -1); // [..., d/2] each
    if (!x1 || !x2) throw new Error("rotateHalf: tf.split did not give two halves");
    return tf.concat([tf.neg(x2), x1], -1);
  });
}

/** x · cos + rotate_half(x) · sin, with cos and sin broadcastable to x (e.g. [B, 1, T, d] for x [B, H, T, d]). */
export function applyRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin)));
}

/**
 * Position ids [B, T]: nested arrays, or an int tensor (read back to the CPU to check its range:
 * pass arrays on hot paths).
 */
export type PositionIds = readonly (readonly number[])[] | tf.Tensor;

/** Flat positions and their [B, T] shape; checks they are non-negative integers. */
export function flattenPositions(
  positionIds: PositionIds,
  what = "positionIds",
): { data: Int32Array; shape: [number, number]; max: number } {
  let data: Int32Array;
  let shape: [number, number];
  if (positionIds instanceof tf.Tensor) {
    if (positionIds.rank !== 2) throw new Error(`RoPE: ${what} must be [B, T], got [${positionIds.shape.join(", ")}]`);
    shape = positionIds.shape as [number, number];
    data = Int32Array.from(positionIds.dataSync());
  } else {
    const B = positionIds.length;
    const T = positionIds[0]?.length ?? 0; // no rows: [0, 0]
    if (positionIds.some((r) => r.length !== T)) throw new Error(`RoPE: ${what} rows have different lengths`);
    shape = [B, T];
    data = new Int32Array(B * T);
    positionIds.forEach((r, b) => data.set(r, b * T));
  }
  let max = -1;
  for (const p of data) {
    if (p < 0) throw new RangeError(`RoPE: ${what} must be >= 0, found ${p}`);
    if (p > max) max = p;
  }
  return { data, shape, max };
}

export interface RotaryOptions {
  /** Base θ of the frequencies (default 10 000; Qwen2 uses 1e6). */
  theta?: number;
  /** Initial length of the cos/sin table (default 2048); it doubles when a larger position appears. */
  maxPositions?: number;
}

/** cos and sin of emb for each token, [B, T, d]. */
export interface CosSin {
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
}

/**
 * 1-D rotary embedding of head width `dim`:
 *
 *   const rope = new RotaryEmbedding(64, { theta: 1e6 });
 *   const { cos, sin } = rope.cosSin([[0, 1, 2], [0, 0, 1]]);   // [B, T, 64]
 *   const [q2, k2] = rope.rotate(q, k, cos, sin);                 // q, k [B, H, T, 64]
 *
 * It owns its table (call `dispose()`); what its methods return belongs to the caller.
 */
export class RotaryEmbedding {
  readonly dim: number;
  readonly theta: number;
  /** inv_freq[j] = 1 / θ^(2j/d), float64. */
  readonly invFreq: Float64Array;
  private cosTable: tf.Tensor2D | null = null; // [L, d]
  private sinTable: tf.Tensor2D | null = null;

  constructor(dim: number, opts: RotaryOptions = {}) {
    this.dim = dim;
    this.theta = opts.theta ?? 10000;
    this.invFreq = ropeInverseFrequencies(dim, this.theta);
    this.grow(opts.maxPositions ?? 2048);
  }

  /** Number of positions the cos/sin table holds now. */
  get cachedLength(): number {
    return this.cosTable ? this.cosTable.shape[0] : 0;
  }

  /** The angles p · inv_freq[j] of one position, j = 0 … d/2 − 1 (float64, for inspection). */
  angles(position: number): Float64Array {
    return this.invFreq.map((f) => position * f);
  }

  /** Makes sure the table covers positions 0 … maxPosition. */
  ensure(maxPosition: number): void {
    if (maxPosition < this.cachedLength) return;
    let L = Math.max(1, this.cachedLength);
    while (L <= maxPosition) L *= 2;
    this.grow(L);
  }

  private grow(length: number): void {
    if (!Number.isInteger(length) || length < 1)
      throw new RangeError(`RoPE: maxPositions must be a positive integer, got ${length}`);
    const d = this.dim;
    const half = d / 2;
    const c = new Float32Array(length * d);
    const s = new Float32Array(length * d);
    if (this.invFreq.length !== half) throw new Error(`RoPE: ${this.invFreq.length} frequencies for head width ${d}`);
    /* eslint-disable @typescript-eslint/no-non-null-assertion -- j < half === invFreq.length (checked above) */
    for (let p = 0; p < length; p++) {
      for (let j = 0; j < half; j++) {
        const a = p * this.invFreq[j]!; // float64: exact to the float32 rounding of cos / sin
        const cj = Math.cos(a);
        const sj = Math.sin(a);
        c[p * d + j] = c[p * d + j + half] = cj; // emb = concat(angle, angle)
        s[p * d + j] = s[p * d + j + half] = sj;
      }
    }
    /* eslint-enable @typescript-eslint/no-non-null-assertion */
    // Kept: a table first built (or grown) inside a caller's tidy scope must outlive it.
    const cos = tf.keep(tf.tensor2d(c, [length, d]));
    const sin = tf.keep(tf.tensor2d(s, [length, d]));
    this.cosTable?.dispose();
    this.sinTable?.dispose();
    this.cosTable = cos;
    this.sinTable = sin;
  }

  /** Table rows for flat positions: [n, d] each (the table is grown first if needed). */
  gatherRows(positions: Int32Array, maxPosition: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    this.ensure(maxPosition);
    const { cosTable, sinTable } = this;
    if (!cosTable || !sinTable) throw new Error("RoPE: the cos/sin table was not built");
    return tf.tidy(() => {
      const idx = tf.tensor1d(positions, "int32");
      return { cos: tf.gather(cosTable, idx) as tf.Tensor2D, sin: tf.gather(sinTable, idx) as tf.Tensor2D };
    });
  }

  /** cos and sin [B, T, d] for position ids [B, T]. */
  cosSin(positionIds: PositionIds): CosSin {
    const { data, shape, max } = flattenPositions(positionIds);
    return tf.tidy(() => {
      const rows = this.gatherRows(data, max); // [B·T, d]
      return {
        cos: tf.reshape(rows.cos, [...shape, this.dim]) as tf.Tensor3D,
        sin: tf.reshape(rows.sin, [...shape, this.dim]) as tf.Tensor3D,
      };
    });
  }

  /** Rotates q [B, H, T, d] and k [B, Hkv, T, d] with cos / sin [B, T, d] (from `cosSin`). */
  rotate(q: tf.Tensor, k: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): [tf.Tensor4D, tf.Tensor4D] {
    return rotateQK(q, k, cos, sin);
  }

  /** Rotates q and k [B, H, T, d] to the position ids [B, T]. */
  apply(q: tf.Tensor, k: tf.Tensor, positionIds: PositionIds): [tf.Tensor4D, tf.Tensor4D] {
    const { cos, sin } = this.cosSin(positionIds);
    try {
      return rotateQK(q, k, cos, sin);
    } finally {
      tf.dispose([cos, sin]);
    }
  }

  /** Frees the cos/sin table. */
  dispose(): void {
    this.cosTable?.dispose();
    this.sinTable?.dispose();
    this.cosTable = this.sinTable = null;
  }
}

/** q [B, H, T, d] and k [B, Hkv, T, d] rotated with cos / sin [B, T, d] (shared by all heads). */
export function rotateQK(q: tf.Tensor, k: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): [tf.Tensor4D, tf.Tensor4D] {
  const d = q.shape[3];
  if (d === undefined || q.rank !== 4 || k.rank !== 4 || cos.rank !== 3 || cos.shape[2] !== d || k.shape[3] !== d) {
    throw new Error(
      `RoPE: expected q, k [B, H, T, d] and cos, sin [B, T, d], got q [${q.shape}], k [${k.shape}], cos [${cos.shape}]`,
    );
  }
  return tf.tidy(() => {
    const c = tf.expandDims(cos, 1); // [B, 1, T, d]: the same rotation for every head
    const s = tf.expandDims(sin, 1);
    return [applyRotary(q, c, s) as tf.Tensor4D, applyRotary(k, c, s) as tf.Tensor4D];
  });
}

/**
 * The `positional` hook of core's MultiHeadAttention for precomputed cos / sin [B, T, d]: compute
 * them once per forward pass and give every layer the same hook.
 */
export function rotaryHook(
  cos: tf.Tensor,
  sin: tf.Tensor,
): (q: tf.Tensor4D, k: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D] {
  return (q, k) => rotateQK(q, k, cos, sin);
}
