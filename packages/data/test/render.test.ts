import sharp from "sharp";
import { Rng, initBackend, tf } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { renderScene, renderSceneRgb, renderScenes, renderScenesRaw } from "../src/render.js";
import { COLORS, SHAPES, makeScene, sampleScene, type Scene } from "../src/shapes.js";

beforeAll(async () => {
  await initBackend("cpu");
});

describe("rendering", () => {
  it("draws each filled shape's colour at its box centre", async () => {
    const rng = new Rng(11);
    const scenes = Array.from({ length: 40 }, () => sampleScene(rng, { width: 64, height: 48, objects: [1, 4] }));
    for (const s of scenes) {
      const { data, info } = await sharp(await renderScene(s))
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([64, 48, 3]);
      for (const o of s.objects) {
        const px = Math.floor((o.box[0] + o.box[2]) / 2),
          py = Math.floor((o.box[1] + o.box[3]) / 2);
        const i = (py * 64 + px) * 3;
        expect([data[i], data[i + 1], data[i + 2]], `${o.size} ${o.color} ${o.shape}`).toEqual([...COLORS[o.color]]);
      }
      expect([data[0], data[1], data[2]]).toEqual([...s.background]); // the corner is background (1-px margin)
    }
  });

  it("keeps every drawn pixel inside the object's box", async () => {
    for (const shape of SHAPES) {
      const s = makeScene([{ shape, color: "yellow", x: 20.3, y: 17.6, size: "large" }], { width: 40, height: 36 });
      const rgb = await renderSceneRgb(s);
      const [x0, y0, x1, y1] = s.objects[0]!.box;
      for (let y = 0; y < 36; y++) {
        for (let x = 0; x < 40; x++) {
          const bg = rgb[(y * 40 + x) * 3] === s.background[0] && rgb[(y * 40 + x) * 3 + 1] === s.background[1];
          if (!bg) {
            expect(x + 1 > x0 && x < x1 && y + 1 > y0 && y < y1, `${shape} pixel (${x}, ${y}) outside box`).toBe(true);
          }
        }
      }
    }
  });

  it("batches through the atlas give exactly the single-scene pixels", async () => {
    const rng = new Rng(12);
    const scenes = Array.from({ length: 37 }, () => sampleScene(rng, { width: 24, height: 20, objects: [1, 3] }));
    const raw = await renderScenesRaw(scenes, { perAtlas: 10 });
    expect(raw.shape).toEqual([37, 3, 20, 24]);
    const plane = 20 * 24;
    for (const k of [0, 9, 10, 36]) {
      const rgb = await renderSceneRgb(scenes[k]!);
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++) {
          if (raw.data[(k * 3 + c) * plane + p] !== Math.fround(rgb[p * 3 + c]! / 255))
            throw new Error(`scene ${k} pixel ${p} channel ${c} differs`);
        }
      }
    }
  });

  it("renderScenes returns [B, 3, H, W] float32 in [0, 1]", async () => {
    const scenes: Scene[] = [makeScene([{ shape: "square", color: "blue", x: 8, y: 8 }], { width: 16 })];
    const t = await renderScenes(scenes);
    expect(t.shape).toEqual([1, 3, 16, 16]);
    expect(t.dtype).toBe("float32");
    const v = (await t.data()) as Float32Array;
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    // centre pixel, blue channel
    expect(v[2 * 256 + 8 * 16 + 8]).toBeCloseTo(COLORS.blue[2] / 255, 6);
    t.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it("refuses batches of mixed sizes", async () => {
    const a = makeScene([], { width: 16 }),
      b = makeScene([], { width: 20 });
    await expect(renderScenesRaw([a, b])).rejects.toThrow(/scene 0 is 16x16, scene 1 is 20x20/);
  });
});
