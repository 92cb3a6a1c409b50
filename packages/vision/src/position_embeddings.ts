/**
 * Do a ViT's learned position embeddings know the 2-D grid? Dosovitskiy et al. 2021 (sec. 4.5, fig. 7) show the
 * cosine similarity between the position embeddings of every two patches: nearby patches have similar embeddings,
 * though the model is only ever given a 1-D sequence.
 *
 *   sim[a][b] = cos(pos_a, pos_b)                                   patches a, b (CLS left out), [g², g²]
 *   gap       = mean sim over adjacent pairs − mean sim over distant pairs   (Manhattan distance on the grid)
 */
import { tf } from "@vlab/core";
import { l2Normalize } from "./clip.js";
import type { VisionTransformer } from "./vit.js";

/** Cosine similarity between the position embeddings of every two patches, CLS left out: [gh·gw][gh·gw]. */
export function positionEmbeddingSimilarity(vit: VisionTransformer): number[][] {
  const sim = tf.tidy(() => {
    const p = tf.slice(vit.positional_embedding, [1, 0], [-1, -1]); // [gh·gw, w]
    return tf.matMul(l2Normalize(p), l2Normalize(p), false, true); // [gh·gw, gh·gw]
  });
  try {
    return sim.arraySync() as number[][];
  } finally {
    sim.dispose();
  }
}

/**
 * Mean similarity of adjacent patches (grid distance `near`, default 1) minus that of distant ones (distance ≥ `far`,
 * default 3), for patches numbered row-major on a grid `gridWidth` patches wide.
 */
export function adjacentMinusDistant(
  sim: number[][],
  gridWidth: number,
  { near = 1, far = 3 }: { near?: number; far?: number } = {},
): number {
  const n = sim.length;
  if (sim.some((row) => row.length !== n)) throw new Error(`adjacentMinusDistant: sim must be square, [${n}][${n}]`);
  const g = gridWidth;
  let nearSum = 0,
    nNear = 0,
    farSum = 0,
    nFar = 0;
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- a, b < n and sim is n×n (checked above) */
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) {
      const d = Math.abs(Math.floor(a / g) - Math.floor(b / g)) + Math.abs((a % g) - (b % g));
      if (d === near) {
        nearSum += sim[a]![b]!;
        nNear++;
      } else if (d >= far) {
        farSum += sim[a]![b]!;
        nFar++;
      }
    }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  if (nNear === 0 || nFar === 0) throw new Error(`adjacentMinusDistant: a grid ${g} wide has no near or no far pairs`);
  return nearSum / nNear - farSum / nFar;
}
