import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, countTensors, expectNoLeak, initBackend, Rng, tf } from "@vlab/core";
import {
  Clip,
  clipLoss,
  clipTrainStep,
  pretrainClip,
  SHAPES_TEMPLATES,
  zeroShotClassify,
  zeroShotWeights,
} from "../src/index.js";

beforeAll(async () => {
  await initBackend("wasm");
});

const B = 6;
const CTX = 8;
const config = {
  embedDim: 16,
  imageResolution: 16,
  visionPatchSize: 8,
  visionWidth: 32,
  visionLayers: 1,
  visionHeads: 2,
  contextLength: CTX,
  vocabSize: 40,
  transformerWidth: 32,
  transformerLayers: 1,
  transformerHeads: 2,
  seed: 3,
};

/** A fixed batch: random images and random captions ending in the EOT id 39 (the largest). */
function batch(): { pixels: tf.Tensor4D; ids: tf.Tensor2D } {
  const rng = new Rng(11);
  const pixels = tf.tensor4d(rng.normalArray(B * 3 * 16 * 16), [B, 3, 16, 16]);
  const rows = Array.from({ length: B }, () => {
    const len = 2 + rng.int(CTX - 3);
    return [38, ...Array.from({ length: len }, () => 1 + rng.int(36)), 39, ...Array(CTX - len - 2).fill(0)];
  });
  return { pixels, ids: tf.tensor2d(rows, [B, CTX], "int32") };
}

describe("training a tiny CLIP", () => {
  it("a step leaks no tensors, and 20 steps on a fixed batch reduce the loss", async () => {
    const clip = new Clip(config);
    const { pixels, ids } = batch();
    const opt = new AdamW(clip.namedParameters(), { lr: 3e-3, weightDecay: 0.1 });
    const first = await clipTrainStep(clip, opt, pixels, ids);
    expect(first.loss).toBeGreaterThan(1); // ≈ ln 6 = 1.79 at init
    const before = countTensors();
    await expectNoLeak(() => clipTrainStep(clip, opt, pixels, ids), "clipTrainStep");
    expect(countTensors()).toBe(before);
    let last = first;
    for (let i = 0; i < 18; i++) last = await clipTrainStep(clip, opt, pixels, ids);
    expect(last.loss).toBeLessThan(0.5 * first.loss);
    expect(last.logitScale).not.toBeCloseTo(2.659260036932778, 4); // the temperature is learned
    // the loss the step reports is the loss of the parameters before the step
    const now = tf.tidy(() => {
      const { logitsPerImage } = clip.forward(pixels, ids);
      return clipLoss(logitsPerImage).dataSync()[0]!;
    });
    expect(now).toBeLessThan(last.loss + 1e-3);
    opt.dispose();
    clip.dispose();
  });

  it("pretrainClip: image–caption pairs drawn at random, one phrasing each, loss falls, nothing leaks", async () => {
    const clip = new Clip(config);
    const { pixels, ids } = batch();
    const rows = ids.arraySync();
    // Each image has two "phrasings" that tokenize to its own caption: the pairing is learnable.
    const captions = rows.map((_, i) => [`${i}`, `${i} `]);
    const tokenize = (texts: string[]) => texts.map((t) => rows[Number(t.trim())]!);
    const before = countTensors();
    const run = await pretrainClip(clip, {
      images: pixels,
      captions,
      tokenize,
      steps: 30,
      batch: 6,
      lr: 3e-3,
      seed: 1,
      evalEvery: 10,
    });
    expect(run.history).toHaveLength(30);
    // The learned temperature, recorded every 10 steps (steps count from 0): exp(logit_scale) the model had then.
    expect(run.evals.map((e) => e.step)).toEqual([9, 19, 29]);
    expect(run.evals.at(-1)!.temperature).toBeCloseTo(clip.scale, 5);
    expect(run.history.at(-1)!.loss).toBeLessThan(0.6 * run.history[0]!.loss);
    run.optimizer.dispose();
    expect(countTensors()).toBe(before);
    expect(() => pretrainClip(clip, { images: pixels, captions: captions.slice(1), tokenize, steps: 1 })).toThrow(
      /6 images but 5 caption lists/,
    );
    const uncaptioned = [...captions.slice(1), []];
    expect(() => pretrainClip(clip, { images: pixels, captions: uncaptioned, tokenize, steps: 1 })).toThrow(
      /image 5 has no caption/,
    );
    tf.dispose([pixels, ids]);
    clip.dispose();
  });

  it("the logit scale stays clamped at ln 100 when training pushes it up", async () => {
    const clip = new Clip(config);
    const { pixels, ids } = batch();
    clip.logit_scale.assign(tf.scalar(4.6));
    const opt = new AdamW(clip.namedParameters(), { lr: 0.05, weightDecay: 0 });
    for (let i = 0; i < 3; i++) await clipTrainStep(clip, opt, pixels, ids);
    expect(clip.logit_scale.dataSync()[0]).toBeLessThanOrEqual(Math.log(100) + 1e-6);
    opt.dispose();
    clip.dispose();
  });

  it("zero-shot with a real (tiny) CLIP: one template vs an ensemble, no leaks", async () => {
    const clip = new Clip(config);
    // Toy tokenizer: words → ids 1..37 by hash, SOT 38, EOT 39, padded to CTX.
    const tokenize = (texts: string[]) =>
      tf.tensor2d(
        texts.map((t) => {
          const words = t
            .split(/\s+/)
            .filter(Boolean)
            .slice(0, CTX - 2)
            .map((w) => 1 + ([...w].reduce((h, c) => h * 31 + c.charCodeAt(0), 7) % 37));
          return [38, ...words, 39, ...Array(CTX - 2 - words.length).fill(0)];
        }),
        [texts.length, CTX],
        "int32",
      );
    const { pixels } = batch();
    const before = countTensors();
    const classes = ["red circle", "blue square", "green triangle"];
    const single = await zeroShotWeights(clip, tokenize, classes);
    const ensemble = await zeroShotWeights(clip, tokenize, classes, SHAPES_TEMPLATES);
    expect(single.shape).toEqual([16, 3]);
    const norms = tf.tidy(() => tf.norm(ensemble, "euclidean", 0).dataSync());
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
    const logits = await zeroShotClassify(clip, pixels, ensemble, { batchSize: 4 });
    expect(logits.shape).toEqual([B, 3]);
    const all = await zeroShotClassify(clip, pixels, ensemble);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(all, logits))).dataSync()[0]!)).toBeLessThan(1e-4);
    // |logits| ≤ 100 (cosines times 100)
    expect(tf.tidy(() => tf.max(tf.abs(logits)).dataSync()[0]!)).toBeLessThanOrEqual(100 + 1e-3);
    tf.dispose([single, ensemble, logits, all]);
    expect(countTensors()).toBe(before);
    clip.dispose();
  });
});
