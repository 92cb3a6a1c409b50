/**
 * A decoder-only language model of the Llama / Qwen2 family (Hugging Face `Qwen2ForCausalLM`,
 * `LlamaForCausalLM`), parameter for parameter:
 *
 *   model.embed_tokens.weight                          [V, D]
 *   model.layers.{i}.input_layernorm.weight            [D]
 *   model.layers.{i}.self_attn.q_proj.{weight,bias}    [H·hd, D]    (bias: Qwen2, or Llama's attention_bias)
 *   model.layers.{i}.self_attn.k_proj.{weight,bias}    [Hkv·hd, D]
 *   model.layers.{i}.self_attn.v_proj.{weight,bias}    [Hkv·hd, D]
 *   model.layers.{i}.self_attn.o_proj.weight           [D, H·hd]    (no bias in either family)
 *   model.layers.{i}.post_attention_layernorm.weight   [D]
 *   model.layers.{i}.mlp.{gate,up}_proj.weight         [I, D]
 *   model.layers.{i}.mlp.down_proj.weight              [D, I]
 *   model.norm.weight                                  [D]
 *   lm_head.weight                                     [V, D]       (absent when tied to embed_tokens)
 *
 * One decoder layer (pre-norm, two residual branches):
 *
 *   h   = x + o_proj(Attention(RoPE(q_proj(n)), RoPE(k_proj(n)), v_proj(n)))    n = RMSNorm(x)
 *   out = h + down_proj(silu(gate_proj(m)) · up_proj(m))                         m = RMSNorm(h)
 *
 * and logits = lm_head(RMSNorm(x_L)). Attention is core's MultiHeadAttention (grouped-query: each
 * of the Hkv key/value heads serves H/Hkv query heads) with RoPE as its positional hook; cos/sin
 * are computed once per forward pass from the position ids and shared by every layer.
 *
 * Padding, positions and the cache. Batches are LEFT-padded for generation, so every row's next
 * token lands in the last column. `attentionMask` [B, T] (1 = token, 0 = padding) hides padded keys;
 * positions default to cumsum(mask) − 1 (padding gets 1, as in Hugging Face), so a row's real
 * tokens are at 0, 1, 2, … however much padding precedes them. A `DecoderCache` keeps every
 * layer's keys and values and the mask seen so far: a decoding step then feeds only the new tokens.
 */
import {
  causalMask,
  combineMasks,
  Embedding,
  Linear,
  Module,
  MultiHeadAttention,
  normalInit,
  paddingMask,
  RMSNorm,
  SwiGLU,
  tf,
  type KvCache,
  type KvCacheType,
  type NativeDecoder,
  type Rng,
} from "@vlab/core";
import { mropeCosSin, rotaryHook, RotaryEmbedding } from "@vlab/rope";
import { DecoderCache } from "./cache.js";
import { resolveLlmConfig, type LlmConfig, type ResolvedLlmConfig } from "./config.js";
import { generate, type GenerateOptions, type GenerateResult } from "./generate.js";
import type { AttentionMaskInput, ForwardOptions, LanguageModel, TokenIds } from "./lm.js";
import { logProbs, type LogProbsOptions, type LogProbsResult } from "./logprobs.js";
import { causalLmDecoder } from "./native_decode.js";

/** One pre-norm decoder layer: self-attention and SwiGLU, each added back to the residual stream. */
export class DecoderLayer extends Module {
  readonly self_attn: MultiHeadAttention;
  readonly mlp: SwiGLU;
  readonly input_layernorm: RMSNorm;
  readonly post_attention_layernorm: RMSNorm;

  constructor(cfg: ResolvedLlmConfig, rng?: Rng) {
    super();
    const D = cfg.hiddenSize;
    this.self_attn = this.module(
      "self_attn",
      new MultiHeadAttention(D, cfg.numAttentionHeads, {
        nKvHeads: cfg.numKeyValueHeads,
        headDim: cfg.headDim,
        bias: cfg.attentionBias,
        outBias: false,
        rng,
      }),
    );
    this.mlp = this.module("mlp", new SwiGLU(D, cfg.intermediateSize, { bias: false, rng }));
    this.input_layernorm = this.module("input_layernorm", new RMSNorm(D, { eps: cfg.rmsNormEps }));
    this.post_attention_layernorm = this.module("post_attention_layernorm", new RMSNorm(D, { eps: cfg.rmsNormEps }));
  }

