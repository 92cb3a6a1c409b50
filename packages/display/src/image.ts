/**
 * Images in notebooks: `await image(src)` for one picture, `await imageGrid(items)` for many with captions.
 *
 * Both are async because encoding goes through sharp; in a notebook use top-level await
 * (`await image(t)` as the last expression renders it). A source is PNG/JPEG (or any format sharp reads)
 * bytes, a file path, or a tensor `[H, W, C]`, `[C, H, W]`, `[H, W]` or `[1, ...]` with C = 1, 3 or 4:
 * float values in [0, 1] (clamped), int32 values in 0..255 (clamped), bool as black/white.
 * When a 3-d shape fits both layouts (e.g. `[3, 8, 4]`), `[H, W, C]` wins.
 */
import fs from "node:fs";
import path from "node:path";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs-core";
import { escapeHtml, escapeXml, JUPYTER_DISPLAY, type MimeBundle } from "@vlab/core";
import { isPng, toBase64 } from "./util.js";

/** A decoded-enough image: PNG bytes and their size, displayable as `image/png`. */
export class ImageDisplay {
  constructor(
    readonly png: Buffer,
    readonly width: number,
    readonly height: number,
    readonly caption?: string,
    /** Extra HTML shown instead of the plain image (used by imageGrid for its alt text). */
    private readonly alt?: string,
  ) {}

  [JUPYTER_DISPLAY](): MimeBundle {
    const b64 = toBase64(this.png);
    const bundle: MimeBundle = { "image/png": b64, "text/plain": this.toString() };
    if (this.caption !== undefined || this.alt !== undefined) {
      const alt = escapeHtml(this.alt ?? this.caption ?? "");
      const cap =
        this.caption !== undefined
          ? `<figcaption style="font-size:12px;color:#444">${escapeHtml(this.caption)}</figcaption>`
          : "";
      bundle["text/html"] =
        `<figure style="margin:0;display:inline-block"><img src="data:image/png;base64,${b64}" width="${this.width}" ` +
        `height="${this.height}" ` +
        `alt="${alt}" style="image-rendering:pixelated"/>${cap}</figure>`;
    }
    return bundle;
  }

  toString(): string {
    return `<image ${this.width}x${this.height}${this.caption ? `: ${this.caption}` : ""}>`;
  }

  /** Writes the PNG (or, for .jpg/.webp paths, converts it) and returns the path. */
  async save(file: string): Promise<string> {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    if (/\.png$/i.test(file)) fs.writeFileSync(file, this.png);
    else await sharp(this.png).toFile(file);
    return file;
  }
}

export type ImageSource = Uint8Array | string | tf.Tensor | ImageDisplay;

export interface ImageOptions {
  /**
   * Resize to this width in pixels, keeping the aspect ratio (nearest-neighbour when enlarging, so pixels stay crisp).
   */
  width?: number;
  /** Shown under the image (text/html) and in its text form. */
  caption?: string;
}

interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

function isChannels(c: number | undefined): c is 1 | 3 | 4 {
  return c === 1 || c === 3 || c === 4;
}

/**
 * Works out the layout of an image tensor's shape; throws a clear error for anything that is not one image.
 * Returns height, width, channels and whether the channels come first.
 */
export function imageLayout(shape: readonly number[]): {
  height: number;
  width: number;
  channels: 1 | 3 | 4;
  channelsFirst: boolean;
} {
  const s = `[${shape.join(", ")}]`;
  let dims = [...shape];
  if (dims.length === 4) {
    if (dims[0] !== 1)
      throw new Error(
        `image tensor ${s} is a batch of ${dims[0]} images: pass one image (e.g. index it) or use imageGrid()`,
      );
    dims = dims.slice(1);
  }
  let out: { height: number; width: number; channels: 1 | 3 | 4; channelsFirst: boolean };
  const [a, b, c, ...more] = dims;
  if (a !== undefined && b !== undefined && c === undefined)
    out = { height: a, width: b, channels: 1, channelsFirst: false };
  else if (a !== undefined && b !== undefined && c !== undefined && more.length === 0) {
    if (isChannels(c)) out = { height: a, width: b, channels: c, channelsFirst: false };
    else if (isChannels(a)) out = { height: b, width: c, channels: a, channelsFirst: true };
    else
      throw new Error(
        `image tensor ${s} has no channel dimension of size 1, 3 or 4: expected [H, W, C] or [C, H, W] with C = 1 ` +
          `(grey), 3 (RGB) or 4 (RGBA)`,
      );
  } else
    throw new Error(
      `image tensor ${s} has rank ${shape.length}: expected [H, W], [H, W, C], [C, H, W] or [1, ...] with C = 1, 3 ` +
        `or 4`,
    );
  if (out.height < 1 || out.width < 1) throw new Error(`image tensor ${s} is empty`);
  return out;
}

