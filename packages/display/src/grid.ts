/**
 * An image grid of chosen images of a batch: `imageGridAt(images, [0, 5, 9], { captions })` shows images 0, 5 and 9
 * of `images` ([N, C, H, W] or [N, H, W, C]) in one PNG, each with its caption, through `imageGrid`. The batch is
 * left as it is; the slices taken from it are freed once the PNG is made. With `overlays` (one `[h][w]` weight grid per
 * index), each image is shown with its map laid over it (`overlayHeatmap`):
 *
 *   await imageGridAt(images, [0, 1, 2, 3], { overlays: rollouts, captions, cols: 4, cellSize: 128 })
 */
import * as tf from "@tensorflow/tfjs-core";
import { imageGrid, type ImageDisplay, type ImageGridOptions } from "./image.js";
import { overlayHeatmap, type OverlayOptions, type WeightGrid } from "./overlay.js";

export interface ImageGridAtOptions extends ImageGridOptions {
  /** One weight grid per index, laid over its image with `overlayHeatmap` (e.g. a ViT's attention rollout). */
  overlays?: readonly WeightGrid[];
  /** How the overlays are drawn (colour scale, opacity, smoothing); `caption` and `width` are ignored here. */
  overlay?: Omit<OverlayOptions, "caption" | "width">;
}

/** Images `indices` of the batch `images`, in that order, as an image grid (captions and overlays: one per index). */
export async function imageGridAt(
  images: tf.Tensor,
  indices: readonly number[],
  opts: ImageGridAtOptions = {},
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
  if (opts.overlays !== undefined && opts.overlays.length !== indices.length)
    throw new Error(`imageGridAt(): ${indices.length} images but ${opts.overlays.length} overlays`);
  const slices = indices.map((i) => tf.tidy(() => tf.squeeze(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), [0])));
  try {
    const { overlays, overlay, ...gridOpts } = opts;
    const shown = await Promise.all(
      slices.map((image, k) => {
        const weights = overlays?.[k];
        return weights === undefined ? image : overlayHeatmap(image, weights, overlay);
      }),
    );
    return await imageGrid(
      shown.map((image, k) => ({ image, caption: opts.captions?.[k] })),
      gridOpts,
    );
  } finally {
    tf.dispose(slices);
  }
}
