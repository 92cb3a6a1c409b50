/**
 * Multi-head attention and its masks.
 *
 *   Attention(Q, K, V) = softmax(Q Kᵀ / √d_head + M) V          (Vaswani et al. 2017, eq. 1)
 *
 * with M an *additive* mask: 0 where a query may look, a large negative number where it may not.
 * Masks are plain tensors made by plain functions — `causalMask`, `paddingMask`,
 * `blockDiagonalMask` — and combined by adding them (`combineMasks`).
 *
 * Masked entries use MASK_MIN = -1e9 rather than -Infinity: a row whose every key is masked (a
 * padded query) then gets uniform weights instead of NaN (exp(-inf - -inf)), which is what
 * Hugging Face does with `finfo.min`. Masks holding -Infinity are clamped to MASK_MIN before use.
 * A row with at least one visible key gives masked keys exactly zero weight.
 *
 * Incremental decoding keeps the keys and values of earlier tokens in a `KvCache` (one per layer).
 *
 * Shapes: q [B, H, T, hd], k and v [B, H, S, hd], masks broadcastable to [B, H, T, S]. Everything is
 * kept at most 4-D (batch and heads are folded for the matmuls): 5-D transposes are a known slow
 * path of tfjs-backend-wasm.
 */
import * as tf from "@tensorflow/tfjs-core";
import { Linear } from "./layers.js";
import { Module } from "./module.js";
import { faster, fasterSoftmaxApplies } from "./faster.js";
import type { Rng } from "./rng.js";

/** The additive value for "may not attend". */
export const MASK_MIN = -1e9;

// ---------------------------------------------------------------------------------------------
// Masks
// ---------------------------------------------------------------------------------------------

/**
 * Causal mask [1, 1, T, S]: query i sees keys j ≤ i + (S − T). With S > T (keys from a cache
 * followed by T new tokens) the new queries see the whole past.
 */
export function causalMask(T: number, S = T): tf.Tensor4D {
  const m = new Float32Array(T * S);
  const offset = S - T;
  for (let i = 0; i < T; i++) for (let j = i + offset + 1; j < S; j++) m[i * S + j] = MASK_MIN;
  return tf.tensor4d(m, [1, 1, T, S]);
}

/**
 * Padding mask [B, 1, 1, S] from a Hugging Face style `attention_mask` [B, S] (1 = token,
 * 0 = padding): padded keys are hidden from every query.
 */
export function paddingMask(attentionMask: tf.Tensor | number[][]): tf.Tensor4D {
  return tf.tidy(() => {
    const m = attentionMask instanceof tf.Tensor ? attentionMask : tf.tensor2d(attentionMask);
    if (m.rank !== 2) throw new Error(`paddingMask: expected [B, S], got [${m.shape.join(", ")}]`);
    const [B, S] = m.shape as [number, number];
    const keep = tf.cast(tf.notEqual(m, 0), "float32");
    return tf.reshape(tf.mul(tf.sub(keep, 1), -MASK_MIN), [B, 1, 1, S]) as tf.Tensor4D; // 0 or MASK_MIN
  });
}

/**
 * Block-diagonal mask [1, 1, T, T] for several sequences packed into one (Qwen2-VL's vision tower:
 * patches attend only within their own image). Give either the segment lengths (`[4, 2, 3]`) or
 * the cumulative boundaries `{ cuSeqlens: [0, 4, 6, 9] }` (FlashAttention's `cu_seqlens`).
 */
export function blockDiagonalMask(segments: number[] | { cuSeqlens: number[] }): tf.Tensor4D {
  let cu: number[];
  let T = 0; // the last boundary: the total length
  if (Array.isArray(segments)) {
    cu = [0];
    for (const len of segments) {
      if (!(len >= 0) || !Number.isInteger(len)) throw new Error(`blockDiagonalMask: bad segment length ${len}`);
      T += len;
      cu.push(T);
    }
  } else {
    cu = segments.cuSeqlens;
    const bad = () =>
      new Error(`blockDiagonalMask: cuSeqlens must start at 0 and not decrease, got [${cu.join(", ")}]`);
    if (cu[0] !== 0) throw bad();
    for (const c of cu) {
      if (c < T) throw bad();
      T = c;
    }
  }
  const m = new Float32Array(T * T).fill(MASK_MIN);
  let start = 0; // = cu[0]
  for (const end of cu.slice(1)) {
    for (let i = start; i < end; i++) m.fill(0, i * T + start, i * T + end); // segment [start, end) sees itself
    start = end;
  }
  return tf.tensor4d(m, [1, 1, T, T]);
}

