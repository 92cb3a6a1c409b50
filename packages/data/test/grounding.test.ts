import { Rng, tf } from "@vlab/core";
import { formatReward, iouReward, parseBoxes, visualRftDetectionReward } from "@vlab/rewards";
import { describe, expect, it } from "vitest";
import {
  FINE_SIZES,
  NO_BOXES,
  classificationSample,
  detectionSample,
  drawBoxes,
  fineGrainedScene,
  groundingCompletion,
  groundingDataset,
  groundingPrompt,
  groundingVocabulary,
  recSample,
} from "../src/grounding.js";
import { referringExpressions, resolveReference } from "../src/referring.js";
import { makeScene, sampleScene, type Scene, type ShapeObject } from "../src/shapes.js";

// Left to right: a small red circle, a large blue square, a large green circle; a small yellow triangle at the bottom.
const scene = makeScene([
  { shape: "circle", color: "red", size: "small", x: 5, y: 8 },
  { shape: "square", color: "blue", size: "large", x: 16, y: 8 },
  { shape: "circle", color: "green", size: "large", x: 26, y: 8 },
  { shape: "triangle", color: "yellow", size: "small", x: 16, y: 26 },
]);
const texts = (s: Scene) => new Map(referringExpressions(s).map((e) => [e.text, e.target]));

describe("referring expressions: each names exactly one object", () => {
  it("hand-made scene: attributes, relations and superlatives name what they should", () => {
    const t = texts(scene);
    expect(t.get("the red shape")).toBe(0);
    expect(t.get("the square")).toBe(1);
    expect(t.get("the large circle")).toBe(2);
    expect(t.get("the circle left of the square")).toBe(0);
    expect(t.get("the circle right of the square")).toBe(2);
    expect(t.get("the shape below the square")).toBe(3);
    expect(t.get("the smallest circle")).toBe(0);
    expect(t.get("the largest circle")).toBe(2);
    expect(t.get("the rightmost shape")).toBe(2);
    expect(t.get("the bottommost shape")).toBe(3);
    // ambiguous ones never appear: two circles, two shapes above the triangle, two large shapes of equal radius
    for (const bad of ["the circle", "the shape above the triangle", "the largest shape", "the topmost shape"])
      expect(t.has(bad), bad).toBe(false);
    // a relation whose group has one object is only an attribute expression ("the square" already names it)
    expect(t.has("the square above the triangle")).toBe(false);
  });

  it("a neighbour whose centre is past the anchor's edge makes a relation ambiguous", () => {
    // The second circle's box overlaps the square's horizontally, but its centre is left of the square's left edge.
    const s = makeScene([
      { shape: "circle", color: "red", size: "small", x: 4, y: 4 },
      { shape: "circle", color: "green", size: "small", x: 13, y: 25 },
      { shape: "square", color: "blue", size: "large", x: 20, y: 14 },
    ]);
    const square = s.objects[2] as ShapeObject;
    expect((s.objects[1] as ShapeObject).x).toBeLessThan(square.box[0]);
    expect((s.objects[1] as ShapeObject).box[2]).toBeGreaterThan(square.box[0]);
    const ref = {
      kind: "relation" as const,
      description: { shape: "circle" as const },
      relation: { rel: "left of" as const, anchor: { shape: "square" as const } },
    };
    expect(resolveReference(s, ref)).toEqual([0, 1]);
    expect(texts(s).has("the circle left of the square")).toBe(false);
  });

  it("on 300 random scenes, an independent reading of every expression's text finds exactly its target", () => {
    const rng = new Rng(7);
    let n = 0;
    for (let k = 0; k < 300; k++) {
      const s = sampleScene(rng, { objects: [2, 5] });
      for (const e of referringExpressions(s)) {
        expect(readExpression(s, e.text), e.text).toEqual([e.target]);
        n++;
      }
    }
    expect(n).toBeGreaterThan(3000);
  });
});

/**
 * The test's own reading of an expression (independent of referring.ts): "the [superlative] [size] [colour] noun
 * [relation the [size] [colour] noun]" → the objects a careful reader could mean.
 */
