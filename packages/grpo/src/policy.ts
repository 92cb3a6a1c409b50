/**
 * The policy GRPO trains: anything that can sample completions and score them token by token.
 *
 *   generate(prompts, image, opts)              → G·B completions (sampling; see @vlab/llm generate.ts)
 *   logProbs(prompts, completions, image, opts) → log π(c_t | prompt, c_<t) [B, C], differentiable
 *   trainableParameters / namedParameters / stateDict / loadStateDict   (core's Module)
 *
 * `llm.Llava` has exactly these methods (the image goes into its placeholders), so a vision-language
 * model is a Policy as it is; `textPolicy(lm)` adapts a text-only `CausalLM` (its image argument is
 * ignored). `forward` (logits [B, T, V]) is optional: the SFT baseline uses it with `sftLoss` when
 * present, and falls back to `logProbs` otherwise.
 *
 * Images travel as core tensors in `ImageInput` (`{ features }`: vision features [B, N, w], or
 * `{ pixels }`), one image per prompt row. A GRPO group repeats its prompt G times, so the trainer
 * repeats each row G times (`repeatInterleave`: rows a, b → a, a, a, b, b, b — never `tile`, which is
 * R1-V's B > 1 misalignment bug: its `Qwen2VLGRPOTrainer.compute_loss` tiles `pixel_values` with `repeat` but
 * interleaves `image_grid_thw`, which is why its README says to keep per_device_train_batch_size = 1).
 */
import { tf } from "@vlab/core";
import type { CausalLM, GenerateOptions, GenerateResult, LogProbsOptions, LogProbsResult } from "@vlab/llm";
import type { ImageInput, Llava } from "@vlab/vlm";

export type { ImageInput } from "@vlab/vlm";

/** Token id rows. */
export type Ids = readonly (readonly number[])[];

export interface Policy {
  /** Sample (or greedily decode) continuations of `prompts`; `image` fills their image placeholders. */
  generate(prompts: Ids, image: ImageInput | null, opts: GenerateOptions): GenerateResult;
  /** Per-token log-probabilities [B, C] of `completions` after `prompts`, with their padding mask; differentiable. */
  logProbs(prompts: Ids, completions: Ids, image: ImageInput | null, opts: LogProbsOptions): LogProbsResult;
  /** Logits [B, T, V] of whole sequences (optional; the SFT baseline uses it with `sftLoss`). */
  forward?(ids: Ids, image: ImageInput | null, opts?: { attentionMask?: Ids }): tf.Tensor3D;
  /** The parameters the optimizer updates (frozen ones left out). */
  trainableParameters(): tf.Variable[];
  /** Every parameter with its dotted name. */
  namedParameters(): [string, tf.Variable][];
  stateDict(): Record<string, tf.Tensor>;
  loadStateDict(tensors: Record<string, tf.Tensor>, options?: { strict?: boolean }): unknown;
}

/** A text-only language model as a Policy (the image argument is ignored). */
export function textPolicy(model: CausalLM): Policy & { readonly model: CausalLM } {
  return {
    model,
    generate: (prompts, _image, opts) => model.generate(prompts, opts),
    logProbs: (prompts, completions, _image, opts) => model.logProbs(prompts, completions, opts),
    forward: (ids, _image, opts = {}) => model.forward(ids, { attentionMask: opts.attentionMask }),
    trainableParameters: () => model.trainableParameters(),
    namedParameters: () => model.namedParameters(),
    stateDict: () => model.stateDict(),
    loadStateDict: (tensors, options) => model.loadStateDict(tensors, options),
  };
}

/** Compile-time check that `llm.Llava` is a Policy as it is (no adapter needed). */
export const llavaPolicy = (model: Llava): Policy => model;

/** The trainable parameters with their names (what the optimizer and a checkpoint hold). */
export function namedTrainable(policy: Policy): [string, tf.Variable][] {
  return policy.namedParameters().filter(([, v]) => v.trainable);
}

/** Rows of `x` each repeated `times` times in place (torch `repeat_interleave` on dim 0): [a, b] → [a, a, b, b]. */
export function repeatInterleave<T extends tf.Tensor>(x: T, times: number): T {
  if (!Number.isInteger(times) || times < 1)
    throw new RangeError(`repeatInterleave: times must be a positive integer, got ${times}`);
  const n = x.shape[0] ?? 0;
  const idx = new Int32Array(n * times);
  for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(i / times);
  return tf.tidy(() => tf.gather(x, tf.tensor1d(idx, "int32")) as T);
}

/** One image per prompt row, given as vision features or pixels (leading dimension = number of prompts). */
export interface BatchImages {
  /** Vision features [B, N, w] (Llava: `visionFeatures(pixels)`, computed once: the tower is frozen). */
  features?: tf.Tensor;
  /** Or pixels [B, 3, H, W] (the vision tower then runs on every call). */
  pixels?: tf.Tensor;
}

/**
 * The ImageInput for a batch, each row repeated `times` times (null without images). The caller disposes the tensor.
 */
export function batchImage(batch: BatchImages, rows: number, times: number, fn: string): ImageInput | null {
  if (batch.features && batch.pixels) throw new Error(`${fn}: give features or pixels, not both`);
  const x = batch.features ?? batch.pixels;
  if (!x) return null;
  if (x.shape[0] !== rows)
    throw new Error(
      `${fn}: ${rows} prompts but the images have leading dimension ${x.shape[0]} (one image per prompt)`,
    );
  const rep = times === 1 ? tf.clone(x) : repeatInterleave(x, times);
  return batch.features ? { features: rep } : { pixels: rep };
}

/** The tensor inside an ImageInput (to dispose it). */
export function imageTensor(image: ImageInput | null): tf.Tensor | null {
  if (!image) return null;
  return "features" in image ? image.features : image.pixels;
}
