/**
 * The residual attention block and the stack of them that CLIP's image and text encoders share
 * (openai/CLIP `model.py`: `ResidualAttentionBlock`, `Transformer`).
 *
 *   x = x + attn(ln_1(x))              pre-LN: normalise the input of each branch, not the sum
 *   x = x + mlp(ln_2(x))               mlp = c_proj(act(c_fc(x))), hidden 4·width, act = QuickGELU
 *
 * Parameter names are openai's (`transformer.resblocks.0.ln_1.weight`, `.mlp.c_fc.weight`,
 * `.attn.out_proj.weight`) with ONE exception: openai's `nn.MultiheadAttention` stores the fused
 * q/k/v projection as two raw tensors, `attn.in_proj_weight` [3w, w] and `attn.in_proj_bias` [3w],
 * while core's `MultiHeadAttention` holds it as a Linear child, `attn.in_proj.weight` / `.bias`.
 * Same layout ([Wq; Wk; Wv] rows, [out, in]); only the name differs. `toOpenaiName` /
 * `fromOpenaiName` translate, and `stateDict()` of the models in this package uses openai's names.
 */
import {
  Linear,
  LayerNorm,
  Module,
  MultiHeadAttention,
  activation,
  normalInit,
  tf,
  uniformInit,
  type Rng,
} from "@vlab/core";

export interface TransformerConfig {
  /** Residual stream width (openai: `width`). */
  width: number;
  /** Number of residual blocks. */
  layers: number;
  /** Attention heads; openai uses width / 64. */
  heads: number;
  /** MLP activation: "quick_gelu" (openai CLIP) or "gelu" (most re-trainings, e.g. open_clip's). */
  activation?: string;
  /** Random source for the initial weights. */
  rng?: Rng;
}

/** c_proj(act(c_fc(x))): [..., w] → [..., 4w] → [..., w]. */
export class Mlp extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(width: number, act = "quick_gelu", rng?: Rng) {
    super();
    this.act = activation(act);
    this.c_fc = this.module("c_fc", new Linear(width, 4 * width, { rng }));
    this.c_proj = this.module("c_proj", new Linear(4 * width, width, { rng }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.c_proj.forward(this.act(this.c_fc.forward(x))));
  }
}

/** One pre-LN block: attention then MLP, each added back to the residual stream. */
export class ResidualAttentionBlock extends Module {
  readonly attn: MultiHeadAttention;
  readonly ln_1: LayerNorm;
  readonly mlp: Mlp;
  readonly ln_2: LayerNorm;

  constructor(width: number, heads: number, act = "quick_gelu", rng?: Rng) {
    super();
    if (width % heads !== 0)
      throw new Error(`ResidualAttentionBlock: width ${width} is not divisible by heads ${heads}`);
    this.attn = this.module(
      "attn",
      new MultiHeadAttention(width, heads, { qkvFused: true, names: { qkv: "in_proj", out: "out_proj" }, rng }),
    );
    this.ln_1 = this.module("ln_1", new LayerNorm(width));
    this.mlp = this.module("mlp", new Mlp(width, act, rng));
    this.ln_2 = this.module("ln_2", new LayerNorm(width));
    // nn.MultiheadAttention's own init: xavier-uniform in_proj_weight, zero biases (out_proj.weight keeps Linear's).
    const { qkv, out } = this.attn;
    if (!qkv?.bias || !out.bias) throw new Error("ResidualAttentionBlock: expected a fused in_proj and biases");
    assignInit(qkv.weight, uniformInit(Math.sqrt(6 / (width + 3 * width)), rng));
    assignInit(qkv.bias, (s) => tf.zeros(s));
    assignInit(out.bias, (s) => tf.zeros(s));
  }

  /** x [B, T, w], additive mask broadcastable to [B, H, T, T]; optionally the attention weights [B, H, T, T]. */
  forward(x: tf.Tensor, mask?: tf.Tensor, wantWeights = false): { x: tf.Tensor3D; weights?: tf.Tensor4D } {
    return tf.tidy(() => {
      const h = this.ln_1.forward(x); // [B, T, w]
      const a = wantWeights
        ? this.attn.forwardWithWeights(h, { mask })
        : { output: this.attn.forward(h, { mask }), weights: undefined };
      const y = tf.add(x, a.output); // [B, T, w]
      const out = tf.add(y, this.mlp.forward(this.ln_2.forward(y))) as tf.Tensor3D; // [B, T, w]
      return a.weights ? { x: out, weights: a.weights } : { x: out };
    });
  }
}

