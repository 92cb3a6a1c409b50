/**
 * Where does the CLS token look? Attention maps of a Vision Transformer, as plain number[][] grids
 * ready for `display.heatmap`.
 *
 * - Raw attention: in block l, row 0 of the attention matrix (the CLS query) over the patch keys
 *   1..g², averaged over heads, laid out on the patch grid [gh, gw].
 * - Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): the
 *   residual connection carries each token forward, so model it as Â_l = ½·A_l + ½·I (A_l averaged
 *   over heads, rows still summing to 1) and multiply through the blocks:
 *       R = Â_L · … · Â_2 · Â_1
 *   Row 0 of R, over the patches, says how much each patch contributed to the final CLS token.
 */
import { tf } from "@vlab/core";
import { Clip } from "./clip.js";
import { VisionTransformer } from "./vit.js";

export interface AttentionMaps {
  /** Patch grid [gh, gw]. */
  grid: [number, number];
  /** Per block, CLS → patch attention averaged over heads: [layers][gh][gw]. */
  layers: number[][][];
  /** Per block and head: [layers][heads][gh][gw]. */
  heads: number[][][][];
  /** The attention rollout through all blocks, CLS → patches: [gh][gw]. */
  rollout: number[][];
}

/** One [B, H, N, N] attention tensor's weights for image `b` as plain [H][N][N] arrays. */
function toArrays(att: tf.Tensor4D, b: number): number[][][] {
  const [, H, N] = att.shape;
  const data = att.dataSync();
  const base = b * H * N * N;
  return Array.from({ length: H }, (_, h) =>
    Array.from({ length: N }, (_, i) => Array.from(data.subarray(base + (h * N + i) * N, base + (h * N + i + 1) * N))),
  );
}

/** Patches 1..N-1 of a length-N row laid out as [gh][gw] (row-major, as the patches were cut). */
function toGrid(row: ArrayLike<number>, [gh, gw]: [number, number]): number[][] {
  return Array.from({ length: gh }, (_, r) => Array.from({ length: gw }, (_, c) => row[1 + r * gw + c]!));
}

function meanHeads(heads: number[][][]): number[][] {
  const H = heads.length;
  return heads[0]!.map((row, i) => row.map((_, j) => heads.reduce((s, a) => s + a[i]![j]!, 0) / H));
}

/** CLS → patch attention of one block, [gh][gw]; `head` picks one head (default: the mean over heads). */
export function clsAttention(
  attention: tf.Tensor4D,
  grid: [number, number],
  opts: { image?: number; head?: number } = {},
): number[][] {
  const heads = toArrays(attention, opts.image ?? 0);
  const A = opts.head === undefined ? meanHeads(heads) : heads[opts.head]!;
  return toGrid(A[0]!, grid);
}

/** Abnar & Zuidema's rollout over the blocks' attentions ([B, H, N, N] each), CLS → patches, [gh][gw]. */
export function attentionRollout(
  attentions: tf.Tensor4D[],
  grid: [number, number],
  opts: { image?: number } = {},
): number[][] {
  if (attentions.length === 0) throw new Error("attentionRollout: no attention maps");
  let R: number[][] | null = null; // [N, N]
  for (const att of attentions) {
    const A = meanHeads(toArrays(att, opts.image ?? 0)); // [N, N], rows sum to 1
    const Ahat = A.map((row, i) => row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0))); // ½A + ½I
    R = R === null ? Ahat : Ahat.map((row) => R![0]!.map((_, j) => row.reduce((s, v, k) => s + v * R![k]![j]!, 0))); // Â_l · R
  }
  return toGrid(R![0]!, grid);
}

/**
 * Runs the image tower on pixels [B, 3, H, W] (a `Clip` or a `VisionTransformer`) and returns the
 * CLS attention maps of image `image` (default 0). Frees every tensor it makes.
 */
export function attentionMaps(
  model: Clip | VisionTransformer,
  pixels: tf.Tensor,
  opts: { image?: number } = {},
): AttentionMaps {
  const vit = model instanceof Clip ? model.visual : model;
  const out = vit.forwardOutputs(pixels, { attentions: true });
  try {
    const atts = out.attentions!;
    const image = opts.image ?? 0;
    const grid = vit.grid;
    const heads = atts.map((a) => toArrays(a, image).map((A) => toGrid(A[0]!, grid)));
    const layers = atts.map((a) => clsAttention(a, grid, { image }));
    return { grid, layers, heads, rollout: attentionRollout(atts, grid, { image }) };
  } finally {
    tf.dispose([out.pooled, out.lastHiddenState, ...(out.attentions ?? [])]);
  }
}
