import { createHash } from "node:crypto";
import { Rng } from "@vlab/core";
import { describe, expect, it } from "vitest";
import {
  COLOR_NAMES,
  SHAPES,
  allPairs,
  boxesApart,
  makeScene,
  outline,
  outlineBox,
  pairName,
  radiusOf,
  resolveSceneOptions,
  sampleScene,
  streamRng,
  type Scene,
  type SceneOptions,
  type ShapeName,
  type SizeName,
} from "../src/shapes.js";
import { shapesDataset } from "../src/dataset.js";
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
      /30 objects \(objects 30\) of radius ≥ 1.6 px .* cannot all fit in a 16×16 image .*: at most 12 can always be placed/,
    );
    expect(() => sampleScene(new Rng(0), { width: 16, objects: 12, uniquePairs: false, sizes: ["large"] })).toThrow(
      /12 objects \(objects 12\) of radius ≥ 2.72 px \(size large × 1, .*gap 1 px\) cannot all fit in a 16×16 image/,
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

/** Checks a scene against its configuration: object count, pairs, boxes inside the image and `gap` apart. */
function expectValid(s: Scene, cfg: SceneOptions): void {
  const o = resolveSceneOptions(cfg);
  expect(s.objects.length).toBeGreaterThanOrEqual(o.objects[0]);
  expect(s.objects.length).toBeLessThanOrEqual(o.objects[1]);
  const allowed = new Set(o.pairs.map(pairName));
  const required = new Set((o.requirePairs ?? []).map(pairName));
  s.objects.forEach((a, i) => {
    const name = pairName(a);
    if (i === 0 && required.size > 0) expect(required.has(name), name).toBe(true);
    else expect(allowed.has(name), name).toBe(true);
    expect(o.sizes).toContain(a.size);
    expect(a.box[0]).toBeGreaterThanOrEqual(0.99);
    expect(a.box[1]).toBeGreaterThanOrEqual(0.99);
    expect(a.box[2]).toBeLessThanOrEqual(o.width - 0.99);
    expect(a.box[3]).toBeLessThanOrEqual(o.height - 0.99);
    expect(a.box).toEqual(outlineBox(outline(a.shape, a.x, a.y, a.r)));
    for (const b of s.objects.slice(i + 1)) expect(boxesApart(a.box, b.box, o.gap), JSON.stringify(s)).toBe(true);
  });
  if (o.uniquePairs) expect(new Set(s.objects.map(pairName)).size).toBe(s.objects.length);
}

/**
 * The unluckiest generator: always the same draw (`next()` gives `u`, `int(n)` the matching integer), so every random
 * try lands all objects on one spot and every draw of pairs is the same: only the final layout can place the scene.
 */
class StuckRng extends Rng {
  constructor(private readonly u: number) {
    super(0);
  }
  override next(): number {
    return this.u;
  }
  override int(n: number): number {
    return Math.min(n - 1, Math.floor(this.u * n));
  }
}
const unlucky = [new StuckRng(0), new StuckRng(0.5), new StuckRng(1 - 2 ** -32)];

// The notebooks' scene configurations: 01-vit (one large shape at 2x, classificationDataset), 02-clip (the same look,
// the test side's first object from the held-out pairs), 04-llava (1-2 large objects at 1.5x, the one that failed with
// seed 1 before the fallbacks), 06-r1-v (1-4 small ones: all pairs, the ID and the OOD colours and shapes).
const notebooks: Record<string, SceneOptions> = {
  "01-vit": { objects: 1, sizes: ["large"], sizeScale: { large: 2 }, width: 32, height: 32 },
  "02-clip": {
    objects: 1,
    sizes: ["large"],
    sizeScale: { large: 2 },
    width: 32,
    height: 32,
    requirePairs: [{ color: "red", shape: "star" }],
  },
  "04-llava": { objects: [1, 2], sizes: ["large"], sizeScale: { large: 1.5 }, width: 32, height: 32 },
  "06-r1-v": { objects: [1, 4], sizes: ["small"], width: 32, height: 32 },
  "06-r1-v id": {
    objects: [1, 4],
    sizes: ["small"],
    width: 32,
    height: 32,
    colors: ["red", "green", "blue"],
    shapes: ["circle", "square", "triangle"],
  },
  "06-r1-v ood": {
    objects: [1, 4],
    sizes: ["small"],
    width: 32,
    height: 32,
    colors: ["yellow", "purple", "orange"],
    shapes: ["star", "hexagon", "diamond"],
  },
};

describe("sampleScene never fails by bad luck", () => {
  for (const [name, cfg] of Object.entries(notebooks))
    it(`${name}'s scenes over 5 seeds x 400 scenes`, () => {
      for (let seed = 0; seed < 5; seed++) {
        const rng = new Rng(seed);
        for (let i = 0; i < 400; i++) expectValid(sampleScene(rng, cfg), cfg);
      }
      for (const rng of unlucky) expectValid(sampleScene(rng, cfg), cfg);
    });

  it("keeps the notebooks' scenes: the random stream is unchanged where random placement succeeds", () => {
    // sha256 (first 16 hex digits) of JSON.stringify of 50 scenes per configuration and seed, drawn as shapesDataset
    // draws them (one fork of streamRng(seed, "train") per scene). Recorded with the sampler of commit dab3f6e (before
    // the up-front check and the shelf layouts); random placement succeeds for all of these scenes, so they must not
    // change.
    const recorded: Record<string, [string, string]> = {
      "01-vit": ["49af28f2a6cee68f", "e11e15b3a4f42b94"],
      "02-clip": ["d9ad7c5b130883a5", "ed752b6dc55a97ac"],
      "04-llava": ["f813345bd13f7589", "b9ae87f70a067d65"],
      "06-r1-v": ["3d670327dbec5258", "5645f16a0b44ae2e"],
      "06-r1-v id": ["ac3db5829c09a1aa", "a1488cf48b68c31b"],
      "06-r1-v ood": ["7416d0423d56c7c1", "4dcf2c0d55abe566"],
    };
    for (const [name, cfg] of Object.entries(notebooks))
      for (const seed of [0, 1]) {
        const stream = streamRng(seed, "train");
        const scenes = Array.from({ length: 50 }, () => sampleScene(stream.fork(), cfg));
        const hash = createHash("sha256").update(JSON.stringify(scenes)).digest("hex").slice(0, 16);
        expect(hash, `${name} seed ${seed}`).toBe(recorded[name]?.[seed]);
      }
  });

  it("places scenes random tries miss, near the limit, quickly", () => {
    // Two large shapes at 1.7x fit in 32 px only in few arrangements (rejection sampling alone placed 21 of 30 seeds);
    // at 1.9x only two diamonds fit (the sampler of dab3f6e threw for 9 of 20 seeds after ~1 s each).
    for (const large of [1.7, 1.75, 1.9]) {
      const tight: SceneOptions = { objects: 2, sizes: ["large"], sizeScale: { large }, width: 32, height: 32 };
      const t0 = performance.now();
      for (let seed = 0; seed < 12; seed++) {
        const s = sampleScene(new Rng(seed), tight);
        expect(s.objects).toHaveLength(2);
        expectValid(s, tight);
      }
      for (const rng of unlucky) expectValid(sampleScene(rng, tight), tight);
      expect((performance.now() - t0) / 12, `ms per scene at ${large}x`).toBeLessThan(50); // ~2 ms measured
    }
  });

  it("places a required shape beside the shapes that fit with it", () => {
    // Two circles at 1.5x do not fit in 32 px; a circle above a triangle does (16.32 + 1 + 12.24 ≤ 30).
    const cfg: SceneOptions = {
      objects: 2,
      sizes: ["large"],
      sizeScale: { large: 1.5 },
      requirePairs: [{ color: "red", shape: "circle" }],
    };
    for (let seed = 0; seed < 3; seed++) {
      const rng = new Rng(seed);
      for (let i = 0; i < 200; i++) {
        const s = sampleScene(rng, cfg);
        expectValid(s, cfg);
        expect(pairName(s.objects[0]!)).toBe("red circle");
      }
    }
    for (const rng of unlucky) {
      const s = sampleScene(rng, cfg); // the multiset layout: the circle and a triangle
      expectValid(s, cfg);
      expect(pairName(s.objects[0]!)).toBe("red circle");
    }
    const circles = allPairs(COLOR_NAMES, ["circle"]);
    expect(() => resolveSceneOptions({ ...cfg, pairs: circles })).toThrow(/at most 1 can always be placed/);
  });
});

describe("the up-front check", () => {
  const tooMany: SceneOptions = { objects: 2, sizes: ["large"], sizeScale: { large: 2 }, width: 32, height: 32 };
  const message =
    /^scene configuration refused: 2 objects \(objects 2\) of radius ≥ 10.88 px \(size large × 2, the smallest drawn; shapes circle, square, triangle, star, hexagon, diamond; gap 1 px\) cannot all fit in a 32×32 image inside its 1-px margin: at most 1 can always be placed; lower objects to at most 1, sizeScale.large to at most 1.9 or the gap$/;

  it("refuses a configuration whose objects cannot always fit, naming it and what fits", async () => {
    expect(() => resolveSceneOptions(tooMany)).toThrow(message);
    expect(() => sampleScene(new Rng(0), tooMany)).toThrow(message);
    await expect(shapesDataset({ ...tooMany, seed: 0, n: 10, render: false })).rejects.toThrow(message);
    // what the message offers fits
    expect(() => resolveSceneOptions({ ...tooMany, sizeScale: { large: 1.9 } })).not.toThrow();
    expect(() => resolveSceneOptions({ ...tooMany, objects: 1 })).not.toThrow();
    expect(() => resolveSceneOptions({ ...tooMany, sizeScale: { large: 1.91 } })).toThrow(/at most 1 can/);
  });

  it("refuses a shape that does not fit on its own at any size drawn, even if the smallest fits", () => {
    const cfg: SceneOptions = { width: 32, sizes: ["small", "large"], sizeScale: { large: 3 } };
    expect(() => resolveSceneOptions(cfg)).toThrow(
      /^scene configuration refused: a large circle \(radius 16.32 px, box 32.64×32.64 px; size large × 3\) does not fit in a 32×32 image inside its 1-px margin, nor a large star, hexagon, diamond; lower sizeScale.large to at most 2.75/,
    );
    expect(() => resolveSceneOptions({ ...cfg, sizeScale: { large: 2.75 } })).not.toThrow();
    expect(() => resolveSceneOptions({ ...cfg, sizeScale: { large: 0 } })).toThrow(
      /sizeScale.large must be a positive/,
    );
    expect(() => resolveSceneOptions({ gap: NaN })).toThrow(/gap must be a finite number/);
  });

  it("refuses at once: well under 50 ms, where the search used to take about a second", () => {
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      const fresh = { ...tooMany, gap: 1 + i * 1e-9 }; // a new configuration each time: no cached answer
      const t0 = performance.now();
      expect(() => resolveSceneOptions(fresh)).toThrow(/cannot all fit/);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    expect(times[4]).toBeLessThan(50); // the median (about 1 ms warm)
  });

  it("is exact for alike objects: floor((W' + g) / (w + g)) per row and column", () => {
    // circles of radius 3.2 (box 6.4) in 30 px with gap 1: floor(31 / 7.4) = 4 per row and column, 16 in all
    const circles: SceneOptions = { width: 32, shapes: ["circle"], uniquePairs: false, sizes: ["small"] };
    expect(() => resolveSceneOptions({ ...circles, objects: 16 })).not.toThrow();
    expect(() => resolveSceneOptions({ ...circles, objects: 17 })).toThrow(/at most 16 can always be placed/);
    const sixteen = { ...circles, objects: 16 };
    const rng = new Rng(0);
    for (let i = 0; i < 50; i++) expectValid(sampleScene(rng, sixteen), sixteen);
    for (const stuck of unlucky) expectValid(sampleScene(stuck, sixteen), sixteen);
  });

  it("is exact for two objects: accepted iff some drawable pair fits side by side or one above the other", () => {
    const g = new Rng(11);
    let accepted = 0,
      refused = 0;
    for (let c = 0; c < 300; c++) {
      const width = 12 + g.int(40),
        height = g.next() < 0.5 ? width : 12 + g.int(40);
      const shapes = SHAPES.filter(() => g.next() < 0.5);
      if (shapes.length === 0) shapes.push(SHAPES[g.int(SHAPES.length)]!);
      const gap = [0, 1, 2][g.int(3)]!;
      const cfg: SceneOptions = {
        width,
        height,
        objects: 2,
        shapes,
        gap,
        sizes: ["large"],
        sizeScale: { large: 1 + g.next() },
      };
      const r = radiusOf("large", width, height) * (cfg.sizeScale?.large ?? 1);
      const box = (s: ShapeName) => {
        const [x0, y0, x1, y1] = outlineBox(outline(s, 0, 0, r));
        return { w: x1 - x0, h: y1 - y0 };
      };
      const W = width - 2,
        H = height - 2;
      if (shapes.some((s) => box(s).w > W || box(s).h > H)) continue; // refused for another reason
      // the slack of the best pair (6 colours: every pair of shapes, alike ones too, can be drawn)
      const slack = Math.max(
        ...shapes.flatMap((a) =>
          shapes.map((b) => Math.max(W - box(a).w - box(b).w - gap, H - box(a).h - box(b).h - gap)),
        ),
      );
      if (Math.abs(slack) < 0.02) continue; // within the check's 0.01-px safety margin
      let ok = true;
      try {
        resolveSceneOptions(cfg);
      } catch {
        ok = false;
      }
      expect(ok, JSON.stringify(cfg)).toBe(slack > 0);
      if (ok) accepted++;
      else refused++;
    }
    expect(accepted).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });

  it("property: a random configuration is refused up front, or 200 scenes x 3 seeds all succeed", () => {
    const g = new Rng(2024);
    let accepted = 0,
      refused = 0;
    for (let c = 0; c < 24; c++) {
      const width = 8 + g.int(57),
        height = g.next() < 0.5 ? width : 8 + g.int(57);
      const sizes: SizeName[] = g.next() < 0.4 ? ["small", "large"] : g.next() < 0.5 ? ["small"] : ["large"];
      const shapes = SHAPES.filter(() => g.next() < 0.6);
      if (shapes.length === 0) shapes.push("circle");
      const colors = COLOR_NAMES.filter(() => g.next() < 0.6);
      if (colors.length === 0) colors.push("red");
      const uniquePairs = g.next() < 0.7;
      const hi = 1 + g.int(uniquePairs ? Math.min(colors.length * shapes.length, 10) : 10),
        lo = 1 + g.int(hi);
      const cfg: SceneOptions = {
        width,
        height,
        sizes,
        shapes,
        colors,
        uniquePairs,
        objects: [lo, hi],
        gap: [-1, 0, 1, 1, 2][g.int(5)]!,
        sizeScale: { small: 0.5 + g.next() * 3, large: 0.5 + g.next() * 3 },
      };
      if (g.next() < 0.3) cfg.requirePairs = [allPairs(colors, shapes)[0]!];
      // A refused configuration is refused with the check's message; half of them are then retried at the largest
      // scale the message advises (and fewer objects when no scale helps), where the fallbacks do the work.
      let ok = false;
      for (let k = 0; k < 4 && !ok; k++) {
        try {
          resolveSceneOptions(cfg);
          ok = true;
        } catch (e) {
          expect(String(e)).toMatch(/scene configuration refused: /);
          if (k === 0) refused++;
          if (c % 2 === 0) break;
          const scale = /sizeScale\.(\w+) to at most ([\d.]+)/.exec(String(e)),
            most = /objects to at most (\d+)/.exec(String(e));
          if (scale) cfg.sizeScale = { ...cfg.sizeScale, [scale[1]!]: Number(scale[2]) };
          else if (most) cfg.objects = [Math.min(lo, Number(most[1])), Number(most[1])];
          else break;
        }
      }
      if (!ok) continue;
      accepted++;
      for (const seed of [0, 1, 2]) {
        const rng = new Rng(seed);
        for (let i = 0; i < 200; i++) expectValid(sampleScene(rng, cfg), cfg);
      }
      for (const rng of unlucky) expectValid(sampleScene(rng, cfg), cfg); // the final layout, whatever the draw
    }
    expect(accepted).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(3);
  }, 180_000);
});
