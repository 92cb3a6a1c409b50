/**
 * Images from files and bytes, and CLIP's preprocessing.
 *
 *   const img = await loadImage("cat.jpg");           // { data: Uint8Array [H, W, 3], width, height }
 *   const x = await clipPreprocess([img, "dog.png"], 224);   // tf.Tensor4D [2, 3, 224, 224], CLIP-normalised
 *
 * Loading. sharp decodes PNG, JPEG, WebP, GIF, TIFF, AVIF and SVG. Its errors name neither the file nor the
 * problem in plain words ("Input buffer contains unsupported image format"), so `loadImage` checks the bytes
 * first and wraps every decoding error in one that names the file (or the byte count) and says what is wrong:
 * not an image (with a hint when the bytes look like text), truncated, or corrupt. Channels become RGB the way
 * PIL's `convert("RGB")` does: grey is copied to R, G and B; alpha is dropped (not composited); other channel
 * counts are an error. EXIF orientation is not applied (PIL's `Image.open` does not apply it either).
 *
 * CLIP's `_transform(n)` (openai/CLIP clip.py): `Resize(n, BICUBIC)` of the shorter side, `CenterCrop(n)`, RGB,
 * `ToTensor` (÷255), `Normalize(CLIP_MEAN, CLIP_STD)`. The resize here is sharp's "cubic" kernel, Catmull-Rom
 * (the same a = −0.5 cubic as PIL's BICUBIC) on 8-bit pixels, antialiased when shrinking as PIL does; the two
 * libraries' filter windows differ slightly, so pixels can differ from PIL by a few levels out of 255 — fine for
 * running a checkpoint, not bit-exact. The sizes follow torchvision exactly: the longer side becomes
 * ⌊n · long / short⌋, and the crop offset is `round((size − n) / 2)` with Python's round-half-to-even.
 */
import fs from "node:fs";
import zlib from "node:zlib";
import sharp from "sharp";
import { tf } from "@vlab/core";

/** An 8-bit RGB image: `data` is `[H, W, 3]`, row-major, interleaved. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Decoded pixels with any channel count (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), `[H, W, C]` interleaved. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** OpenAI CLIP's per-channel mean (RGB), from `_transform`. */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
/** OpenAI CLIP's per-channel standard deviation (RGB), from `_transform`. */
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

export type ImageInput = string | Uint8Array | RgbImage;

/** What the first bytes say the file is, or undefined when they match no image format sharp reads. */
function sniffFormat(b: Uint8Array): string | undefined {
  const at = (i: number, ...v: number[]) => v.every((x, j) => b[i + j] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return "png";
  if (at(0, 0xff, 0xd8, 0xff)) return "jpeg";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "gif";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "webp";
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return "tiff";
  if (at(4, 0x66, 0x74, 0x79, 0x70)) return "heif/avif";
  const head = Buffer.from(b.subarray(0, 256)).toString("utf8").trimStart();
  if (head.startsWith("<svg") || (head.startsWith("<?xml") && head.includes("<svg"))) return "svg";
  return undefined;
}

/** True when the bytes look like text (printable ASCII / UTF-8 and whitespace), for a friendlier error. */
function looksLikeText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 512);
  if (n === 0) return false;
  let printable = 0;
  for (const c of b.subarray(0, n)) {
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 128) printable++;
  }
  return printable / n > 0.95;
}

/** Where index `i` of an interleaved `[H, W, C]` array lies, for messages: "pixel (x, y), channel c". */
function where(i: number, width: number, channels: number): string {
  if (!(channels >= 1 && width >= 1)) return `element ${i}`;
  const p = Math.floor(i / channels);
  return `pixel (${p % width}, ${Math.floor(p / width)}), channel ${i % channels}`;
}

/**
 * The pixels of an image as 8-bit levels. A `Uint8Array` (or `Uint8ClampedArray`) is used as it is; any other array of
 * numbers (a `Float32Array`, a plain array) must hold integers 0..255, and a NaN, an infinity or any other value is an
 * error naming the image and the first bad index — never a silent cast (NaN → 0, 300 → 44).
 */
function eightBit(data: unknown, name: string, width: number, channels: number): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof Uint8ClampedArray) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const values = data as ArrayLike<unknown> | null | undefined;
  if (!values || typeof values !== "object" || typeof values.length !== "number")
    throw new TypeError(`${name}: pixel data must be a Uint8Array, got ${Object.prototype.toString.call(data)}`);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 255) {
      const what = typeof v === "number" && !Number.isFinite(v) ? "non-finite value" : "value";
      throw new RangeError(
        `${name}: ${what} ${String(v).slice(0, 40)} at index ${i} (${where(i, width, channels)}) is not an ` +
          "8-bit level (an integer 0..255)",
      );
    }
    out[i] = v;
  }
  return out;
}

