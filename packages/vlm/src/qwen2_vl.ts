/**
 * Qwen2-VL (Wang et al. 2024, "Qwen2-VL: Enhancing Vision-Language Model's Perception of the World at Any
 * Resolution"; transformers `Qwen2VLForConditionalGeneration`): the vision tower of qwen2_vl_vision.ts turns each
 * image, at its own resolution, into one token per 2 × 2 patches; those tokens take the place of the prompt's
 * `<|image_pad|>` tokens (splice.ts); the Qwen2 language model of @vlab/llm reads them with M-RoPE — every token has
 * (t, h, w) position ids, an image's tokens its grid, text the same id on all three (@vlab/rope `getRopeIndex`).
 *
 * Videos go the same way (transformers `Qwen2VLModel.forward`, `get_video_features`): their frames, two to a temporal
 * patch, run through the same tower in a pass of their own (each temporal patch attends within itself, its 2-D rotary
 * ids those of its frame; Qwen2.5-VL's windows are cut per temporal patch), their tokens take the place of
 * `<|video_pad|>`, and their t id counts temporal patches (Qwen2-VL) or follows the clock, t = ⌊ti · secondPerGridT ·
 * tokensPerSecond⌋ (Qwen2.5-VL). An image is exactly a one-patch video of its frame twice.
 *
 *   visual.*            the vision tower (Qwen2.5-VL's with `vision.variant: "qwen2.5-vl"`)
 *   model.*, lm_head.*  the language model, under Hugging Face's (pre-4.52) checkpoint names (qwen2_vl_checkpoint.ts
 *                       also reads transformers ≥ 4.52's model.visual.*, model.language_model.*)
 *
 *   const vlm = new Qwen2VL({ text: {...}, vision: {...} });
 *   const inputs = await qwen2VlProcess(images);                 // pixelValues, gridThw (qwen2_vl_processor.ts)
 *   const ids = expandVisionPads(promptIds, inputs.gridThw, vlm.imageTokenId);
 *   vlm.generate([ids], inputs, { maxNewTokens: 16 });
 *
 *   const clip = await qwen2VlProcessVideos([frames]);           // a video: its own grid [t, h, w]
 *   const ids2 = expandVisionPads(promptIds2, clip.gridThw, vlm.videoTokenId);
 *   vlm.generate([ids2], qwen2VlVision({ videos: clip }), { maxNewTokens: 16 });
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
import { visionTokenCount, type Qwen2VlVisionInputs } from "./qwen2_vl_processor.js";
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
  /**
   * Qwen2.5-VL: M-RoPE t units per second of video (`vision_config.tokens_per_second`). Default 2, the released
   * Qwen2.5-VL configs' value and @vlab/rope `getRopeIndex`'s (transformers' `Qwen2_5_VLVisionConfig` class default
   * is 4, which is what a config.json without the field means: see qwen2_vl_checkpoint.ts). Qwen2-VL ignores it.
   */
  tokensPerSecond?: number;
}

/**
 * What the vision tower reads: the processor's output, or features already computed — images (`pixelValues`,
 * `gridThw`, `features`) and videos (`pixelValuesVideos`, `videoGridThw`, `videoFeatures`), as Hugging Face's
 * `pixel_values` / `image_grid_thw` and `pixel_values_videos` / `video_grid_thw`. Either may be absent.
 */
export interface Qwen2VlVision {
  /** [N, C·T·P·P] block-major patch rows of every image (qwen2_vl_processor.ts), as numbers or a tensor. */
  pixelValues?: Float32Array | tf.Tensor2D;
  /** [t, h, w] in patches, one per image in order over the batch's rows (none: no images). */
  gridThw?: GridThw;
  /** Features [N / 4, D] from `imageFeatures` (then pixelValues is not read). */
  features?: tf.Tensor2D;
  /** [N, C·T·P·P] patch rows of every video (`qwen2VlProcessVideos`), temporal patch after temporal patch. */
  pixelValuesVideos?: Float32Array | tf.Tensor2D;
  /** [t, h, w] of each video (t temporal patches of 2 frames), in order over the batch's rows. */
  videoGridThw?: GridThw;
  /** Features [N / 4, D] from `videoFeatures` (then pixelValuesVideos is not read). */
  videoFeatures?: tf.Tensor2D;
  /**
   * Qwen2.5-VL: seconds each temporal patch of each video spans (`second_per_grid_ts`, temporal_patch_size / fps:
   * 1 at the usual 2 fps); default 1 per video, as transformers. Qwen2-VL ignores it.
   */
  secondPerGridTs?: readonly number[];
}

