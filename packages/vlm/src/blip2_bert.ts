/**
 * The Q-Former's BERT (Li et al. 2023, "BLIP-2", sec. 3.1; salesforce/LAVIS, lavis/models/blip2_models/Qformer.py):
 * a post-LN BERT (Devlin et al. 2019) over the sequence [N queries; L text tokens] whose self-attention is shared by
 * both, with cross-attention to the image in every `crossAttentionFreq`-th layer and feed-forward layers of its own
 * for the queries. One layer (`BertLayer.forward`), with LN = LayerNorm(eps 1e-12):
 *
 *   a        = LN(x + dense(SelfAttention(x, mask, past keys/values)))            every row, the objective's mask
 *   a[:N]    = LN(a[:N] + dense(CrossAttention(a[:N], image)))                     query rows, layers i % f == 0
 *   out[:N]  = LN(a[:N] + output_query(GELU(intermediate_query(a[:N]))))           query rows: their own FFN
 *   out[N:]  = LN(a[N:] + output(GELU(intermediate(a[N:]))))                       text rows: BERT's FFN
 *
 * Text tokens never attend to the image directly; they see it only through the queries' keys and values. Without
 * queries in the pass (ITC's text pass, ITG's training pass) every row is a text row.
 *
 * Embeddings (`BertEmbeddings.forward`): text = word + learned absolute position (from 0, after any cached keys
 * beyond the N queries'), queries put in front, and LayerNorm over both: the queries pass through that LayerNorm
 * too. The LM head (`BertLMPredictionHead`): dense → GELU → LN, then the word embeddings transposed (tied) + a bias.
 *
 * Names are LAVIS's (`bert.embeddings.word_embeddings`, `bert.encoder.layer.0.attention.self.query`,
 * `…crossattention…`, `…intermediate_query.dense`, `…output_query.LayerNorm`, `cls.predictions.transform.dense`,
 * `cls.predictions.bias`); the LM head's decoder weight is the word embedding itself (tied, as in BERT), so it has
 * no name of its own. Dropout (0.1 in BERT) is left out: the passes here are deterministic.
 */
import {
  activation,
  Embedding,
  LayerNorm,
  Linear,
  Module,
  normalInit,
  scaledDotProductAttention,
  tf,
  type Rng,
} from "@vlab/core";
import type { ResolvedBlip2QformerConfig } from "./blip2_config.js";

/** One layer's self-attention keys and values [B, H, S, hd] (LAVIS's `past_key_value`). */
export type KeyValue = [tf.Tensor4D, tf.Tensor4D];

/** [B, T, H·hd] → [B, H, T, hd] */
function heads(x: tf.Tensor, H: number): tf.Tensor4D {
  const [B, T, W] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [B, T, H, W / H]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** `query`, `key`, `value` of one attention; keys and values from the image (`encoderWidth`) for cross-attention. */
export class BertSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;

  constructor(
    readonly cfg: ResolvedBlip2QformerConfig,
    readonly isCross: boolean,
    rng?: Rng,
  ) {
    super();
    const D = cfg.hiddenSize;
    const kvIn = isCross ? cfg.encoderWidth : D;
    this.query = this.module("query", new Linear(D, D, { rng }));
    this.key = this.module("key", new Linear(kvIn, D, { rng }));
    this.value = this.module("value", new Linear(kvIn, D, { rng }));
  }

  /**
   * x [B, T, D] → the attended values [B, T, D] and this pass's keys / values [B, H, S, hd] (the cached ones
   * first). Self-attention: keys from x after `past`; cross-attention: keys from `context` [B, S, encoderWidth].
   */
  forward(
    x: tf.Tensor,
    call: { mask?: tf.Tensor; context?: tf.Tensor; past?: KeyValue },
  ): {
    out: tf.Tensor3D;
    keyValue: KeyValue;
  } {
    return tf.tidy(() => {
      const H = this.cfg.numAttentionHeads;
      const src = this.isCross ? call.context : x;
      if (!src) throw new Error("BertSelfAttention: cross-attention needs the image features (context)");
      let k = heads(this.key.forward(src), H); // [B, H, S, hd]
      let v = heads(this.value.forward(src), H);
      if (call.past && !this.isCross) {
        k = tf.concat([call.past[0], k], 2) as tf.Tensor4D; // cached keys first, as LAVIS's torch.cat
        v = tf.concat([call.past[1], v], 2) as tf.Tensor4D;
      }
      const q = heads(this.query.forward(x), H); // [B, H, T, hd]
      const ctx = scaledDotProductAttention(q, k, v, this.isCross ? undefined : call.mask); // [B, H, T, hd]
      const [B, , T, hd] = ctx.shape;
      const out = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [B, T, H * hd]) as tf.Tensor3D;
      return { out, keyValue: [k, v] as KeyValue };
    });
  }
}

