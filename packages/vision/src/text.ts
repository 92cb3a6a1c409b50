/**
 * CLIP's text encoder (openai/CLIP `model.py: CLIP.encode_text`): a GPT-style causal transformer
 * whose sentence embedding is the feature at the end-of-text token.
 *
 *   x = token_embedding(ids) + positional_embedding[:T]     [B, T, w]
 *   x = transformer(x, causal mask)                         [B, T, w]   token t sees tokens ≤ t
 *   x = ln_final(x)                                         [B, T, w]
 *   out = x[b, eot(b)] @ text_projection                    [B, embed]
 *
 * eot(b) is the position of the end-of-text token. openai finds it as `ids.argmax(-1)`: the EOT id
 * (49407) is the largest id in the vocabulary, and the rows are zero-padded after it. Hugging Face
 * pads with EOT instead, so a row may hold the maximum several times: the FIRST occurrence is the
 * real end (`eotPositions` returns first indices; `eotTokenId` pools at the first occurrence of a
 * given id instead, as Hugging Face does for configs where EOT is not the largest id).
 *
 * The causal mask is core's `causalMask`: MASK_MIN (−1e9, not −∞, so fully masked rows stay finite)
 * above the diagonal, which gives those keys exactly zero weight after the softmax.
 */
import { Embedding, LayerNorm, Module, causalMask, normalInit, tf, Rng } from "@vlab/core";
import { Transformer, openaiStateDict } from "./transformer.js";
import { defaultHeads } from "./vit.js";

export interface TextTransformerConfig {
  /** Longest input in tokens (openai: 77). */
  contextLength: number;
  /** Vocabulary size (openai: 49408). */
  vocabSize: number;
  /** Residual width (512 for ViT-B/32's text tower). */
  width: number;
  /** Number of blocks (12). */
  layers: number;
  /** Attention heads (default max(1, ⌊w/64⌋), openai's width // 64). */
  heads?: number;
  /** Size of `text_projection` (CLIP's embed_dim); 0 = no projection. */
  outputDim: number;
  /** MLP activation (default "quick_gelu"). */
  activation?: string;
  /** Pool at the first occurrence of this id instead of at argmax(ids) (default: argmax, as openai). */
  eotTokenId?: number;
  seed?: number;
  rng?: Rng;
}

/** The causal mask [1, 1, T, T] the text transformer uses (row i: 0 up to column i, MASK_MIN after). */
export function textCausalMask(T: number): tf.Tensor4D {
  return causalMask(T);
}

/**
 * Position of the end-of-text token in each row of ids [B, T]: the FIRST index of the row's maximum
 * (or of `eotTokenId` when given; a row without it gives 0, as Hugging Face's argmax over a
 * boolean row does — `encodeText` refuses such rows). Returns int32 [B].
 */
export function eotPositions(ids: tf.Tensor2D, eotTokenId?: number): tf.Tensor1D {
  return tf.tidy(() => {
    const T = ids.shape[1];
    const f = tf.cast(ids, "float32"); // reductions on float (every backend has them)
    const target = eotTokenId === undefined ? tf.max(f, -1, true) : tf.scalar(eotTokenId); // [B, 1]
    const cols = tf.range(0, T, 1, "float32"); // [T]
    const idx = tf.where(tf.equal(f, target), tf.broadcastTo(cols, ids.shape), tf.fill(ids.shape, T)); // [B, T]
    const first = tf.min(idx, -1); // [B], T where absent
    return tf.cast(tf.where(tf.equal(first, T), tf.zerosLike(first), first), "int32") as tf.Tensor1D; // [B]
  });
}

export class TextTransformer extends Module {
  readonly config: Required<Omit<TextTransformerConfig, "rng" | "eotTokenId">> & { eotTokenId?: number };
  readonly token_embedding: Embedding; // [vocab, w]
  readonly positional_embedding: tf.Variable; // [ctx, w]
  readonly transformer: Transformer;
  readonly ln_final: LayerNorm;
  readonly text_projection: tf.Variable | null; // [w, embed], used as x @ text_projection

  constructor(cfg: TextTransformerConfig) {
    super();
    this.config = {
      contextLength: cfg.contextLength,
      vocabSize: cfg.vocabSize,
      width: cfg.width,
      layers: cfg.layers,
      heads: cfg.heads ?? defaultHeads(cfg.width),
      outputDim: cfg.outputDim,
      activation: cfg.activation ?? "quick_gelu",
      seed: cfg.seed ?? 0,
      ...(cfg.eotTokenId !== undefined ? { eotTokenId: cfg.eotTokenId } : {}),
    };
    const { contextLength, vocabSize, width: w, layers, heads, outputDim, activation } = this.config;
    const rng = cfg.rng ?? new Rng(this.config.seed);
    // openai's initialize_parameters: tokens N(0, 0.02), positions N(0, 0.01), blocks (see Transformer), projection
    // N(0, w^-½).
    this.token_embedding = this.module("token_embedding", new Embedding(vocabSize, w, { std: 0.02, rng }));
    this.positional_embedding = this.param("positional_embedding", [contextLength, w], normalInit(0.01, rng));
    this.transformer = this.module("transformer", new Transformer({ width: w, layers, heads, activation, rng }));
    this.transformer.initializeClip(rng);
    this.ln_final = this.module("ln_final", new LayerNorm(w));
    this.text_projection =
      outputDim > 0 ? this.param("text_projection", [w, outputDim], normalInit(w ** -0.5, rng)) : null;
  }

