/**
 * Decoding steps of a Llama / Qwen2 decoder in one native call each (native/src/decode.h), over key/value caches
 * allocated once for the whole generation: @vlab/llm's `generate` uses it after its tfjs prefill when the addon is
 * there, and falls back to its tfjs step otherwise. Nothing here knows the model's classes: the caller hands over
 * the sizes and the weights as Float32Arrays (copied; the tensors may change afterwards).
 *
 *   const dec = nativeDecoder(shape, weights, { batch: B, capacity: P + N });   // null without the addon
 *   dec.loadPrefix(keys, values, mask);        // the prefill's caches: per layer [B, Hkv, P, hd], mask [B][P]
 *   const logits = dec.step(tokens, positions, attend);   // [B, V], a view reused by the next step
 *   dec.free();
 */
import { activeAddon } from "./native_addon.js";

/** The sizes of the decoder (a resolved @vlab/llm config, in plain numbers). */
export interface DecoderShape {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** The head is the token embedding (no lm_head weight is given). */
  tied: boolean;
  /** q/k/v have biases (given after each of their weights). */
  qkvBias: boolean;
  rmsNormEps: number;
  /** RoPE's inverse frequencies [headDim / 2], float64 as @vlab/rope keeps them. */
  invFreq: Float64Array;
}

export interface NativeDecoder {
  readonly batch: number;
  /** Columns each row's cache holds: prompt width plus new tokens. */
  readonly capacity: number;
  /** Columns filled so far. */
  readonly length: number;
  /** Copies the prefill's keys and values (per layer, [B, Hkv, P, hd]) and its mask [B][P] into the caches. */
  loadPrefix(
    keys: readonly Float32Array[],
    values: readonly Float32Array[],
    mask: readonly (readonly number[])[],
  ): void;
  /**
   * Runs B new tokens at their positions through the model; `attend[b]` = 0 masks row b's new column (a finished
   * row feeding padding). Returns the logits [B, V] in a buffer the next step overwrites.
   */
  step(tokens: Int32Array, positions: Int32Array, attend: Uint8Array): Float32Array;
  /** Frees the native weights; the decoder refuses to step afterwards. */
  free(): void;
}

/**
 * A native decoder for `batch` rows of `capacity` columns, or null when the addon is not loaded or switched off
 * (configureNativeKernels, VLAB_NATIVE=0). The weights, in this order: embed_tokens; per layer input_layernorm,
 * q_proj (+ bias), k_proj (+ bias), v_proj (+ bias), o_proj, post_attention_layernorm, gate_proj, up_proj,
 * down_proj; norm; lm_head unless tied — each in PyTorch's [out, in] layout.
 */
export function nativeDecoder(
  shape: DecoderShape,
  weights: readonly Float32Array[],
  opts: { batch: number; capacity: number },
): NativeDecoder | null {
  const addon = activeAddon();
  if (!addon) return null;
  const { batch: B, capacity: cap } = opts;
  if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(cap) && cap >= 1))
    throw new RangeError(`nativeDecoder: batch and capacity must be positive integers, got ${B} and ${cap}`);
  const { numLayers: L, numKvHeads: Hkv, headDim: hd, vocabSize: V } = shape;
  const config = Int32Array.from([
    V,
    shape.hiddenSize,
    shape.intermediateSize,
    L,
    shape.numHeads,
    Hkv,
    hd,
    shape.tied ? 1 : 0,
    shape.qkvBias ? 1 : 0,
  ]);
  const handle = addon.decoderCreate(config, shape.rmsNormEps, shape.invFreq, [...weights]);
  const size = L * B * Hkv * cap * hd;
  const kCache = new Float32Array(size); // [L, B, Hkv, hd, cap]: keys transposed (decode.cc)
  const vCache = new Float32Array(size);
  const mask = new Uint8Array(B * cap); // [B, cap]
  const logits = new Float32Array(B * V);
  let length = 0;
  let freed = false;

  return {
    batch: B,
    capacity: cap,
    get length() {
      return length;
    },
    loadPrefix(keys, values, prefixMask) {
      const P = prefixMask[0]?.length ?? 0;
      if (keys.length !== L || values.length !== L || prefixMask.length !== B || P > cap)
        throw new Error(`nativeDecoder.loadPrefix: expected ${L} layers of [${B}, ${Hkv}, P <= ${cap}, ${hd}]`);
      for (let l = 0; l < L; l++) {
        /* eslint-disable @typescript-eslint/no-non-null-assertion -- l < L = keys.length = values.length */
        const k = keys[l]!;
        const v = values[l]!;
        /* eslint-enable @typescript-eslint/no-non-null-assertion */
        if (k.length !== B * Hkv * P * hd || v.length !== k.length)
          throw new Error(`nativeDecoder.loadPrefix: layer ${l} is not [${B}, ${Hkv}, ${P}, ${hd}]`);
        for (let r = 0; r < B * Hkv; r++) {
          const to = (l * B * Hkv + r) * cap * hd;
          vCache.set(v.subarray(r * P * hd, (r + 1) * P * hd), to);
          for (let j = 0; j < P; j++) {
            const from = (r * P + j) * hd;
            for (let e = 0; e < hd; e++) kCache[to + e * cap + j] = k[from + e] as number; // [P, hd] → [hd, cap]
          }
        }
      }
      prefixMask.forEach((row, b) => row.forEach((m, j) => (mask[b * cap + j] = m ? 1 : 0)));
      length = P;
    },
    step(tokens, positions, attend) {
      if (freed) throw new Error("nativeDecoder: step after free()");
      if (length >= cap) throw new Error(`nativeDecoder: the caches are full (${cap} columns)`);
      for (let b = 0; b < B; b++) mask[b * cap + length] = attend[b] ? 1 : 0;
      addon.decoderStep(handle, tokens, positions, kCache, vCache, mask, B, length, cap, logits);
      length++;
      return logits;
    },
    free() {
      if (!freed) addon.decoderFree(handle);
      freed = true;
    },
  };
}
