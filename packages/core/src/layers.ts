/**
 * The building blocks every vlab model uses: Linear, Embedding, LayerNorm, RMSNorm, MLP, SwiGLU,
 * and the activations as plain functions.
 *
 * Names and layouts follow PyTorch / Hugging Face so checkpoints load by name:
 *   Linear     weight [out, in], bias [out]
 *   Embedding  weight [num, dim]
 *   LayerNorm  weight [dim], bias [dim]          RMSNorm weight [dim]
 *   MLP        fc1, fc2 (CLIP, ViT)              SwiGLU  gate_proj, up_proj, down_proj (Llama, Qwen2)
 *
 * Why Linear keeps PyTorch's [out, in] layout on tfjs: a matmul with a transposed operand is what
 * `x @ W^T` needs, and tfjs-backend-wasm runs transposed (and batched) matmuls in a scalar loop,
 * 10x slower than its XNNPACK path (512x512: 11 ms plain, 137 ms with B transposed, 297 ms with A
 * transposed). Storing W as [in, out] would only fix the forward pass: the backward pass needs
 * `dy @ W` and `x^T @ dy`, transposed either way. @vlab/backend (kernels/BatchMatMul.ts) therefore
 * routes transposed and batched matmuls to XNNPACK for every caller; with that, the two layouts cost the same (fwd+bwd,
 * 1024x128 -> 512: 18.6 ms [in, out] vs 19.6 ms [out, in]; 2048x256 -> 256: 30.5 vs 32.1 ms), so
 * the weight stays in PyTorch's layout and `stateDict()` hands out the variables themselves.
 *
 * Each op below is its reference formula in tfjs ops; where a faster kernel may stand in (GELU,
 * LayerNorm), it is asked first through faster.ts.
 */
import * as tf from "@tensorflow/tfjs-core";
import { Module } from "./module.js";
import { getRng, type Rng } from "./rng.js";
import { faster } from "./faster.js";

// ---------------------------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------------------------

/** GELU, exact (erf) form, PyTorch's default (Hendrycks & Gimpel 2016): x · Φ(x) = ½x(1 + erf(x/√2)).
 *  A faster kernel may stand in (faster.ts). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return faster("gelu", x) ?? tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** GELU, tanh approximation (GPT-2's `gelu_new`, PyTorch's `approximate="tanh"`):
 *  ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/** OpenAI CLIP's QuickGELU: x · σ(1.702x). */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
}

/** SiLU (swish): x · σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

export function relu(x: tf.Tensor): tf.Tensor {
  return tf.relu(x);
}

export type ActivationName = "gelu" | "gelu_tanh" | "quick_gelu" | "relu" | "silu";

/**
 * The activation for a name. Accepts vlab's names and Hugging Face's `hidden_act` values:
 * `gelu`, `gelu_tanh` (= `gelu_new`, `gelu_pytorch_tanh`), `quick_gelu`, `relu`, `silu` (= `swish`).
 */
export function activation(name: ActivationName | string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case "gelu":
      return gelu;
    case "gelu_tanh":
    case "gelu_new":
    case "gelu_pytorch_tanh":
      return geluTanh;
    case "quick_gelu":
      return quickGelu;
    case "relu":
      return relu;
    case "silu":
    case "swish":
      return silu;
    default:
      throw new Error(`unknown activation "${name}" (expected gelu, gelu_tanh, quick_gelu, relu or silu)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Initialisers (PyTorch's defaults, from the seeded rng)
// ---------------------------------------------------------------------------------------------

/** Uniform in [-bound, bound). */
export function uniformInit(bound: number, rng?: Rng): (shape: number[]) => tf.Tensor {
  return (shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor((rng ?? getRng()).uniformArray(n, -bound, bound), shape, "float32");
  };
}

/** Normal with mean 0 and standard deviation `std`. */
export function normalInit(std: number, rng?: Rng): (shape: number[]) => tf.Tensor {
  return (shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor((rng ?? getRng()).normalArray(n, std), shape, "float32");
  };
}

// ---------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------

function formatEps(eps: number): string {
  return eps !== 0 && eps < 1e-3 ? eps.toExponential() : String(eps);
}

export interface LinearOptions {
  /** Add a bias (default true). */
  bias?: boolean;
  /** Random source for the initial weights (default: the global seeded rng, see `setSeed`). */
  rng?: Rng;
}

/**
 * y = x Wᵀ + b, for x of shape [..., in] → [..., out]. Weight [out, in], bias [out] (PyTorch layout).
 * Initialised like `torch.nn.Linear`: W and b ~ U(−1/√in, 1/√in) (kaiming-uniform with a = √5).
 */
export class Linear extends Module {
  readonly weight: tf.Variable; // [out, in]
  readonly bias: tf.Variable | null; // [out]

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param("weight", [outFeatures, inFeatures], uniformInit(bound, opts.rng));
    this.bias = (opts.bias ?? true) ? this.param("bias", [outFeatures], uniformInit(bound, opts.rng)) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const shape = x.shape;
    if (shape[shape.length - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures}, ${this.outFeatures}): input has shape [${shape.join(", ")}]`);
    }
    return tf.tidy(() => {
      // 2-D keeps the matmul on the fast (batch 1) path of every backend; the bias is added in the
      // same kernel (`_FusedMatMul`; on wasm with vlab's native kernels, in the same pass).
      const x2 = tf.reshape(x, [-1, this.inFeatures]); // [N, in]
      const y = tf.fused.matMul({ a: x2, b: this.weight, transposeB: true, bias: this.bias ?? undefined }); // [N, out]
      return tf.reshape(y, [...shape.slice(0, -1), this.outFeatures]); // [..., out]
    });
  }

  protected override extraRepr(): string {
    return `${this.inFeatures}, ${this.outFeatures}${this.bias ? "" : ", bias=false"}`;
  }
}

