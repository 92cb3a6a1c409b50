/**
 * CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
 * Supervision"), as openai/CLIP's `model.py` builds it: an image encoder (vit.ts) and a text
 * encoder (text.ts) projected into one embedding space, where matching image–text pairs have high
 * cosine similarity.
 *
 *   f_i = encodeImage(pixels) / ‖·‖              [B_i, embed]
 *   f_t = encodeText(ids) / ‖·‖                  [B_t, embed]
 *   logitsPerImage = exp(logit_scale) · f_i f_tᵀ [B_i, B_t]    logitsPerText = its transpose
 *
 * `logit_scale` is a learned log-temperature, initialised to ln(1/0.07) (so exp = 14.29) and clamped
 * to [0, ln 100] after each optimiser step (open_clip's training loop; released models sit at 100).
 * The loss is in clip_loss.ts, zero-shot classification in zero_shot.ts, checkpoints in
 * clip_checkpoint.ts.
 *
 * Usage:
 *
 *   import { Clip, clipLoss, clipTrainStep } from "@vlab/vision";
 *   import { AdamW, tf } from "@vlab/core";
 *
 *   const clip = new Clip({ embedDim: 64, imageResolution: 32, visionPatchSize: 8, visionWidth: 64,
 *                           visionLayers: 2, contextLength: 16, vocabSize: 100, transformerWidth: 64,
 *                           transformerLayers: 2 });
 *   const opt = new AdamW(clip.namedParameters(), { lr: 1e-3, weightDecay: 0.1 });
 *   const { loss } = await clipTrainStep(clip, opt, pixels, ids);   // pixels [B,3,32,32], ids [B,≤16] int32
 *   const img = clip.encodeImage(pixels);                             // [B, 64], unnormalised
 *   const { logitsPerImage } = clip.forward(pixels, ids);             // [B, B]
 *
 *   // A real checkpoint (openai/CLIP or Hugging Face CLIPModel layout, in safetensors; clip_checkpoint.ts):
 *   const { clip: vitB32 } = loadClipSafetensors("ViT-B-32.safetensors");   // config inferred from shapes
 *
 * Parameter names are openai's state-dict keys; `stateDict()` returns them. Internally the text
 * tower lives under `text.` and core's fused attention projection is `attn.in_proj.weight`; the
 * explicit map between the two is `CLIP_NAME_MAP` below.
 */
import { AdamW, Module, tf, Rng, train, warmupCosine, type Progress, type TrainResult } from "@vlab/core";
import { clipLoss } from "./clip_loss.js";
import { TextTransformer } from "./text.js";
import { fromOpenaiName, toOpenaiName } from "./transformer.js";
import { VisionTransformer, defaultHeads } from "./vit.js";

/** ln(1/0.07) = 2.659260036932778: the initial log-temperature (exp = 14.2857). */
export const LOGIT_SCALE_INIT = Math.log(1 / 0.07);
/** ln 100 = 4.605170185988092: the clamp's upper bound (exp = 100). */
export const LOGIT_SCALE_MAX = Math.log(100);

