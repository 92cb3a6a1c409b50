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
  const patches = Array.from(row).slice(1);
  if (patches.length !== gh * gw)
    throw new Error(`attention maps: ${row.length} tokens are not a CLS token and a ${gh}×${gw} patch grid`);
  return Array.from({ length: gh }, (_, r) => patches.slice(r * gw, (r + 1) * gw));
}

/** Row 0 of an attention matrix: the CLS token's query. */
function clsRow(A: number[][]): number[] {
  const [row] = A;
  if (!row) throw new Error("attention maps: an attention matrix with no rows");
  return row;
}

/** Throws unless every matrix is N×N with the same N; returns N. */
function checkSquare(matrices: readonly number[][][], where: string): number {
  const N = matrices[0]?.length ?? 0;
  for (const m of matrices) {
    if (m.length !== N || m.some((row) => row.length !== N))
      throw new Error(`${where}: attention matrices must all be ${N}×${N}`);
  }
  return N;
}

function meanHeads(heads: number[][][]): number[][] {
  const H = heads.length;
  checkSquare(heads, "attention maps (mean over heads)");
  if (H === 0) throw new Error("attention maps: no heads");
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- H ≥ 1 heads, each N×N (checked above) */
  return heads[0]!.map((row, i) => row.map((_, j) => heads.reduce((s, a) => s + a[i]![j]!, 0) / H));
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
}

/** A · R for two N×N matrices. */
function matMul(A: number[][], R: number[][]): number[][] {
  checkSquare([A, R], "attention rollout");
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- A and R are N×N (checked above) */
  return A.map((row) => row.map((_, j) => row.reduce((s, v, k) => s + v * R[k]![j]!, 0)));
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
}

/** CLS → patch attention of one block, [gh][gw]; `head` picks one head (default: the mean over heads). */
export function clsAttention(
  attention: tf.Tensor4D,
  grid: [number, number],
  opts: { image?: number; head?: number } = {},
): number[][] {
  const heads = toArrays(attention, opts.image ?? 0);
  const A = opts.head === undefined ? meanHeads(heads) : heads[opts.head];
  if (!A) throw new Error(`clsAttention: head ${opts.head} is out of range (the block has ${heads.length} heads)`);
  return toGrid(clsRow(A), grid);
}

/** Abnar & Zuidema's rollout over the blocks' attentions ([B, H, N, N] each), CLS → patches, [gh][gw]. */
export function attentionRollout(
  attentions: tf.Tensor4D[],
  grid: [number, number],
  opts: { image?: number } = {},
): number[][] {
  const [first, ...rest] = attentions;
  if (!first) throw new Error("attentionRollout: no attention maps");
  const hat = (att: tf.Tensor4D): number[][] => {
    const A = meanHeads(toArrays(att, opts.image ?? 0)); // [N, N], rows sum to 1
    return A.map((row, i) => row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0))); // ½A + ½I
  };
  let R = hat(first); // [N, N]
  for (const att of rest) R = matMul(hat(att), R); // Â_l · R
  return toGrid(clsRow(R), grid);
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
    const atts = out.attentions;
    if (!atts) throw new Error("attentionMaps: the vision tower returned no attention weights");
    const image = opts.image ?? 0;
    const grid = vit.grid;
    const heads = atts.map((a) => toArrays(a, image).map((A) => toGrid(clsRow(A), grid)));
    const layers = atts.map((a) => clsAttention(a, grid, { image }));
    return { grid, layers, heads, rollout: attentionRollout(atts, grid, { image }) };
  } finally {
    tf.dispose([out.pooled, out.lastHiddenState, ...(out.attentions ?? [])]);
  }
}

/**
 * How much of an attention map's mass lies on the patches a box covers, relative to their share of the grid:
 *
 *   (mass on the box / total mass) / (patches the box touches / all patches)
 *
 * 1 means no preference for the box; above 1, attention concentrates on it (Dosovitskiy et al. 2021, sec. 4.5,
 * fig. 6 shows it on images). `map` is [gh][gw] (e.g. `attentionMaps(...).rollout`), `box` [x0, y0, x1, y1] in
 * pixels, `patchSize` the side of a patch in pixels.
 */
export function attentionOnBox(map: number[][], box: readonly number[], patchSize: number): number {
  const [x0, y0, x1, y1] = box;
  if (x0 === undefined || y0 === undefined || x1 === undefined || y1 === undefined)
    throw new Error(`attentionOnBox: box must be [x0, y0, x1, y1], got [${box.join(", ")}]`);
  const P = patchSize;
  let mass = 0,
    total = 0,
    area = 0,
    patches = 0;
  map.forEach((row, r) =>
    row.forEach((v, c) => {
      total += v;
      patches++;
      if (x0 < (c + 1) * P && x1 > c * P && y0 < (r + 1) * P && y1 > r * P) {
        mass += v;
        area++;
      }
    }),
  );
  if (area === 0) throw new Error(`attentionOnBox: the box [${box.join(", ")}] covers no patch of the map`);
  return mass / total / (area / patches);
}
