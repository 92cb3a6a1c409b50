import { Rng } from "@vlab/core";
import { describe, expect, it } from "vitest";
import {
  COLOR_NAMES,
  SHAPES,
  boxesApart,
  makeScene,
  outline,
  outlineBox,
  sampleScene,
  streamRng,
  type SceneOptions,
} from "../src/shapes.js";
import { renderScene } from "../src/render.js";

describe("sampleScene", () => {
  it("is deterministic per seed: same scene, byte-identical PNG", async () => {
    const a = sampleScene(new Rng(7), { width: 32, objects: [1, 4] });
    const b = sampleScene(new Rng(7), { width: 32, objects: [1, 4] });
    expect(b).toEqual(a);
    const [pa, pb] = await Promise.all([renderScene(a), renderScene(b)]);
    expect(pa.equals(pb)).toBe(true);
    expect(pa.subarray(1, 4).toString()).toBe("PNG");
  });

  it("differs between seeds", async () => {
    const a = sampleScene(new Rng(1), { objects: 3 });
    const b = sampleScene(new Rng(2), { objects: 3 });
    expect(b).not.toEqual(a);
    expect((await renderScene(a)).equals(await renderScene(b))).toBe(false);
  });

  it("keeps every shape inside the image and apart from the others", () => {
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const s = sampleScene(rng, { width: 40, height: 24, objects: [1, 4] });
      expect(s.objects.length).toBeGreaterThanOrEqual(1);
      expect(s.objects.length).toBeLessThanOrEqual(4);
      for (const o of s.objects) {
        expect(o.box[0]).toBeGreaterThanOrEqual(0.99);
        expect(o.box[1]).toBeGreaterThanOrEqual(0.99);
        expect(o.box[2]).toBeLessThanOrEqual(39.01);
        expect(o.box[3]).toBeLessThanOrEqual(23.01);
        expect(o.box).toEqual(outlineBox(outline(o.shape, o.x, o.y, o.r)));
      }
      for (const a of s.objects)
        for (const b of s.objects) if (a !== b) expect(boxesApart(a.box, b.box, 0.99)).toBe(true);
      const names = s.objects.map((o) => `${o.color} ${o.shape}`);
      expect(new Set(names).size).toBe(names.length); // unique pairs by default
    }
  });

  it("uses every shape, colour and size", () => {
    const rng = new Rng(4);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) for (const o of sampleScene(rng).objects) seen.add(o.shape).add(o.color).add(o.size);
    for (const x of [...SHAPES, ...COLOR_NAMES, "small", "large"]) expect(seen.has(x), x).toBe(true);
  });

  it("respects pairs, requirePairs and fixed counts", () => {
    const rng = new Rng(5);
    for (let i = 0; i < 50; i++) {
      const s = sampleScene(rng, {
        objects: 2,
        pairs: [
          { color: "red", shape: "circle" },
          { color: "blue", shape: "star" },
        ],
        requirePairs: [{ color: "green", shape: "square" }],
      });
      expect(s.objects.map((o) => `${o.color} ${o.shape}`)[0]).toBe("green square");
      expect(["red circle", "blue star"]).toContain(`${s.objects[1]!.color} ${s.objects[1]!.shape}`);
    }
  });

  it("crowded small images fall back to small shapes instead of failing", () => {
    const rng = new Rng(8);
    for (let i = 0; i < 300; i++) {
      const s = sampleScene(rng, { width: 16, objects: [4, 6] });
      expect(s.objects.length).toBeGreaterThanOrEqual(4);
    }
  });

  it("explains impossible requests", () => {
    expect(() => sampleScene(new Rng(0), { width: 16, objects: 30 })).toThrow(
      /could not place 30 objects \(sizes [^)]*\) in a 16x16 image|need at least that many pairs/,
    );
    expect(() => sampleScene(new Rng(0), { width: 16, objects: 12, uniquePairs: false, sizes: ["large"] })).toThrow(
      /could not place 12 objects \(sizes large, gap 1 px\) in a 16x16 image/,
    );
    expect(() => sampleScene(new Rng(0), { colors: ["pink" as never] })).toThrow(/unknown colour "pink"/);
    expect(() => sampleScene(new Rng(0), { width: 4 })).toThrow(/width must be an integer in \[8, 4096\]/);
  });

  it("streams of one seed are independent and repeatable", () => {
    expect(streamRng(0, "train").nextUint32()).toBe(streamRng(0, "train").nextUint32());
    expect(streamRng(0, "train").nextUint32()).not.toBe(streamRng(0, "test").nextUint32());
  });

  it("makeScene builds hand-made scenes with boxes", () => {
    const s = makeScene([{ shape: "circle", color: "red", x: 10, y: 12, r: 4 }], { width: 32 });
    expect(s.objects[0]!.box).toEqual([6, 8, 14, 16]);
    expect(s.height).toBe(32);
  });
});

describe("sampleScene never fails by bad luck", () => {
  // The notebooks' configurations (04-llava: 1-2 large objects at 1.5x in 32 px, the one that failed with seed 1;
  // 06-r1-v: 1-4 small ones; 02-clip: one large at 2x), over many seeds: every scene places all its objects apart.
  const configs: Record<string, SceneOptions> = {
    "04-llava": { objects: [1, 2], sizes: ["large"], sizeScale: { large: 1.5 }, width: 32, height: 32 },
    "06-r1-v": { objects: [1, 4], sizes: ["small"], width: 32, height: 32 },
    "02-clip": { objects: 1, sizes: ["large"], sizeScale: { large: 2 }, width: 32, height: 32 },
  };
  for (const [name, cfg] of Object.entries(configs))
    it(`${name}'s scenes over 5 seeds x 400 scenes`, () => {
      for (let seed = 0; seed < 5; seed++) {
        const rng = new Rng(seed);
        for (let i = 0; i < 400; i++) {
          const s = sampleScene(rng, cfg);
          for (const [a, b] of s.objects.flatMap((p, j) => s.objects.slice(j + 1).map((q) => [p, q] as const)))
            expect(boxesApart(a.box, b.box, 1)).toBe(true);
        }
      }
    });

  it("places scenes random tries miss, and names the configuration of one that cannot fit", () => {
    // Two large shapes at 1.7x fit in 32 px only in few arrangements: rejection sampling alone failed for about a
    // third of the seeds (21 of 30 placed); the exhaustive search places every one.
    const tight: SceneOptions = { objects: 2, sizes: ["large"], sizeScale: { large: 1.7 }, width: 32, height: 32 };
    for (let seed = 0; seed < 12; seed++) {
      const s = sampleScene(new Rng(seed), tight);
      expect(s.objects).toHaveLength(2);
      expect(boxesApart(s.objects[0]!.box, s.objects[1]!.box, 1)).toBe(true);
    }
    expect(() => sampleScene(new Rng(0), { ...tight, sizeScale: { large: 2 } })).toThrow(
      /could not place 2 objects \(sizes large, gap 1 px\) in a 32x32 image .*exhaustive search/,
    );
  });
});