/** What a pass through the stack returns when asked for more than its output. */
export type TransformerOutputs = {
  /** The last block's output [B, T, w]. */
  last: tf.Tensor3D;
  /**
   * Input of block 0, then the output of every block: layers + 1 tensors [B, T, w] (Hugging Face's `hidden_states`).
   */
  hiddenStates?: tf.Tensor3D[];
  /** Attention weights of every block [B, H, T, T]. */
  attentions?: tf.Tensor4D[];
};

/** `resblocks.0 … resblocks.{L-1}` applied in order. */
export class Transformer extends Module {
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  readonly resblocks: ResidualAttentionBlock[];

  constructor(cfg: TransformerConfig) {
    super();
    this.width = cfg.width;
    this.layers = cfg.layers;
    this.heads = cfg.heads;
    const blocks = Array.from(
      { length: cfg.layers },
      () => new ResidualAttentionBlock(cfg.width, cfg.heads, cfg.activation, cfg.rng),
    );
    this.resblocks = this.moduleList("resblocks", blocks);
  }

  /** x [B, T, w] → [B, T, w] through the first `upTo` blocks (default all). */
  forward(
    x: tf.Tensor,
    mask?: tf.Tensor,
    opts: { hiddenStates?: boolean; attentions?: boolean; upTo?: number } = {},
  ): TransformerOutputs {
    return tf.tidy(() => {
      const hidden: tf.Tensor3D[] = [x as tf.Tensor3D];
      const attentions: tf.Tensor4D[] = [];
      let h = x as tf.Tensor3D;
      for (const block of this.resblocks.slice(0, opts.upTo ?? this.layers)) {
        const r = block.forward(h, mask, opts.attentions);
        h = r.x; // [B, T, w]
        if (opts.hiddenStates) hidden.push(h);
        if (r.weights) attentions.push(r.weights);
      }
      const out: TransformerOutputs = { last: h === x ? (tf.clone(h) as tf.Tensor3D) : h };
      if (opts.hiddenStates) out.hiddenStates = hidden.map((t) => (t === x ? (tf.clone(t) as tf.Tensor3D) : t));
      if (opts.attentions) out.attentions = attentions;
      return out;
    });
  }

  /**
   * openai's `initialize_parameters` for the TEXT transformer (the visual one keeps PyTorch's defaults):
   * in_proj ~ N(0, w^-½), out_proj and c_proj ~ N(0, w^-½·(2L)^-½), c_fc ~ N(0, (2w)^-½).
   */
  initializeClip(rng?: Rng): void {
    const w = this.width;
    const attnStd = w ** -0.5;
    const projStd = w ** -0.5 * (2 * this.layers) ** -0.5;
    const fcStd = (2 * w) ** -0.5;
    for (const b of this.resblocks) {
      if (!b.attn.qkv) throw new Error("initializeClip: expected a fused in_proj in every block");
      assignInit(b.attn.qkv.weight, normalInit(attnStd, rng));
      assignInit(b.attn.out.weight, normalInit(projStd, rng));
      assignInit(b.mlp.c_fc.weight, normalInit(fcStd, rng));
      assignInit(b.mlp.c_proj.weight, normalInit(projStd, rng));
    }
  }
}

/** Overwrites a variable with a fresh initial value. */
export function assignInit(v: tf.Variable, init: (shape: number[]) => tf.Tensor): void {
  const t = init(v.shape);
  v.assign(t);
  t.dispose();
}

// ---------------------------------------------------------------------------------------------
// The one rename between core's attention and openai's nn.MultiheadAttention
// ---------------------------------------------------------------------------------------------

/** vlab name → openai state-dict name: `….attn.in_proj.weight` → `….attn.in_proj_weight` (and `_bias`). */
export function toOpenaiName(name: string): string {
  return name.replace(/(^|\.)attn\.in_proj\.(weight|bias)$/, "$1attn.in_proj_$2");
}

/** openai state-dict name → vlab name (the inverse of `toOpenaiName`). */
export function fromOpenaiName(name: string): string {
  return name.replace(/(^|\.)attn\.in_proj_(weight|bias)$/, "$1attn.in_proj.$2");
}

/** A module's parameters under openai's names (the variables themselves: do not dispose them). */
export function openaiStateDict(
  m: Module,
  rename: (vlabName: string) => string = toOpenaiName,
): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(Module.prototype.stateDict.call(m))) out[rename(name)] = v;
  return out;
}
