/**
 * Cached image features. LLaVA's vision tower is frozen in both stages, so a dataset's vision features are computed
 * once ([N, g², w], `Llava.visionFeatures`) and every batch takes its images' rows by index:
 *
 *   featureRows(features, [4, 0, 4])          rows 4, 0, 4 of features: [3, g², w]
 *   generateFromFeatures(model, prompts, features, rows)
 *                                             prompt i answered about image rows[i], in batches of 32
 */
import { tf } from "@vlab/core";
import type { GenerateOptions, GenerateResult } from "@vlab/llm";
import type { ImageInput } from "./llava.js";

/** Rows `indices` of `features` (along the first axis), in that order: [indices.length, ...]. */
export function featureRows(features: tf.Tensor, indices: readonly number[]): tf.Tensor {
  const n = features.shape[0] ?? 0;
  for (const [k, i] of indices.entries()) {
    if (!Number.isInteger(i) || i < 0 || i >= n)
      throw new RangeError(`featureRows: index ${i} (position ${k}) is not a row of the ${n} feature rows`);
  }
  return tf.tidy(() => tf.gather(features, tf.tensor1d(Array.from(indices), "int32")));
}

/** A model that generates from prompts and one image per prompt row (`Llava` is one). */
export interface ImageGenerator {
  generate(prompts: readonly (readonly number[])[], image: ImageInput | null, opts: GenerateOptions): GenerateResult;
}

export interface GenerateFromFeaturesOptions extends GenerateOptions {
  /** Prompts per generate call (default 32). */
  batchSize?: number;
}

/**
 * Generation for many prompts, each about the image whose cached features are row `rows[i]` of `features`, in
 * batches of `batchSize`; the results in the order of the prompts.
 */
export function generateFromFeatures(
  model: ImageGenerator,
  prompts: readonly (readonly number[])[],
  features: tf.Tensor,
  rows: readonly number[],
  opts: GenerateFromFeaturesOptions = {},
): GenerateResult {
  const { batchSize = 32, ...generateOpts } = opts;
  if (rows.length !== prompts.length)
    throw new Error(`generateFromFeatures: ${prompts.length} prompts but ${rows.length} image rows`);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`generateFromFeatures: batchSize must be a positive integer, got ${batchSize}`);
  const out: GenerateResult = { tokens: [], finishReasons: [] };
  for (let start = 0; start < prompts.length; start += batchSize) {
    const batch = featureRows(features, rows.slice(start, start + batchSize));
    try {
      const r = model.generate(prompts.slice(start, start + batchSize), { features: batch }, generateOpts);
      out.tokens.push(...r.tokens);
      out.finishReasons.push(...r.finishReasons);
    } finally {
      batch.dispose();
    }
  }
  return out;
}
