import { initBackend, tf } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { captions } from "../src/captions.js";
import { classNames, classificationDataset, shapesDataset } from "../src/dataset.js";
import { chooseHeldOutPairs, compositionalSplit, moreObjects, otherAspect, otherSizes } from "../src/splits.js";
import { COLOR_NAMES, SHAPES, pairName, radiusOf } from "../src/shapes.js";

beforeAll(async () => {
  await initBackend("cpu");
});

describe("shapesDataset", () => {
  it("returns scenes, pixels, a tensor, captions and questions; same options, same data", async () => {
    const a = await shapesDataset({ seed: 3, n: 40, width: 24 });
    const b = await shapesDataset({ seed: 3, n: 40, width: 24 });
    expect(a.images!.shape).toEqual([40, 3, 24, 24]);
    expect(a.pixels!.length).toBe(40 * 3 * 24 * 24);
    expect(b.scenes).toEqual(a.scenes);
    expect(b.captions).toEqual(a.captions);
    expect(b.qa).toEqual(a.qa);
    expect(Buffer.from(b.pixels!.buffer).equals(Buffer.from(a.pixels!.buffer))).toBe(true);
    expect(a.qa[0]!.length).toBeGreaterThan(3);
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it("a larger n extends a smaller one; splits and seeds differ", async () => {
    const small = await shapesDataset({ seed: 1, n: 10, render: false });
    const big = await shapesDataset({ seed: 1, n: 30, render: false });
    expect(big.scenes.slice(0, 10)).toEqual(small.scenes);
    const test = await shapesDataset({ seed: 1, n: 10, split: "test", render: false });
    const other = await shapesDataset({ seed: 2, n: 10, render: false });
    expect(test.scenes).not.toEqual(small.scenes);
    expect(other.scenes).not.toEqual(small.scenes);
    expect(small.images).toBeUndefined();
  });

  it("variedCaptions: the same scenes, each with the varied phrasings", async () => {
    const plain = await shapesDataset({ seed: 4, n: 20, render: false, objects: [1, 2] });
    const varied = await shapesDataset({ seed: 4, n: 20, render: false, objects: [1, 2], variedCaptions: true });
    expect(varied.scenes).toEqual(plain.scenes);
    varied.scenes.forEach((s, i) =>
      expect([...varied.allCaptions[i]!].sort()).toEqual(captions(s, undefined, { varied: true }).sort()),
    );
  });

  it("classification: one object per image, labels index the class names", async () => {
    for (const label of ["color", "shape", "pair"] as const) {
      const ds = await classificationDataset({ seed: 0, n: 60, label, render: false });
      expect(ds.classNames).toEqual(classNames(label));
      ds.scenes.forEach((s, i) => {
        expect(s.objects).toHaveLength(1);
        const o = s.objects[0]!;
        const want = label === "color" ? o.color : label === "shape" ? o.shape : pairName(o);
        expect(ds.classNames[ds.labels[i]!]).toBe(want);
      });
    }
    expect(classNames("pair")).toHaveLength(COLOR_NAMES.length * SHAPES.length);
  });
});

describe("held-out splits", () => {
  it("chooses ~20% of pairs, deterministically, spread over colours and shapes", () => {
    const held = chooseHeldOutPairs(0);
    expect(held).toHaveLength(7);
    expect(chooseHeldOutPairs(0)).toEqual(held);
    expect(chooseHeldOutPairs(1)).not.toEqual(held);
    for (const c of COLOR_NAMES) expect(held.filter((p) => p.color === c).length).toBeLessThanOrEqual(2);
    for (const s of SHAPES) expect(held.filter((p) => p.shape === s).length).toBeLessThanOrEqual(2);
    expect(() => chooseHeldOutPairs(0, { count: 40 })).toThrow(/can hold out 0\.\.30 of 36 pairs/);
  });

  it("compositional: held-out pairs never in training, in every test scene", async () => {
    const split = await compositionalSplit({ seed: 5, nTrain: 300, nTest: 60, objects: [1, 3], render: false });
    const held = new Set(split.heldOutPairs.map(pairName));
    expect(held.size).toBe(7);
    expect(split.trainPairs).toHaveLength(29);
    for (const s of split.train.scenes) for (const o of s.objects) expect(held.has(pairName(o))).toBe(false);
    for (const s of split.test.scenes) expect(held.has(pairName(s.objects[0]!))).toBe(true);
    const seen = new Set(split.test.scenes.flatMap((s) => s.objects.map(pairName)).filter((n) => held.has(n)));
    expect(seen.size).toBe(7);
    // every colour and every shape is still seen in training
    const trainWords = new Set(split.train.scenes.flatMap((s) => s.objects.flatMap((o) => [o.color, o.shape])));
    for (const w of [...COLOR_NAMES, ...SHAPES]) expect(trainWords.has(w)).toBe(true);
    expect(split.description).toContain(split.heldOutPairs.map(pairName)[0]);
  });

  it("compositional classification keeps the full class list", async () => {
    const split = await compositionalSplit({
      seed: 5,
      nTrain: 50,
      nTest: 20,
      label: "pair",
      heldOutPairs: [{ color: "red", shape: "circle" }],
      tensor: false,
    });
    const test = split.test as Awaited<ReturnType<typeof classificationDataset>>;
    expect(test.classNames).toHaveLength(36);
    expect(new Set(Array.from(test.labels))).toEqual(new Set([test.classNames.indexOf("red circle")]));
    expect(test.images).toBeUndefined();
    expect(test.pixels!.length).toBe(20 * 3 * 32 * 32);
  });

  it("moreObjects, otherSizes and otherAspect change only what they say", async () => {
    const more = await moreObjects({ seed: 0, nTrain: 30, nTest: 30, render: false });
    for (const s of more.train.scenes) expect(s.objects.length).toBeLessThanOrEqual(3);
    for (const s of more.test.scenes) expect(s.objects.length).toBeGreaterThanOrEqual(4);

    const sizes = await otherSizes({ seed: 0, nTrain: 30, nTest: 30, render: false });
    const trainR = new Set(sizes.train.scenes.flatMap((s) => s.objects.map((o) => o.r)));
    const testR = new Set(sizes.test.scenes.flatMap((s) => s.objects.map((o) => o.r)));
    expect([...trainR].sort()).toEqual(
      [radiusOf("small", 32, 32), radiusOf("large", 32, 32)].map((r) => Math.round(r * 1000) / 1000).sort(),
    );
    for (const r of testR) expect(trainR.has(r)).toBe(false);

    const aspect = await otherAspect({ seed: 0, nTrain: 8, nTest: 8 });
    expect(aspect.train.images!.shape).toEqual([8, 3, 32, 32]);
    expect(aspect.test.images!.shape).toEqual([8, 3, 24, 48]);
    aspect.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
});