  /** x [B, T, D] → [B, T, D]. */
  forward(
    x: tf.Tensor,
    call: {
      mask?: tf.Tensor;
      positional?: (q: tf.Tensor4D, k: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D];
      cache?: KvCache;
    },
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const h = tf.add(x, this.self_attn.forward(this.input_layernorm.forward(x), call)); // [B, T, D]
      return tf.add(h, this.mlp.forward(this.post_attention_layernorm.forward(h))) as tf.Tensor3D;
    });
  }
}

/** The decoder without its head (Hugging Face's `Qwen2Model`): embed_tokens, layers, norm. */
export class DecoderModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: DecoderLayer[];
  readonly norm: RMSNorm;

  constructor(cfg: ResolvedLlmConfig, rng?: Rng) {
    super();
    this.embed_tokens = this.module("embed_tokens", new Embedding(cfg.vocabSize, cfg.hiddenSize, { rng }));
    this.layers = this.moduleList(
      "layers",
      Array.from({ length: cfg.numHiddenLayers }, () => new DecoderLayer(cfg, rng)),
    );
    this.norm = this.module("norm", new RMSNorm(cfg.hiddenSize, { eps: cfg.rmsNormEps }));
  }
}

function toRows(x: AttentionMaskInput | TokenIds, what: string): number[][] {
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) throw new Error(`${what} must be [B, T], got [${x.shape.join(", ")}]`);
    return x.arraySync() as number[][];
  }
  return x.map((r) => Array.from(r));
}

/**
 * Position ids of the last T columns of a mask [B, S]: cumsum(mask) − 1, padding set to 1
 * (Hugging Face's `position_ids.masked_fill_(attention_mask == 0, 1)`).
 */
export function positionsFromMask(mask: readonly (readonly number[])[], lastT?: number): number[][] {
  return mask.map((row) => {
    const out: number[] = [];
    let count = 0;
    for (const m of row) {
      if (m) count++;
      out.push(m ? count - 1 : 1);
    }
    return lastT === undefined ? out : out.slice(out.length - lastT);
  });
}

export interface CausalLMOptions {
  /** Random source for the initial weights (default: core's global rng, see `setSeed`). */
  rng?: Rng;
}

/** The language model with its head: `model.*` and `lm_head` (see the file comment). */
export class CausalLM extends Module implements LanguageModel {
  readonly config: ResolvedLlmConfig;
  readonly model: DecoderModel;
  /** null when tied: logits then use `model.embed_tokens.weight`. */
  readonly lm_head: Linear | null;
  readonly rope: RotaryEmbedding;

  constructor(config: LlmConfig, opts: CausalLMOptions = {}) {
    super();
    const cfg = (this.config = resolveLlmConfig(config));
    this.model = this.module("model", new DecoderModel(cfg, opts.rng));
    this.lm_head = cfg.tieWordEmbeddings
      ? null
      : this.module("lm_head", new Linear(cfg.hiddenSize, cfg.vocabSize, { bias: false, rng: opts.rng }));
    this.rope = new RotaryEmbedding(cfg.headDim, {
      theta: cfg.ropeTheta,
      maxPositions: Math.min(cfg.maxPositionEmbeddings, 4096),
    });
    this.initWeights(opts.rng);
  }

  /** Hugging Face's `_init_weights`: Linear and Embedding weights ~ N(0, initializer_range²), biases 0, norms 1. */
  private initWeights(rng?: Rng): void {
    const init = normalInit(this.config.initializerRange, rng);
    for (const [, m] of this.namedModules()) {
      if (m instanceof Linear || m instanceof Embedding) {
        const w = init(m.weight.shape);
        m.weight.assign(w);
        w.dispose();
      }
      if (m instanceof Linear && m.bias) {
        const z = tf.zerosLike(m.bias);
        m.bias.assign(z);
        z.dispose();
      }
    }
  }