/** `dense` then `LayerNorm(· + residual)`: BERT's BertSelfOutput and BertOutput (post-LN). */
export class BertResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;

  constructor(inDim: number, cfg: ResolvedBlip2QformerConfig, rng?: Rng) {
    super();
    this.dense = this.module("dense", new Linear(inDim, cfg.hiddenSize, { rng }));
    this.LayerNorm = this.module("LayerNorm", new LayerNorm(cfg.hiddenSize, { eps: cfg.layerNormEps }));
  }

  forward(h: tf.Tensor, residual: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => this.LayerNorm.forward(tf.add(this.dense.forward(h), residual)) as tf.Tensor3D);
  }
}

/** `self` (the attention) and `output` (dense, LayerNorm): LAVIS's BertAttention. */
export class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertResidualOutput;

  constructor(cfg: ResolvedBlip2QformerConfig, isCross: boolean, rng?: Rng) {
    super();
    this.self = this.module("self", new BertSelfAttention(cfg, isCross, rng));
    this.output = this.module("output", new BertResidualOutput(cfg.hiddenSize, cfg, rng));
  }

  forward(
    x: tf.Tensor,
    call: { mask?: tf.Tensor; context?: tf.Tensor; past?: KeyValue },
  ): {
    out: tf.Tensor3D;
    keyValue: KeyValue;
  } {
    return tf.tidy(() => {
      const { out, keyValue } = this.self.forward(x, call);
      return { out: this.output.forward(out, x), keyValue };
    });
  }
}

/** `dense` then the activation: BERT's BertIntermediate. */
export class BertIntermediate extends Module {
  readonly dense: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(cfg: ResolvedBlip2QformerConfig, rng?: Rng) {
    super();
    this.dense = this.module("dense", new Linear(cfg.hiddenSize, cfg.intermediateSize, { rng }));
    this.act = activation(cfg.hiddenAct);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.act(this.dense.forward(x)));
  }
}

/** What one layer (or the whole encoder) is given besides its input. */
export interface QformerLayerCall {
  /** Additive self-attention mask broadcastable to [B, 1, T, S] (blip2_masks.ts `additiveMask`). */
  mask?: tf.Tensor;
  /** The image features [B, S_img, encoderWidth] (after `ln_vision`) the query rows cross-attend to. */
  encoderHiddenStates?: tf.Tensor;
  /** How many rows in front are queries (0: every row is text). */
  queryLength: number;
}

/** One Q-Former layer (see the file comment). */
export class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly crossattention: BertAttention | null;
  readonly intermediate: BertIntermediate;
  readonly output: BertResidualOutput;
  readonly intermediate_query: BertIntermediate;
  readonly output_query: BertResidualOutput;

  constructor(cfg: ResolvedBlip2QformerConfig, layerNum: number, rng?: Rng) {
    super();
    const I = cfg.intermediateSize;
    this.attention = this.module("attention", new BertAttention(cfg, false, rng));
    this.crossattention =
      layerNum % cfg.crossAttentionFreq === 0 ? this.module("crossattention", new BertAttention(cfg, true, rng)) : null;
    this.intermediate = this.module("intermediate", new BertIntermediate(cfg, rng));
    this.output = this.module("output", new BertResidualOutput(I, cfg, rng));
    this.intermediate_query = this.module("intermediate_query", new BertIntermediate(cfg, rng));
    this.output_query = this.module("output_query", new BertResidualOutput(I, cfg, rng));
  }

  /** x [B, T, D] → [B, T, D], and the self-attention's keys / values (cached ones first). */
  forward(x: tf.Tensor, call: QformerLayerCall, past?: KeyValue): { hidden: tf.Tensor3D; keyValue: KeyValue } {
    return tf.tidy(() => {
      const { out: a, keyValue } = this.attention.forward(x, { mask: call.mask, past }); // [B, T, D]
      const N = call.queryLength;
      const [B, T, D] = a.shape;
      if (N === 0) return { hidden: this.textFfn(a), keyValue };
      let q: tf.Tensor3D = tf.slice(a, [0, 0, 0], [B, N, D]); // [B, N, D] query rows
      if (this.crossattention) {
        if (!call.encoderHiddenStates)
          throw new Error("Q-Former: a layer with cross-attention needs the image features (encoderHiddenStates)");
        q = this.crossattention.forward(q, { context: call.encoderHiddenStates }).out;
      }
      const outQ = this.output_query.forward(this.intermediate_query.forward(q), q); // [B, N, D]
      if (T === N) return { hidden: outQ, keyValue };
      const outT = this.textFfn(tf.slice(a, [0, N, 0], [B, T - N, D])); // [B, L, D]
      return { hidden: tf.concat([outQ, outT], 1) as tf.Tensor3D, keyValue };
    });
  }

  private textFfn(a: tf.Tensor3D): tf.Tensor3D {
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

/** `word_embeddings`, `position_embeddings`, `LayerNorm` (see the file comment). */
export class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;

  constructor(
    readonly cfg: ResolvedBlip2QformerConfig,
    rng?: Rng,
  ) {
    super();
    const D = cfg.hiddenSize;
    this.word_embeddings = this.module("word_embeddings", new Embedding(cfg.vocabSize, D, { rng }));
    this.position_embeddings = this.module("position_embeddings", new Embedding(cfg.maxPositionEmbeddings, D, { rng }));
    this.LayerNorm = this.module("LayerNorm", new LayerNorm(cfg.hiddenSize, { eps: cfg.layerNormEps }));
  }

  /** LN([queries; words + positions]) [B, N + L, D]; text positions start at `pastLength`. */
  forward(ids: readonly (readonly number[])[] | null, queryEmbeds: tf.Tensor | null, pastLength = 0): tf.Tensor3D {
    return tf.tidy(() => {
      const parts: tf.Tensor[] = queryEmbeds ? [queryEmbeds] : [];
      if (ids && (ids[0]?.length ?? 0) > 0) {
        const L = ids[0]?.length ?? 0;
        const positions = Array.from({ length: L }, (_, t) => pastLength + t);
        const words = this.word_embeddings.forward(ids as number[][]); // [B, L, D]
        parts.push(tf.add(words, this.position_embeddings.forward(positions))); // positions [L, D] broadcast
      }
      if (parts.length === 0) throw new Error("Q-Former: nothing to embed (no text ids and no queries)");
      return this.LayerNorm.forward(parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, 1)) as tf.Tensor3D;
    });
  }
}

