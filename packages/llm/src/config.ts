/**
 * The configuration of a Llama / Qwen2 decoder, and its mapping to Hugging Face's `config.json`.
 *
 *   camelCase here            config.json                 Qwen2-0.5B   tiny test model
 *   vocabSize                 vocab_size                  151936       50
 *   hiddenSize                hidden_size                 896          32
 *   intermediateSize          intermediate_size           4864         64
 *   numHiddenLayers           num_hidden_layers           24           2
 *   numAttentionHeads         num_attention_heads         14           4
 *   numKeyValueHeads          num_key_value_heads         2            2
 *   rmsNormEps                rms_norm_eps                1e-6         1e-6
 *   ropeTheta                 rope_theta                  1e6          1e4
 *   maxPositionEmbeddings     max_position_embeddings     32768        128
 *   tieWordEmbeddings         tie_word_embeddings         true         either
 *   attentionBias             (qwen2: always) attention_bias (llama)
 *
 * The two families differ here only in biases: Qwen2 has biases on q/k/v and none on o_proj;
 * Llama has none (unless `attention_bias`). Everything else — RMSNorm, SwiGLU with SiLU, RoPE in
 * the half-split layout, grouped-query heads — is the same code.
 */

export type LlmFamily = "qwen2" | "llama";

export interface LlmConfig {
  /** "qwen2" (default) or "llama": decides the default of `attentionBias` and config.json's model_type. */
  modelType?: LlmFamily;
  /** Vocabulary size V. */
  vocabSize: number;
  /** Residual stream width D. */
  hiddenSize: number;
  /** Width of the SwiGLU hidden layer. */
  intermediateSize: number;
  /** Number of decoder layers. */
  numHiddenLayers: number;
  /** Query heads H. */
  numAttentionHeads: number;
  /** Key/value heads (grouped-query attention when < H; default H). */
  numKeyValueHeads?: number;
  /** Per-head width (default D / H). */
  headDim?: number;
  /** RMSNorm epsilon (default 1e-6). */
  rmsNormEps?: number;
  /** RoPE base θ (default 10 000; Qwen2 uses 1e6). */
  ropeTheta?: number;
  /** Longest position the model was trained for (default 2048); sizes the initial RoPE table. */
  maxPositionEmbeddings?: number;
  /** Logits use the token embedding matrix, no separate lm_head (default false). */
  tieWordEmbeddings?: boolean;
  /** Biases on q/k/v (default: true for qwen2, false for llama). o_proj never has one here. */
  attentionBias?: boolean;
  /** Standard deviation of the initial weights (default 0.02, Hugging Face's `initializer_range`). */
  initializerRange?: number;
  /** Padding id used to left-pad prompts (default 0). */
  padTokenId?: number;
  /** End-of-sequence id(s): generation stops there unless `stopIds` are given. */
  eosTokenId?: number | number[];
  /** The image placeholder id (config.json's `image_token_id`) that a vision-language model (@vlab/vlm) fills. */
  imageTokenId?: number;
}

/** A config with every default filled in. */
export type ResolvedLlmConfig = Required<Omit<LlmConfig, "eosTokenId" | "imageTokenId">> & {
  eosTokenId: number[];
  imageTokenId: number | undefined;
};

export function resolveLlmConfig(cfg: LlmConfig): ResolvedLlmConfig {
  const modelType = cfg.modelType ?? "qwen2";
  if (modelType !== "qwen2" && modelType !== "llama")
    throw new Error(`LlmConfig: modelType must be "qwen2" or "llama", got "${modelType}"`);
  const H = cfg.numAttentionHeads;
  const out: ResolvedLlmConfig = {
    modelType,
    vocabSize: cfg.vocabSize,
    hiddenSize: cfg.hiddenSize,
    intermediateSize: cfg.intermediateSize,
    numHiddenLayers: cfg.numHiddenLayers,
    numAttentionHeads: H,
    numKeyValueHeads: cfg.numKeyValueHeads ?? H,
    headDim: cfg.headDim ?? cfg.hiddenSize / H,
    rmsNormEps: cfg.rmsNormEps ?? 1e-6,
    ropeTheta: cfg.ropeTheta ?? 10000,
    maxPositionEmbeddings: cfg.maxPositionEmbeddings ?? 2048,
    tieWordEmbeddings: cfg.tieWordEmbeddings ?? false,
    attentionBias: cfg.attentionBias ?? modelType === "qwen2",
    initializerRange: cfg.initializerRange ?? 0.02,
    padTokenId: cfg.padTokenId ?? 0,
    eosTokenId:
      cfg.eosTokenId === undefined ? [] : Array.isArray(cfg.eosTokenId) ? [...cfg.eosTokenId] : [cfg.eosTokenId],
    imageTokenId: cfg.imageTokenId,
  };
  for (const k of [
    "vocabSize",
    "hiddenSize",
    "intermediateSize",
    "numHiddenLayers",
    "numAttentionHeads",
    "numKeyValueHeads",
    "headDim",
  ] as const) {
    if (!Number.isInteger(out[k]) || out[k] <= 0)
      throw new Error(`LlmConfig: ${k} must be a positive integer, got ${out[k]}`);
  }
  if (H % out.numKeyValueHeads !== 0)
    throw new Error(
      `LlmConfig: numAttentionHeads (${H}) must be a multiple of numKeyValueHeads (${out.numKeyValueHeads})`,
    );
  if (out.headDim % 2 !== 0) throw new Error(`LlmConfig: headDim must be even for RoPE, got ${out.headDim}`);
  return out;
}