/** Tensor → interleaved 8-bit pixels (float [0,1] and int 0..255 are clamped; NaN becomes 0). */
async function tensorPixels(t: tf.Tensor): Promise<RawImage> {
  if (t.isDisposed) throw new Error("image(): the tensor is disposed");
  if (t.dtype === "string" || t.dtype === "complex64")
    throw new Error(`image(): a ${t.dtype} tensor cannot be an image`);
  const { height, width, channels, channelsFirst } = imageLayout(t.shape);
  const src = (await t.data()) as ArrayLike<number>;
  const data = new Uint8Array(height * width * channels);
  const scale = t.dtype === "float32" ? 255 : t.dtype === "bool" ? 255 : 1;
  const plane = height * width;
  if (src.length !== plane * channels)
    throw new Error(`image(): ${src.length} values for a ${height}x${width}x${channels} image`);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- src holds plane * channels values (checked above) */
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) {
      const v = src[channelsFirst ? c * plane + p : p * channels + c]! * scale;
      data[p * channels + c] = v > 255 ? 255 : v > 0 ? Math.round(v) : 0; // NaN and negatives → 0
    }
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return { data, width, height, channels };
}

function rawToPng(raw: RawImage): Promise<Buffer> {
  const img = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
  return (raw.channels === 1 ? img.toColourspace("b-w") : img).png().toBuffer(); // keep grey images 1-channel
}

/** Encodes an image tensor (see `image()` for the accepted shapes and value ranges) as PNG bytes. */
export async function toPng(t: tf.Tensor): Promise<Buffer> {
  return rawToPng(await tensorPixels(t));
}

