/**
 * LLaVA (Liu et al. 2023, "Visual Instruction Tuning", sec. 4; LLaVA-1.5, Liu et al. 2024, "Improved Baselines with
 * Visual Instruction Tuning"; reference code haotian-liu/LLaVA, llava/model/llava_arch.py and llava/train/train.py):
 *
 *   features = vision.patchFeatures(pixels, -2)    [B, g², w]   second-to-last layer, CLS dropped
 *   tokens   = projector(features)                 [B, g², D]   v1: Linear;  v1.5: Linear → GELU → Linear
 *   embeds   = splice(tokens into the text)        [B, T, D]    one placeholder token per image token
 *   logits   = lm(embeds)                          [B, T, V]
 *
 * Two stages, the paper's recipe:
 *   stage 1 (feature alignment)   train the projector only; vision and LM frozen; caption data, "plain" template
 *   stage 2 (instruction tuning)  train the projector and the LM; vision frozen; chats, loss on the answers only
 *
 * Parameter names follow Hugging Face's `LlavaForConditionalGeneration`: `vision_tower.*`,
 * `multi_modal_projector.linear_1` / `linear_2`, `language_model.*` (the LM's own `model.*` / `lm_head`).
 *
 * Data: LLaVA's conversations put `<image>` at the start of the first human turn; `toChatMessages` turns them into
 * ChatML messages with one placeholder per image token, `plainSample` is the stage-1 template, and the Vicuna `v1`
 * template and its label mask (`llavaV1Prompt`, `llavaV1Labels`) are LLaVA's own stage-2 format.
 */
import { Linear, Module, gelu, tf, type Rng } from "@vlab/core";
import {
  IGNORE_INDEX,
  buildLabels,
  type CausalLM,
  type ChatMessage,
  type ChatTokenizer,
  type GenerateOptions,
  type GenerateResult,
  type LogProbsOptions,
  type LogProbsResult,
} from "@vlab/llm";
import type { VisionTransformer } from "@vlab/vision";
import { embedMultimodal, embedWithImages } from "./splice.js";

/** LLaVA's `DEFAULT_IMAGE_TOKEN` (llava/constants.py): where the image goes in a conversation's text. */
export const IMAGE_TOKEN = "<image>";

/** `linear` (LLaVA v1) or `mlp2x_gelu` (LLaVA-1.5). */
export type ProjectorType = "linear" | "mlp2x_gelu";

/** Vision width → LM width: one Linear, or Linear → GELU → Linear. */
export class LlavaProjector extends Module {
  readonly linear_1: Linear;
  readonly linear_2: Linear | null;

  constructor(
    readonly visionWidth: number,
    readonly lmWidth: number,
    readonly type: ProjectorType = "mlp2x_gelu",
    rng?: Rng,
  ) {
    super();
    if (type !== "linear" && type !== "mlp2x_gelu")
      throw new RangeError(`projector must be "linear" or "mlp2x_gelu", got "${type}"`);
    this.linear_1 = this.module("linear_1", new Linear(visionWidth, lmWidth, { rng }));
    this.linear_2 = type === "mlp2x_gelu" ? this.module("linear_2", new Linear(lmWidth, lmWidth, { rng })) : null;
  }

  /** [..., visionWidth] → [..., lmWidth]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = this.linear_1.forward(x);
      return this.linear_2 ? this.linear_2.forward(gelu(h)) : h;
    });
  }

  protected override extraRepr(): string {
    return `${this.type}: ${this.visionWidth} → ${this.lmWidth}`;
  }
}

export interface LlavaOptions {
  vision: VisionTransformer;
  lm: CausalLM;
  /** Default "mlp2x_gelu" (LLaVA-1.5). */
  projector?: ProjectorType;
  /** Which hidden state of the vision tower (default -2, `mm_vision_select_layer`). */
  selectLayer?: number;
  rng?: Rng;
}

/**
 * Pixels [B, 3, H, W], or vision features already computed with `visionFeatures` [B, g², w] (the tower is frozen, so
 * they can be cached).
 */
export type ImageInput = { pixels: tf.Tensor } | { features: tf.Tensor };

export class Llava extends Module {
  readonly vision_tower: VisionTransformer;
  readonly multi_modal_projector: LlavaProjector;
  readonly language_model: CausalLM;
  readonly selectLayer: number;
  /** The placeholder id, from the LM's config. */
  readonly imageTokenId: number;

