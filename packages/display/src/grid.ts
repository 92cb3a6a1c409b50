/**
 * An image grid of chosen images of a batch: `imageGridAt(images, [0, 5, 9], { captions })` shows images 0, 5 and 9
 * of `images` ([N, C, H, W] or [N, H, W, C]) in one PNG, each with its caption, through `imageGrid`. The batch is
 * left as it is; the slices taken from it are freed once the PNG is made.
 */
import * as tf from "@tensorflow/tfjs-core";
import { imageGrid, type ImageDisplay, type ImageGridOptions } from "./image.js";

/** Images `indices` of the batch `images`, in that order, as an image grid (captions: one per index). */
export async function imageGridAt(
  images: tf.Tensor,
  indices: readonly number[],
  opts: ImageGridOptions = {},
): Promise<ImageDisplay> {
  const [n] = images.shape;
  if (images.rank !== 4 || n === undefined)
    throw new Error(
      `imageGridAt(): images must be a batch [N, C, H, W] or [N, H, W, C], got [${images.shape.join(", ")}]`,
    );
  for (const [k, i] of indices.entries()) {
    if (!Number.isInteger(i) || i < 0 || i >= n)
      throw new RangeError(`imageGridAt(): index ${i} (position ${k}) is not an image of the batch of ${n}`);
  }
  if (opts.captions !== undefined && opts.captions.length !== indices.length)
    throw new Error(`imageGridAt(): ${indices.length} images but ${opts.captions.length} captions`);
  const slices = indices.map((i) => tf.tidy(() => tf.squeeze(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), [0])));
  try {
    return await imageGrid(
      slices.map((image, k) => ({ image, caption: opts.captions?.[k] })),
      opts,
    );
  } finally {
    tf.dispose(slices);
  }
}