/** The model's vision input from the processor's outputs: images from `qwen2VlProcess`, videos from
 *  `qwen2VlProcessVideos` (whose fields would otherwise read as images). */
export function qwen2VlVision(inputs: {
  images?: Qwen2VlVisionInputs;
  videos?: Qwen2VlVisionInputs;
  secondPerGridTs?: readonly number[];
}): Qwen2VlVision {
  const { images, videos, secondPerGridTs } = inputs;
  return {
    ...(images && { pixelValues: images.pixelValues, gridThw: images.gridThw }),
    ...(videos && { pixelValuesVideos: videos.pixelValues, videoGridThw: videos.gridThw }),
    ...(secondPerGridTs && { secondPerGridTs }),
  };
}

export class Qwen2VL extends Module {
  /** The resolved configs, the token ids, and whether the head is the embedding (checkpoints read it). */
  readonly config: {
    text: ResolvedLlmConfig;
    vision: ResolvedQwen2VisionConfig;
    imageTokenId: number;
    videoTokenId: number;
    visionStartTokenId: number;
    tokensPerSecond: number;
    tieWordEmbeddings: boolean;
  };
  readonly visual: Qwen2VisionTransformer;
  /** The language model (its `model` and `lm_head` are this module's own children, named as Hugging Face does). */
  readonly language_model: CausalLM;
  readonly imageTokenId: number;
  readonly videoTokenId: number;
  readonly visionStartTokenId: number;
  readonly tokensPerSecond: number;

  constructor(config: Qwen2VlConfig) {
    super();
    const text: LlmConfig = { imageTokenId: 151655, ...config.text };
    if (!text.mropeSection) throw new Error("Qwen2VL: the text config needs mropeSection (M-RoPE)");
    this.imageTokenId = text.imageTokenId ?? 151655;
    this.videoTokenId = config.videoTokenId ?? 151656;
    this.visionStartTokenId = config.visionStartTokenId ?? 151652;
    this.tokensPerSecond = config.tokensPerSecond ?? 2;
    const ids = [this.imageTokenId, this.videoTokenId, this.visionStartTokenId];
    if (new Set(ids).size !== 3)
      throw new Error(`Qwen2VL: image, video and vision-start token ids must differ, got ${ids.join(", ")}`);
    if (!(this.tokensPerSecond > 0))
      throw new RangeError(`Qwen2VL: tokensPerSecond must be positive, got ${this.tokensPerSecond}`);
    this.language_model = new CausalLM(text);
    this.visual = this.module(
      "visual",
      new Qwen2VisionTransformer({ ...config.vision, outHiddenSize: this.language_model.config.hiddenSize }),
    );
    this.module("model", this.language_model.model);
    if (this.language_model.lm_head) this.module("lm_head", this.language_model.lm_head);
    const textConfig = this.language_model.config;
    this.config = {
      text: textConfig,
      vision: this.visual.config,
      imageTokenId: this.imageTokenId,
      videoTokenId: this.videoTokenId,
      visionStartTokenId: this.visionStartTokenId,
      tokensPerSecond: this.tokensPerSecond,
      tieWordEmbeddings: textConfig.tieWordEmbeddings,
    };
  }

  /** A copy of every weight (the point to come back to, e.g. to run RL twice from one base); dispose it when done. */
  snapshot(): Record<string, tf.Tensor> {
    return Object.fromEntries(Object.entries(this.stateDict()).map(([k, v]) => [k, v.clone()]));
  }

  /** Loads the weights of a `snapshot`. Returns this. */
  restore(snapshot: Record<string, tf.Tensor>): this {
    this.loadStateDict(snapshot);
    return this;
  }

  /** The images' tokens for the language model [Σ t·h·w / 4, D] (the caller disposes them). */
  imageFeatures(vision: Qwen2VlVision): tf.Tensor2D {
    return this.towerFeatures(vision.pixelValues, vision.gridThw ?? [], vision.features, "pixelValues");
  }

  /** The videos' tokens for the language model [Σ t·h·w / 4, D], from a pass of their own (the caller disposes). */
  videoFeatures(vision: Qwen2VlVision): tf.Tensor2D {
    const { pixelValuesVideos, videoGridThw = [], videoFeatures } = vision;
    return this.towerFeatures(pixelValuesVideos, videoGridThw, videoFeatures, "pixelValuesVideos");
  }

