import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { toMimeBundle } from "../src/display.js";
import { image, imageGrid, imageLayout, toPng, ImageDisplay } from "../src/image.js";

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});

async function meta(b: Buffer) {
  expect([...b.subarray(0, 8)]).toEqual(PNG_MAGIC);
  return sharp(b).metadata();
}

describe("toPng / image from tensors", () => {
  it("encodes [H, W, C] floats in [0, 1]", async () => {
    const t = tf.fill([4, 6, 3], 0.5);
    const png = await toPng(t);
    const m = await meta(png);
    expect([m.width, m.height, m.channels]).toEqual([6, 4, 3]);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBe(128);
  });

  it("accepts [C, H, W], [1, H, W, C], [H, W] and int32 0..255, clamping out-of-range values", async () => {
    const chw = await toPng(tf.zeros([3, 5, 7]));
    expect((await meta(chw)).width).toBe(7);
    const batch1 = await toPng(tf.zeros([1, 5, 7, 4]));
    expect([(await meta(batch1)).width, (await meta(batch1)).channels]).toEqual([7, 4]);
    const grey = await toPng(
      tf.tensor2d([
        [0, 2],
        [-1, 0.5],
      ]),
    );
    expect((await meta(grey)).channels).toBe(1);
    expect([...(await sharp(grey).extractChannel(0).raw().toBuffer())]).toEqual([0, 255, 0, 128]);
    const ints = await toPng(tf.tensor3d([[[300], [7]]], [1, 2, 1], "int32"));
    expect([...(await sharp(ints).extractChannel(0).raw().toBuffer())]).toEqual([255, 7]);
  });

  it("separates channels correctly for [C, H, W]", async () => {
    // red image: channel 0 = 1
    const t = tf.concat([tf.ones([1, 2, 2]), tf.zeros([2, 2, 2])], 0);
    const raw = await sharp(await toPng(t))
      .raw()
      .toBuffer();
    expect([...raw.subarray(0, 3)]).toEqual([255, 0, 0]);
  });

  it("gives clear errors for shapes that are not one image", async () => {
    expect(() => imageLayout([5])).toThrow(/rank 1: expected \[H, W\], \[H, W, C\], \[C, H, W\]/);
    expect(() => imageLayout([5, 8, 8])).toThrow(/\[5, 8, 8\] has no channel dimension of size 1, 3 or 4/);
    expect(() => imageLayout([2, 8, 8, 3])).toThrow(/batch of 2 images.*imageGrid/);
    expect(() => imageLayout([0, 8, 3])).toThrow(/is empty/);
    expect(() => imageLayout([1, 2, 3, 4, 5])).toThrow(/rank 5/);
    await expect(image(tf.zeros([8, 8, 2]))).rejects.toThrow(/channel/);
    await expect(image(new Uint8Array([1, 2, 3]))).rejects.toThrow(/cannot read 3 bytes as an image/);
    await expect(image("/no/such/file.png")).rejects.toThrow(/no such file/);
  });
});

describe("image()", () => {
  it("returns a displayable with base64 image/png and <image WxH>", async () => {
    const img = await image(tf.ones([64, 64, 3]));
    expect(img).toBeInstanceOf(ImageDisplay);
    const b = toMimeBundle(img);
    expect(b["text/plain"]).toBe("<image 64x64>");
    expect(b["text/html"]).toBeUndefined();
    const png = Buffer.from(b["image/png"] as string, "base64");
    expect((await meta(png)).width).toBe(64);
  });

  it("takes bytes and files, resizes to width and shows a caption", async () => {
    const jpg = await sharp({ create: { width: 20, height: 10, channels: 3, background: "#00f" } })
      .jpeg()
      .toBuffer();
    const img = await image(jpg, { width: 40, caption: "blue <box>" });
    expect([img.width, img.height]).toEqual([40, 20]);
    const m = await meta(img.png);
    expect([m.width, m.height]).toEqual([40, 20]);
    const b = toMimeBundle(img);
    expect(b["text/plain"]).toBe("<image 40x20: blue <box>>");
    expect(b["text/html"]).toContain("<figcaption");
    expect(b["text/html"]).toContain("blue &lt;box&gt;");

    const file = path.join(os.tmpdir(), `vlab-img-${process.pid}.png`);
    fs.writeFileSync(file, img.png);
    const fromFile = await image(file);
    expect([fromFile.width, fromFile.height]).toEqual([40, 20]);
    fs.unlinkSync(file);
  });
});

describe("imageGrid()", () => {
  it("composes one PNG with captions", async () => {
    const items = [0, 0.5, 1, 0.25, 0.75].map((v, i) => ({ image: tf.fill([8, 8, 3], v), caption: `img ${i}` }));
    const grid = await imageGrid(items, { cols: 3, cellSize: 32, gap: 4 });
    const m = await meta(grid.png);
    // 3 cols: 3*32 + 4*4 = 112 wide; 2 rows with caption strips
    expect(m.width).toBe(112);
    expect(m.height).toBe(grid.height);
    expect(m.height).toBeGreaterThan(2 * 32 + 3 * 4);
    const b = toMimeBundle(grid);
    expect(Object.keys(b).sort()).toEqual(["image/png", "text/html", "text/plain"]);
    expect(b["text/html"]).toContain("img 0, img 1");
    // captions are drawn: the caption strip under the first cell is not plain white
    const { data, info } = await sharp(grid.png).raw().toBuffer({ resolveWithObject: true });
    let dark = 0;
    for (let y = 4 + 32; y < 4 + 32 + 10; y++)
      for (let x = 4; x < 36; x++) if (data[(y * info.width + x) * info.channels]! < 128) dark++;
    expect(dark).toBeGreaterThan(0);
  });

  it("splits a batch tensor and fits images into cells", async () => {
    const grid = await imageGrid(tf.zeros([4, 3, 10, 20]), { cols: 2, cellSize: 16, gap: 0 });
    expect([grid.width, grid.height]).toEqual([32, 32]);
  });

  it("rejects an empty list", async () => {
    await expect(imageGrid([])).rejects.toThrow(/no images/);
  });
});