/**
 * Adds additive masks (broadcasting, e.g. causal [1,1,T,T] + padding [B,1,1,T] → [B,1,T,T]) and
 * clamps the sum at MASK_MIN. `undefined` / `null` entries are skipped; with none left the result
 * is `undefined`. The inputs are not disposed.
 */
export function combineMasks(...masks: (tf.Tensor | undefined | null)[]): tf.Tensor | undefined {
  const present = masks.filter((m): m is tf.Tensor => m != null);
  if (present.length === 0) return undefined;
  return tf.tidy(() =>
    tf.maximum(
      present.reduce((a, b) => tf.add(a, b)),
      MASK_MIN,
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Attention as functions
// ---------------------------------------------------------------------------------------------

export interface SdpaOptions {
  /** Multiplies Q Kᵀ; default 1/√hd. */
  scale?: number;
}

/** softmax(q kᵀ · scale + mask): the attention weights [B, H, T, S]. */
export function attentionWeights(q: tf.Tensor, k: tf.Tensor, mask?: tf.Tensor, opts: SdpaOptions = {}): tf.Tensor4D {
  if (q.rank !== 4 || k.rank !== 4) {
    throw new Error(`attention expects 4-D [B, H, T, hd] tensors, got q [${q.shape}] and k [${k.shape}]`);
  }
  const [B, H, T, hd] = q.shape as [number, number, number, number];
  const [, , S] = k.shape as [number, number, number, number];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== hd) {
    throw new Error(`attention: k [${k.shape}] does not match q [${q.shape}]`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(hd);
  return tf.tidy(() => {
    const k3 = tf.reshape(k, [B * H, S, hd]);
    if (fasterSoftmaxApplies(q.dtype, [B, H, T, S], mask)) {
      // A faster kernel stands in for scale, mask and softmax together (faster.ts).
      const raw = tf.reshape(tf.matMul(tf.reshape(q, [B * H, T, hd]), k3, false, true), [B, H, T, S]); // [B, H, T, S]
      const weights = faster("scaledMaskedSoftmax", raw, mask, scale, MASK_MIN);
      if (weights) return weights as tf.Tensor4D;
    }
    const q3 = tf.reshape(tf.mul(q, scale), [B * H, T, hd]); // scaling q is cheaper than scaling T×S scores
    let scores: tf.Tensor = tf.reshape(tf.matMul(q3, k3, false, true), [B, H, T, S]); // [B, H, T, S]
    if (mask) scores = tf.add(scores, tf.maximum(mask, MASK_MIN));
    return tf.softmax(scores, -1) as tf.Tensor4D;
  });
}

/**
 * Scaled dot-product attention on [B, H, T, hd] queries and [B, H, S, hd] keys / values, with an
 * optional additive mask broadcastable to [B, H, T, S]. Returns [B, H, T, hd_v].
 */
export function scaledDotProductAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  mask?: tf.Tensor,
  opts: SdpaOptions = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    const w = attentionWeights(q, k, mask, opts); // [B, H, T, S]
    return applyWeights(w, v);
  });
}

/** weights [B, H, T, S] @ v [B, H, S, hd] → [B, H, T, hd]. */
function applyWeights(w: tf.Tensor, v: tf.Tensor): tf.Tensor4D {
  const [B, H, T, S] = w.shape as [number, number, number, number];
  if (v.rank !== 4 || v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== S) {
    throw new Error(`attention: v [${v.shape}] does not match the weights [${w.shape}]`);
  }
  const [, , , hd] = v.shape as [number, number, number, number];
  const out = tf.matMul(tf.reshape(w, [B * H, T, S]), tf.reshape(v, [B * H, S, hd])); // [B*H, T, hd]
  return tf.reshape(out, [B, H, T, hd]) as tf.Tensor4D;
}

/**
 * Grouped-query attention: repeats each of the Hkv key/value heads nRep times, [B, Hkv, S, hd] →
 * [B, Hkv·nRep, S, hd]; query head h uses kv head ⌊h / nRep⌋ (Hugging Face's `repeat_kv`).
 * Written as a concat of nRep copies, not `tf.tile`: the same values (and gradient, the sum over the copies), but
 * tfjs's wasm Tile is an element-by-element loop, which took 354 of the 371 ms of a batch-64 decode step.
 */
export function repeatKv(x: tf.Tensor, nRep: number): tf.Tensor4D {
  if (nRep === 1) return x.clone() as tf.Tensor4D;
  const [B, Hkv, S, hd] = x.shape as [number, number, number, number];
  return tf.tidy(() => {
    const rows = tf.reshape(x, [B * Hkv, 1, S * hd]);
    const copies = tf.concat(new Array<tf.Tensor>(nRep).fill(rows), 1); // [B*Hkv, nRep, S*hd]
    return tf.reshape(copies, [B, Hkv * nRep, S, hd]) as tf.Tensor4D;
  });
}

/** [B, T, H·hd] → [B, H, T, hd] */
function splitHeads(x: tf.Tensor, B: number, T: number, H: number, hd: number): tf.Tensor4D {
  return tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** [B, H, T, hd] → [B, T, H·hd] */
function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [B, H, T, hd] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B, T, H * hd]) as tf.Tensor3D;
}

