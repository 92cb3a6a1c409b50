/**
 * BLIP-2's stage 2 (Li et al. 2023, sec. 3.3, Figure 3; salesforce/LAVIS, lavis/models/blip2_models/blip2_opt.py
 * `Blip2OPT`; Hugging Face `Blip2ForConditionalGeneration`): the Q-Former's N query outputs, projected to the LM's
 * width, are put in front of the text as N soft visual prompts of a frozen decoder LM:
 *
 *   Z       = Qformer.bert(query_tokens; cross-attending ln_vision(Z_img))     [B, N, D]   (blip2.ts queryOutput)
 *   prompts = language_projection(Z)                                           [B, N, D_lm]
 *   embeds  = [prompts ; embed(prompt ids) ; embed(text ids)]                  the N soft tokens first, attention 1
 *   labels  = [−100 · N ; −100 · prompt ; text ids]                            loss on the text only (padding −100)
 *   L       = the LM's next-token cross-entropy over the supervised labels (llm's `sftLoss`)
 *
 * The soft prompts take the place of N image placeholder tokens at the front of each sequence (splice.ts, as LLaVA's
 * image tokens), so training, batched generation and log-probabilities run through @vlab/llm unchanged; with left
 * padding the placeholders come after the padding, which the LM's positions (cumsum of the mask) make equivalent to
 * LAVIS's [soft prompts; right-padded text].
 *
 * Frozen: the image encoder (outside this model) and the LM. Stage 2 trains what reaches the LM in this path — the
 * query tokens, `ln_vision`, the Q-Former's embedding LayerNorm, every layer's attention, cross-attention and query
 * FFN — and `language_projection`; LAVIS's Blip2OPT deletes the Q-Former's text parts (word and position embeddings,
 * text FFNs, LM head), and stage 1's heads (vision_proj, text_proj, itm_head, temp) are not part of it.
 */
import { Linear, tf } from "@vlab/core";
import {
  IGNORE_INDEX,
  rightPadWithLabels,
  sftLoss,
  type CausalLM,
  type GenerateOptions,
  type GenerateResult,
  type LogProbsOptions,
  type LogProbsResult,
} from "@vlab/llm";
import { Blip2Qformer, type Blip2QformerOptions } from "./blip2.js";
import { embedWithImages } from "./splice.js";

export interface Blip2Options extends Blip2QformerOptions {
  /** The frozen decoder LM; its config's `imageTokenId` marks the soft prompts' places. */
  lm: CausalLM;
}

/** What stage 2 trains, by name (see the file comment); stage 1 trains every Q-Former part instead. */
export function isStage2Trainable(name: string): boolean {
  if (name === "query_tokens" || name.startsWith("ln_vision.") || name.startsWith("language_projection.")) return true;
  if (name.startsWith("Qformer.bert.embeddings.LayerNorm.")) return true;
  return /^Qformer\.bert\.encoder\.layer\.\d+\.(attention|crossattention|intermediate_query|output_query)\./.test(name);
}

/**
 * Which parameters LAVIS's optimiser decays (salesforce/LAVIS, lavis/runners/runner_base.py `RunnerBase.optimizer`):
 * none of rank < 2 and none whose name contains "bias", "ln" or "bn" (`ln_vision`); every other trained weight, at
 * the config's weight_decay (0.05 in BLIP-2's). core's `AdamW` takes it as `decay`.
 */
export function lavisDecay(name: string, p: { rank: number }): boolean {
  return p.rank >= 2 && !["bias", "ln", "bn"].some((s) => name.includes(s));
}

/** Hugging Face's name of a parameter, as its conversion script renames LAVIS's; null where HF has none. */
export function blip2HfName(name: string): string | null {
  if (name.startsWith("ln_vision.")) return name.replace("ln_vision.", "vision_model.post_layernorm.");
  if (name.startsWith("Qformer.bert.embeddings.LayerNorm."))
    return name.replace("Qformer.bert.embeddings.LayerNorm.", "qformer.layernorm.");
  if (name.startsWith("Qformer.bert.encoder.")) {
    const hf = name.replace("Qformer.bert.", "qformer.").replace("attention.self.", "attention.attention.");
    return /\.layer\.\d+\.(intermediate|output)\./.test(hf) ? null : hf; // the text FFN: not in HF's model
  }
  if (name === "query_tokens" || name.startsWith("language_projection.") || name.startsWith("language_model."))
    return name;
  return null;
}

/** Stage 1's Q-Former with its heads, and stage 2's projection into a frozen LM (see the file comment). */
export class Blip2 extends Blip2Qformer {
  readonly language_projection: Linear;
  readonly language_model: CausalLM;
  /** The LM's placeholder id where the soft prompts go. */
  readonly imageTokenId: number;

  constructor(opts: Blip2Options) {
    super(opts);
    const { imageTokenId, hiddenSize } = opts.lm.config;
    if (imageTokenId === undefined) throw new Error("Blip2: the LM config needs imageTokenId (the soft prompts' id)");
    this.imageTokenId = imageTokenId;
    this.language_projection = this.module(
      "language_projection",
      new Linear(this.config.hiddenSize, hiddenSize, { rng: opts.rng }),
    );
    this.language_model = this.module("language_model", opts.lm);
    this.stage(1);
  }