/** openai's `build_model` arguments, camel-cased; the comments give ViT-B/32's values (`CLIP_VIT_B_32`). */
export interface ClipConfig {
  /** Shared embedding size (512). */
  embedDim: number;
  /** Image side (224) or [H, W]. */
  imageResolution: number | [number, number];
  /** Patch side (32). */
  visionPatchSize: number;
  /** Image transformer width (768). */
  visionWidth: number;
  /** Image transformer blocks (12). */
  visionLayers: number;
  /** Image attention heads (default max(1, ⌊visionWidth/64⌋)). */
  visionHeads?: number;
  /** Text context length (77). */
  contextLength: number;
  /** Vocabulary (49408). */
  vocabSize: number;
  /** Text transformer width (512). */
  transformerWidth: number;
  /** Text transformer blocks (12). */
  transformerLayers: number;
  /** Text attention heads (default max(1, ⌊transformerWidth/64⌋)). */
  transformerHeads?: number;
  /** MLP activation of both towers (default "quick_gelu", openai's). */
  activation?: string;
  /** Pool text at the first occurrence of this id instead of argmax(ids) (see text.ts). */
  eotTokenId?: number;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/** ViT-B/32's configuration (openai/CLIP), for reference and `new Clip(CLIP_VIT_B_32)`. */
export const CLIP_VIT_B_32: ClipConfig = {
  embedDim: 512,
  imageResolution: 224,
  visionPatchSize: 32,
  visionWidth: 768,
  visionLayers: 12,
  contextLength: 77,
  vocabSize: 49408,
  transformerWidth: 512,
  transformerLayers: 12,
};

/**
 * The name map between vlab's parameter names and openai/CLIP's state-dict keys. Everything else
 * is identical (Hugging Face names are mapped onto openai's in clip_checkpoint.ts).
 *
 *   vlab                                           openai/CLIP
 *   text.token_embedding.weight                    token_embedding.weight          (text tower at the top level)
 *   text.positional_embedding                      positional_embedding
 *   text.transformer.resblocks.{i}.…               transformer.resblocks.{i}.…
 *   text.ln_final.{weight,bias}                    ln_final.{weight,bias}
 *   text.text_projection                           text_projection                 [w, embed], used as x @ P
 *   ….attn.in_proj.{weight,bias}                   ….attn.in_proj_{weight,bias}    core's fused-qkv Linear vs raw
 *   tensors
 *   visual.proj                                    visual.proj                     [w, embed], used as x @ P
 */
export const CLIP_NAME_MAP = {
  toOpenai(vlabName: string): string {
    return toOpenaiName(vlabName.startsWith("text.") ? vlabName.slice("text.".length) : vlabName);
  },
  fromOpenai(openaiName: string): string {
    const n = fromOpenaiName(openaiName);
    return n.startsWith("visual.") || n === "logit_scale" ? n : `text.${n}`;
  },
};

/** The one value of a scalar tensor (logit_scale). */
function scalarValue(t: tf.Tensor): number {
  const [v] = t.dataSync();
  if (t.size !== 1 || v === undefined) throw new Error(`CLIP: expected a scalar, got shape [${t.shape.join(", ")}]`);
  return v;
}

/** Rows divided by their L2 norm: [N, D] → [N, D]. */
export function l2Normalize(x: tf.Tensor, axis = -1): tf.Tensor {
  return tf.tidy(() => tf.div(x, tf.norm(x, "euclidean", axis, true)));
}

export class Clip extends Module {
  readonly config: Required<Omit<ClipConfig, "eotTokenId">> & { eotTokenId?: number };
  readonly visual: VisionTransformer;
  readonly text: TextTransformer;
  readonly logit_scale: tf.Variable; // []

  constructor(cfg: ClipConfig) {
    super();
    this.config = {
      ...cfg,
      visionHeads: cfg.visionHeads ?? defaultHeads(cfg.visionWidth),
      transformerHeads: cfg.transformerHeads ?? defaultHeads(cfg.transformerWidth),
      activation: cfg.activation ?? "quick_gelu",
      seed: cfg.seed ?? 0,
    };
    const c = this.config;
    const rng = new Rng(c.seed);
    this.visual = this.module(
      "visual",
      new VisionTransformer({
        imageSize: c.imageResolution,
        patchSize: c.visionPatchSize,
        width: c.visionWidth,
        layers: c.visionLayers,
        heads: c.visionHeads,
        outputDim: c.embedDim,
        activation: c.activation,
        rng,
      }),
    );
    this.text = this.module(
      "text",
      new TextTransformer({
        contextLength: c.contextLength,
        vocabSize: c.vocabSize,
        width: c.transformerWidth,
        layers: c.transformerLayers,
        heads: c.transformerHeads,
        outputDim: c.embedDim,
        activation: c.activation,
        ...(c.eotTokenId !== undefined ? { eotTokenId: c.eotTokenId } : {}),
        rng,
      }),
    );
    this.logit_scale = this.param("logit_scale", tf.scalar(LOGIT_SCALE_INIT));
  }

  /** pixels [B, 3, H, W], already normalised → image features [B, embed] (unnormalised). */
  encodeImage(pixels: tf.Tensor): tf.Tensor2D {
    this.visual.checkPixels(pixels, "encodeImage");
    return this.visual.forward(pixels);
  }

  /** ids [B, T ≤ contextLength] int32 → text features [B, embed] (unnormalised). */
  encodeText(ids: tf.Tensor | number[][]): tf.Tensor2D {
    return this.text.forward(ids);
  }

  /** Scaled cosine similarities of every image with every text. */
  forward(pixels: tf.Tensor, ids: tf.Tensor | number[][]): { logitsPerImage: tf.Tensor2D; logitsPerText: tf.Tensor2D } {
    return tf.tidy(() => {
      const fi = l2Normalize(this.encodeImage(pixels)); // [B_i, embed]
      const ft = l2Normalize(this.encodeText(ids)); // [B_t, embed]
      // [B_i, B_t]
      const logitsPerImage = tf.mul(tf.exp(this.logit_scale), tf.matMul(fi, ft, false, true)) as tf.Tensor2D;
      return { logitsPerImage, logitsPerText: tf.transpose(logitsPerImage) as tf.Tensor2D };
    });
  }

  /** The learned temperature's multiplier, exp(logit_scale). */
  get scale(): number {
    return Math.exp(scalarValue(this.logit_scale));
  }