// ---------------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------------

export interface MultiHeadAttentionOptions {
  /** Key/value heads; fewer than nHeads is grouped-query attention (Qwen2). Default nHeads. */
  nKvHeads?: number;
  /** Per-head width; default dim / nHeads. */
  headDim?: number;
  /** Biases on the q, k, v projections (default true). */
  bias?: boolean;
  /** Bias on the output projection (default: same as `bias`; Qwen2 has q/k/v biases but none here). */
  outBias?: boolean;
  /**
   * One `qkv` Linear producing [q | k | v] (nanoGPT's c_attn, OpenAI CLIP's in_proj, Qwen2-VL's
   * vision `qkv`) instead of separate q/k/v projections. Default false.
   */
  qkvFused?: boolean;
  /** Width of the key/value input for cross-attention (separate projections only); default dim. */
  kvDim?: number;
  /**
   * Parameter names, to match a checkpoint. Defaults: `qkv`, `q_proj`, `k_proj`, `v_proj`,
   * `o_proj`. (Hugging Face CLIP: out `out_proj`; Qwen2-VL vision: qkv `qkv`, out `proj`.)
   */
  names?: { qkv?: string; q?: string; k?: string; v?: string; out?: string };
  rng?: Rng;
}

// ---------------------------------------------------------------------------------------------
// KV cache
// ---------------------------------------------------------------------------------------------

/**
 * The keys and values one attention layer has seen, for incremental decoding (Hugging Face's
 * `DynamicCache` holds one of these per layer). Pass it as `cache` to `MultiHeadAttention.forward`:
 * the new keys and values [B, Hkv, T, hd] (after the positional hook, before grouped-query
 * repetition) are appended to the stored ones, and the queries attend over all S = past + T of them,
 * so the mask must be broadcastable to [B, H, T, S] (`causalMask(T, S)` gives the causal part).
 *
 * The cache owns its tensors: they survive the tidy scopes of the forward pass, the previous ones
 * are disposed on each update, and `dispose()` frees the last. It is for inference: a cached forward
 * pass is not meant to be differentiated (the tensors it read are freed by the next update).
 */
export class KvCache {
  /** Keys of every token seen so far [B, Hkv, S, hd]; null before the first update. */
  k: tf.Tensor4D | null = null;
  /** Values of every token seen so far [B, Hkv, S, hd_v]. */
  v: tf.Tensor4D | null = null;

