/**
 * BLIP-2's Q-Former and its stage-1 heads (Li et al. 2023, "BLIP-2: Bootstrapping Language-Image Pre-training with
 * Frozen Image Encoders and Large Language Models", sec. 3.1–3.2; salesforce/LAVIS,
 * lavis/models/blip2_models/blip2_qformer.py `Blip2Qformer`). A frozen image encoder's features Z_img [B, S, w]
 * are read by N learned queries through the Q-Former (blip2_bert.ts); its N outputs Z [B, N, D] are what the
 * image becomes, whatever S is:
 *
 *   Z_img'  = ln_vision(Z_img)                                     [B, S, w]   a trained LayerNorm over the frozen ones
 *   Z       = Qformer.bert(query_tokens; cross-attending Z_img')   [B, N, D]   ITC's query pass (keys/values kept)
 *   q       = normalize(vision_proj(Z))                            [B, N, E]   one contrastive feature per query
 *   t       = normalize(text_proj(Qformer.bert(text)[:, 0]))       [B, E]      the text's [CLS], text alone
 *   ITM     = itm_head(Qformer.bert([queries; text], image)[:, :N]).mean(1)   [B, 2]  queries and text see each other
 *   ITG     = Qformer.cls(Qformer.bert(text, causal, past = the query pass's keys/values))   [B, L, V]
 *
 * The masks of the three passes are in blip2_masks.ts, the losses in blip2_losses.ts, stage 2 (the queries as soft
 * prompts of a frozen LM) in blip2_stage2.ts.
 *
 * Names are LAVIS's: `query_tokens` [1, N, D] ~ N(0, 0.02²), `ln_vision`, `Qformer.bert.*`, `Qformer.cls.*`,
 * `vision_proj`, `text_proj` (Linear D → E), `itm_head` (Linear D → 2), `temp` (0.07). LAVIS's `temp` is learned and
 * not clamped in `Blip2Qformer.forward` (BLIP-1 clamps it to [0.001, 0.5] every step; `clampTemp` does that if
 * wanted). Hugging Face's `Blip2ForConditionalGeneration` names follow from these by `blip2HfName` (blip2_stage2.ts).
 */
import { LayerNorm, Linear, Module, normalInit, tf, type Rng } from "@vlab/core";
import { l2Normalize, type VisionTransformer } from "@vlab/vision";
import { QformerLMHeadModel, type KeyValue } from "./blip2_bert.js";
import { resolveBlip2Config, type Blip2QformerConfig, type ResolvedBlip2QformerConfig } from "./blip2_config.js";
import { additiveMask, itcTextMask, itgMask, itmMask, type Mask2d } from "./blip2_masks.js";

export interface Blip2QformerOptions {
  /** The Q-Former's configuration (defaults: the paper's BERT-base with 32 queries; `BLIP2_TINY` for notebooks). */
  config?: Blip2QformerConfig;
  /** Random source of the initial weights (default: core's global rng, see `setSeed`). */
  rng?: Rng;
}

/** Text ids [B][L] with their 0/1 mask (1 = token, 0 = padding), as BERT's tokenizer pads them. */
export interface Blip2Text {
  ids: readonly (readonly number[])[];
  mask: Mask2d;
}

/** The ITC query pass: the queries' outputs and every layer's self-attention keys / values (for ITG). */
export interface QueryOutput {
  hidden: tf.Tensor3D; // [B, N, D]
  pastKeyValues: KeyValue[];
}

/**
 * The frozen image encoder's output as BLIP-2 reads it: every token, CLS included, after the block `layer` (default
 * −2, the second-to-last: LAVIS's `create_eva_vit_g` builds EVA ViT-g with its last block removed, and the Q-Former
 * cross-attends to all 257 tokens it gives, without a final norm): [B, 1 + g², w]. `layer` indexes the hidden states
 * as `VisionTransformer.patchFeatures` does (0 = after ln_pre, L = the last block, negative from the end).
 */
export function blip2ImageFeatures(vision: VisionTransformer, pixels: tf.Tensor, layer = -2): tf.Tensor3D {
  const L = vision.config.layers;
  const idx = layer < 0 ? L + 1 + layer : layer;
  if (!Number.isInteger(idx) || idx < 0 || idx > L)
    throw new RangeError(`blip2ImageFeatures: layer ${layer} is out of range for ${L} blocks (use -${L + 1}..${L})`);
  return tf.tidy(() => {
    const states = vision.forwardOutputs(pixels, { hiddenStates: true }).hiddenStates ?? [];
    const h = states[idx];
    if (h === undefined) throw new Error(`blip2ImageFeatures: the encoder returned no hidden state ${idx}`);
    return h;
  });
}

function checkText(where: string, text: Blip2Text): number {
  const B = text.ids.length;
  if (B === 0) throw new Error(`${where}: no text rows`);
  const L = text.ids[0]?.length ?? 0;
  if (L === 0) throw new Error(`${where}: text rows are empty (at least the [CLS] token is needed)`);
  if (text.mask.length !== B || text.mask.some((r, b) => r.length !== (text.ids[b]?.length ?? -1)))
    throw new Error(`${where}: the mask must have the shape of the ids [${B}, ${L}]`);
  return L;
}

export class Blip2Qformer extends Module {
  readonly config: ResolvedBlip2QformerConfig;
  readonly query_tokens: tf.Variable; // [1, N, D]
  readonly ln_vision: LayerNorm;
  readonly Qformer: QformerLMHeadModel;
  readonly vision_proj: Linear;
  readonly text_proj: Linear;
  readonly itm_head: Linear;
  readonly temp: tf.Variable; // []