/** Any source → PNG bytes with their size. */
async function toPngImage(src: ImageSource): Promise<{ png: Buffer; width: number; height: number }> {
  if (src instanceof ImageDisplay) return { png: src.png, width: src.width, height: src.height };
  if (src instanceof tf.Tensor) {
    const raw = await tensorPixels(src);
    return { png: await rawToPng(raw), width: raw.width, height: raw.height };
  }
  let input: Buffer | string;
  if (typeof src === "string") {
    if (!fs.existsSync(src)) throw new Error(`image(): no such file: ${src}`);
    input = src;
  } else if (src instanceof Uint8Array) {
    input = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  } else {
    throw new TypeError(
      `image(): expected PNG/JPEG bytes, a file path or a tensor, got ${Object.prototype.toString.call(src)}`,
    );
  }
  try {
    const img = sharp(input);
    const meta = await img.metadata();
    const { width, height } = meta;
    if (width === undefined || height === undefined) throw new Error("sharp found no width and height");
    const png = Buffer.isBuffer(input) && isPng(input) ? input : await img.png().toBuffer();
    return { png, width, height };
  } catch (e) {
    const what = typeof src === "string" ? src : `${src.length} bytes`;
    throw new Error(`image(): cannot read ${what} as an image (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
    });
  }
}

async function resizeTo(
  png: Buffer,
  width: number,
  height: number,
  targetW: number,
): Promise<{ png: Buffer; width: number; height: number }> {
  if (!Number.isFinite(targetW) || targetW < 1)
    throw new Error(`image(): width must be a positive number, got ${targetW}`);
  const w = Math.round(targetW);
  if (w === width) return { png, width, height };
  const h = Math.max(1, Math.round((height * w) / width));
  const out = await sharp(png)
    .resize(w, h, { kernel: w > width ? "nearest" : "lanczos3", fit: "fill" })
    .png()
    .toBuffer();
  return { png: out, width: w, height: h };
}

/**
 * An image that displays as `image/png` (base64) with `text/plain` `<image WxH>`.
 * Async (sharp encodes it): `await image(t, { width: 128, caption: "input" })`.
 */
export async function image(src: ImageSource, opts: ImageOptions = {}): Promise<ImageDisplay> {
  let img = await toPngImage(src);
  if (opts.width !== undefined) img = await resizeTo(img.png, img.width, img.height, opts.width);
  return new ImageDisplay(img.png, img.width, img.height, opts.caption);
}

export interface GridItem {
  image: ImageSource;
  caption?: string;
}

export interface ImageGridOptions {
  /** Images per row (default: all in one row up to 8). */
  cols?: number;
  /** Each image is fitted into a square of this many pixels (default 96). */
  cellSize?: number;
  /** Captions for the items when they are given as plain sources or a batch tensor. */
  captions?: string[];
  /** A caption for the whole grid (text/html and text/plain). */
  title?: string;
  /** Gap between cells in pixels (default 6). */
  gap?: number;
}

/** Splits a batch tensor `[N, H, W, C]` / `[N, C, H, W]` into N images (the caller disposes them). */
function unbatch(t: tf.Tensor): tf.Tensor[] {
  if (t.rank !== 4) return [t];
  return tf.unstack(t, 0);
}

/**
 * Many images in one PNG, each fitted into a `cellSize` square, with its caption drawn under it
 * (an SVG overlay composited by sharp). Items are `{ image, caption }`, plain sources, or a batch tensor.
 */
export async function imageGrid(
  items: Array<GridItem | ImageSource> | tf.Tensor,
  opts: ImageGridOptions = {},
): Promise<ImageDisplay> {
  const owned: tf.Tensor[] = [];
  let list: GridItem[];
  if (items instanceof tf.Tensor) {
    const parts = unbatch(items);
    if (parts.length > 1) owned.push(...parts);
    list = parts.map((image, i) => ({ image, caption: opts.captions?.[i] }));
  } else {
    list = items.map((it, i) =>
      typeof it === "object" &&
      it !== null &&
      "image" in it &&
      !(it instanceof tf.Tensor) &&
      !(it instanceof ImageDisplay) &&
      !(it instanceof Uint8Array)
        ? (it as GridItem)
        : { image: it as ImageSource, caption: opts.captions?.[i] },
    );
  }
  try {
    if (list.length === 0) throw new Error("imageGrid(): no images");
    const cell = Math.round(opts.cellSize ?? 96);
    if (!(cell >= 4)) throw new Error(`imageGrid(): cellSize must be at least 4, got ${opts.cellSize}`);
    const cols = Math.max(1, Math.min(list.length, Math.round(opts.cols ?? Math.min(list.length, 8))));
    const rows = Math.ceil(list.length / cols);
    const gap = Math.max(0, Math.round(opts.gap ?? 6));
    const fontSize = Math.max(9, Math.min(13, Math.round(cell / 8)));
    const captioned = list.some((it) => it.caption);
    const capH = captioned ? fontSize + 6 : 0;
    const width = cols * cell + (cols + 1) * gap;
    const height = rows * (cell + capH) + (rows + 1) * gap;

    const tiles = await Promise.all(
      list.map(async (it, i) => {
        const img = await toPngImage(it.image);
        const up = img.width < cell && img.height < cell;
        const input = await sharp(img.png)
          .resize(cell, cell, {
            fit: "contain",
            background: { r: 255, g: 255, b: 255, alpha: 1 },
            kernel: up ? "nearest" : "lanczos3",
          })
          .png()
          .toBuffer();
        const col = i % cols,
          row = Math.floor(i / cols);
        return { input, left: gap + col * (cell + gap), top: gap + row * (cell + capH + gap) };
      }),
    );
    const composites: sharp.OverlayOptions[] = tiles;
    if (captioned) {
      const maxChars = Math.max(3, Math.floor(cell / (fontSize * 0.6)));
      const texts = list
        .map((it, i) => {
          if (!it.caption) return "";
          const text = it.caption.length > maxChars ? it.caption.slice(0, maxChars - 1) + "…" : it.caption;
          const x = gap + (i % cols) * (cell + gap) + cell / 2;
          const y = gap + Math.floor(i / cols) * (cell + capH + gap) + cell + fontSize + 1;
          return `<text x="${x}" y="${y}" text-anchor="middle">${escapeXml(text)}</text>`;
        })
        .join("");
      const overlay =
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
        `<g font-family="DejaVu Sans, Arial, sans-serif" font-size="${fontSize}" fill="#222">${texts}</g></svg>`;
      composites.push({ input: Buffer.from(overlay), left: 0, top: 0 });
    }
    const png = await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
      .composite(composites)
      .png()
      .toBuffer();
    const alt = list.map((it, i) => it.caption ?? `image ${i + 1}`).join(", ");
    return new ImageDisplay(png, width, height, opts.title, alt);
  } finally {
    for (const t of owned) t.dispose();
  }
}