  /**
   * Sets what trains: stage 1 every Q-Former part (queries, ln_vision, Qformer, the ITC/ITM heads, temp), stage 2
   * the parts on the path to the LM and the projection (`isStage2Trainable`). The LM is frozen in both. Returns this.
   */
  stage(stage: 1 | 2): this {
    if (stage !== 1 && stage !== 2) throw new RangeError(`Blip2.stage: 1 or 2, got ${String(stage)}`);
    for (const [name, v] of this.namedParameters()) {
      const lm = name.startsWith("language_model.");
      v.trainable = stage === 1 ? !lm && !name.startsWith("language_projection.") : isStage2Trainable(name);
    }
    return this;
  }

  /** Names of the parameters that train now (`stage`). */
  trainableNames(): string[] {
    return this.namedParameters()
      .filter(([, v]) => v.trainable)
      .map(([n]) => n);
  }

  /** The N soft prompts of each image: language_projection(Z), [B, N, D_lm], from image features [B, S, w]. */
  softPrompts(features: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const { hidden, pastKeyValues } = this.queryOutput(this.imageEmbeds(features));
      tf.dispose(pastKeyValues.flat());
      return this.language_projection.forward(hidden) as tf.Tensor3D;
    });
  }

  /** Each prompt with the N placeholders in front: the ids the LM's generation and scoring read. */
  promptIds(prompts: readonly (readonly number[])[]): number[][] {
    return prompts.map((p) => [...new Array<number>(this.numQueryTokens).fill(this.imageTokenId), ...p]);
  }

  /**
   * Stage 2's training batch: [N placeholders; prompt; text] right-padded, labels −100 on the placeholders, the
   * prompt and the padding (the text, with whatever end token the caller put on it, supervised).
   */
  stage2Batch(
    prompts: readonly (readonly number[])[],
    texts: readonly (readonly number[])[],
  ): { ids: number[][]; attentionMask: number[][]; labels: number[][] } {
    if (prompts.length !== texts.length)
      throw new Error(`Blip2.stage2Batch: ${prompts.length} prompts but ${texts.length} texts`);
    const seqs = this.promptIds(prompts).map((p, b) => {
      const text = texts[b] ?? [];
      return { ids: [...p, ...text], labels: [...new Array<number>(p.length).fill(IGNORE_INDEX), ...text] };
    });
    const batch = rightPadWithLabels(seqs, this.language_model.config.padTokenId);
    return { ids: batch.ids, attentionMask: batch.attentionMask, labels: batch.labels };
  }

  /** The LM's logits [B, T, V] for ids holding N placeholders per image, after the soft prompts are put in. */
  forward(features: tf.Tensor, ids: readonly (readonly number[])[], attentionMask?: number[][]): tf.Tensor3D {
    return tf.tidy(() => {
      const inputsEmbeds = embedWithImages(
        this.language_model,
        this.flatPrompts(features),
        this.imageTokenId,
      )(ids, ids[0]?.length ?? 0);
      return this.language_model.forward(null, { inputsEmbeds, attentionMask });
    });
  }

  /** Stage 2's loss: next-token cross-entropy on the texts after their images' soft prompts and the prompts. */
  stage2Loss(features: tf.Tensor, prompts: readonly (readonly number[])[], texts: readonly (readonly number[])[]) {
    const { ids, attentionMask, labels } = this.stage2Batch(prompts, texts);
    return tf.tidy(() => sftLoss(this.forward(features, ids, attentionMask), labels));
  }

  /** Captions (empty prompts) or answers (question prompts) for images, through the LM's batched generation. */
  generate(features: tf.Tensor, prompts: readonly (readonly number[])[], opts: GenerateOptions = {}): GenerateResult {
    const flat = this.flatPrompts(features);
    try {
      const embed = embedWithImages(this.language_model, flat, this.imageTokenId);
      return this.language_model.generate(this.promptIds(prompts), { greedy: true, ...opts, embed });
    } finally {
      flat.dispose();
    }
  }

  /** Per-token log-probabilities of completions after each image's soft prompts and prompt (differentiable). */
  logProbs(
    features: tf.Tensor,
    prompts: readonly (readonly number[])[],
    completions: readonly (readonly number[])[],
    opts: LogProbsOptions = {},
  ): LogProbsResult {
    const kept = tf.tidy(
      () =>
        this.language_model.logProbs(this.promptIds(prompts), completions, {
          ...opts,
          embed: embedWithImages(this.language_model, this.flatPrompts(features), this.imageTokenId),
        }) as unknown as tf.TensorContainerObject,
    );
    return kept as unknown as LogProbsResult;
  }

  /** The soft prompts as rows [B·N, D_lm], one per placeholder in order. */
  private flatPrompts(features: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => tf.reshape(this.softPrompts(features), [-1, this.language_model.config.hiddenSize]));
  }
}