  /** The tower over one kind's patch rows (transformers' `get_image_features` / `get_video_features`). */
  private towerFeatures(
    pixelValues: Float32Array | tf.Tensor2D | undefined,
    gridThw: GridThw,
    features: tf.Tensor2D | undefined,
    name: "pixelValues" | "pixelValuesVideos",
  ): tf.Tensor2D {
    if (features) return tf.clone(features);
    const [feats, grids] = name === "pixelValues" ? ["features", "grids"] : ["videoFeatures", "videoGridThw"];
    if (!pixelValues) throw new Error(`Qwen2VL: give ${name} (or ${feats}) with the ${grids}`);
    const rowWidth =
      this.visual.config.inChannels * this.visual.config.temporalPatchSize * this.visual.config.patchSize ** 2;
    if (!(pixelValues instanceof tf.Tensor) && pixelValues.length % rowWidth !== 0)
      throw new Error(`Qwen2VL: ${name} holds ${pixelValues.length} values, not rows of C·T·P·P = ${rowWidth}`);
    return tf.tidy(() => {
      const x =
        pixelValues instanceof tf.Tensor
          ? pixelValues
          : tf.tensor2d(pixelValues, [pixelValues.length / rowWidth, rowWidth]);
      return this.visual.forward(x, gridThw);
    });
  }

  /** Image and video features of `vision` (null where it has none of that kind); the caller disposes both. */
  private visionFeatures(vision: Qwen2VlVision | null): [tf.Tensor2D | null, tf.Tensor2D | null] {
    if (!vision) return [null, null];
    const hasImages = vision.features || vision.pixelValues || (vision.gridThw?.length ?? 0) > 0;
    const hasVideos = vision.videoFeatures || vision.pixelValuesVideos || (vision.videoGridThw?.length ?? 0) > 0;
    const images = hasImages ? this.imageFeatures(vision) : null;
    try {
      return [images, hasVideos ? this.videoFeatures(vision) : null];
    } catch (e) {
      images?.dispose();
      throw e;
    }
  }

  /**
   * M-RoPE ids [3][B][T] of padded ids with their mask: the images on `gridThw`, the videos on `videos.videoGridThw`
   * (each in order over the rows; Qwen2.5-VL's video t from `videos.secondPerGridTs` and `tokensPerSecond`).
   */
  ropeIndex(
    ids: readonly (readonly number[])[],
    attentionMask: readonly (readonly number[])[],
    gridThw: GridThw,
    videos: Pick<Qwen2VlVision, "videoGridThw" | "secondPerGridTs"> = {},
  ): MropePositionIds {
    return getRopeIndex(ids, {
      attentionMask,
      imageGridThw: gridThw,
      videoGridThw: videos.videoGridThw,
      secondPerGridTs: videos.secondPerGridTs,
      tokensPerSecond: this.tokensPerSecond,
      spatialMergeSize: this.visual.config.spatialMergeSize,
      imageTokenId: this.imageTokenId,
      videoTokenId: this.videoTokenId,
      visionStartTokenId: this.visionStartTokenId,
      mode: this.visual.config.variant,
    }).positionIds;
  }

  /**
   * Each video is the run of `<|video_pad|>` right after a `<|vision_start|>` (as the processor expands it), videos
   * in order over the rows; its run must hold its grid's t·h·w / m² merged tokens. The error names the row, the
   * video and both counts (transformers only compares the batch's totals).
   */
  private checkVideoPads(ids: readonly (readonly number[])[], videoGridThw: GridThw = []): void {
    const m = this.visual.config.spatialMergeSize;
    let k = 0;
    ids.forEach((row, b) => {
      for (let j = 1; j < row.length; j++) {
        if (row[j] !== this.videoTokenId || row[j - 1] !== this.visionStartTokenId) continue;
        let run = 0;
        while (row[j + run] === this.videoTokenId) run++;
        const grid = videoGridThw[k];
        if (!grid)
          throw new Error(
            `Qwen2VL: row ${b} holds a video at position ${j} (video ${k} of the batch) but videoGridThw lists ` +
              `${videoGridThw.length}`,
          );
        const need = visionTokenCount(grid, m);
        if (run !== need)
          throw new Error(
            `Qwen2VL: row ${b}: video ${k} (grid [${grid.join(", ")}]) has ${run} <|video_pad|> tokens ` +
              `(id ${this.videoTokenId}) from position ${j}, but its grid gives ${need} merged tokens ` +
              `(t·h·w / ${m * m})`,
          );
        k++;
        j += run - 1;
      }
    });
    if (k !== videoGridThw.length)
      throw new Error(`Qwen2VL: the prompts hold ${k} videos but videoGridThw lists ${videoGridThw.length}`);
  }