export interface EmbeddingOptions {
  /** Standard deviation of the initial weights (default 1, PyTorch's N(0, 1)). */
  std?: number;
  rng?: Rng;
}

/** A lookup table: ids of any shape [...] → [..., dim]. Weight [num, dim], initialised N(0, 1). */
export class Embedding extends Module {
  readonly weight: tf.Variable; // [num, dim]

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: EmbeddingOptions = {},
  ) {
    super();
    this.weight = this.param("weight", [numEmbeddings, embeddingDim], normalInit(opts.std ?? 1, opts.rng));
  }

  forward(ids: tf.Tensor | number[] | number[][]): tf.Tensor {
    return tf.tidy(() => {
      const t = ids instanceof tf.Tensor ? ids : tf.tensor(ids, undefined, "int32");
      const flat = tf.reshape(t.dtype === "int32" ? t : tf.cast(t, "int32"), [-1]); // [n]
      const rows = tf.gather(this.weight, flat); // [n, dim]
      return tf.reshape(rows, [...t.shape, this.embeddingDim]); // [..., dim]
    });
  }

  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}

export interface NormOptions {
  eps?: number;
  /** Learnable scale (and, for LayerNorm, shift); default true. */
  affine?: boolean;
}

/** Layer normalisation over the last axis (Ba et al. 2016): (x − mean) / √(var + eps) · weight + bias
 *  (biased var). With weight and bias a faster kernel may stand in (faster.ts). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable | null; // [dim]
  readonly bias: tf.Variable | null; // [dim]
  readonly eps: number;

  constructor(
    readonly dim: number,
    opts: NormOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.param("weight", [dim], (s) => tf.ones(s)) : null;
    this.bias = affine ? this.param("bias", [dim], (s) => tf.zeros(s)) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const fast = this.weight && this.bias ? faster("layerNorm", x, this.weight, this.bias, this.eps) : null;
    if (fast) return fast;
    return tf.tidy(() => {
      const x32 = x.dtype === "float32" ? x : tf.cast(x, "float32");
      const mean = tf.mean(x32, -1, true); // [..., 1]
      const centred = tf.sub(x32, mean);
      const variance = tf.mean(tf.square(centred), -1, true); // [..., 1]
      let y = tf.mul(centred, tf.rsqrt(tf.add(variance, this.eps)));
      if (this.weight) y = tf.mul(y, this.weight);
      if (this.bias) y = tf.add(y, this.bias);
      return y;
    });
  }

  protected override extraRepr(): string {
    return `${this.dim}, eps=${formatEps(this.eps)}`;
  }
}

/** RMS normalisation (Llama, Qwen2): x · rsqrt(mean(x²) + eps) · weight, computed in float32. */
export class RMSNorm extends Module {
  readonly weight: tf.Variable | null; // [dim]
  readonly eps: number;

  constructor(
    readonly dim: number,
    opts: NormOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-6;
    this.weight = (opts.affine ?? true) ? this.param("weight", [dim], (s) => tf.ones(s)) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const x32 = x.dtype === "float32" ? x : tf.cast(x, "float32");
      const ms = tf.mean(tf.square(x32), -1, true); // [..., 1]
      const y = tf.mul(x32, tf.rsqrt(tf.add(ms, this.eps)));
      return this.weight ? tf.mul(y, this.weight) : y;
    });
  }

  protected override extraRepr(): string {
    return `${this.dim}, eps=${formatEps(this.eps)}`;
  }
}

export interface MLPOptions {
  /** Default "gelu" (exact). CLIP uses "quick_gelu", GPT-2 "gelu_tanh". */
  activation?: ActivationName | string;
  bias?: boolean;
  rng?: Rng;
}

/** Two-layer feed-forward: fc2(act(fc1(x))), [..., dim] → [..., dim]. Names `fc1`, `fc2` (CLIP, ViT). */
export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly activationName: string;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(dim: number, hidden: number, opts: MLPOptions = {}) {
    super();
    this.activationName = opts.activation ?? "gelu";
    this.act = activation(this.activationName);
    this.fc1 = this.module("fc1", new Linear(dim, hidden, { bias: opts.bias, rng: opts.rng }));
    this.fc2 = this.module("fc2", new Linear(hidden, dim, { bias: opts.bias, rng: opts.rng }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(this.act(this.fc1.forward(x))));
  }

  protected override extraRepr(): string {
    return this.activationName;
  }
}

/**
 * Gated feed-forward of Llama / Qwen2: down_proj(silu(gate_proj(x)) · up_proj(x)), no biases by
 * default. Names `gate_proj`, `up_proj`, `down_proj` as in Hugging Face.
 */
export class SwiGLU extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;

  constructor(dim: number, hidden: number, opts: { bias?: boolean; rng?: Rng } = {}) {
    super();
    const bias = opts.bias ?? false;
    this.gate_proj = this.module("gate_proj", new Linear(dim, hidden, { bias, rng: opts.rng }));
    this.up_proj = this.module("up_proj", new Linear(dim, hidden, { bias, rng: opts.rng }));
    this.down_proj = this.module("down_proj", new Linear(hidden, dim, { bias, rng: opts.rng }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.down_proj.forward(tf.mul(silu(this.gate_proj.forward(x)), this.up_proj.forward(x))));
  }
}