/** What `llmConfigFromHf` reads from a config.json. */
export interface HfLlmConfigJson {
  model_type?: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  max_position_embeddings?: number;
  tie_word_embeddings?: boolean;
  attention_bias?: boolean;
  mlp_bias?: boolean;
  hidden_act?: string;
  rope_scaling?: unknown;
  initializer_range?: number;
  pad_token_id?: number | null;
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  image_token_id?: number;
  [k: string]: unknown;
}

/**
 * A Hugging Face Qwen2 / Llama `config.json` (parsed) → LlmConfig. Refuses what this model does not
 * implement (another activation, RoPE scaling, MLP biases) rather than running it wrongly.
 */
export function llmConfigFromHf(json: HfLlmConfigJson | Record<string, unknown>): LlmConfig {
  const j = json as HfLlmConfigJson;
  const type = j.model_type ?? "qwen2";
  if (type !== "qwen2" && type !== "llama")
    throw new Error(`config.json: model_type "${type}" is not supported (expected "qwen2" or "llama")`);
  for (const k of [
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
  ] as const) {
    if (typeof j[k] !== "number") throw new Error(`config.json: "${k}" is missing or not a number`);
  }
  if (j.hidden_act !== undefined && j.hidden_act !== "silu")
    throw new Error(`config.json: hidden_act "${j.hidden_act}" is not supported (Qwen2/Llama use "silu")`);
  if (j.rope_scaling != null)
    throw new Error(`config.json: rope_scaling ${JSON.stringify(j.rope_scaling)} is not supported`);
  if (j.mlp_bias) throw new Error(`config.json: mlp_bias is not supported`);
  const cfg: LlmConfig = {
    modelType: type,
    vocabSize: j.vocab_size,
    hiddenSize: j.hidden_size,
    intermediateSize: j.intermediate_size,
    numHiddenLayers: j.num_hidden_layers,
    numAttentionHeads: j.num_attention_heads,
    numKeyValueHeads: j.num_key_value_heads ?? j.num_attention_heads,
    rmsNormEps: j.rms_norm_eps ?? 1e-6,
    ropeTheta: j.rope_theta ?? 10000,
    maxPositionEmbeddings: j.max_position_embeddings ?? 2048,
    tieWordEmbeddings: j.tie_word_embeddings ?? false,
    // Qwen2's attention always has q/k/v biases; Llama's has them only with attention_bias.
    attentionBias: type === "qwen2" ? true : (j.attention_bias ?? false),
  };
  if (j.head_dim != null) cfg.headDim = j.head_dim;
  if (j.initializer_range != null) cfg.initializerRange = j.initializer_range;
  if (j.pad_token_id != null) cfg.padTokenId = j.pad_token_id;
  if (j.eos_token_id != null) cfg.eosTokenId = j.eos_token_id;
  if (j.image_token_id != null) cfg.imageTokenId = j.image_token_id;
  return cfg;
}

/** LlmConfig → a config.json object Hugging Face's Qwen2ForCausalLM / LlamaForCausalLM would accept. */
export function llmConfigToHf(cfg: LlmConfig): Record<string, unknown> {
  const c = resolveLlmConfig(cfg);
  if (c.modelType === "qwen2" && !c.attentionBias) {
    throw new Error(
      `llmConfigToHf: Hugging Face's Qwen2 always has q/k/v biases; a model without them is modelType "llama"`,
    );
  }
  const out: Record<string, unknown> = {
    architectures: [c.modelType === "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    initializer_range: c.initializerRange,
    pad_token_id: c.padTokenId,
    torch_dtype: "float32",
  };
  if (c.modelType === "llama") out.attention_bias = c.attentionBias;
  if (c.eosTokenId.length) out.eos_token_id = c.eosTokenId.length === 1 ? c.eosTokenId[0] : c.eosTokenId;
  if (c.imageTokenId !== undefined) out.image_token_id = c.imageTokenId;
  return out;
}
