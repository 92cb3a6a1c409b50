/**
 * Zero-shot classification with prompt ensembling (CLIP paper sec. 3.1.4; openai/CLIP's
 * `notebooks/Prompt_Engineering_for_ImageNet.ipynb`).
 *
 * A class becomes a classifier weight by writing its name into prompts ("a photo of a {}.") and
 * encoding them with the text tower. With several templates the normalised embeddings are
 * averaged and the mean is normalised again — an average of unit vectors is shorter than 1, and
 * how much shorter depends on how much the templates agree, so skipping the renormalisation
 * would weight classes unequally:
 *
 *   for class c: E = normalize_rows(encode_text(tokenize([t.format(c) for t in templates])))
 *                w_c = mean(E, axis=0);  w_c = w_c / ‖w_c‖
 *   W = stack(w_c, dim=1)                                  [embed, C]
 *   logits = 100 · normalize(encode_image(img)) @ W         [B, C]
 *
 * Encoders may be synchronous (`Clip`) or asynchronous (an ONNX runner with the same methods).
 */
import { tf } from "@vlab/core";
import { l2Normalize } from "./clip.js";

/** A prompt: a string with `{}` where the class name goes, or a function of the class name. */
export type Template = string | ((className: string) => string);

/** openai's default single prompt. */
export const SINGLE_TEMPLATE: Template[] = ["a photo of a {}."];

/** The 7 ImageNet templates openai's notebook picked by forward selection out of its 80. */
export const IMAGENET_TEMPLATES_7: Template[] = [
  "itap of a {}.",
  "a bad photo of the {}.",
  "a origami {}.",
  "a photo of the large {}.",
  "a {} in a video game.",
  "art of the {}.",
  "a photo of the small {}.",
];

/** Prompts for shapes-world scenes ("red circle", "blue square", ...). */
export const SHAPES_TEMPLATES: Template[] = [
  "a {}.",
  "a photo of a {}.",
  "a picture of a {}.",
  "an image of a {}.",
  "a drawing of a {}.",
  "a {} on a plain background.",
  "there is a {} in the picture.",
];

/** Tokenizes a batch of texts into int32 ids [B, ctx] (e.g. `(t) => tokenize(tok, t)` from @vlab/data). */
export type Tokenize = (texts: string[]) => tf.Tensor2D;

export interface TextEncoderLike {
  encodeText(ids: tf.Tensor2D): tf.Tensor2D | Promise<tf.Tensor2D>;
}

export interface ImageEncoderLike {
  encodeImage(pixels: tf.Tensor): tf.Tensor2D | Promise<tf.Tensor2D>;
}

/** The prompt for one class. */
export function fillTemplate(template: Template, className: string): string {
  return typeof template === "function" ? template(className) : template.split("{}").join(className);
}

/** Prompt ensembling of one class: normalise each row, average, renormalise. [T, D] → [D] unit vector. */
export function ensembleEmbeddings(embeddings: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => l2Normalize(tf.mean(l2Normalize(embeddings), 0)) as tf.Tensor1D);
}

/**
 * The zero-shot classifier: one unit column per class, [embed, C]. Each class's templates are
 * encoded as one batch. The caller owns the result.
 */
export async function zeroShotWeights(
  model: TextEncoderLike,
  tokenize: Tokenize,
  classNames: readonly string[],
  templates: readonly Template[] = SINGLE_TEMPLATE,
): Promise<tf.Tensor2D> {
  if (classNames.length === 0) throw new Error("zeroShotWeights: no class names");
  if (templates.length === 0) throw new Error("zeroShotWeights: no templates");
  const columns: tf.Tensor1D[] = [];
  try {
    for (const c of classNames) {
      const ids = tokenize(templates.map((t) => fillTemplate(t, c))); // [T, ctx]
      let e: tf.Tensor2D;
      try {
        e = await model.encodeText(ids); // [T, embed]
      } finally {
        ids.dispose();
      }
      columns.push(ensembleEmbeddings(e)); // [embed]
      e.dispose();
    }
    return tf.stack(columns, 1) as tf.Tensor2D; // [embed, C]
  } finally {
    tf.dispose(columns);
  }
}

/**
 * logits = scale · normalize(encodeImage(pixels)) @ W, [B, C] (scale 100, a trained CLIP's
 * exp(logit_scale)). `batchSize` encodes the images in chunks. The caller owns the result.
 */
export async function zeroShotClassify(
  model: ImageEncoderLike,
  pixels: tf.Tensor,
  weights: tf.Tensor2D,
  opts: { scale?: number; batchSize?: number } = {},
): Promise<tf.Tensor2D> {
  const scale = opts.scale ?? 100;
  const [B] = pixels.shape;
  if (B === undefined) throw new Error("zeroShotClassify: pixels must be [B, 3, H, W], got a scalar");
  const bs = opts.batchSize ?? B;
  const parts: tf.Tensor2D[] = [];
  try {
    for (let i = 0; i < B; i += bs) {
      const chunk = bs >= B ? pixels : tf.slice(pixels, i, Math.min(bs, B - i));
      let f: tf.Tensor2D;
      try {
        f = await model.encodeImage(chunk); // [b, embed]
      } finally {
        if (chunk !== pixels) chunk.dispose();
      }
      parts.push(tf.tidy(() => tf.mul(tf.matMul(l2Normalize(f), weights), scale) as tf.Tensor2D)); // [b, C]
      f.dispose();
    }
    const only = parts.length === 1 ? parts.pop() : undefined; // popped: not freed below
    return only ?? (tf.concat(parts, 0) as tf.Tensor2D);
  } finally {
    tf.dispose(parts);
  }
}
