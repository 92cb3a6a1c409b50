/**
 * The configuration of BLIP-2's Q-Former (Li et al. 2023, "BLIP-2: Bootstrapping Language-Image Pre-training with
 * Frozen Image Encoders and Large Language Models", sec. 3.1), with the paper's values as defaults: a BERT-base
 * (`bert-base-uncased`, as LAVIS's `Blip2Base.init_Qformer` loads it: salesforce/LAVIS,
 * lavis/models/blip2_models/blip2.py) of 12 post-LN layers of width 768, cross-attention to the frozen image
 * encoder's features in every other layer, 32 learned queries, 256-d contrastive features.
 *
 * `BLIP2_TINY` holds the sizes of the notebooks (width 64, 2 layers, 8 queries).
 */

export interface Blip2QformerConfig {
  /** Text vocabulary of the Q-Former's BERT: `bert-base-uncased`'s 30522 and LAVIS's added `[DEC]` = 30523. */
  vocabSize?: number;
  /** Width D of the Q-Former: 768 (BERT-base). */
  hiddenSize?: number;
  /** BERT layers: 12. */
  numHiddenLayers?: number;
  /** Attention heads: 12 (head width 64). */
  numAttentionHeads?: number;
  /** Feed-forward width: 3072 (4 · D). */
  intermediateSize?: number;
  /** The feed-forward activation: "gelu" (exact, erf form, as BERT). */
  hiddenAct?: string;
  /** LayerNorm eps of every BERT LayerNorm: 1e-12. */
  layerNormEps?: number;
  /** Learned absolute text positions: 512. Text longer than this is refused. */
  maxPositionEmbeddings?: number;
  /** Standard deviation of the initial weights and of the query tokens: 0.02 (BERT's `initializer_range`). */
  initializerRange?: number;
  /** Layer i has cross-attention to the image when i % crossAttentionFreq == 0: 2 (layers 0, 2, 4, …). */
  crossAttentionFreq?: number;
  /** Width of the frozen image encoder's features (the cross-attention's keys and values): 1408 (EVA ViT-g/14). */
  encoderWidth?: number;
  /** The learned query tokens N: 32. */
  numQueryTokens?: number;
  /** Width of the contrastive features of `vision_proj` / `text_proj`: 256. */
  embedDim?: number;
  /** eps of `ln_vision`, the LayerNorm over the image encoder's features: 1e-5 (PyTorch's default). */
  visionLayerNormEps?: number;
  /** Initial contrastive temperature `temp`: 0.07. */
  temperature?: number;
  /** `[PAD]`: 0 in `bert-base-uncased`. ITG's labels are −100 there. */
  padTokenId?: number;
  /** `[DEC]`, the bos token LAVIS adds (`init_tokenizer`); it replaces [CLS] at ITG's position 0: 30522. */
  bosTokenId?: number;
}

export type ResolvedBlip2QformerConfig = Required<Blip2QformerConfig>;

/** The paper's Q-Former (see the file comment). */
export const BLIP2_DEFAULTS: ResolvedBlip2QformerConfig = {
  vocabSize: 30523,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  hiddenAct: "gelu",
  layerNormEps: 1e-12,
  maxPositionEmbeddings: 512,
  initializerRange: 0.02,
  crossAttentionFreq: 2,
  encoderWidth: 1408,
  numQueryTokens: 32,
  embedDim: 256,
  visionLayerNormEps: 1e-5,
  temperature: 0.07,
  padTokenId: 0,
  bosTokenId: 30522,
};

/**
 * The notebooks' sizes: width 64 in 4 heads, 2 layers (cross-attention in layer 0), feed-forward 256, 8 queries,
 * 32-d contrastive features, 64 text positions. Vocabulary, ids and the image width come from the caller.
 */
export const BLIP2_TINY: Blip2QformerConfig = {
  hiddenSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  intermediateSize: 256,
  maxPositionEmbeddings: 64,
  numQueryTokens: 8,
  embedDim: 32,
};

/** The config with every default filled in, checked. */
export function resolveBlip2Config(config: Blip2QformerConfig = {}): ResolvedBlip2QformerConfig {
  const c: ResolvedBlip2QformerConfig = { ...BLIP2_DEFAULTS };
  for (const [k, v] of Object.entries(config)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  const positive: (keyof ResolvedBlip2QformerConfig)[] = [
    "vocabSize",
    "hiddenSize",
    "numHiddenLayers",
    "numAttentionHeads",
    "intermediateSize",
    "maxPositionEmbeddings",
    "crossAttentionFreq",
    "encoderWidth",
    "numQueryTokens",
    "embedDim",
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1)
      throw new RangeError(`Blip2 config: ${k} must be a positive integer, got ${String(v)}`);
  }
  if (c.hiddenSize % c.numAttentionHeads !== 0)
    throw new RangeError(
      `Blip2 config: hiddenSize (${c.hiddenSize}) must be divisible by numAttentionHeads (${c.numAttentionHeads})`,
    );
  for (const k of ["padTokenId", "bosTokenId"] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0 || c[k] >= c.vocabSize)
      throw new RangeError(`Blip2 config: ${k} ${c[k]} is not a token id in [0, ${c.vocabSize})`);
  }
  if (!(c.temperature > 0)) throw new RangeError(`Blip2 config: temperature must be > 0, got ${c.temperature}`);
  return c;
}