  /** Clamps logit_scale to [0, ln 100]; call after every optimiser step (`clipTrainStep` does). */
  clampLogitScale(): void {
    tf.tidy(() => this.logit_scale.assign(tf.clipByValue(this.logit_scale, 0, LOGIT_SCALE_MAX)));
  }

  /**
   * Parameters under openai/CLIP's state-dict keys (the variables themselves: do not dispose them).
   * The inherited `loadStateDict` checks against this, so it takes the same names.
   */
  override stateDict(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, v] of Object.entries(super.stateDict())) out[CLIP_NAME_MAP.toOpenai(name)] = v;
    return out;
  }

  protected override extraRepr(): string {
    return `embed ${this.config.embedDim}, logit_scale ${scalarValue(this.logit_scale).toFixed(4)}`;
  }
}

/**
 * One training step of the contrastive objective: loss, gradients, optimiser step, then the
 * logit-scale clamp. Everything it makes is freed; returns the loss and the new temperature.
 * (With core's `train`, call `clip.clampLogitScale()` at the start of the loss callback instead:
 * the same clamp, one step later.)
 */
export async function clipTrainStep(
  clip: Clip,
  optimizer: AdamW,
  pixels: tf.Tensor,
  ids: tf.Tensor | number[][],
  opts: { lr?: number } = {},
): Promise<{ loss: number; logitScale: number }> {
  const vars = clip.trainableParameters();
  const { value, grads } = tf.tidy(() =>
    tf.variableGrads(() => {
      const { logitsPerImage, logitsPerText } = clip.forward(pixels, ids);
      return clipLoss(logitsPerImage, logitsPerText);
    }, vars),
  );
  try {
    optimizer.step(grads, opts.lr);
  } finally {
    tf.dispose(grads);
  }
  clip.clampLogitScale();
  const loss = await value.array();
  value.dispose();
  return { loss, logitScale: scalarValue(clip.logit_scale) };
}

export interface PretrainClipOptions {
  /** Normalised images [N, 3, H, W]. */
  images: tf.Tensor4D;
  /** Every phrasing of each image's caption; a step draws one at random per image. */
  captions: readonly (readonly string[])[];
  /** Text → ids [B, context] (e.g. `data.tokenize` with a word tokenizer). */
  tokenize: (texts: string[]) => tf.Tensor | number[][];
  steps: number;
  /** Pairs per step (default 64). */
  batch?: number;
  /** Peak learning rate of the warmup + cosine schedule (default 2e-3); AdamW weight decay 0.1, clip 1. */
  lr?: number;
  seed?: number;
  progress?: Progress;
  /** Record the learned temperature exp(logit_scale) every this many steps (and after the last) in `evals`. */
  evalEvery?: number;
}

/**
 * Contrastive pre-training as notebook 02 does it, step by step, in one call (for notebooks that need a
 * CLIP encoder and are about something else): random pairs, one random phrasing per image, the logit
 * scale clamped before every step. Returns core's training result (history of losses; with `evalEvery`, the
 * temperature in `evals`).
 */
export function pretrainClip(clip: Clip, opts: PretrainClipOptions): Promise<TrainResult> {
  const { images, captions, tokenize, steps } = opts;
  const batch = opts.batch ?? 64;
  const lr = opts.lr ?? 2e-3;
  const n = images.shape[0];
  if (captions.length !== n) throw new Error(`pretrainClip: ${n} images but ${captions.length} caption lists`);
  const uncaptioned = captions.findIndex((c) => c.length === 0);
  if (uncaptioned >= 0) throw new Error(`pretrainClip: image ${uncaptioned} has no caption`);
  const rng = new Rng(opts.seed ?? 0);
  return train({
    params: clip,
    steps,
    optimizer: new AdamW(clip.namedParameters(), { lr, weightDecay: 0.1 }),
    lr: warmupCosine({ lr, warmupSteps: Math.round(steps / 10), totalSteps: steps }),
    clip: 1,
    progress: opts.progress,
    logEvery: opts.progress ? undefined : Math.max(1, Math.round(steps / 5)),
    ...(opts.evalEvery !== undefined ? { evalEvery: opts.evalEvery, evalFn: () => ({ temperature: clip.scale }) } : {}),
    loss: () => {
      clip.clampLogitScale();
      const picks = Array.from({ length: batch }, () => rng.int(n));
      const texts = picks.map((i) => {
        const phrasings = captions[i] ?? [];
        const text = phrasings[rng.int(phrasings.length)];
        if (text === undefined) throw new Error(`pretrainClip: no caption drawn for image ${i}`);
        return text;
      });
      const { logitsPerImage, logitsPerText } = clip.forward(
        tf.gather(images, tf.tensor1d(picks, "int32")),
        tokenize(texts),
      );
      return clipLoss(logitsPerImage, logitsPerText);
    },
  });
}