/** `layer.0`, `layer.1`, …: LAVIS's BertEncoder. */
export class BertEncoder extends Module {
  readonly layer: BertLayer[];

  constructor(cfg: ResolvedBlip2QformerConfig, rng?: Rng) {
    super();
    this.layer = this.moduleList(
      "layer",
      Array.from({ length: cfg.numHiddenLayers }, (_, i) => new BertLayer(cfg, i, rng)),
    );
  }
}

/** One pass of the Q-Former's BERT: what it reads (LAVIS's `BertModel.forward` arguments). */
export interface QformerPass {
  /** Text ids [B][L] (or none: queries only). */
  ids?: readonly (readonly number[])[];
  /** The queries [B, N, D], in front of the text. */
  queryEmbeds?: tf.Tensor;
  /** Additive self-attention mask (blip2_masks.ts); none: every row sees every key. */
  mask?: tf.Tensor;
  /** The image features [B, S_img, encoderWidth] for the cross-attention layers. */
  encoderHiddenStates?: tf.Tensor;
  /** Every layer's cached keys and values (ITG: the ITC query pass's), put before this pass's own. */
  pastKeyValues?: readonly KeyValue[];
}

/** LAVIS's BertModel (no pooler): `embeddings`, `encoder`. */
export class QformerBert extends Module {
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;

  constructor(
    readonly cfg: ResolvedBlip2QformerConfig,
    rng?: Rng,
  ) {
    super();
    this.embeddings = this.module("embeddings", new BertEmbeddings(cfg, rng));
    this.encoder = this.module("encoder", new BertEncoder(cfg, rng));
  }

  /** The last hidden state [B, N + L, D] and every layer's self-attention keys / values (LAVIS's `use_cache`). */
  forward(pass: QformerPass): { hidden: tf.Tensor3D; pastKeyValues: KeyValue[] } {
    const { cfg } = this;
    const L = pass.ids?.[0]?.length ?? 0;
    const past = pass.pastKeyValues;
    if (past && past.length !== cfg.numHiddenLayers)
      throw new Error(`Q-Former: pastKeyValues has ${past.length} layers, the model ${cfg.numHiddenLayers}`);
    // LAVIS: past_key_values_length = cached keys − query_length (ITG's cache holds exactly the N queries: 0).
    const pastLength = past?.[0] ? past[0][0].shape[2] - cfg.numQueryTokens : 0;
    if (pastLength + L > cfg.maxPositionEmbeddings)
      throw new RangeError(
        `Q-Former: text of ${L} tokens${pastLength ? ` after ${pastLength} cached` : ""} is longer than ` +
          `maxPositionEmbeddings (${cfg.maxPositionEmbeddings})`,
      );
    pass.ids?.forEach((row, b) => {
      if (row.length !== L) throw new Error(`Q-Former: text row ${b} has ${row.length} ids, row 0 has ${L}`);
      row.forEach((id, t) => {
        if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize)
          throw new RangeError(`Q-Former: text id ${id} at [${b}, ${t}] is not in [0, ${cfg.vocabSize})`);
      });
    });
    const q = pass.queryEmbeds;
    if (q && (q.rank !== 3 || q.shape[2] !== cfg.hiddenSize))
      throw new Error(`Q-Former: queryEmbeds must be [B, N, ${cfg.hiddenSize}], got [${q.shape.join(", ")}]`);
    const img = pass.encoderHiddenStates;
    if (img && (img.rank !== 3 || img.shape[2] !== cfg.encoderWidth))
      throw new Error(
        `Q-Former: image features must be [B, S, ${cfg.encoderWidth}] (encoderWidth), got [${img.shape.join(", ")}]`,
      );
    return tf.tidy(() => {
      let h = this.embeddings.forward(pass.ids ?? null, q ?? null, pastLength); // [B, N + L, D]
      const call: QformerLayerCall = { mask: pass.mask, encoderHiddenStates: img, queryLength: q?.shape[1] ?? 0 };
      const pastKeyValues: KeyValue[] = [];
      this.encoder.layer.forEach((layer, i) => {
        const out = layer.forward(h, call, past?.[i]);
        h = out.hidden;
        pastKeyValues.push(out.keyValue);
      });
      return { hidden: h, pastKeyValues };
    });
  }
}