  constructor(opts: Blip2QformerOptions = {}) {
    super();
    const cfg = (this.config = resolveBlip2Config(opts.config));
    const { rng } = opts;
    const D = cfg.hiddenSize;
    this.query_tokens = this.param("query_tokens", [1, cfg.numQueryTokens, D], normalInit(cfg.initializerRange, rng));
    this.ln_vision = this.module("ln_vision", new LayerNorm(cfg.encoderWidth, { eps: cfg.visionLayerNormEps }));
    this.Qformer = this.module("Qformer", new QformerLMHeadModel(cfg, rng));
    this.vision_proj = this.module("vision_proj", new Linear(D, cfg.embedDim, { rng }));
    this.text_proj = this.module("text_proj", new Linear(D, cfg.embedDim, { rng }));
    this.itm_head = this.module("itm_head", new Linear(D, 2, { rng }));
    this.temp = this.param("temp", tf.scalar(cfg.temperature));
  }

  /** N, the soft tokens per image. */
  get numQueryTokens(): number {
    return this.config.numQueryTokens;
  }

  /** `ln_vision` over the frozen image encoder's features [B, S, encoderWidth] (checked). */
  imageEmbeds(features: tf.Tensor): tf.Tensor3D {
    const w = this.config.encoderWidth;
    if (features.rank !== 3 || features.shape[2] !== w)
      throw new Error(
        `Blip2: image features must be [B, S, ${w}] (the image encoder's width, encoderWidth), ` +
          `got [${features.shape.join(", ")}]`,
      );
    return this.ln_vision.forward(features) as tf.Tensor3D;
  }

  /** The query tokens repeated for a batch: [B, N, D]. */
  private queries(B: number): tf.Tensor3D {
    return tf.tile(this.query_tokens, [B, 1, 1]) as tf.Tensor3D;
  }

  /** ITC's query pass over `imageEmbeds` [B, S, w]: the queries see only one another and the image. */
  queryOutput(imageEmbeds: tf.Tensor): QueryOutput {
    return tf.tidy(() => {
      const B = imageEmbeds.shape[0] ?? 0;
      return this.Qformer.bert.forward({ queryEmbeds: this.queries(B), encoderHiddenStates: imageEmbeds });
    }) as QueryOutput;
  }

  /** normalize(vision_proj(Z)): [B, N, E], one unit vector per query. */
  imageFeats(queryHidden: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => l2Normalize(this.vision_proj.forward(queryHidden)) as tf.Tensor3D);
  }

  /** ITC's text pass: the text alone (bidirectional, padding hidden); its hidden states [B, L, D]. */
  textOutput(text: Blip2Text): tf.Tensor3D {
    checkText("Blip2.textOutput", text);
    return tf.tidy(() => {
      const mask = additiveMask(itcTextMask(text.mask));
      return this.Qformer.bert.forward({ ids: text.ids, mask }).hidden;
    });
  }

  /** normalize(text_proj(text [CLS])): [B, E]. */
  textFeat(text: Blip2Text): tf.Tensor2D {
    return tf.tidy(() => {
      const h = this.textOutput(text); // [B, L, D]
      const cls = tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]); // [B, D]
      return l2Normalize(this.text_proj.forward(cls)) as tf.Tensor2D;
    });
  }

  /**
   * ITM's joint pass: [queries; text] see each other (padding hidden), the query rows cross-attend to
   * `imageEmbeds` [B, S, w]; `itm_head` on the N query outputs, averaged: logits [B, 2] (1 = matching).
   */
  itmLogits(text: Blip2Text, imageEmbeds: tf.Tensor): tf.Tensor2D {
    checkText("Blip2.itmLogits", text);
    const B = text.ids.length;
    if (imageEmbeds.shape[0] !== B) throw new Error(`Blip2.itmLogits: ${B} texts but ${imageEmbeds.shape[0]} images`);
    return tf.tidy(() => {
      const N = this.config.numQueryTokens;
      const mask = additiveMask(itmMask(N, text.mask));
      const { hidden } = this.Qformer.bert.forward({
        ids: text.ids,
        queryEmbeds: this.queries(B),
        mask,
        encoderHiddenStates: imageEmbeds,
      });
      const vl = tf.slice(hidden, [0, 0, 0], [-1, N, -1]); // [B, N, D]
      return tf.mean(this.itm_head.forward(vl), 1) as tf.Tensor2D;
    });
  }

  /**
   * ITG's decoder pass (LAVIS `self.Qformer(decoder_input_ids, attention_mask, past_key_values=…)`): the text rows,
   * causal, see the queries through the ITC query pass's cached keys / values; logits [B, L, V] (the logit at t
   * predicts token t + 1).
   */
  itgLogits(text: Blip2Text, pastKeyValues: readonly KeyValue[]): tf.Tensor3D {
    checkText("Blip2.itgLogits", text);
    const N = this.config.numQueryTokens;
    const cached = pastKeyValues[0]?.[0].shape[2];
    if (cached !== N) throw new Error(`Blip2.itgLogits: the cache must hold the ${N} queries' keys, got ${cached}`);
    return tf.tidy(() => {
      const mask = additiveMask(itgMask(N, text.mask, { hasQuery: false })); // [B, 1, L, N + L]
      const { hidden } = this.Qformer.bert.forward({ ids: text.ids, mask, pastKeyValues });
      return this.Qformer.logits(hidden);
    });
  }

  /**
   * BLIP-1's clamp of the temperature into [min, max] (in place, outside any gradient); LAVIS's BLIP-2 does not
   * call it (see the file comment).
   */
  clampTemp(min = 0.001, max = 0.5): void {
    const clamped = tf.clipByValue(this.temp, min, max);
    this.temp.assign(clamped);
    clamped.dispose();
  }
}
