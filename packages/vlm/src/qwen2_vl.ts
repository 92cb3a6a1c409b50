/**
 * Qwen2-VL (Wang et al. 2024, "Qwen2-VL: Enhancing Vision-Language Model's Perception of the World at Any
 * Resolution"; transformers `Qwen2VLForConditionalGeneration`): the vision tower of qwen2_vl_vision.ts turns each
 * image, at its own resolution, into one token per 2 × 2 patches; those tokens take the place of the prompt's
 * `<|image_pad|>` tokens (splice.ts); the Qwen2 language model of @vlab/llm reads them with M-RoPE — every token has
 * (t, h, w) position ids, an image's tokens its grid, text the same id on all three (@vlab/rope `getRopeIndex`).
 *
 *   visual.*            the vision tower (Qwen2.5-VL's with `vision.variant: "qwen2.5-vl"`)
 *   model.*, lm_head.*  the language model, under Hugging Face's (pre-4.52) checkpoint names
 *
 *   const vlm = new Qwen2VL({ text: {...}, vision: {...} });
 *   const inputs = await qwen2VlProcess(images);                 // pixelValues, gridThw (qwen2_vl_processor.ts)
 *   const ids = expandVisionPads(promptIds, inputs.gridThw, vlm.imageTokenId);
 *   vlm.generate([ids], inputs, { maxNewTokens: 16 });
 */
import { Module, tf } from "@vlab/core";
import {
  CausalLM,
  type GenerateOptions,
  type GenerateResult,
  type LlmConfig,
  type LogProbsOptions,
  type LogProbsResult,
  type MropePositionIds,
  type ResolvedLlmConfig,
} from "@vlab/llm";
import { getRopeIndex, type GridThw } from "@vlab/rope";
import { Qwen2VisionTransformer, type Qwen2VisionConfig, type ResolvedQwen2VisionConfig } from "./qwen2_vl_vision.js";
import { embedMultimodal } from "./splice.js";

export interface Qwen2VlConfig {
  /** The language model; `imageTokenId` (default 151655) and `mropeSection` are required for images. */
  text: LlmConfig;
  /** The vision tower; its `outHiddenSize` is set to the language model's width. */
  vision?: Qwen2VisionConfig;
  /** `<|vision_start|>` (default 151652). */
  visionStartTokenId?: number;
  /** `<|video_pad|>` (default 151656). */
  videoTokenId?: number;
}

/** What the vision tower reads: the processor's output, or its image features already computed. */
export interface Qwen2VlVision {
  /** [N, C·T·P·P] block-major patch rows of every image (qwen2_vl_processor.ts), as numbers or a tensor. */
  pixelValues?: Float32Array | tf.Tensor2D;
  /** [t, h, w] in patches, one per image in order over the batch's rows. */
  gridThw: GridThw;
  /** Features [N / 4, D] from `imageFeatures` (then pixelValues is not read). */
  features?: tf.Tensor2D;
}

export class Qwen2VL extends Module {
  /** The resolved configs, the token ids, and whether the head is the embedding (checkpoints read it). */
  readonly config: {
    text: ResolvedLlmConfig;
    vision: ResolvedQwen2VisionConfig;
    imageTokenId: number;
    videoTokenId: number;
    visionStartTokenId: number;
    tieWordEmbeddings: boolean;
  };
  readonly visual: Qwen2VisionTransformer;
  /** The language model (its `model` and `lm_head` are this module's own children, named as Hugging Face does). */
  readonly language_model: CausalLM;
  readonly imageTokenId: number;
  readonly videoTokenId: number;
  readonly visionStartTokenId: number;

  constructor(config: Qwen2VlConfig) {
    super();
    const text: LlmConfig = { imageTokenId: 151655, ...config.text };
    if (!text.mropeSection) throw new Error("Qwen2VL: the text config needs mropeSection (M-RoPE)");
    this.language_model = new CausalLM(text);
    this.visual = this.module(
      "visual",
      new Qwen2VisionTransformer({ ...config.vision, outHiddenSize: this.language_model.config.hiddenSize }),
    );
    this.module("model", this.language_model.model);
    if (this.language_model.lm_head) this.module("lm_head", this.language_model.lm_head);
    this.imageTokenId = this.language_model.config.imageTokenId ?? 151655;
    this.videoTokenId = config.videoTokenId ?? 151656;
    this.visionStartTokenId = config.visionStartTokenId ?? 151652;
    const textConfig = this.language_model.config;
    this.config = {
      text: textConfig,
      vision: this.visual.config,
      imageTokenId: this.imageTokenId,
      videoTokenId: this.videoTokenId,
      visionStartTokenId: this.visionStartTokenId,
      tieWordEmbeddings: textConfig.tieWordEmbeddings,
    };
  }