function readExpression(s: Scene, text: string): number[] {
  const m = /^the (?:(\w+most|largest|smallest) )?(.+?)(?: (left of|right of|above|below) the (.+))?$/.exec(text);
  if (!m) throw new Error(`unreadable: ${text}`);
  const [, sup, head = "", rel, anchorText] = m;
  const fits = (o: ShapeObject, words: string) =>
    words.split(" ").every((w) => w === "shape" || w === o.size || w === o.color || w === o.shape);
  let group = s.objects.map((o, i) => [o, i] as const).filter(([o]) => fits(o, head));
  if (rel && anchorText) {
    const anchors = s.objects.filter((o) => fits(o, anchorText));
    if (anchors.length !== 1) return [];
    const b = anchors[0] as ShapeObject;
    // centre past the anchor's edge on that side (which every box fully on that side also has)
    const side = {
      "left of": (a: ShapeObject) => a.x < b.box[0],
      "right of": (a: ShapeObject) => a.x > b.box[2],
      above: (a: ShapeObject) => a.y < b.box[1],
      below: (a: ShapeObject) => a.y > b.box[3],
    }[rel];
    if (!side) throw new Error(rel);
    group = group.filter(([o]) => o !== b && side(o));
  }
  if (sup && group.length > 1) {
    const score = (o: ShapeObject) =>
      ({ largest: o.r, smallest: -o.r, leftmost: -o.x, rightmost: o.x, topmost: -o.y, bottommost: o.y })[sup] ?? NaN;
    const sorted = [...group].sort((p, q) => score(q[0]) - score(p[0]));
    const [best, second] = sorted as [(typeof group)[number], (typeof group)[number]];
    const clear = (o: ShapeObject) => {
      const b = best[0];
      if (sup === "largest") return b.r >= 1.15 * o.r;
      if (sup === "smallest") return o.r >= 1.15 * b.r;
      if (sup === "leftmost") return b.x < o.box[0];
      if (sup === "rightmost") return b.x > o.box[2];
      if (sup === "topmost") return b.y < o.box[1];
      return b.y > o.box[3];
    };
    group = [best, ...sorted.slice(1).filter(([o]) => !clear(o))];
    if (second === undefined) throw new Error("two in the group");
  }
  return group.map(([, i]) => i);
}

const q2 = { convention: "qwen2-vl" as const };
const q25 = { convention: "qwen2.5-vl" as const };

describe("REC, detection and classification samples", () => {
  it("REC: the question is VLM-R1's, the answer the family's box text of the target's whole-pixel box", () => {
    const s = recSample(scene, new Rng(1), { ...q25, kinds: ["relation"] });
    expect(s?.question).toMatch(/^please provide the bounding box coordinate of the region this sentence describes: /);
    const target = [...texts(scene)].find(([t]) => t === s?.target)?.[1] as number;
    const box = (scene.objects[target] as ShapeObject).box;
    expect(s?.boxes).toEqual([[Math.floor(box[0]), Math.floor(box[1]), Math.ceil(box[2]), Math.ceil(box[3])]]);
    expect(s?.answer).toBe(`[{"bbox_2d": [${s?.boxes[0]?.join(", ")}], "label": "${s?.target}"}]`);
    const s2 = recSample(scene, new Rng(1), { ...q2, kinds: ["relation"], labels: false });
    expect(s2?.answer).toMatch(/^<\|box_start\|>\(\d+,\d+\),\(\d+,\d+\)<\|box_end\|>$/);
  });

  it("detection: every object of the category, left to right; none for an absent category", () => {
    const circles = detectionSample(scene, new Rng(0), { ...q25, by: ["shape"], emptyRate: 0, shapes: ["circle"] });
    expect(circles.question).toBe("find every circle.");
    expect(circles.labels).toEqual(["red circle", "green circle"]);
    expect(parseBoxes(circles.answer, { ...q25, size: { width: 32, height: 32 } }).map((p) => p.box)).toEqual(
      circles.boxes,
    );
    const none = detectionSample(scene, new Rng(0), { ...q2, by: ["color"], emptyRate: 1, colors: ["purple", "red"] });
    expect([none.target, none.boxes, none.answer]).toEqual(["purple shape", [], NO_BOXES["qwen2-vl"]]);
    // emptyRate: about that share of prompts asks for something absent
    const rng = new Rng(3);
    let empty = 0;
    for (let k = 0; k < 400; k++)
      empty += detectionSample(sampleScene(rng), rng, { ...q25, emptyRate: 0.3 }).boxes.length === 0 ? 1 : 0;
    expect(empty / 400).toBeGreaterThan(0.2);
    expect(empty / 400).toBeLessThan(0.4);
  });

  it("fine-grained classification: four size classes, the radius is the class's, the object inside the image", () => {
    const rng = new Rng(5);
    const seen = new Set<number>();
    for (let k = 0; k < 200; k++) {
      const { scene: s, classIndex } = fineGrainedScene(rng, { width: 32 });
      const o = s.objects[0] as ShapeObject;
      expect(o.r).toBeCloseTo((FINE_SIZES[classIndex]?.[1] ?? 0) * 32, 2);
      expect(Math.min(...o.box)).toBeGreaterThanOrEqual(0.99);
      expect(Math.max(o.box[2], o.box[3])).toBeLessThanOrEqual(31.01);
      seen.add(classIndex);
      const c = classificationSample(s, classIndex);
      expect(c.solution).toBe(FINE_SIZES[classIndex]?.[0]);
      expect(c.question).toBe(
        `this is an image containing a ${o.shape}. what size is the ${o.shape}: tiny, small, medium or large?`,
      );
    }
    expect(seen.size).toBe(4);
  });
});