  constructor(opts: LlavaOptions) {
    super();
    this.vision_tower = this.module("vision_tower", opts.vision);
    this.language_model = this.module("language_model", opts.lm);
    this.multi_modal_projector = this.module(
      "multi_modal_projector",
      new LlavaProjector(opts.vision.config.width, opts.lm.config.hiddenSize, opts.projector, opts.rng),
    );
    this.selectLayer = opts.selectLayer ?? -2;
    const { imageTokenId } = opts.lm.config;
    if (imageTokenId === undefined) throw new Error("Llava: the LM config needs imageTokenId (the placeholder id)");
    this.imageTokenId = imageTokenId;
  }

  /** Image tokens per image: the vision grid's cells (CLS dropped). */
  get imageTokens(): number {
    return this.vision_tower.grid[0] * this.vision_tower.grid[1];
  }

  /**
   * Freezes for a training stage: 1 = projector only, 2 = projector and LM. The vision tower stays frozen
   * in both (LLaVA never trains it). Returns this.
   */
  stage(stage: 1 | 2): this {
    if (stage !== 1 && stage !== 2) throw new RangeError(`Llava.stage: 1 or 2, got ${stage}`);
    this.vision_tower.freeze();
    this.multi_modal_projector.unfreeze();
    if (stage === 1) this.language_model.freeze();
    else this.language_model.unfreeze();
    return this;
  }

  /**
   * A copy of every weight a stage trains (all but the vision tower's, which never change): the point to come back
   * to, e.g. to run stage 2 twice from the same stage-1 weights. `restore` loads it; dispose it when done.
   */
  snapshot(): Record<string, tf.Tensor> {
    return Object.fromEntries(
      Object.entries(this.stateDict())
        .filter(([k]) => !k.startsWith("vision_tower."))
        .map(([k, v]) => [k, v.clone()]),
    );
  }

  /** Loads the weights of a `snapshot` (the vision tower keeps its own). Returns this. */
  restore(snapshot: Record<string, tf.Tensor>): this {
    this.loadStateDict(snapshot, { strict: false });
    return this;
  }

  /** The vision tower's patch features at `selectLayer`, CLS dropped: [B, g², w]. */
  visionFeatures(pixels: tf.Tensor): tf.Tensor3D {
    return this.vision_tower.patchFeatures(pixels, this.selectLayer);
  }

  /** Projected image tokens, one row per placeholder: [B·g², D]. */
  imageEmbeds(image: ImageInput): tf.Tensor2D {
    return tf.tidy(() => {
      const f = "pixels" in image ? this.visionFeatures(image.pixels) : image.features;
      if (f.rank !== 3 || f.shape[2] !== this.vision_tower.config.width) {
        throw new Error(
          `Llava: vision features must be [B, ${this.imageTokens}, ${this.vision_tower.config.width}], ` +
            `got [${f.shape.join(", ")}]`,
        );
      }
      return tf.reshape(this.multi_modal_projector.forward(f), [
        -1,
        this.language_model.config.hiddenSize,
      ]) as tf.Tensor2D;
    });
  }

  /** Logits [B, T, V] for ids [B, T] holding `imageTokens` placeholders per image. */
  forward(
    ids: readonly (readonly number[])[],
    image: ImageInput | null,
    opts: { attentionMask?: readonly (readonly number[])[] } = {},
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const embeds = image ? this.imageEmbeds(image) : null;
      const inputsEmbeds = embedMultimodal(this.language_model, ids, embeds);
      return this.language_model.forward(null, { inputsEmbeds, attentionMask: opts.attentionMask });
    });
  }

  /** Generation with the image tokens spliced into the prompts (greedy by default). */
  generate(
    prompts: readonly (readonly number[])[],
    image: ImageInput | null,
    opts: GenerateOptions = {},
  ): GenerateResult {
    const imageEmbeds = image ? this.imageEmbeds(image) : undefined;
    try {
      const embed = imageEmbeds && embedWithImages(this.language_model, imageEmbeds);
      return this.language_model.generate(prompts, { greedy: true, ...opts, embed });
    } finally {
      imageEmbeds?.dispose();
    }
  }

  /** Per-token log-probabilities of completions after prompts with images (differentiable; see logprobs.ts). */
  logProbs(
    prompts: readonly (readonly number[])[],
    completions: readonly (readonly number[])[],
    image: ImageInput | null,
    opts: LogProbsOptions = {},
  ): LogProbsResult {
    // tidy keeps the tensors of a returned object; its type asks for an index signature that LogProbsResult lacks.
    const kept = tf.tidy(
      () =>
        this.language_model.logProbs(prompts, completions, {
          ...opts,
          embed: image ? embedWithImages(this.language_model, this.imageEmbeds(image)) : undefined,
        }) as unknown as tf.TensorContainerObject,
    );
    return kept as unknown as LogProbsResult;
  }
}