/** An RgbImage's pixels as 8-bit levels (see `eightBit`), checked to fill `[H, W, 3]`. */
function rgbPixels(img: RgbImage, name: string): Uint8Array {
  const data = eightBit(img.data, name, img.width, 3);
  if (data.length !== img.width * img.height * 3)
    throw new RangeError(`${name}: ${data.length} values do not make a ${img.width}x${img.height} RGB image`);
  return data;
}

/** Checks that per-channel `mean` and `std` are finite numbers, with no zero std (which would divide by zero). */
function checkMeanStd(fn: string, mean: readonly number[], std: readonly number[]): void {
  mean.forEach((m, c) => {
    if (typeof m !== "number" || !Number.isFinite(m)) throw new RangeError(`${fn}: mean[${c}] is ${m}, not finite`);
  });
  std.forEach((v, c) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v === 0)
      throw new RangeError(`${fn}: std[${c}] is ${v}; it must be finite and non-zero`);
  });
}

/** Copies grey to RGB and drops alpha, as PIL's `convert("RGB")`; any other channel count is an error. */
export function toRgb(raw: RawImage, name = "image"): RgbImage {
  const { width, height, channels } = raw;
  const data = eightBit(raw.data, name, width, channels);
  const n = width * height;
  if (data.length !== n * channels) {
    throw new RangeError(
      `${name}: ${data.length} bytes do not make a ${width}x${height} image with ${channels} channels ` +
        `(${n * channels} bytes)`,
    );
  }
  if (channels === 3) return { data, width, height };
  if (channels !== 1 && channels !== 2 && channels !== 4) {
    throw new RangeError(`${name}: expected 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels, got ${channels}`);
  }
  const out = new Uint8Array(n * 3);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- p < n and data.length === n * channels (checked
     above) */
  for (let p = 0; p < n; p++) {
    if (channels <= 2) {
      const g = data[p * channels]!;
      out[p * 3] = g;
      out[p * 3 + 1] = g;
      out[p * 3 + 2] = g;
    } else {
      out[p * 3] = data[p * 4]!;
      out[p * 3 + 1] = data[p * 4 + 1]!;
      out[p * 3 + 2] = data[p * 4 + 2]!;
    }
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return { data: out, width, height };
}

/**
 * Checks a PNG's chunk structure: each chunk must fit in the file, and each critical chunk (IHDR, PLTE, IDAT, IEND: an
 * upper-case first letter) must match its CRC. libspng, under sharp, decodes a PNG whose IDAT CRC is wrong without a
 * word, so a damaged byte in an uncompressed stretch would give wrong pixels silently; libpng refuses such a chunk by
 * default, and so does this. Bad CRCs of ancillary chunks (text, colour profile) are tolerated, as libpng does.
 */
function checkPngChunks(b: Uint8Array, name: string): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 8; // after the signature
  while (o + 12 <= b.length) {
    const len = dv.getUint32(o);
    const type = String.fromCharCode(...b.subarray(o + 4, o + 8));
    const shown = /^[A-Za-z]{4}$/.test(type) ? type : JSON.stringify(type);
    if (o + 12 + len > b.length) {
      const need = `${12 + len} bytes, ${b.length - o} remain`;
      throw new Error(
        `loadImage: ${name} is a truncated or damaged png file: its ${shown} chunk at byte ${o} needs ${need}`,
      );
    }
    const critical = (b[o + 4] ?? 0) < 0x61; // upper-case first letter
    const stored = dv.getUint32(o + 8 + len);
    if (critical && zlib.crc32(b.subarray(o + 4, o + 8 + len)) >>> 0 !== stored) {
      const what = `the CRC of its ${shown} chunk at byte ${o} does not match its contents`;
      throw new Error(`loadImage: ${name} is a truncated or damaged png file: ${what}`);
    }
    if (type === "IEND") return;
    o += 12 + len;
  }
}

/** sharp's default `limitInputPixels`: images declaring more pixels are refused before decoding. */
export const PIXEL_LIMIT = 0x3fff * 0x3fff;

/**
 * TIFF is the one format read here that can hold float samples. sharp casts them to 8 bits with NaN → 0, so a NaN or
 * an infinity would decode silently: read such a file at its own depth first and refuse non-finite values by index.
 */
