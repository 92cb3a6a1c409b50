/**
 * A Qwen2-VL-style model (@vlab/vlm `Qwen2VL`) as a GRPO Policy, for images of one size.
 *
 * The trainer moves images as one tensor whose leading dimension is the prompt row (policy.ts `ImageInput`), and
 * repeats each row G times for a group. Qwen2-VL's vision input is instead all images' patch rows stacked, with one
 * grid [t, h, w] per image (`image_grid_thw`; transformers `Qwen2VLForConditionalGeneration.forward`). For images
 * that all have the same grid the two are one reshape apart, which is all this adapter does:
 *
 *   { pixels:   [B, t·h·w, C·T·P·P] }  →  { pixelValues: [B·t·h·w, C·T·P·P], gridThw: B × grid }   (tower runs)
 *   { features: [B, t·h·w / 4, D] }   →  { features:    [B·t·h·w / 4, D],   gridThw: B × grid }   (tower skipped)
 *
 * Pixels keep the vision tower in the graph, so GRPO and SFT train it as VLM-R1 and Visual-RFT do (their trainers
 * leave `model.visual` trainable unless told otherwise); features are for a frozen tower, computed once
 * (`imageFeatures`). Images of different sizes need `Qwen2VL` directly with `joinVisionInputs`.
 *
 *   const policy = qwen2VlPolicy(model, processed[0].gridThw[0]);
 *   const pixels = policy.stackPixels(processed);               // [B, t·h·w, C·T·P·P]
 *   new GrpoTrainer({ policy, ... }).step({ prompts, pixels, ... });
 */
import { tf } from "@vlab/core";
import type { Qwen2VL, Qwen2VlVision, Qwen2VlVisionInputs } from "@vlab/vlm";
import type { Ids, ImageInput, Policy } from "./policy.js";

export interface Qwen2VlPolicy extends Policy {
  readonly model: Qwen2VL;
  /** The grid [t, h, w] (in patches) every image has. */
  readonly grid: readonly [number, number, number];
  /** Patch rows of processed images, one row of the result per image: [B, t·h·w, C·T·P·P]. */
  stackPixels(images: readonly Qwen2VlVisionInputs[]): tf.Tensor3D;
  /** The tower's tokens of stacked pixels, one row per image: [B, t·h·w / 4, D] (the caller disposes them). */
  imageFeatures(pixels: tf.Tensor): tf.Tensor3D;
}

/** `model` as a Policy for images whose grid is `grid` ([t, h, w] in patches, as the processor's `gridThw`). */
export function qwen2VlPolicy(model: Qwen2VL, grid: readonly number[]): Qwen2VlPolicy {
  if (grid.length !== 3 || !grid.every((v) => Number.isInteger(v) && v > 0))
    throw new Error(`qwen2VlPolicy: grid must be [t, h, w] positive integers, got [${grid.join(", ")}]`);
  const [t, h, w] = grid as [number, number, number];
  const merge = model.config.vision.spatialMergeSize;
  if (h % merge !== 0 || w % merge !== 0)
    throw new Error(`qwen2VlPolicy: grid [${grid.join(", ")}] does not split into ${merge} × ${merge} merges`);
  const patches = t * h * w;
  const tokens = patches / (merge * merge);
  const grids = (b: number) => Array.from({ length: b }, () => [t, h, w] as [number, number, number]);

  /** The model's vision input for an ImageInput of B rows; `owned` collects the tensors made here, to dispose. */
  function vision(image: ImageInput | null, owned: tf.Tensor[]): Qwen2VlVision | null {
    if (!image) return null;
    const x = "pixels" in image ? image.pixels : image.features;
    const rows = x.shape[0] ?? 0;
    const want = "pixels" in image ? patches : tokens;
    if (x.rank !== 3 || x.shape[1] !== want)
      throw new Error(
        `qwen2VlPolicy: ${"pixels" in image ? "pixels" : "features"} must be [B, ${want}, ·] for grid ` +
          `[${grid.join(", ")}], got [${x.shape.join(", ")}]`,
      );
    const flat = tf.reshape(x, [rows * want, x.shape[2] ?? 0]) as tf.Tensor2D;
    owned.push(flat);
    return "pixels" in image ? { pixelValues: flat, gridThw: grids(rows) } : { features: flat, gridThw: grids(rows) };
  }

  /** Runs `f` with the model's vision input and disposes what `vision` made, even when `f` throws. */
  function withVision<R>(image: ImageInput | null, f: (v: Qwen2VlVision | null) => R): R {
    const owned: tf.Tensor[] = [];
    try {
      return f(vision(image, owned));
    } finally {
      tf.dispose(owned);
    }
  }

  const rows = (ids: Ids) => ids.map((r) => [...r]);
  return {
    model,
    grid: [t, h, w],
    generate: (prompts, image, opts) => withVision(image, (v) => model.generate(prompts, v, opts)),
    logProbs: (prompts, completions, image, opts) =>
      withVision(image, (v) => model.logProbs(prompts, completions, v, opts)),
    forward: (ids, image, opts = {}) =>
      withVision(image, (v) =>
        model.forward(ids, v, opts.attentionMask ? { attentionMask: rows(opts.attentionMask) } : {}),
      ),
    trainableParameters: () => model.trainableParameters(),
    namedParameters: () => model.namedParameters(),
    stateDict: () => model.stateDict(),
    loadStateDict: (tensors, options) => model.loadStateDict(tensors, options),
    stackPixels(images) {
      for (const [i, im] of images.entries()) {
        const g = im.gridThw;
        if (g.length !== 1 || g[0]?.join(",") !== grid.join(","))
          throw new Error(
            `qwen2VlPolicy.stackPixels: image ${i} has grids ${JSON.stringify(g)}, expected one [${grid.join(", ")}]`,
          );
      }
      const rowWidth = images[0] ? images[0].pixelValues.length / patches : 0;
      const all = new Float32Array(images.length * patches * rowWidth);
      images.forEach((im, i) => all.set(im.pixelValues, i * patches * rowWidth));
      return tf.tensor3d(all, [images.length, patches, rowWidth]);
    },
    imageFeatures(pixels) {
      return withVision({ pixels }, (v) =>
        tf.tidy(() => tf.reshape(model.imageFeatures(v ?? {}), [pixels.shape[0] ?? 0, tokens, -1]) as tf.Tensor3D),
      );
    },
  };
}