  /** An empty cache for this model's layers. */
  newCache(): DecoderCache {
    return new DecoderCache(this.config.numHiddenLayers);
  }

  /** Token embeddings [B, T, D]. */
  embed(ids: TokenIds): tf.Tensor3D {
    return this.model.embed_tokens.forward(ids instanceof tf.Tensor ? ids : (ids as number[][])) as tf.Tensor3D;
  }

  /**
   * The input of a pass: its batch and length, and how to embed it (inside the pass's tidy). Exactly one of `ids`
   * and `inputsEmbeds` is given.
   */
  private input(
    ids: TokenIds | null,
    inputsEmbeds: tf.Tensor | undefined,
  ): { B: number; T: number; embeds: () => tf.Tensor } {
    if (inputsEmbeds) {
      if (ids != null) throw new Error("CausalLM: give exactly one of ids and inputsEmbeds");
      const [B, T, D] = inputsEmbeds.shape;
      if (inputsEmbeds.rank !== 3 || B === undefined || T === undefined || D !== this.config.hiddenSize) {
        throw new Error(
          `CausalLM: inputsEmbeds must be [B, T, ${this.config.hiddenSize}], got [${inputsEmbeds.shape.join(", ")}]`,
        );
      }
      return { B, T, embeds: () => inputsEmbeds };
    }
    if (ids == null) throw new Error("CausalLM: give exactly one of ids and inputsEmbeds");
    if (ids instanceof tf.Tensor) {
      const [B, T] = ids.shape;
      if (ids.rank !== 2 || B === undefined || T === undefined)
        throw new Error(`CausalLM: ids must be [B, T], got [${ids.shape.join(", ")}]`);
      return { B, T, embeds: () => this.embed(ids) };
    }
    const T = ids[0]?.length ?? 0; // no rows: T = 0, refused by the caller
    if (ids.some((r) => r.length !== T))
      throw new Error("CausalLM: rows of ids differ in length (pad them, see leftPad)");
    return { B: ids.length, T, embeds: () => this.embed(ids) };
  }

  /** The final hidden states [B, T, D] (after `model.norm`). See ForwardOptions. */
  hiddenStates(ids: TokenIds | null, opts: ForwardOptions = {}): tf.Tensor3D {
    const { cache } = opts;
    const { B, T, embeds } = this.input(ids, opts.inputsEmbeds);
    if (T === 0) throw new Error("CausalLM: no tokens to run");

    // 1. The mask over all S = past + T positions, as numbers (read here, outside any tidy).
    const past = cache?.length ?? 0;
    if (cache && past > 0 && cache.batchSize !== B)
      throw new Error(`CausalLM: the cache holds ${cache.batchSize} rows, the input has ${B}`);
    const cached = (b: number): number[] => cache?.maskRow(b) ?? [];
    let full: number[][];
    if (opts.attentionMask === undefined) {
      full = Array.from({ length: B }, (_, b) => [...cached(b), ...new Array<number>(T).fill(1)]);
    } else {
      const m = toRows(opts.attentionMask, "attentionMask");
      const width = m[0]?.length;
      if (m.length !== B || m.some((r) => r.length !== width) || (width !== T && width !== past + T)) {
        throw new Error(
          `CausalLM: attentionMask must be [${B}, ${T}]${past ? ` or [${B}, ${past + T}]` : ""}, ` +
            `got [${m.length}, ${width}]`,
        );
      }
      full = width === past + T ? m : m.map((r, b) => [...cached(b), ...r]);
    }
    const S = past + T;
    const padded = full.some((r) => r.some((v) => !v));
    const given = opts.positionIds;
    const positions =
      given instanceof tf.Tensor ? (given.arraySync() as number[][]) : (given ?? positionsFromMask(full, T));
    if (positions.length !== B || positions.some((r) => r.length !== T))
      throw new Error(`CausalLM: positionIds must be [${B}, ${T}]`);
    const mrope = opts.mropePositionIds;
    if (mrope) {
      if (!this.config.mropeSection) throw new Error("CausalLM: mropePositionIds need a config with mropeSection");
      if (mrope.length !== 3 || mrope.some((a) => a.length !== B || a.some((r) => r.length !== T)))
        throw new Error(`CausalLM: mropePositionIds must be [3, ${B}, ${T}]`);
    }

    // 2. The pass itself.
    const out = tf.tidy(() => {
      const mask = combineMasks(causalMask(T, S), padded ? paddingMask(full) : undefined); // [B|1, 1, T, S]
      // [B, T, hd]; text-only positions are M-RoPE with equal axes, which is exactly 1-D RoPE
      const { cos, sin } = mrope
        ? mropeCosSin(this.rope, mrope as number[][][], this.config.mropeSection)
        : this.rope.cosSin(positions);
      const positional = rotaryHook(cos, sin);
      let x = embeds() as tf.Tensor3D; // [B, T, D]
      this.model.layers.forEach((layer, i) => {
        x = layer.forward(x, { mask, positional, cache: cache?.layers[i] });
      });
      return this.model.norm.forward(x) as tf.Tensor3D; // [B, T, D]
    });
    if (cache) cache.attentionMask = full.map((r) => r.map((v) => (v ? 1 : 0)));
    return out;
  }