async function refuseNonFinite(bytes: Uint8Array, name: string): Promise<void> {
  const meta = await sharp(bytes)
    .metadata()
    .catch(() => undefined); // undecodable: the decoding below says why
  const depth = meta?.depth;
  if (depth !== "float" && depth !== "double") return;
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    decoded = await sharp(bytes, { failOn: "truncated" }).raw({ depth }).toBuffer({ resolveWithObject: true });
  } catch {
    return; // the decoding below reports it
  }
  const { data, info } = decoded;
  const Values = depth === "float" ? Float32Array : Float64Array;
  const values = new Values(data.buffer, data.byteOffset, data.byteLength / Values.BYTES_PER_ELEMENT);
  for (let i = 0; i < values.length; i++) {
    // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < values.length
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      throw new Error(
        `loadImage: ${name} holds a non-finite pixel value (${v}) at index ${i} ` +
          `(${where(i, info.width, info.channels)} of its ${info.width}x${info.height} ${depth} samples); ` +
          "refusing to decode it to 8 bits",
      );
    }
  }
}

/**
 * Loads an image file (path) or encoded bytes (PNG, JPEG, ...) as 8-bit RGB. Errors name the file and the problem.
 */
export async function loadImage(src: string | Uint8Array): Promise<RgbImage> {
  let bytes: Uint8Array;
  let name: string;
  if (typeof src === "string") {
    name = src;
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(src);
    } catch {
      throw new Error(`loadImage: no such file: ${src}`);
    }
    if (stat.isDirectory()) throw new Error(`loadImage: ${src} is a directory, not an image file`);
    bytes = await fs.promises.readFile(src);
  } else if (src instanceof Uint8Array) {
    name = `image bytes (${src.length} bytes)`;
    bytes = src;
  } else {
    throw new TypeError(
      `loadImage: expected a file path or encoded image bytes, got ${Object.prototype.toString.call(src)}`,
    );
  }
  if (bytes.length === 0) throw new Error(`loadImage: ${name} is empty (0 bytes)`);
  const format = sniffFormat(bytes);
  if (!format) {
    const hint = looksLikeText(bytes)
      ? `; it looks like text, starting ${JSON.stringify(Buffer.from(bytes.subarray(0, 40)).toString("utf8"))}`
      : "";
    throw new Error(`loadImage: ${name} is not an image (not PNG, JPEG, GIF, WebP, TIFF, AVIF or SVG)${hint}`);
  }
  if (format === "png") checkPngChunks(bytes, name);
  if (format === "tiff") await refuseNonFinite(bytes, name);
  try {
    // failOn "truncated": refuse files cut short; plain warnings (e.g. odd metadata) are tolerated like PIL does.
    const { data, info } = await sharp(bytes, { failOn: "truncated" })
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    return toRgb(
      {
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        width: info.width,
        height: info.height,
        channels: info.channels,
      },
      name,
    );
  } catch (e) {
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg)) {
      const meta = await sharp(bytes, { limitInputPixels: false })
        .metadata()
        .catch(() => undefined);
      const dims =
        meta?.width && meta.height ? `${meta.width}x${meta.height} = ${meta.width * meta.height} pixels` : "";
      throw new Error(
        `loadImage: ${name} is too large to decode: it declares ${dims || "more pixels than allowed"}, over the ` +
          `limit of ${PIXEL_LIMIT} (16383x16383) pixels (a decompression bomb, or a damaged header?)`,
        { cause: e },
      );
    }
    const truncated =
      /truncat|premature|end of (file|stream|data)|unexpected end|not enough data|read error|short read|EOF/i.test(msg);
    const what = truncated ? `is a truncated or damaged ${format} file` : `could not be decoded as ${format}`;
    throw new Error(`loadImage: ${name} ${what} (sharp: ${msg.trim()})`, { cause: e });
  }
}

/**
 * Anything image-like → RgbImage (paths and bytes are decoded). An RgbImage whose data is not a `Uint8Array` is
 * accepted when it holds 8-bit levels; a NaN, an infinity or a value outside 0..255 is an error naming its index.
 */
export async function asRgbImage(src: ImageInput, name = "image"): Promise<RgbImage> {
  if (typeof src === "string" || src instanceof Uint8Array) return loadImage(src);
  if (src && typeof src === "object" && "data" in src && Number.isInteger(src.width) && Number.isInteger(src.height)) {
    if (src.data instanceof Uint8Array && src.data.length === src.width * src.height * 3) return src;
    return { data: rgbPixels(src, name), width: src.width, height: src.height };
  }
  throw new TypeError(
    `${name}: expected a file path, encoded image bytes, or an RgbImage { data: Uint8Array [H, W, 3], width, height }`,
  );
}