describe("groundingDataset", () => {
  it("is deterministic, renders the scenes, and its SFT completions earn full rewards", async () => {
    for (const [task, convention] of [
      ["rec", "qwen2-vl"],
      ["rec", "qwen2.5-vl"],
      ["detection", "qwen2-vl"],
      ["detection", "qwen2.5-vl"],
      ["classification", "qwen2-vl"],
    ] as const) {
      const before = tf.memory().numTensors;
      const ds = await groundingDataset({ seed: 1, n: 40, task, convention, width: 32 });
      const again = await groundingDataset({ seed: 1, n: 40, task, convention, width: 32, render: false });
      expect(again.samples).toEqual(ds.samples);
      expect(ds.images?.shape).toEqual([40, 3, 32, 32]);
      const size = { width: 32, height: 32 };
      const words = new Set(groundingVocabulary(convention, 32, 32));
      for (const s of ds.samples) {
        const c = groundingCompletion(s);
        expect(formatReward(c)).toBe(1);
        expect(groundingPrompt(s)).toContain("<think> </think>");
        for (const num of s.answer.match(/\d+/g) ?? []) expect(words.has(num), num).toBe(true);
        if (task === "rec") {
          // Qwen2-VL's grid loses under 1000 / 32 px per corner; VLM-R1's IoU stays above its 0.5 threshold
          const v = iouReward(c, s.boxes[0], { boxes: { convention, size } });
          if (convention === "qwen2.5-vl") expect(v).toBe(1);
          else expect(v).toBeGreaterThan(0.7);
        }
        if (task === "detection") {
          // an absent category's answer ("no boxes") earns the box terms only where empty answers are priced;
          // Visual-RFT's own reward (the default) gives an empty answer 0 and the format its 1
          const r = visualRftDetectionReward(c, s.boxes, { boxes: { convention, size }, rewardEmpty: true });
          expect(r.confidence).toBe(1);
          expect(r.iou).toBeGreaterThan(convention === "qwen2.5-vl" ? 0.999 : 0.8);
          const asVisualRft = visualRftDetectionReward(c, s.boxes, { boxes: { convention, size } });
          expect(asVisualRft.total).toBe(s.boxes.length === 0 ? 1 : r.total);
        }
      }
      ds.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it("refuses an unknown task", async () => {
    await expect(groundingDataset({ seed: 0, n: 1, task: "vqa" as never, convention: "qwen2-vl" })).rejects.toThrow(
      /unknown task/,
    );
  });
});

describe("drawBoxes: box outlines on an enlarged image", () => {
  it("enlarges by nearest neighbour and draws each outline on the box's edge pixels", () => {
    const before = tf.memory().numTensors;
    // a 4×4 image, grey except pixel (x 1, y 2), which is white
    const px = new Float32Array(3 * 16).fill(0.5);
    for (let ch = 0; ch < 3; ch++) px[ch * 16 + 2 * 4 + 1] = 1;
    const img = tf.tensor3d(px, [3, 4, 4]);
    const out = drawBoxes(img, [{ box: [1, 1, 3, 4], color: [1, 0, 0] }], 2);
    expect(out.shape).toEqual([3, 8, 8]);
    const v = out.arraySync();
    const rgb = (x: number, y: number) => [0, 1, 2].map((ch) => v[ch]![y]![x]);
    // outline: x from 2 to 5 (edge 3 · 2 = 6, last pixel 5), y from 2 to 7 (edge 4 · 2 = 8, clamped to 7)
    for (const [x, y] of [
      [2, 2],
      [5, 2],
      [2, 7],
      [5, 7],
      [3, 2],
      [2, 5],
      [5, 4],
    ])
      expect(rgb(x!, y!)).toEqual([1, 0, 0]);
    // inside the box: the enlarged image (pixel (1, 2) white at (3, 4), grey elsewhere); outside it untouched
    expect(rgb(3, 4)).toEqual([1, 1, 1]);
    expect(rgb(4, 3)).toEqual([0.5, 0.5, 0.5]);
    expect(rgb(0, 0)).toEqual([0.5, 0.5, 0.5]);
    expect(rgb(6, 2)).toEqual([0.5, 0.5, 0.5]);
    tf.dispose([img, out]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("skips boxes that are not numbers and refuses images that are not [3, H, W]", () => {
    const img = tf.zeros([3, 2, 2]);
    const out = drawBoxes(img, [{ box: [NaN, 0, 1, 1], color: [1, 1, 1] }], 1);
    expect(Array.from(out.dataSync())).toEqual(new Array(12).fill(0));
    expect(() => drawBoxes(tf.zeros([2, 2, 3]), [], 1)).toThrow(/\[3, H, W\]/);
    expect(() => drawBoxes(img, [], 0)).toThrow(/scale/);
    tf.dispose([img, out]);
  });
});