  /** lm_head (or the tied embedding) applied to hidden states [B, T, D] → logits [B, T, V]. */
  logitsFromHidden(h: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      if (this.lm_head) return this.lm_head.forward(h) as tf.Tensor3D;
      const [B, T, D] = h.shape as [number, number, number];
      const logits = tf.matMul(tf.reshape(h, [B * T, D]), this.model.embed_tokens.weight, false, true); // [B·T, V]
      return tf.reshape(logits, [B, T, this.config.vocabSize]) as tf.Tensor3D;
    });
  }

  /** Logits [B, T, V] (or [B, n, V] with `logitsToKeep: n`) for ids [B, T]. See ForwardOptions. */
  forward(ids: TokenIds | null, opts: ForwardOptions = {}): tf.Tensor3D {
    const h = this.hiddenStates(ids, opts);
    return tf.tidy(() => {
      const n = opts.logitsToKeep ?? 0;
      const T = h.shape[1];
      const kept = n > 0 && n < T ? tf.slice(h, [0, T - n, 0], [-1, n, -1]) : h; // [B, n, D]
      const logits = this.logitsFromHidden(kept);
      h.dispose();
      return logits;
    });
  }

  /** Decoding steps in one native call each, with the current weights (native_decode.ts); null without the addon. */
  nativeDecoder(batch: number, capacity: number, opts: { kvCache?: KvCacheType } = {}): NativeDecoder | null {
    return causalLmDecoder(this, batch, capacity, opts);
  }

  /** Generates continuations of `prompts` (see generate.ts). */
  generate(prompts: readonly (readonly number[])[], opts: GenerateOptions = {}): GenerateResult {
    return generate(this, prompts, opts);
  }

  /** Per-token log-probabilities of completions after prompts, differentiable (see logprobs.ts). */
  logProbs(
    promptIds: readonly (readonly number[])[],
    completionIds: readonly (readonly number[])[],
    opts: LogProbsOptions = {},
  ): LogProbsResult {
    return logProbs(this, promptIds, completionIds, opts);
  }

  override dispose(): void {
    super.dispose();
    this.rope.dispose();
  }

  protected override extraRepr(): string {
    const c = this.config;
    const heads = `${c.numAttentionHeads}/${c.numKeyValueHeads}`;
    const tied = c.tieWordEmbeddings ? ", tied" : "";
    return `${c.modelType}, D=${c.hiddenSize}, layers=${c.numHiddenLayers}, heads=${heads}, V=${c.vocabSize}${tied}`;
  }
}
