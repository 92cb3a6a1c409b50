/**
 * A weight map laid over its image: `await overlayHeatmap(img, rollout)` upsamples a `[h][w]` grid of weights (a
 * ViT's attention rollout over its patches, a saliency map) to the image's size and alpha-blends it on top in a
 * colour scale, so one sees where the weight falls on the picture instead of beside it.
 *
 *   out = (1 - alpha) * pixel + alpha * colour((w - zmin) / (zmax - zmin))
 *
 * The result is an `ImageDisplay` (a PNG), so it displays itself and goes into `imageGrid` like any image, and
 * `imageGridAt(images, indices, { overlays })` lays one map over each chosen image of a batch.
 */
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs-core";
import { resolveColorscale, rgbAt, type Colorscale } from "./colors.js";
import { image, ImageDisplay, type ImageSource } from "./image.js";

/** A `[h][w]` grid of weights: nested arrays or a 2-D tensor (`[h, w]` or `[1, h, w]`; it is not disposed). */
export type WeightGrid = ArrayLike<ArrayLike<number>> | tf.Tensor;

export interface OverlayOptions {
  /** A plotly colorscale name (as plotly.js draws it; `_r` reverses) or stops. Default "Viridis". */
  colorscale?: string | Colorscale;
  /** Opacity of the colour layer, 0..1 (default 0.5). */
  alpha?: number;
  /** Weights mapped to the ends of the scale; default the map's own min and max. */
  zmin?: number;
  zmax?: number;
  /** Bilinear upsampling (smooth blobs) instead of one flat block per cell (default false: patches stay visible). */
  smooth?: boolean;
  /**
   * Width of the result in pixels (height keeps the aspect ratio). Default: the image's width times the smallest
   * whole number that makes it at least 128 (a 32×32 image becomes 128×128 with crisp pixels).
   */
  width?: number;
  /** Shown under the image (text/html) and in its text form. */
  caption?: string;
}

/** The weights as rows of numbers, checked to be a non-empty rectangle. */
async function weightRows(weights: WeightGrid): Promise<number[][]> {
  let rows: number[][];
  if (weights instanceof tf.Tensor) {
    const { shape } = weights;
    const batched = shape.length === 3 && shape[0] === 1;
    if (shape.length !== 2 && !batched)
      throw new Error(`overlayHeatmap(): weights must be [h, w] (or [1, h, w]), got [${shape.join(", ")}]`);
    const values = await weights.array();
    rows = (batched ? (values as number[][][])[0] : values) as number[][];
  } else rows = Array.from(weights, (r) => Array.from(r));
  const w = rows[0]?.length ?? 0;
  if (rows.length === 0 || w === 0) throw new Error("overlayHeatmap(): the weight grid is empty");
  for (const [i, r] of rows.entries())
    if (r.length !== w) throw new Error(`overlayHeatmap(): row ${i} of the weights has ${r.length} values, not ${w}`);
  return rows;
}

/** The weight at pixel (x, y) of a W×H picture: its cell's value, or bilinear between cell centres. */
function sampler(rows: number[][], W: number, H: number, smooth: boolean): (x: number, y: number) => number {
  const h = rows.length;
  const w = rows[0]?.length ?? 0;
  const at = (r: number, c: number) => rows[Math.min(h - 1, Math.max(0, r))]?.[Math.min(w - 1, Math.max(0, c))] ?? NaN;
  if (!smooth) return (x, y) => at(Math.floor((y * h) / H), Math.floor((x * w) / W));
  return (x, y) => {
    const fy = ((y + 0.5) * h) / H - 0.5;
    const fx = ((x + 0.5) * w) / W - 0.5;
    const [r0, c0] = [Math.floor(fy), Math.floor(fx)];
    const [dy, dx] = [fy - r0, fx - c0];
    const top = at(r0, c0) * (1 - dx) + at(r0, c0 + 1) * dx;
    const bottom = at(r0 + 1, c0) * (1 - dx) + at(r0 + 1, c0 + 1) * dx;
    return top * (1 - dy) + bottom * dy;
  };
}

/**
 * `image` with the weight grid `weights` upsampled over it and alpha-blended in a colour scale (see the top of this
 * file). The image is anything `image()` accepts (a tensor `[C, H, W]` / `[H, W, C]` / `[H, W]`, PNG bytes, a path,
 * an `ImageDisplay`). Returns an `ImageDisplay` (PNG) that composes with `imageGrid`.
 */
export async function overlayHeatmap(
  img: ImageSource,
  weights: WeightGrid,
  opts: OverlayOptions = {},
): Promise<ImageDisplay> {
  const rows = await weightRows(weights);
  const alpha = opts.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlayHeatmap(): alpha must be in [0, 1], got ${opts.alpha}`);
  const base = await image(img);
  const scaleUp = Math.max(1, Math.ceil(128 / base.width));
  const W = Math.max(1, Math.round(opts.width ?? base.width * scaleUp));
  const H = Math.max(1, Math.round((base.height * W) / base.width));
  const { data, info } = await sharp(base.png)
    .resize(W, H, { kernel: W > base.width ? "nearest" : "lanczos3", fit: "fill" })
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  const ch = info.channels;
  const flat = rows.flat().filter(Number.isFinite);
  const lo = opts.zmin ?? Math.min(...flat);
  const hi = opts.zmax ?? Math.max(...flat);
  const cs = resolveColorscale(opts.colorscale ?? "Viridis");
  const weightAt = sampler(rows, W, H, opts.smooth ?? false);
  const out = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const v = weightAt(x, y);
      const colour = Number.isFinite(v) ? rgbAt(cs, hi > lo ? (v - lo) / (hi - lo) : 0.5) : undefined;
      for (let c = 0; c < 3; c++) {
        const px = data[p * ch + (ch >= 3 ? c : 0)] ?? 0;
        const col = colour?.[c];
        out[p * 3 + c] = col === undefined ? px : Math.round((1 - alpha) * px + alpha * col);
      }
    }
  }
  const png = await sharp(out, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
  return new ImageDisplay(png, W, H, opts.caption);
}