  /** Number of cached positions S. */
  get length(): number {
    return this.k ? this.k.shape[2] : 0;
  }

  /** Appends keys and values [B, Hkv, T, hd]; returns all of them [B, Hkv, S + T, hd] (owned by the cache). */
  update(k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    if (this.k && this.v) {
      const [B, Hkv, , hd] = this.k.shape;
      if (k.shape[0] !== B || k.shape[1] !== Hkv || k.shape[3] !== hd || v.shape[0] !== B || v.shape[1] !== Hkv) {
        throw new Error(
          `KvCache: new keys [${k.shape}] / values [${v.shape}] do not match the cached [${this.k.shape}] / ` +
            `[${this.v.shape}]`,
        );
      }
    }
    const nextK = tf.keep(this.k ? tf.concat([this.k, k], 2) : tf.clone(k)) as tf.Tensor4D; // [B, Hkv, S+T, hd]
    const nextV = tf.keep(this.v ? tf.concat([this.v, v], 2) : tf.clone(v)) as tf.Tensor4D;
    this.k?.dispose();
    this.v?.dispose();
    this.k = nextK;
    this.v = nextV;
    return [nextK, nextV];
  }

  /** Frees the cached tensors; the cache is then empty and can be reused. */
  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = this.v = null;
  }
}

export interface AttentionCall {
  /** Additive mask broadcastable to [B, H, T, S] (see causalMask, paddingMask, blockDiagonalMask). */
  mask?: tf.Tensor;
  /** Cross-attention: keys and values come from this [B, S, kvDim] tensor instead of x. */
  context?: tf.Tensor;
  /** Applied to q [B, H, T, hd] and k [B, Hkv, S, hd] after projection (rotary embeddings). */
  positional?: (q: tf.Tensor4D, k: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D];
  /**
   * Incremental decoding: keys and values of earlier tokens. The new ones (after `positional`) are
   * appended to it and attended over together; `mask` must then cover all S = past + T keys.
   * Self-attention only.
   */
  cache?: KvCache;
}

/**
 * Multi-head (and grouped-query, and cross-) attention: [B, T, dim] → [B, T, dim].
 *
 * Parameters (default names): either `qkv` [(H + 2·Hkv)·hd, dim] or `q_proj` [H·hd, dim],
 * `k_proj` / `v_proj` [Hkv·hd, kvDim]; then `o_proj` [dim, H·hd].
 */
export class MultiHeadAttention extends Module {
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly qkvFused: boolean;
  readonly qkv: Linear | null;
  readonly q: Linear | null;
  readonly k: Linear | null;
  readonly v: Linear | null;
  readonly out: Linear;

  constructor(
    readonly dim: number,
    nHeads: number,
    opts: MultiHeadAttentionOptions = {},
  ) {
    super();
    this.nHeads = nHeads;
    this.nKvHeads = opts.nKvHeads ?? nHeads;
    if (nHeads % this.nKvHeads !== 0)
      throw new Error(`nHeads (${nHeads}) must be a multiple of nKvHeads (${this.nKvHeads})`);
    if (opts.headDim === undefined && dim % nHeads !== 0)
      throw new Error(`dim (${dim}) must be divisible by nHeads (${nHeads})`);
    this.headDim = opts.headDim ?? dim / nHeads;
    this.qkvFused = opts.qkvFused ?? false;
    const bias = opts.bias ?? true;
    const names = { qkv: "qkv", q: "q_proj", k: "k_proj", v: "v_proj", out: "o_proj", ...opts.names };
    const qWidth = nHeads * this.headDim;
    const kvWidth = this.nKvHeads * this.headDim;
    const rng = opts.rng;
    if (this.qkvFused) {
      if (opts.kvDim !== undefined && opts.kvDim !== dim)
        throw new Error("kvDim needs separate q/k/v projections (qkvFused: false)");
      this.qkv = this.module(names.qkv, new Linear(dim, qWidth + 2 * kvWidth, { bias, rng }));
      this.q = this.k = this.v = null;
    } else {
      const kvDim = opts.kvDim ?? dim;
      this.qkv = null;
      this.q = this.module(names.q, new Linear(dim, qWidth, { bias, rng }));
      this.k = this.module(names.k, new Linear(kvDim, kvWidth, { bias, rng }));
      this.v = this.module(names.v, new Linear(kvDim, kvWidth, { bias, rng }));
    }
    this.out = this.module(names.out, new Linear(qWidth, dim, { bias: opts.outBias ?? bias, rng }));
  }

