// NaN and infinite pixels are refused wherever float pixel data can come in, naming the image and the first bad index.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { initBackend, tf } from "@vlab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  centerCrop,
  clipPreprocess,
  loadImage,
  normalize,
  resizeBicubic,
  toFloat32,
  toRgb,
  toTensor,
  type RgbImage,
} from "../src/image.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-data-finite-"));
beforeAll(async () => {
  await initBackend("cpu");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A w×h RGB image whose data is a Float32Array (what a caller may hand in at run time despite the type). */
function floatImage(w: number, h: number, bad?: [number, number]): RgbImage {
  const data = new Float32Array(w * h * 3).fill(128);
  if (bad) data[bad[0]] = bad[1];
  return { data: data as unknown as Uint8Array, width: w, height: h };
}

/** A little-endian float32 greyscale TIFF (uncompressed, one strip): the smallest file holding float samples. */
function floatTiff(w: number, h: number, values: readonly number[]): Buffer {
  // [tag, type (3 SHORT, 4 LONG), value]; StripOffsets (273) is filled in below.
  const tags: [number, number, number][] = [
    [256, 3, w],
    [257, 3, h],
    [258, 3, 32], // BitsPerSample
    [259, 3, 1], // no compression
    [262, 3, 1], // BlackIsZero
    [273, 4, 0],
    [277, 3, 1], // SamplesPerPixel
    [278, 3, h], // RowsPerStrip
    [279, 4, w * h * 4], // StripByteCounts
    [339, 3, 3], // SampleFormat: IEEE float
  ];
  const dataAt = 8 + 2 + tags.length * 12 + 4;
  const buf = Buffer.alloc(dataAt + w * h * 4);
  buf.write("II", 0);
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(tags.length, 8);
  tags.forEach(([tag, type, value], i) => {
    const o = 10 + i * 12;
    buf.writeUInt16LE(tag, o);
    buf.writeUInt16LE(type, o + 2);
    buf.writeUInt32LE(1, o + 4);
    const v = tag === 273 ? dataAt : value;
    if (type === 3) buf.writeUInt16LE(v, o + 8);
    else buf.writeUInt32LE(v, o + 8);
  });
  values.forEach((v, i) => buf.writeFloatLE(v, dataAt + i * 4));
  return buf;
}

describe("toFloat32 / toTensor", () => {
  it("refuse NaN and ±Infinity pixels, naming the image and the index", () => {
    const ok = floatImage(3, 2);
    for (const v of [NaN, Infinity, -Infinity]) {
      expect(() => toFloat32([ok, floatImage(3, 2, [7, v])])).toThrow(
        `toTensor: image 1 has a non-finite value ${v} at index 7 (pixel (2, 0), channel 1)`,
      );
    }
    expect(() => toTensor([floatImage(3, 2, [17, NaN])])).toThrow(
      "toTensor: image 0 has a non-finite value NaN at index 17 (pixel (2, 1), channel 2)",
    );
    expect(tf.memory().numTensors).toBe(0);
    // Finite float data is read as it is (v / 255).
    expect(toFloat32([floatImage(1, 1, [0, 51])])[0]).toBe(Math.fround(0.2));
  });

  it("refuse a mean or std that is not finite, and a zero std", () => {
    const img: RgbImage = { data: new Uint8Array(12), width: 2, height: 2 };
    expect(() => toFloat32([img], [0, NaN, 0], [1, 1, 1])).toThrow("toTensor: mean[1] is NaN, not finite");
    expect(() => toFloat32([img], [0, 0, 0], [1, 0, 1])).toThrow(
      "toTensor: std[1] is 0; it must be finite and non-zero",
    );
    expect(() => toFloat32([img], [0, 0, 0], [1, 1, Infinity])).toThrow("toTensor: std[2] is Infinity");
    // A finite but tiny std overflows float32: the result is refused too.
    const white = { ...img, data: new Uint8Array(12).fill(255) };
    expect(() => toFloat32([white], [0, 0, 0], [1e-40, 1, 1])).toThrow(
      "toTensor: image 0: the value 255 at index 0 (pixel (0, 0), channel 0) becomes Infinity (float32) once " +
        "normalised",
    );
  });
});

describe("normalize", () => {
  it("refuses a tensor holding NaN or Infinity, naming the image, channel and pixel; nothing leaks", () => {
    const before = tf.memory().numTensors;
    const x = tf.tidy(() => {
      const v = new Float32Array(2 * 3 * 2 * 4).fill(0.5);
      v[1 * 24 + 2 * 8 + 1 * 4 + 3] = NaN; // image 1, channel 2, y 1, x 3
      return tf.tensor4d(v, [2, 3, 2, 4]);
    });
    expect(() => normalize(x)).toThrow(
      "normalize: the tensor [2, 3, 2, 4] has a non-finite value NaN at index 47 (image 1, channel 2, pixel (3, 1))",
    );
    const one = tf.tensor3d([0, 0, 0, -Infinity, 0, 0], [3, 1, 2]);
    expect(() => normalize(one, [0, 0, 0], [1, 1, 1])).toThrow(
      "normalize: the tensor [3, 1, 2] has a non-finite value -Infinity at index 3 (channel 1, pixel (1, 0))",
    );
    expect(() => normalize(one, [0, 0, 0], [1, NaN, 1])).toThrow("normalize: std[1] is NaN");
    tf.dispose([x, one]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("8-bit conversions refuse what they would cast silently", () => {
  it("toRgb, centerCrop and resizeBicubic name the image and the first bad index", async () => {
    const raw = { data: new Float32Array([7, NaN, 9, 0]) as unknown as Uint8Array, width: 2, height: 1, channels: 2 };
    expect(() => toRgb(raw, "x.tif")).toThrow(
      "x.tif: non-finite value NaN at index 1 (pixel (0, 0), channel 1) is not an 8-bit level (an integer 0..255)",
    );
    const big = { ...raw, data: new Float32Array([7, 300, 9, 0]) as unknown as Uint8Array };
    expect(() => toRgb(big, "x.tif")).toThrow("x.tif: value 300 at index 1 (pixel (0, 0), channel 1) is not an 8-bit");
    // Float data holding 8-bit levels converts exactly.
    const levels = { ...raw, data: new Float32Array([7, 255, 9, 0]) as unknown as Uint8Array };
    expect(Array.from(toRgb(levels).data)).toEqual([7, 7, 7, 9, 9, 9]);
    expect(() => centerCrop(floatImage(4, 4, [20, NaN]), 2)).toThrow(
      "centerCrop: the image: non-finite value NaN at index 20 (pixel (2, 1), channel 2)",
    );
    await expect(resizeBicubic(floatImage(4, 4, [5, Infinity]), 2, 2)).rejects.toThrow(
      "resizeBicubic: the image: non-finite value Infinity at index 5 (pixel (1, 0), channel 2)",
    );
  });

  it("clipPreprocess names which image of the batch is bad", async () => {
    const good: RgbImage = { data: new Uint8Array(4 * 4 * 3), width: 4, height: 4 };
    await expect(clipPreprocess([good, floatImage(4, 4, [3, NaN])], 4)).rejects.toThrow(
      "clipPreprocess: image 1: non-finite value NaN at index 3 (pixel (1, 0), channel 0)",
    );
  });
});

describe("loadImage of float TIFFs", () => {
  it("refuses NaN / Inf samples (sharp would cast them to 0 / 255), naming the file and the index", async () => {
    const file = path.join(dir, "nan.tiff");
    fs.writeFileSync(file, floatTiff(3, 2, [0, 0.5, 1, NaN, 2, 3]));
    await expect(loadImage(file)).rejects.toThrow(
      `loadImage: ${file} holds a non-finite pixel value (NaN) at index 9 (pixel (0, 1), channel 0 of its 3x2 float ` +
        "samples); refusing to decode it to 8 bits",
    );
    await expect(loadImage(floatTiff(1, 1, [Infinity]))).rejects.toThrow(
      /loadImage: image bytes \(\d+ bytes\) holds a non-finite pixel value \(Infinity\) at index 0/,
    );
    // Finite float samples still load (cast to 8 bits as PIL's convert("RGB") does: no rescaling).
    const img = await loadImage(floatTiff(2, 1, [3, 200]));
    expect(Array.from(img.data)).toEqual([3, 3, 3, 200, 200, 200]);
  });
});
