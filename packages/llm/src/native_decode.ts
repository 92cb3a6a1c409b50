/**
 * generate's fast path: every decoding step after the prefill in one native call (@vlab/backend's nativeDecoder,
 * native/src/decode.cc) instead of a few hundred small tfjs kernels, over key/value caches allocated once for the
 * whole generation. The prefill stays a tfjs pass (it may take a vision-language model's embeddings); its caches
 * are copied into the native ones. Without the native addon (no compiler, VLAB_NATIVE=0, or
 * configureNativeKernels({ enabled: false })) `causalLmDecoder` returns null and generate runs its tfjs steps.
 *
 * The native step computes what `CausalLM.forward` computes for one new column, operation for operation (RMSNorm,
 * q/k/v with biases, half-split RoPE at float64 angles, grouped-query attention over the unmasked columns, SwiGLU,
 * the tied or separate head); only the order of float32 additions inside the products differs. The tests compare
 * its logits, greedy tokens and seeded samples with the tfjs path's.
 */
import { nativeDecoder, type KvCacheType, type NativeDecoder, type tf } from "@vlab/core";
import type { ResolvedLlmConfig } from "./config.js";

interface Lin {
  weight: tf.Tensor;
  bias: tf.Tensor | null;
}
interface Norm {
  weight: tf.Tensor | null;
}

/** What of CausalLM (model.ts, which imports this file) the decoder reads. */
export interface CausalLMWeights {
  config: ResolvedLlmConfig;
  model: {
    embed_tokens: { weight: tf.Tensor };
    layers: readonly {
      self_attn: { q: Lin | null; k: Lin | null; v: Lin | null; out: Lin };
      mlp: { gate_proj: Lin; up_proj: Lin; down_proj: Lin };
      input_layernorm: Norm;
      post_attention_layernorm: Norm;
    }[];
    norm: Norm;
  };
  lm_head: Lin | null;
  rope: { invFreq: Float64Array };
}

/**
 * A native decoder holding `model`'s current weights for `batch` rows of `capacity` columns, or null. `kvCache`
 * "float16" keeps the key/value caches in half precision (@vlab/backend's nativeDecoder).
 */
export function causalLmDecoder(
  model: CausalLMWeights,
  batch: number,
  capacity: number,
  opts: { kvCache?: KvCacheType } = {},
): NativeDecoder | null {
  const c = model.config;
  const read = (t: tf.Tensor): Float32Array => {
    if (t.dtype !== "float32") throw new Error(`causalLmDecoder: weights must be float32, got ${t.dtype}`);
    return t.dataSync() as Float32Array;
  };
  const linear = (l: { weight: tf.Tensor; bias: tf.Tensor | null }, withBias: boolean): Float32Array[] =>
    withBias && l.bias ? [read(l.weight), read(l.bias)] : [read(l.weight)];
  const weights: Float32Array[] = [read(model.model.embed_tokens.weight)];
  for (const layer of model.model.layers) {
    const a = layer.self_attn;
    if (!a.q || !a.k || !a.v) return null; // a fused qkv projection: not this model's layout
    const norm1 = layer.input_layernorm.weight;
    const norm2 = layer.post_attention_layernorm.weight;
    if (!norm1 || !norm2) return null;
    weights.push(read(norm1));
    for (const p of [a.q, a.k, a.v]) weights.push(...linear(p, c.attentionBias));
    weights.push(read(a.out.weight), read(norm2));
    weights.push(read(layer.mlp.gate_proj.weight), read(layer.mlp.up_proj.weight), read(layer.mlp.down_proj.weight));
  }
  const norm = model.model.norm.weight;
  if (!norm) return null;
  weights.push(read(norm));
  if (model.lm_head) weights.push(read(model.lm_head.weight));
  return nativeDecoder(
    {
      vocabSize: c.vocabSize,
      hiddenSize: c.hiddenSize,
      intermediateSize: c.intermediateSize,
      numLayers: c.numHiddenLayers,
      numHeads: c.numAttentionHeads,
      numKvHeads: c.numKeyValueHeads,
      headDim: c.headDim,
      tied: model.lm_head === null,
      qkvBias: c.attentionBias,
      rmsNormEps: c.rmsNormEps,
      invFreq: model.rope.invFreq,
    },
    weights,
    { batch, capacity, kvCache: opts.kvCache },
  );
}