/** `predictions.transform.dense`, `predictions.transform.LayerNorm`, `predictions.bias` (decoder tied). */
export class BertLMPredictionHead extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly bias: tf.Variable; // [V]
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(cfg: ResolvedBlip2QformerConfig, rng?: Rng) {
    super();
    const transform = this.module("transform", new Module());
    this.dense = transform.module("dense", new Linear(cfg.hiddenSize, cfg.hiddenSize, { rng }));
    this.LayerNorm = transform.module("LayerNorm", new LayerNorm(cfg.hiddenSize, { eps: cfg.layerNormEps }));
    this.bias = this.param("bias", [cfg.vocabSize]);
    this.act = activation(cfg.hiddenAct);
  }

  /** h [B, L, D] → logits [B, L, V] = LN(act(dense h)) · wordEmbeddingsᵀ + bias. */
  forward(h: tf.Tensor, wordEmbeddings: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const [B, L, D] = h.shape as [number, number, number];
      const t = tf.reshape(this.LayerNorm.forward(this.act(this.dense.forward(h))), [B * L, D]);
      const logits = tf.add(tf.matMul(t, wordEmbeddings, false, true), this.bias); // [B·L, V]
      return tf.reshape(logits, [B, L, -1]) as tf.Tensor3D;
    });
  }
}

/** LAVIS's `Qformer` (a BertLMHeadModel): `bert` and `cls.predictions`. */
export class QformerLMHeadModel extends Module {
  readonly bert: QformerBert;
  readonly predictions: BertLMPredictionHead;

  constructor(cfg: ResolvedBlip2QformerConfig, rng?: Rng) {
    super();
    this.bert = this.module("bert", new QformerBert(cfg, rng));
    const cls = this.module("cls", new Module());
    this.predictions = cls.module("predictions", new BertLMPredictionHead(cfg, rng));
    initBertWeights(this, cfg.initializerRange, rng);
    copyTextFfnToQueries(this.bert);
  }

  /** Text hidden states [B, L, D] → logits over the vocabulary [B, L, V]. */
  logits(h: tf.Tensor): tf.Tensor3D {
    return this.predictions.forward(h, this.bert.embeddings.word_embeddings.weight);
  }
}

/** BERT's `_init_weights`: Linear and Embedding weights ~ N(0, std²), Linear biases 0 (LayerNorms are 1 and 0). */
function initBertWeights(root: Module, std: number, rng?: Rng): void {
  const init = normalInit(std, rng);
  for (const [, m] of root.namedModules()) {
    if (!(m instanceof Linear || m instanceof Embedding)) continue;
    const fresh = [init(m.weight.shape), ...(m instanceof Linear && m.bias ? [tf.zerosLike(m.bias)] : [])];
    m.weight.assign(fresh[0] as tf.Tensor);
    if (m instanceof Linear && m.bias) m.bias.assign(fresh[1] as tf.Tensor);
    tf.dispose(fresh);
  }
}

/** LAVIS's `Blip2Qformer.__init__`: every `*_query` weight starts as a copy of the text FFN's weight. */
function copyTextFfnToQueries(bert: QformerBert): void {
  for (const layer of bert.encoder.layer) {
    const own = new Map(layer.namedParameters());
    for (const [name, v] of own) {
      if (!name.includes("_query")) continue;
      const source = own.get(name.replace("_query", ""));
      if (!source) throw new Error(`Q-Former: no text weight for ${name}`);
      const copy = source.clone();
      v.assign(copy);
      copy.dispose();
    }
  }
}