/**
 * A LLaVA conversation as ChatML messages: a turn that starts with `<image>` gets an image part of `imageTokens`
 * placeholders (one per image token) before its text; with `imageTokens` 0 the image is left out (text only).
 */
export function toChatMessages(
  turns: readonly { role: string; content: string }[],
  imageTokens: number,
): ChatMessage[] {
  if (!Number.isInteger(imageTokens) || imageTokens < 0)
    throw new RangeError(`toChatMessages: imageTokens must be a non-negative integer, got ${imageTokens}`);
  return turns.map((t) => {
    if (!t.content.startsWith(IMAGE_TOKEN)) return { role: t.role, content: t.content };
    const text = t.content.slice(IMAGE_TOKEN.length).trimStart();
    return {
      role: t.role,
      content:
        imageTokens > 0
          ? [
              { type: "image", tokens: imageTokens },
              { type: "text", text },
            ]
          : text,
    };
  });
}

/**
 * LLaVA's `plain` template for stage 1, in token ids: the image placeholders, the caption, then `<|im_end|>`
 * (the word tokenizer has no "\n"; the end token also teaches the model where a caption stops). Labels: −100 on
 * the image, the caption and the end token supervised.
 */
export function plainSample(
  tokenizer: ChatTokenizer,
  caption: string,
  imageTokens: number,
): { ids: number[]; labels: number[] } {
  const text = tokenizer.encode(caption);
  const ids = [...new Array<number>(imageTokens).fill(tokenizer.imageTokenId), ...text, tokenizer.imEndId];
  const labels = [...new Array<number>(imageTokens).fill(IGNORE_INDEX), ...text, tokenizer.imEndId];
  return { ids, labels };
}

/**
 * Labels that supervise every text token (the ablation of "loss on answers only"): all ids but the image
 * placeholders and padding.
 */
export function wholeSequenceLabels(ids: readonly number[], tokenizer: ChatTokenizer): number[] {
  return ids.map((id) => (id === tokenizer.imageTokenId || id === tokenizer.padId ? IGNORE_INDEX : id));
}

/** LLaVA's `conv_vicuna_v1` system prompt (the stage-2 template of LLaVA v1 and 1.5). */
export const VICUNA_V1_SYSTEM =
  "A chat between a curious user and an artificial intelligence assistant. " +
  "The assistant gives helpful, detailed, and polite answers to the user's questions.";

/**
 * LLaVA's `v1` template (`conv_vicuna_v1` in llava/conversation.py: `SeparatorStyle.TWO`, sep " ", sep2 "</s>"):
 * `"{system} USER: {q1} ASSISTANT: {a1}</s>USER: {q2} ASSISTANT: {a2}</s>"`. The image placeholder moves to the
 * front of the first user turn, followed by "\n" (`preprocess_multimodal`). Turns alternate user, assistant; a last
 * user turn without its answer ends with "ASSISTANT:", the generation prompt.
 */
export function llavaV1Prompt(
  turns: readonly { role: "user" | "assistant"; content: string }[],
  { system = VICUNA_V1_SYSTEM, imageToken = IMAGE_TOKEN, eos = "</s>" } = {},
): string {
  let out = `${system} `;
  turns.forEach((t, i) => {
    if (t.role !== (i % 2 === 0 ? "user" : "assistant"))
      throw new Error(`llavaV1Prompt: turn ${i} should be ${i % 2 === 0 ? "user" : "assistant"}, got ${t.role}`);
    let content = t.content;
    if (i === 0 && content.includes(imageToken)) content = `${imageToken}\n${content.replace(imageToken, "").trim()}`;
    out += t.role === "user" ? `USER: ${content} ` : `ASSISTANT: ${content}${eos}`;
  });
  if (turns.length % 2 === 1) out += "ASSISTANT:";
  return out;
}

/**
 * Labels of a `v1` chat (LLaVA's `preprocess_v1` in llava/train/train.py): −100 up to and including each
 * "ASSISTANT:" and on every image position; the answer and its "</s>" supervised. LLaVA's train.py computes the same
 * by token counts per round ("instruction length − 2", a SentencePiece artifact); here the rounds are found by their
 * tokens, which gives that mask on any tokenizer.
 */
export function llavaV1Labels(
  ids: readonly number[],
  tokens: { assistant: readonly number[]; eosId: number; imageTokenId?: number },
): number[] {
  return buildLabels(ids, {
    assistantHeader: tokens.assistant,
    endId: tokens.eosId,
    imageTokenId: tokens.imageTokenId,
  });
}
