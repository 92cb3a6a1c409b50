/**
 * Qwen2-VL's native resolution (Wang et al. 2024, "Qwen2-VL", §2.1 "Naive Dynamic Resolution"): an image is not
 * squashed to a fixed square; it keeps its aspect ratio and is resized only to the nearest multiple of
 * `factor` = patch size · merge size (14 · 2 = 28) on each side, within a pixel budget. Each 28×28 cell becomes one
 * token for the language model, so a 224×224 image costs 64 tokens and a 480×640 one 391.
 *
 * transformers `models/qwen2_vl/image_processing_qwen2_vl.py` `smart_resize`, and qwen-vl-utils'
 * `vision_process.py` `smart_resize`:
 *
 *   h̄ = round(h / factor) · factor,  w̄ = round(w / factor) · factor       Python's round: half to even (70 → 56)
 *   if h̄·w̄ > maxPixels:  β = √(h·w / maxPixels),  h̄ = ⌊h / β / factor⌋ · factor  (same for w)
 *   if h̄·w̄ < minPixels:  β = √(minPixels / (h·w)), h̄ = ⌈h · β / factor⌉ · factor
 *
 * (β from the original h, w, not the rounded ones). Both refuse an aspect ratio above 200; the library also refuses a
 * side below `factor`, while qwen-vl-utils instead keeps each side at least `factor` (`flavour: "qwen-vl-utils"`).
 */

/** transformers' `Qwen2VLImageProcessor` defaults: 56² to 28²·1280 pixels (at most 1280 merged tokens). */
export const SMART_RESIZE_LIBRARY = { minPixels: 56 * 56, maxPixels: 28 * 28 * 1280 } as const;
/** The released `preprocessor_config.json` and qwen-vl-utils' MIN_PIXELS / MAX_PIXELS: 4·28² to 16384·28². */
export const SMART_RESIZE_RELEASED = { minPixels: 4 * 28 * 28, maxPixels: 16384 * 28 * 28 } as const;

export interface SmartResizeOptions {
  /** Patch size · spatial merge size (default 28). */
  factor?: number;
  /** Fewest pixels (default 3136 = 56²). */
  minPixels?: number;
  /** Most pixels (default 12,845,056 = 16384·28², the released config's; transformers' class default is 1,003,520). */
  maxPixels?: number;
  /** "transformers" (default): a side below `factor` is an error. "qwen-vl-utils": each side is kept ≥ `factor`. */
  flavour?: "transformers" | "qwen-vl-utils";
}

/** Python 3's round(): to the nearest integer, halves to the even one (2.5 → 2, 3.5 → 4). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The [height, width] an image of `height` × `width` pixels is resized to (see the file comment). */
export function smartResize(height: number, width: number, opts: SmartResizeOptions = {}): [number, number] {
  const factor = opts.factor ?? 28;
  const minPixels = opts.minPixels ?? SMART_RESIZE_RELEASED.minPixels;
  const maxPixels = opts.maxPixels ?? SMART_RESIZE_RELEASED.maxPixels;
  const utils = (opts.flavour ?? "transformers") === "qwen-vl-utils";
  if (!(Number.isFinite(height) && Number.isFinite(width) && height > 0 && width > 0))
    throw new RangeError(`smartResize: height and width must be positive, got ${height}×${width}`);
  if (!(Number.isInteger(factor) && factor > 0)) throw new RangeError(`smartResize: factor must be a positive integer`);
  if (!(minPixels > 0 && maxPixels >= minPixels))
    throw new RangeError(`smartResize: need 0 < minPixels <= maxPixels, got ${minPixels} and ${maxPixels}`);
  if (!utils && (height < factor || width < factor))
    throw new RangeError(`smartResize: height ${height} and width ${width} must be at least the factor ${factor}`);
  if (Math.max(height, width) / Math.min(height, width) > 200)
    throw new RangeError(`smartResize: aspect ratio ${height}×${width} is above 200`);
  const keep = (side: number) => (utils ? Math.max(factor, side) : side);
  let h = keep(roundHalfEven(height / factor) * factor);
  let w = keep(roundHalfEven(width / factor) * factor);
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = keep(Math.floor(height / beta / factor) * factor);
    w = keep(Math.floor(width / beta / factor) * factor);
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return [h, w];
}
