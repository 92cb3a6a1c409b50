import { beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { JUPYTER_DISPLAY } from "@vlab/core";
import { overlayHeatmap } from "../src/overlay.js";
import { imageGridAt } from "../src/grid.js";
import { imageGrid, ImageDisplay } from "../src/image.js";
import { PLOTLY_COLORSCALES, parseColor } from "../src/colors.js";

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});

async function pixels(png: Buffer): Promise<{ at(x: number, y: number): number[]; width: number; height: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    at: (x, y) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x + 1) * 3)),
  };
}

const end = (name: string, i: 0 | 1) => {
  const stops = PLOTLY_COLORSCALES[name]!;
  return parseColor(stops[i === 0 ? 0 : stops.length - 1]![1]);
};

describe("overlayHeatmap()", () => {
  it("lays a 2×2 map over a 32×32 image: each quadrant blends the image with its weight's colour", async () => {
    const grey = tf.fill([3, 32, 32], 0.5); // [C, H, W], grey 128
    const before = tf.memory().numTensors;
    const out = await overlayHeatmap(
      grey,
      [
        [0, 1],
        [1, 0],
      ],
      { alpha: 0.5, caption: "rollout" },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(out).toBeInstanceOf(ImageDisplay);
    expect([out.width, out.height]).toEqual([128, 128]); // 32 × 4: the smallest whole factor reaching 128
    const px = await pixels(out.png);
    const blend = (c: number[]) => c.map((v) => Math.round(0.5 * 128 + 0.5 * v));
    expect(px.at(10, 10)).toEqual(blend(end("Viridis", 0))); // weight 0 → the scale's first colour
    expect(px.at(100, 10)).toEqual(blend(end("Viridis", 1))); // weight 1 → its last
    expect(px.at(10, 100)).toEqual(blend(end("Viridis", 1)));
    expect(px.at(127, 127)).toEqual(blend(end("Viridis", 0)));
    const bundle = out[JUPYTER_DISPLAY]();
    expect(Object.keys(bundle)).toEqual(expect.arrayContaining(["image/png", "text/html", "text/plain"]));
    expect(bundle["text/plain"]).toBe("<image 128x128: rollout>");
    grey.dispose();
  });

  it("takes a tensor map, a colour scale, zmin/zmax and smoothing; alpha 0 leaves the image as it is", async () => {
    const black = tf.zeros([8, 8, 3]); // [H, W, C]
    const map = tf.tensor3d([1, 3, 5, 7], [1, 2, 2]);
    const before = tf.memory().numTensors;
    const flat = await overlayHeatmap(black, map, { colorscale: "Greys", alpha: 1, zmin: 1, zmax: 7, width: 8 });
    const px = await pixels(flat.png);
    expect(px.at(0, 0)).toEqual([0, 0, 0]); // Greys is black at 0 in plotly.js
    expect(px.at(7, 7)).toEqual([255, 255, 255]);
    const smooth = await pixels(
      (await overlayHeatmap(black, map, { colorscale: "Greys", alpha: 1, smooth: true })).png,
    );
    const row = Array.from({ length: smooth.width }, (_, x) => smooth.at(x, smooth.height / 2)[0]!);
    expect(row.every((v, i) => i === 0 || v >= row[i - 1]!)).toBe(true); // rises left to right, no blocks
    expect(new Set(row).size).toBeGreaterThan(10);
    const none = await pixels((await overlayHeatmap(black, map, { alpha: 0, width: 8 })).png);
    expect(none.at(3, 3)).toEqual([0, 0, 0]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([black, map]);
  });

  it("refuses ragged or empty maps and an alpha outside [0, 1]", async () => {
    const img = tf.zeros([4, 4]);
    await expect(overlayHeatmap(img, [[1, 2], [3]])).rejects.toThrow(/row 1 of the weights has 1 values, not 2/);
    await expect(overlayHeatmap(img, [])).rejects.toThrow(/empty/);
    await expect(overlayHeatmap(img, [[1]], { alpha: 2 })).rejects.toThrow(/alpha/);
    img.dispose();
  });

  it("composes with the grids: imageGridAt's overlays equal imageGrid of overlayHeatmap's", async () => {
    const images = tf.tidy(() => tf.mul(tf.ones([3, 3, 8, 8]), tf.reshape(tf.tensor1d([0, 0.5, 1]), [3, 1, 1, 1])));
    const maps = [0, 1, 2].map((k) => [
      [k, 0],
      [0, 1],
    ]);
    const before = tf.memory().numTensors;
    const opts = { cols: 3, cellSize: 32, gap: 2, captions: ["a", "b", "c"] };
    const grid = await imageGridAt(images, [2, 0, 1], { ...opts, overlays: [maps[2]!, maps[0]!, maps[1]!] });
    expect(tf.memory().numTensors).toBe(before);
    const one = (i: number) => tf.tidy(() => tf.squeeze(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), [0]));
    const parts = [2, 0, 1].map(one);
    const tiles = await Promise.all(parts.map((p, k) => overlayHeatmap(p, maps[[2, 0, 1][k]!]!)));
    const want = await imageGrid(tiles, opts);
    expect(Buffer.compare(grid.png, want.png)).toBe(0);
    await expect(imageGridAt(images, [0, 1], { overlays: [maps[0]!] })).rejects.toThrow(/2 images but 1 overlays/);
    tf.dispose([images, ...parts]);
  });
});