  /** [B, T, dim] → [B, T, dim]. */
  forward(x: tf.Tensor, call: AttentionCall = {}): tf.Tensor3D {
    return tf.tidy(() => this.attend(x, call).output);
  }

  /** Like `forward`, also returning the attention weights [B, H, T, S] (for attention maps). */
  forwardWithWeights(x: tf.Tensor, call: AttentionCall = {}): { output: tf.Tensor3D; weights: tf.Tensor4D } {
    return tf.tidy(() => this.attend(x, call));
  }

  private attend(x: tf.Tensor, call: AttentionCall): { output: tf.Tensor3D; weights: tf.Tensor4D } {
    if (x.rank !== 3) throw new Error(`MultiHeadAttention expects [B, T, dim], got [${x.shape.join(", ")}]`);
    const [B, T] = x.shape as [number, number, number];
    const H = this.nHeads;
    const Hkv = this.nKvHeads;
    const hd = this.headDim;
    let q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D;
    if (this.qkv) {
      if (call.context) throw new Error("cross-attention (context) needs separate q/k/v projections (qkvFused: false)");
      const qkv = this.qkv.forward(x); // [B, T, (H + 2·Hkv)·hd]
      const [qx, kx, vx] = tf.split(qkv, [H * hd, Hkv * hd, Hkv * hd], -1);
      if (!qx || !kx || !vx)
        throw new Error("MultiHeadAttention: splitting the qkv projection gave fewer than 3 parts");
      q = splitHeads(qx, B, T, H, hd);
      k = splitHeads(kx, B, T, Hkv, hd);
      v = splitHeads(vx, B, T, Hkv, hd);
    } else {
      const { q: qProj, k: kProj, v: vProj } = this;
      if (!qProj || !kProj || !vProj) throw new Error("MultiHeadAttention: no q/k/v projections (nor a fused qkv)");
      const src = call.context ?? x; // [B, S, kvDim]
      if (src.rank !== 3 || src.shape[0] !== B)
        throw new Error(`context must be [B, S, kvDim], got [${src.shape.join(", ")}]`);
      const [, S] = src.shape as [number, number, number];
      q = splitHeads(qProj.forward(x), B, T, H, hd); // [B, H, T, hd]
      k = splitHeads(kProj.forward(src), B, S, Hkv, hd); // [B, Hkv, S, hd]
      v = splitHeads(vProj.forward(src), B, S, Hkv, hd);
    }
    if (call.positional) [q, k] = call.positional(q, k);
    if (call.cache) {
      if (call.context) throw new Error("MultiHeadAttention: a KV cache is for self-attention (no context)");
      [k, v] = call.cache.update(k, v); // [B, Hkv, past + T, hd]
    }
    if (Hkv !== H) {
      k = repeatKv(k, H / Hkv); // [B, H, S, hd]
      v = repeatKv(v, H / Hkv);
    }
    const weights = attentionWeights(q, k, call.mask); // [B, H, T, S]
    const output = this.out.forward(mergeHeads(applyWeights(weights, v))) as tf.Tensor3D; // [B, T, dim]
    return { output, weights };
  }

  protected override extraRepr(): string {
    const kv = this.nKvHeads !== this.nHeads ? `, nKvHeads=${this.nKvHeads}` : "";
    return `dim=${this.dim}, heads=${this.nHeads}${kv}, headDim=${this.headDim}${this.qkvFused ? ", fused qkv" : ""}`;
  }
}
