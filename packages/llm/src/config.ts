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
 *                             (transformers >= 5: rope_parameters.rope_theta)
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
  /**
   * Qwen2-VL's M-RoPE (`rope_scaling.mrope_section`, [16, 24, 24] for head_dim 128): the head's frequency slots split
   * between the temporal, height and width position ids (@vlab/rope mrope.ts). Default: none (1-D RoPE). With it,
   * `ForwardOptions.mropePositionIds` may give three ids per token; plain positions mean text (equal on all axes).
   */
  mropeSection?: number[];
}

/** A config with every default filled in. */
export type ResolvedLlmConfig = Required<Omit<LlmConfig, "eosTokenId" | "imageTokenId" | "mropeSection">> & {
  eosTokenId: number[];
  imageTokenId: number | undefined;
  mropeSection: number[] | undefined;
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
    mropeSection: cfg.mropeSection ? [...cfg.mropeSection] : undefined,
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
  const section = out.mropeSection;
  if (
    section &&
    (section.some((v) => !Number.isInteger(v) || v < 0) || section.reduce((a, b) => a + b, 0) !== out.headDim / 2)
  )
    throw new Error(
      `LlmConfig: mropeSection [${section.join(", ")}] must be non-negative integers summing to headDim / 2 = ` +
        `${out.headDim / 2}`,
    );
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
  /** RoPE base θ (transformers 4; transformers >= 5 writes it only in `rope_parameters`). */
  rope_theta?: number;
  /** transformers >= 5: `{"rope_theta": 1e6, "rope_type": "default"}`; only the "default" type is read. */
  rope_parameters?: HfRopeParameters | null;
  max_position_embeddings?: number;
  tie_word_embeddings?: boolean;
  attention_bias?: boolean;
  mlp_bias?: boolean;
  hidden_act?: string;
  /** transformers 4: null, or `{"rope_type": "default"}` / `{"type": "default"}` (no scaling). */
  rope_scaling?: HfRopeParameters | null;
  /** Fraction of each head that RoPE rotates; only 1 (all of it) is implemented. */
  partial_rotary_factor?: number;
  /** Qwen2 sliding-window attention; only false is implemented. */
  use_sliding_window?: boolean;
  /** transformers >= 5, per layer; only "full_attention" is implemented. */
  layer_types?: string[];
  initializer_range?: number;
  pad_token_id?: number | null;
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  image_token_id?: number;
  [k: string]: unknown;
}

/** `rope_parameters` (transformers >= 5) or `rope_scaling` (transformers 4) of a config.json. */
export interface HfRopeParameters {
  rope_theta?: number;
  /** "default" is plain RoPE; "linear", "dynamic", "yarn", "llama3", "longrope", "mrope", … are not implemented. */
  rope_type?: string;
  /** The pre-4.45 spelling of `rope_type`. */
  type?: string;
  partial_rotary_factor?: number;
  [k: string]: unknown;
}

const MROPE_NOTE = "M-RoPE belongs to the Qwen2-VL model, not the text LM config reader";

/**
 * Checks `rope_parameters` / `rope_scaling` (`key` names which) and returns its `rope_theta`, if any.
 * Only plain RoPE is accepted: a `rope_type` / `type` other than "default" or any scaling option
 * (`factor`, `mrope_section`, …) is refused, naming the key and its value.
 */
function checkHfRope(key: "rope_parameters" | "rope_scaling", value: unknown): number | undefined {
  if (value == null) return undefined;
  if (typeof value !== "object" || Array.isArray(value))
    throw new Error(`config.json: ${key} ${JSON.stringify(value)} is not supported (expected an object or null)`);
  const r = value as HfRopeParameters;
  for (const t of ["rope_type", "type"] as const) {
    const v = r[t];
    if (v == null || v === "default") continue;
    if (v === "mrope") throw new Error(`config.json: ${key}.${t} "mrope" is not supported: ${MROPE_NOTE}`);
    throw new Error(
      `config.json: ${key}.${t} ${JSON.stringify(v)} is not supported (only "default" RoPE is implemented)`,
    );
  }
  for (const [k, v] of Object.entries(r)) {
    if (v == null || ["rope_type", "type", "rope_theta", "partial_rotary_factor"].includes(k)) continue;
    if (k === "mrope_section")
      throw new Error(`config.json: ${key}.mrope_section ${JSON.stringify(v)} is not supported: ${MROPE_NOTE}`);
    throw new Error(`config.json: ${key}.${k} ${JSON.stringify(v)} is not supported (RoPE scaling is not implemented)`);
  }
  checkPartialRotary(`${key}.partial_rotary_factor`, r.partial_rotary_factor);
  if (r.rope_theta != null && typeof r.rope_theta !== "number")
    throw new Error(`config.json: ${key}.rope_theta ${JSON.stringify(r.rope_theta)} is not a number`);
  return r.rope_theta ?? undefined;
}

function checkPartialRotary(key: string, v: unknown): void {
  if (v != null && v !== 1)
    throw new Error(`config.json: ${key} ${JSON.stringify(v)} is not supported (RoPE rotates the whole head here)`);
}

/**
 * A Hugging Face Qwen2 / Llama `config.json` (parsed) → LlmConfig. Refuses what this model does not
 * implement (another activation, RoPE scaling or other RoPE types, partial rotary, sliding-window
 * attention, MLP biases) rather than running it wrongly. RoPE θ comes from `rope_theta` (transformers 4)
 * or `rope_parameters.rope_theta` (transformers >= 5); when both are there they must agree.
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
  const paramsTheta = checkHfRope("rope_parameters", j.rope_parameters);
  const scalingTheta = checkHfRope("rope_scaling", j.rope_scaling);
  checkPartialRotary("partial_rotary_factor", j.partial_rotary_factor);
  let ropeTheta = j.rope_theta ?? undefined;
  for (const [key, theta] of [
    ["rope_parameters.rope_theta", paramsTheta],
    ["rope_scaling.rope_theta", scalingTheta],
  ] as const) {
    if (theta === undefined) continue;
    if (ropeTheta !== undefined && ropeTheta !== theta)
      throw new Error(`config.json: rope_theta ${ropeTheta} and ${key} ${theta} disagree`);
    ropeTheta = theta;
  }
  if (j.use_sliding_window != null && j.use_sliding_window !== false)
    throw new Error(
      `config.json: use_sliding_window ${JSON.stringify(j.use_sliding_window)} is not supported ` +
        `(sliding-window attention is not implemented)`,
    );
  if (j.layer_types != null) {
    const other = Array.isArray(j.layer_types) ? j.layer_types.find((t) => t !== "full_attention") : j.layer_types;
    if (other !== undefined)
      throw new Error(
        `config.json: layer_types entry ${JSON.stringify(other)} is not supported ` +
          `(only "full_attention" is implemented)`,
      );
  }
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
    ropeTheta: ropeTheta ?? 10000,
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
