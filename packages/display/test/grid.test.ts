import { beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { imageGridAt } from "../src/grid.js";
import { imageGrid } from "../src/image.js";

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});

describe("imageGridAt()", () => {
  // Four 3×6×6 images of values 0, 1/3, 2/3, 1 ([N, C, H, W]).
  const batch = () =>
    tf.tidy(() => tf.mul(tf.ones([4, 3, 6, 6]), tf.reshape(tf.tensor1d([0, 1 / 3, 2 / 3, 1]), [4, 1, 1, 1])));

  it("shows the chosen images, in order, as imageGrid shows them one by one; frees what it takes", async () => {
    const images = batch();
    const before = tf.memory().numTensors;
    const grid = await imageGridAt(images, [3, 0, 3], { cols: 3, cellSize: 8, gap: 0, captions: ["a", "b", "c"] });
    expect(tf.memory().numTensors).toBe(before);
    const items = [3, 0, 3].map((i, k) => ({
      image: tf.tidy(() => tf.squeeze(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), [0])),
      caption: ["a", "b", "c"][k],
    }));
    const want = await imageGrid(items, { cols: 3, cellSize: 8, gap: 0 });
    expect(Buffer.compare(grid.png, want.png)).toBe(0);
    const { data, info } = await sharp(grid.png).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[8 * info.channels]]).toEqual([255, 0]); // image 3 is white, image 0 black
    tf.dispose([images, ...items.map((it) => it.image)]);
  });

  it("refuses what is not a batch, an index outside it, and captions that do not match", async () => {
    const images = batch();
    await expect(imageGridAt(tf.zeros([3, 4, 4]), [0])).rejects.toThrow(/must be a batch/);
    await expect(imageGridAt(images, [1, 4])).rejects.toThrow(
      "imageGridAt(): index 4 (position 1) is not an image of the batch of 4",
    );
    await expect(imageGridAt(images, [1, 2], { captions: ["x"] })).rejects.toThrow(/2 images but 1 captions/);
    images.dispose();
  });
});
