/**
 * Attention within segments without an N × N mask: the rows of each segment (an image, a video frame, a window of
 * Qwen2.5-VL's vision tower; FlashAttention's `cu_seqlens`) packed as one batch entry, padded to the longest, so
 * attention costs Σ segment² instead of N². Same result as `blockDiagonalMask` over the whole sequence.
 *
 *   const seg = packSegments([0, 3, 8]);     // two segments, padded to 5
 *   const x3 = packRows(x, seg);              // [N, C] → [2, 5, C]
 *   attention(x3, { mask: seg.mask }) → unpackRows(y3, seg)   // back to [N, C]
 */
import { MASK_MIN, tf } from "@vlab/core";

/**
 * Segments [cu[s], cu[s+1]) of N rows packed as a batch [S, L] (L the longest), for attention within each segment:
 * `gather` picks the rows (N: a zero row, for the padding), `scatter` where each row went, `mask` hides the padding.
 */
export interface PackedSegments {
  count: number; // S
  length: number; // L
  gather: tf.Tensor1D; // [S·L] row indices into [x; 0]
  scatter: tf.Tensor1D; // [N] positions in the packed [S·L]
  mask: tf.Tensor4D | undefined; // [S, 1, 1, L] additive, undefined when no segment is padded
}

/** Packs the segments of `cuSeqlens` (see PackedSegments); the caller disposes the tensors (inside a tidy). */
export function packSegments(cuSeqlens: readonly number[]): PackedSegments {
  const S = cuSeqlens.length - 1;
  const N = cuSeqlens[S] as number;
  const L = Math.max(0, ...cuSeqlens.slice(1).map((end, s) => end - (cuSeqlens[s] as number)));
  const gather = new Int32Array(S * L).fill(N);
  const scatter = new Int32Array(N);
  const keep = new Float32Array(S * L); // 0 keep, MASK_MIN padding
  let padded = false;
  for (let s = 0; s < S; s++) {
    const [start, end] = [cuSeqlens[s] as number, cuSeqlens[s + 1] as number];
    for (let j = 0; j < L; j++) {
      if (start + j < end) {
        gather[s * L + j] = start + j;
        scatter[start + j] = s * L + j;
      } else {
        keep[s * L + j] = MASK_MIN;
        padded = true;
      }
    }
  }
  return {
    count: S,
    length: L,
    gather: tf.tensor1d(gather, "int32"),
    scatter: tf.tensor1d(scatter, "int32"),
    mask: padded ? (tf.tensor4d(keep, [S, 1, 1, L]) as tf.Tensor4D) : undefined,
  };
}

/** Rows [N, C] → [S, L, C] by the segments (padding rows are zeros). */
export function packRows(x: tf.Tensor2D, seg: PackedSegments): tf.Tensor3D {
  return tf.tidy(() => {
    const withZero = tf.concat([x, tf.zeros([1, x.shape[1]])], 0); // row N: the padding
    return tf.reshape(tf.gather(withZero, seg.gather), [seg.count, seg.length, x.shape[1]]) as tf.Tensor3D;
  });
}

/** [S, L, C] → the N rows back in their order. */
export function unpackRows(x: tf.Tensor, seg: PackedSegments): tf.Tensor2D {
  return tf.tidy(() => {
    const C = x.shape[x.rank - 1] as number;
    return tf.gather(tf.reshape(x, [seg.count * seg.length, C]), seg.scatter) as tf.Tensor2D;
  });
}