  /** The images' tokens for the language model [Σ t·h·w / 4, D] (the caller disposes them). */
  imageFeatures(vision: Qwen2VlVision): tf.Tensor2D {
    if (vision.features) return tf.clone(vision.features);
    const { pixelValues } = vision;
    if (!pixelValues) throw new Error("Qwen2VL: give pixelValues (or features) with the grids");
    const rowWidth =
      this.visual.config.inChannels * this.visual.config.temporalPatchSize * this.visual.config.patchSize ** 2;
    if (!(pixelValues instanceof tf.Tensor) && pixelValues.length % rowWidth !== 0)
      throw new Error(`Qwen2VL: pixelValues holds ${pixelValues.length} values, not rows of C·T·P·P = ${rowWidth}`);
    return tf.tidy(() => {
      const x =
        pixelValues instanceof tf.Tensor
          ? pixelValues
          : tf.tensor2d(pixelValues, [pixelValues.length / rowWidth, rowWidth]);
      return this.visual.forward(x, vision.gridThw);
    });
  }

  /** M-RoPE ids [3][B][T] of padded ids with their mask, the images on `gridThw` in order over the rows. */
  ropeIndex(
    ids: readonly (readonly number[])[],
    attentionMask: readonly (readonly number[])[],
    gridThw: GridThw,
  ): MropePositionIds {
    return getRopeIndex(ids, {
      attentionMask,
      imageGridThw: gridThw,
      spatialMergeSize: this.visual.config.spatialMergeSize,
      imageTokenId: this.imageTokenId,
      videoTokenId: this.videoTokenId,
      visionStartTokenId: this.visionStartTokenId,
      mode: this.visual.config.variant,
    }).positionIds;
  }

  /** Logits [B, T, V] of expanded prompt ids [B][T] (equal lengths; `attentionMask` for padding) with their images. */
  forward(
    ids: readonly (readonly number[])[],
    vision: Qwen2VlVision | null,
    opts: { attentionMask?: number[][] } = {},
  ): tf.Tensor3D {
    const attentionMask = opts.attentionMask ?? ids.map((r) => r.map(() => 1));
    const features = vision ? this.imageFeatures(vision) : null;
    try {
      return tf.tidy(() => {
        const inputsEmbeds = embedMultimodal(this.language_model, ids, features, { imageTokenId: this.imageTokenId });
        const mropePositionIds = this.ropeIndex(ids, attentionMask, vision?.gridThw ?? []);
        return this.language_model.forward(null, { inputsEmbeds, attentionMask, mropePositionIds });
      });
    } finally {
      features?.dispose();
    }
  }

  /** Continuations of expanded prompts with their images (batched, left-padded, KV cache; see @vlab/llm generate). */
  generate(
    prompts: readonly (readonly number[])[],
    vision: Qwen2VlVision | null,
    opts: GenerateOptions = {},
  ): GenerateResult {
    const features = vision ? this.imageFeatures(vision) : null;
    try {
      return this.language_model.generate(prompts, { ...this.hooks(features, vision), ...opts });
    } finally {
      features?.dispose();
    }
  }

  /** Per-token log-probabilities of completions after prompts with images (differentiable, for GRPO). */
  logProbs(
    prompts: readonly (readonly number[])[],
    completions: readonly (readonly number[])[],
    vision: Qwen2VlVision | null,
    opts: LogProbsOptions = {},
  ): LogProbsResult {
    const features = vision ? this.imageFeatures(vision) : null;
    try {
      return this.language_model.logProbs(prompts, completions, { ...this.hooks(features, vision), ...opts });
    } finally {
      features?.dispose();
    }
  }

  /** The embed and M-RoPE hooks of generation and scoring for these images. */
  private hooks(features: tf.Tensor2D | null, vision: Qwen2VlVision | null) {
    return {
      embed: (ids: readonly (readonly number[])[], promptLength: number) =>
        embedMultimodal(this.language_model, ids, features, { imageTokenId: this.imageTokenId, promptLength }),
      mropePositions: (ids: readonly (readonly number[])[], mask: readonly (readonly number[])[]) =>
        this.ropeIndex(ids, mask, vision?.gridThw ?? []),
    };
  }

  override dispose(): void {
    super.dispose();
    this.language_model.rope.dispose();
  }
}