  /** ids [B, T ≤ ctx] int32 → [B, embed] (unnormalised). */
  forward(ids: tf.Tensor | number[][]): tf.Tensor2D {
    const t = this.checkIds(ids, "encodeText");
    try {
      return tf.tidy(() => {
        const h = this.hidden(t); // [B, T, w]
        const [B, T, w] = h.shape;
        const rows = tf.add(
          tf.mul(tf.range(0, B, 1, "int32"), tf.scalar(T, "int32")),
          eotPositions(t, this.config.eotTokenId),
        ); // [B] flat row of each EOT
        const pooled = tf.gather(tf.reshape(h, [B * T, w]), rows); // [B, w]
        return (this.text_projection ? tf.matMul(pooled, this.text_projection) : pooled) as tf.Tensor2D; // [B, embed]
      });
    } finally {
      if (t !== ids) t.dispose();
    }
  }

  /** Every position after ln_final: ids [B, T] → [B, T, w] (for token-level uses). */
  hidden(ids: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const T = ids.shape[1];
      const pos = tf.slice(this.positional_embedding, [0, 0], [T, -1]); // [T, w]
      const x = tf.add(this.token_embedding.forward(ids), pos); // [B, T, w]
      const mask = textCausalMask(T); // [1, 1, T, T]
      return this.ln_final.forward(this.transformer.forward(x, mask).last) as tf.Tensor3D; // [B, T, w]
    });
  }

  /**
   * Validates ids and returns them as an int32 tensor [B, T] (the input itself when it already is
   * one; otherwise a new tensor the caller disposes).
   */
  checkIds(ids: tf.Tensor | number[][], where: string): tf.Tensor2D {
    const { contextLength: ctx, vocabSize } = this.config;
    let t: tf.Tensor;
    if (ids instanceof tf.Tensor) {
      if (ids.dtype !== "int32") {
        throw new Error(
          `${where}: ids must be int32 token ids, got a ${ids.dtype} tensor (use tf.cast(ids, "int32") if its values ` +
            `are whole numbers)`,
        );
      }
      t = ids;
    } else {
      if (!Array.isArray(ids) || !ids.every((r) => Array.isArray(r)))
        throw new Error(`${where}: ids must be an int32 tensor [B, T] or number[][]`);
      ids.forEach((row, b) =>
        row.forEach((v, j) => {
          if (!Number.isInteger(v)) throw new Error(`${where}: ids must be integers, got ${v} at [${b}, ${j}]`);
        }),
      );
      const T = ids[0]?.length ?? 0;
      if (ids.some((r) => r.length !== T)) throw new Error(`${where}: every row of ids must have the same length`);
      t = tf.tensor2d(ids.flat(), [ids.length, T], "int32");
    }
    const fail = (msg: string): never => {
      if (t !== ids) t.dispose();
      throw new Error(`${where}: ${msg}`);
    };
    const [B, T] = t.shape;
    if (t.rank !== 2 || B === undefined || T === undefined)
      return fail(`ids must be 2-D [B, T], got shape [${t.shape.join(", ")}]`);
    if (T > ctx)
      fail(
        `ids have ${T} tokens per row but the context length is ${ctx}; shorten or truncate the text (the last token ` +
          `must stay the end-of-text token)`,
      );
    if (T === 0 || B === 0) fail(`ids are empty (shape [${t.shape.join(", ")}])`);
    const data = t.dataSync();
    for (const [i, v] of data.entries()) {
      if (v < 0 || v >= vocabSize)
        fail(`token id ${v} at [${Math.floor(i / T)}, ${i % T}] is outside the vocabulary 0..${vocabSize - 1}`);
    }
    const eot = this.config.eotTokenId;
    if (eot !== undefined) {
      for (let b = 0; b < B; b++) {
        if (!data.subarray(b * T, (b + 1) * T).includes(eot))
          fail(`row ${b} of ids has no end-of-text token (id ${eot}) to pool at`);
      }
    }
    return t as tf.Tensor2D;
  }

  /** Parameters under openai/CLIP's names. */
  // (the inherited loadStateDict checks names against stateDict(), so it takes openai's names too)
  override stateDict(): Record<string, tf.Tensor> {
    return openaiStateDict(this);
  }

  protected override extraRepr(): string {
    const { contextLength, vocabSize, width, layers, heads, outputDim } = this.config;
    return (
      `ctx ${contextLength}, vocab ${vocabSize}, width ${width}, ` +
      `layers ${layers}, heads ${heads}, out ${outputDim || width}`
    );
  }
}