  /**
   * Token embeddings [B, T, D] with image features at the `<|image_pad|>` and video features at the `<|video_pad|>`
   * of the first `promptLength` columns (transformers' two `masked_scatter`s). With videos, both kinds go through
   * splice.ts in one pass: the video pads are relabelled image pads and the feature rows interleaved in the order of
   * their placeholders.
   */
  private embedVision(
    ids: readonly (readonly number[])[],
    images: tf.Tensor2D | null,
    videos: tf.Tensor2D | null,
    promptLength?: number,
  ): tf.Tensor3D {
    const imageTokenId = this.imageTokenId;
    if (!videos) return embedMultimodal(this.language_model, ids, images, { imageTokenId, promptLength });
    const nImages = images?.shape[0] ?? 0;
    const from: number[] = []; // the placeholders' rows in [images; videos], row-major over the batch
    let [i, v] = [0, 0];
    const relabelled = ids.map((row) =>
      row.map((id, t) => {
        if (promptLength !== undefined && t >= promptLength) return id; // generated: a plain token
        if (id === imageTokenId) from.push(i++);
        else if (id === this.videoTokenId) from.push(nImages + v++);
        else return id;
        return imageTokenId;
      }),
    );
    const counts: [string, number, number, number][] = [
      ["image", i, nImages, imageTokenId],
      ["video", v, videos.shape[0], this.videoTokenId],
    ];
    for (const [kind, n, rows, id] of counts)
      if (n !== rows)
        throw new Error(
          `Qwen2VL: the ids hold ${n} ${kind} placeholder token${n === 1 ? "" : "s"} (id ${id}) but the ${kind} ` +
            `features have ${rows} row${rows === 1 ? "" : "s"}`,
        );
    return tf.tidy(() => {
      const table = images ? tf.concat([images, videos], 0) : videos; // [images + videos, D]
      const rows = tf.gather(table, tf.tensor1d(from, "int32")); // [placeholders, D], in their order
      return embedMultimodal(this.language_model, relabelled, rows, { imageTokenId, promptLength });
    });
  }

  /** Logits [B, T, V] of expanded prompt ids [B][T] (equal lengths; `attentionMask` for padding) with their images
   *  and videos. */
  forward(
    ids: readonly (readonly number[])[],
    vision: Qwen2VlVision | null,
    opts: { attentionMask?: number[][] } = {},
  ): tf.Tensor3D {
    const attentionMask = opts.attentionMask ?? ids.map((r) => r.map(() => 1));
    this.checkVideoPads(ids, vision?.videoGridThw);
    const [images, videos] = this.visionFeatures(vision);
    try {
      return tf.tidy(() => {
        const inputsEmbeds = this.embedVision(ids, images, videos);
        const mropePositionIds = this.ropeIndex(ids, attentionMask, vision?.gridThw ?? [], vision ?? {});
        return this.language_model.forward(null, { inputsEmbeds, attentionMask, mropePositionIds });
      });
    } finally {
      images?.dispose();
      videos?.dispose();
    }
  }

  /** Continuations of expanded prompts with their images and videos (batched, left-padded, KV cache; see @vlab/llm
   *  generate). */
  generate(
    prompts: readonly (readonly number[])[],
    vision: Qwen2VlVision | null,
    opts: GenerateOptions = {},
  ): GenerateResult {
    this.checkVideoPads(prompts, vision?.videoGridThw);
    const [images, videos] = this.visionFeatures(vision);
    try {
      return this.language_model.generate(prompts, { ...this.hooks(images, videos, vision), ...opts });
    } finally {
      images?.dispose();
      videos?.dispose();
    }
  }

  /** Per-token log-probabilities of completions after prompts with images and videos (differentiable, for GRPO). */
  logProbs(
    prompts: readonly (readonly number[])[],
    completions: readonly (readonly number[])[],
    vision: Qwen2VlVision | null,
    opts: LogProbsOptions = {},
  ): LogProbsResult {
    this.checkVideoPads(prompts, vision?.videoGridThw);
    const [images, videos] = this.visionFeatures(vision);
    try {
      return this.language_model.logProbs(prompts, completions, { ...this.hooks(images, videos, vision), ...opts });
    } finally {
      images?.dispose();
      videos?.dispose();
    }
  }

  /** The embed and M-RoPE hooks of generation and scoring for these images and videos. */
  private hooks(images: tf.Tensor2D | null, videos: tf.Tensor2D | null, vision: Qwen2VlVision | null) {
    return {
      embed: (ids: readonly (readonly number[])[], promptLength: number) =>
        this.embedVision(ids, images, videos, promptLength),
      mropePositions: (ids: readonly (readonly number[])[], mask: readonly (readonly number[])[]) =>
        this.ropeIndex(ids, mask, vision?.gridThw ?? [], vision ?? {}),
    };
  }

  override dispose(): void {
    super.dispose();
    this.language_model.rope.dispose();
  }
}