/**
 * Resizes with a bicubic filter: sharp's "cubic" kernel (Catmull-Rom, a = −0.5, like PIL's BICUBIC), 8-bit output.
 * Returns the input unchanged when the size already matches.
 */
export async function resizeBicubic(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`resizeBicubic: width and height must be positive integers, got ${width}x${height}`);
  }
  if (width === img.width && height === img.height) return img;
  const data = rgbPixels(img, "resizeBicubic: the image");
  const buf = await sharp(data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { kernel: "cubic", fit: "fill" })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), width, height };
}

/** torchvision `Resize(n)` size: the shorter side becomes n, the longer ⌊n · long / short⌋. */
export function shorterSideSize(width: number, height: number, n: number): [number, number] {
  if (width <= height) return [n, Math.floor((n * height) / width)];
  return [Math.floor((n * width) / height), n];
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * torchvision `CenterCrop`: the window's top-left is round((size − crop) / 2) (half to even), for crops inside the
 * image.
 */
export function centerCrop(img: RgbImage, width: number, height = width): RgbImage {
  if (width > img.width || height > img.height) {
    throw new RangeError(`centerCrop: cannot crop ${width}x${height} from a ${img.width}x${img.height} image`);
  }
  const data = rgbPixels(img, "centerCrop: the image");
  const left = roundHalfEven((img.width - width) / 2);
  const top = roundHalfEven((img.height - height) / 2);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const src = ((top + y) * img.width + left) * 3;
    out.set(data.subarray(src, src + width * 3), y * width * 3);
  }
  return { data: out, width, height };
}

/** CLIP's resize-and-crop: shorter side to n (bicubic), then the centre n×n. */
export async function clipResizeCrop(img: RgbImage, n: number): Promise<RgbImage> {
  const [w, h] = shorterSideSize(img.width, img.height, n);
  return centerCrop(await resizeBicubic(img, w, h), n, n);
}

/**
 * Images of one size → `[B, 3, H, W]` float32 numbers, channel-first: `v / 255`, or `(v / 255 − mean[c]) / std[c]`
 * when `mean` and `std` are given (computed in double precision, rounded to float32 once). Pixels are normally 8-bit
 * (`Uint8Array`); other arrays of numbers are read as they are, and a NaN or an infinity among them — or a result that
 * is not finite — is an error naming the image and the first bad index.
 */
export function toFloat32(
  images: readonly RgbImage[],
  mean?: readonly number[],
  std?: readonly number[],
): Float32Array {
  const [first] = images;
  if (!first) throw new RangeError("toTensor: no images given");
  const { width: W, height: H } = first;
  const plane = W * H;
  const out = new Float32Array(images.length * 3 * plane);
  const m = mean ?? [0, 0, 0],
    s = std ?? [1, 1, 1];
  if (m.length < 3 || s.length < 3)
    throw new RangeError(`toTensor: mean and std need a value per channel (R, G, B), got ${m.length} and ${s.length}`);
  checkMeanStd("toTensor", m, s);
  images.forEach((img, b) => {
    if (img.width !== W || img.height !== H) {
      throw new RangeError(
        `toTensor: all images must have one size; image 0 is ${W}x${H}, image ${b} is ${img.width}x${img.height}`,
      );
    }
    const data = img.data as ArrayLike<number>;
    if (!data || typeof data.length !== "number")
      throw new TypeError(`toTensor: image ${b} has no pixel data (expected a Uint8Array [H, W, 3])`);
    if (data.length < plane * 3)
      throw new RangeError(`toTensor: image ${b} has ${data.length} values, fewer than ${W}x${H}x3`);
    /* eslint-disable @typescript-eslint/no-non-null-assertion -- c < 3 ≤ mean/std length, p·3+c < data.length
       (checked above) */
    for (let c = 0; c < 3; c++) {
      const base = (b * 3 + c) * plane,
        mc = m[c]!,
        sc = s[c]!;
      for (let p = 0; p < plane; p++) {
        const v = data[p * 3 + c]!;
        const x = Math.fround((v / 255 - mc) / sc);
        if (x - x !== 0) notFinite(b, p * 3 + c, v, x, W); // NaN or ±Infinity (never for 8-bit pixels)
        out[base + p] = x;
      }
    }
    /* eslint-enable @typescript-eslint/no-non-null-assertion */
  });
  return out;
}

