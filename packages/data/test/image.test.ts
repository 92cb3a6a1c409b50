import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { initBackend, tf } from "@vlab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLIP_MEAN,
  CLIP_STD,
  centerCrop,
  clipPreprocess,
  clipPreprocessRaw,
  loadImage,
  normalize,
  resizeBicubic,
  shorterSideSize,
  toRgb,
  toTensor,
  type RgbImage,
} from "../src/image.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-data-image-"));
beforeAll(async () => {
  await initBackend("cpu");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A w×h image whose pixel (x, y) is (x, y, x + y) — easy to compute by hand. */
function ramp(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x, y, x + y], (y * w + x) * 3);
  return { data, width: w, height: h };
}

function solid(w: number, h: number, c: [number, number, number]): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) data.set(c, p * 3);
  return { data, width: w, height: h };
}

describe("loadImage", () => {
  it("reads PNG files and bytes as RGB", async () => {
    const png = await sharp(Buffer.from(ramp(5, 4).data), { raw: { width: 5, height: 4, channels: 3 } })
      .png()
      .toBuffer();
    const file = path.join(dir, "ramp.png");
    fs.writeFileSync(file, png);
    for (const img of [await loadImage(file), await loadImage(png)]) {
      expect([img.width, img.height]).toEqual([5, 4]);
      expect(Array.from(img.data)).toEqual(Array.from(ramp(5, 4).data));
    }
  });

  it("turns grey into RGB and drops alpha", async () => {
    const grey = await sharp(Buffer.from([0, 50, 100, 150, 200, 250]), { raw: { width: 3, height: 2, channels: 1 } })
      .toColourspace("b-w")
      .png()
      .toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    expect(Array.from((await loadImage(grey)).data.subarray(0, 6))).toEqual([0, 0, 0, 50, 50, 50]);
    const rgba = await sharp({
      create: { width: 2, height: 2, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.25 } },
    })
      .png()
      .toBuffer();
    expect(Array.from((await loadImage(rgba)).data)).toEqual([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]);
    expect(Array.from(toRgb({ data: new Uint8Array([7, 255, 9, 0]), width: 2, height: 1, channels: 2 }).data)).toEqual([
      7, 7, 7, 9, 9, 9,
    ]);
    expect(() => toRgb({ data: new Uint8Array(10), width: 2, height: 1, channels: 5 }, "x.tif")).toThrow(
      "x.tif: expected 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels, got 5",
    );
  });

  it("names the file and the problem", async () => {
    const text = path.join(dir, "notes.png");
    fs.writeFileSync(text, "these are my notes, not a picture\n");
    await expect(loadImage(text)).rejects.toThrow(`loadImage: ${text} is not an image`);
    await expect(loadImage(text)).rejects.toThrow(/looks like text, starting "these are my notes/);

    const png = await sharp({
      create: { width: 64, height: 64, channels: 3, noise: { type: "gaussian", mean: 128, sigma: 40 } },
    })
      .png()
      .toBuffer();
    const cut = path.join(dir, "cut.png");
    fs.writeFileSync(cut, png.subarray(0, png.length >> 1));
    await expect(loadImage(cut)).rejects.toThrow(`loadImage: ${cut} is a truncated or damaged png file`);

    await expect(loadImage(path.join(dir, "missing.png"))).rejects.toThrow(/no such file: .*missing\.png/);
    await expect(loadImage(dir)).rejects.toThrow(/is a directory/);
    await expect(loadImage(new Uint8Array(0))).rejects.toThrow(/is empty/);
  });
});