/** The error for pixel value `v` at index `i` of image `b` (`[H, W, 3]` data), which gave the non-finite `x`. */
function notFinite(b: number, i: number, v: unknown, x: number, width: number): never {
  const at = `index ${i} (${where(i, width, 3)})`;
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new RangeError(`toTensor: image ${b} has a non-finite value ${String(v).slice(0, 40)} at ${at}`);
  throw new RangeError(`toTensor: image ${b}: the value ${v} at ${at} becomes ${x} (float32) once normalised`);
}

/** Images of one size → tensor `[B, 3, H, W]` float32 in [0, 1] (torchvision's `ToTensor`, batched). */
export function toTensor(images: readonly RgbImage[]): tf.Tensor4D {
  const { width: W, height: H } = images[0] ?? { width: 0, height: 0 };
  return tf.tensor4d(toFloat32(images), [images.length, 3, H, W], "float32");
}

/**
 * `(t − mean) / std` per channel, for `[B, C, H, W]` or `[C, H, W]` tensors (channel-first); returns a new tensor.
 */
export function normalize<T extends tf.Tensor>(
  t: T,
  mean: readonly number[] = CLIP_MEAN,
  std: readonly number[] = CLIP_STD,
): T {
  const c = t.shape[t.rank - 3];
  if ((t.rank !== 3 && t.rank !== 4) || c === undefined)
    throw new RangeError(`normalize: expected [B, C, H, W] or [C, H, W], got shape [${t.shape.join(", ")}]`);
  if (mean.length !== c || std.length !== c) {
    throw new RangeError(
      `normalize: the tensor has ${c} channels but mean has ${mean.length} and std ${std.length} values`,
    );
  }
  checkMeanStd("normalize", mean, std);
  refuseNonFiniteTensor(t);
  const shape = t.rank === 4 ? [1, c, 1, 1] : [c, 1, 1];
  return tf.tidy(() => tf.div(tf.sub(t, tf.tensor(mean as number[], shape)), tf.tensor(std as number[], shape))) as T;
}

/**
 * Refuses a float tensor of images holding a NaN or an infinity, naming the first one: its flat index, the image of
 * the batch, the channel and the pixel. One reduction and a one-value read; the data is read only to name the culprit.
 */
function refuseNonFiniteTensor(t: tf.Tensor): void {
  if (t.dtype !== "float32") return; // int32 and bool hold no NaN
  const ok = tf.tidy(() => tf.all(tf.isFinite(t)));
  const finite = ok.dataSync()[0] === 1;
  ok.dispose();
  if (finite) return;
  const data = t.dataSync();
  const i = data.findIndex((v) => !Number.isFinite(v));
  const [H, W] = t.shape.slice(-2) as [number, number];
  const C = t.shape[t.rank - 3] ?? 1;
  const x = i % W,
    y = Math.floor(i / W) % H,
    c = Math.floor(i / (W * H)) % C,
    b = Math.floor(i / (W * H * C));
  const image = t.rank === 4 ? `image ${b}, ` : "";
  throw new RangeError(
    `normalize: the tensor [${t.shape.join(", ")}] has a non-finite value ${data[i]} at index ${i} ` +
      `(${image}channel ${c}, pixel (${x}, ${y}))`,
  );
}

/**
 * CLIP's `_transform(n)` over a batch: load, resize the shorter side to n (bicubic), centre-crop n×n, ÷255, normalise
 * with `CLIP_MEAN` / `CLIP_STD`. Returns `[B, 3, n, n]` float32 (the caller disposes it).
 */
export async function clipPreprocess(images: readonly ImageInput[], n = 224): Promise<tf.Tensor4D> {
  const x = await clipPreprocessRaw(images, n);
  return tf.tensor4d(x, [images.length, 3, n, n], "float32");
}

/** `clipPreprocess` as plain numbers: `[B, 3, n, n]` float32 (for onnxruntime or anything without tfjs). */
export async function clipPreprocessRaw(images: readonly ImageInput[], n = 224): Promise<Float32Array> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`clipPreprocess: n must be a positive integer, got ${n}`);
  const crops = await Promise.all(
    images.map(async (src, b) => clipResizeCrop(await asRgbImage(src, `clipPreprocess: image ${b}`), n)),
  );
  return toFloat32(crops, CLIP_MEAN, CLIP_STD);
}