describe("resize and crop", () => {
  it("follows torchvision's sizes", () => {
    expect(shorterSideSize(640, 480, 224)).toEqual([298, 224]); // ⌊224·640/480⌋ = ⌊298.67⌋
    expect(shorterSideSize(480, 640, 224)).toEqual([224, 298]);
    expect(shorterSideSize(100, 100, 32)).toEqual([32, 32]);
  });

  it("centre crop rounds half to even like Python", () => {
    // (7 - 4) / 2 = 1.5 → 2;  (5 - 4) / 2 = 0.5 → 0
    expect(centerCrop(ramp(7, 4), 4, 4).data[0]).toBe(2);
    expect(centerCrop(ramp(5, 4), 4, 4).data[0]).toBe(0);
    expect(centerCrop(ramp(4, 9), 4, 4).data[1]).toBe(2); // (9 - 4) / 2 = 2.5 → 2
    expect(() => centerCrop(ramp(3, 3), 4, 4)).toThrow(/cannot crop 4x4 from a 3x3 image/);
  });

  it("bicubic resize keeps a solid colour and changes the size", async () => {
    const out = await resizeBicubic(solid(13, 7, [200, 100, 50]), 30, 17);
    expect([out.width, out.height]).toEqual([30, 17]);
    expect(new Set(out.data)).toEqual(new Set([200, 100, 50]));
    const same = ramp(4, 4);
    expect(await resizeBicubic(same, 4, 4)).toBe(same);
  });
});

describe("CLIP preprocessing", () => {
  it("a solid colour normalises to (c/255 - mean)/std exactly", async () => {
    const c: [number, number, number] = [200, 30, 128];
    const x = await clipPreprocessRaw([solid(48, 36, c)], 16);
    expect(x.length).toBe(3 * 16 * 16);
    for (let ch = 0; ch < 3; ch++) {
      const want = Math.fround((c[ch]! / 255 - CLIP_MEAN[ch]!) / CLIP_STD[ch]!);
      for (let p = 0; p < 256; p++)
        if (x[ch * 256 + p] !== want) throw new Error(`channel ${ch} pixel ${p}: ${x[ch * 256 + p]} != ${want}`);
    }
  });

  it("hand-computed pixels: no resize needed, centre crop of a 6x4 ramp", async () => {
    const t = await clipPreprocess([ramp(6, 4)], 4); // shorter side already 4; crop left = round(1) = 1
    expect(t.shape).toEqual([1, 3, 4, 4]);
    const v = (await t.data()) as Float32Array;
    // output pixel (x=0, y=2) is input (1, 2) = (1, 2, 3)
    const at = (ch: number, x: number, y: number) => v[ch * 16 + y * 4 + x]!;
    expect(at(0, 0, 2)).toBe(Math.fround((1 / 255 - CLIP_MEAN[0]) / CLIP_STD[0]));
    expect(at(1, 0, 2)).toBe(Math.fround((2 / 255 - CLIP_MEAN[1]) / CLIP_STD[1]));
    expect(at(2, 3, 3)).toBe(Math.fround((7 / 255 - CLIP_MEAN[2]) / CLIP_STD[2])); // input (4, 3) = (4, 3, 7)
    t.dispose();
  });

  it("normalize on tensors matches, and toTensor is ÷255 channel-first", async () => {
    const img = solid(3, 2, [0, 128, 255]);
    const x = toTensor([img, img]);
    expect(x.shape).toEqual([2, 3, 2, 3]);
    const n = normalize(x);
    const v = (await n.data()) as Float32Array;
    for (let ch = 0; ch < 3; ch++)
      expect(v[ch * 6]).toBeCloseTo(([0, 128, 255][ch]! / 255 - CLIP_MEAN[ch]!) / CLIP_STD[ch]!, 5);
    const parts = tf.unstack(x);
    const one = parts[0]!; // [3, H, W]
    const n3 = normalize(one, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
    expect(n3.shape).toEqual([3, 2, 3]);
    expect(Array.from((await n3.data()).slice(0, 1))).toEqual([-1]);
    expect(() => normalize(x, [0.5], [0.5])).toThrow(/3 channels but mean has 1/);
    tf.dispose([x, n, ...parts, n3]);
    expect(tf.memory().numTensors).toBe(0);
  });

  it("reads paths and bytes, any aspect ratio", async () => {
    const png = await sharp({ create: { width: 50, height: 30, channels: 3, background: { r: 10, g: 200, b: 90 } } })
      .png()
      .toBuffer();
    const file = path.join(dir, "wide.png");
    fs.writeFileSync(file, png);
    const t = await clipPreprocess([file, png], 24);
    expect(t.shape).toEqual([2, 3, 24, 24]);
    const v = (await t.data()) as Float32Array;
    expect(v[24 * 24 + 100]).toBeCloseTo((200 / 255 - CLIP_MEAN[1]) / CLIP_STD[1], 5);
    t.dispose();
  });
});
