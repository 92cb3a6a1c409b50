/**
 * Decoding steps of a Llama / Qwen2 decoder in one native call each (native/src/decode.h), over key/value caches
 * allocated once for the whole generation: @vlab/llm's `generate` uses it after its tfjs prefill when the addon is
 * there, and falls back to its tfjs step otherwise. Nothing here knows the model's classes: the caller hands over
 * the sizes and the weights as Float32Arrays (copied; the tensors may change afterwards).
 *
 *   const dec = nativeDecoder(shape, weights, { batch: B, capacity: P + N });   // null without the addon
 *   // or { ..., kvCache: "float16" }: keys and values kept as IEEE halves (half the memory and the bytes each step
 *   // reads, which bound a large batch's attention; each cached value rounded to 11 significant bits)
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

/** The element type of the key/value caches: float32 (the tfjs path's numbers), or IEEE half precision. */
export type KvCacheType = "float32" | "float16";

export interface NativeDecoder {
  readonly batch: number;
  readonly kvCache: KvCacheType;
  /** Columns each row's cache holds: prompt width plus new tokens. */
  readonly capacity: number;
  /** Columns filled so far. */
  readonly length: number;
  /**
   * Copies the prefill's keys and values (per layer, [B / repeats, Hkv, P, hd]) and its mask [B / repeats][P] into the
   * caches, each given row into `repeats` consecutive rows (default 1: one prompt per row).
   */
  loadPrefix(
    keys: readonly Float32Array[],
    values: readonly Float32Array[],
    mask: readonly (readonly number[])[],
    repeats?: number,
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
  opts: { batch: number; capacity: number; kvCache?: KvCacheType },
): NativeDecoder | null {
  const addon = activeAddon();
  if (!addon) return null;
  const { batch: B, capacity: cap, kvCache = "float32" } = opts;
  if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(cap) && cap >= 1))
    throw new RangeError(`nativeDecoder: batch and capacity must be positive integers, got ${B} and ${cap}`);
  if (kvCache !== "float32" && kvCache !== "float16")
    throw new RangeError(`nativeDecoder: kvCache must be "float32" or "float16", got ${String(kvCache)}`);
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
  const half = kvCache === "float16";
  const kCache = half ? new Uint16Array(size) : new Float32Array(size); // [L, B, Hkv, hd, cap]: keys transposed
  const vCache = half ? new Uint16Array(size) : new Float32Array(size); // [L, B, Hkv, cap, hd]
  const put = half ? (c: Float32Array | Uint16Array, i: number, x: number) => (c[i] = floatToHalf(x)) : undefined;
  const mask = new Uint8Array(B * cap); // [B, cap]
  const logits = new Float32Array(B * V);
  let length = 0;
  let freed = false;

  return {
    batch: B,
    capacity: cap,
    kvCache,
    get length() {
      return length;
    },
    loadPrefix(keys, values, prefixMask, repeats = 1) {
      const P = prefixMask[0]?.length ?? 0;
      const R = B / repeats; // rows given
      if (!Number.isInteger(repeats) || repeats < 1 || !Number.isInteger(R))
        throw new RangeError(`nativeDecoder.loadPrefix: repeats must be a positive divisor of ${B}, got ${repeats}`);
      if (keys.length !== L || values.length !== L || prefixMask.length !== R || P > cap)
        throw new Error(`nativeDecoder.loadPrefix: expected ${L} layers of [${R}, ${Hkv}, P <= ${cap}, ${hd}]`);
      const block = Hkv * cap * hd; // one row's cache in one layer
      for (let l = 0; l < L; l++) {
        /* eslint-disable @typescript-eslint/no-non-null-assertion -- l < L = keys.length = values.length */
        const k = keys[l]!;
        const v = values[l]!;
        /* eslint-enable @typescript-eslint/no-non-null-assertion */
        if (k.length !== R * Hkv * P * hd || v.length !== k.length)
          throw new Error(`nativeDecoder.loadPrefix: layer ${l} is not [${R}, ${Hkv}, ${P}, ${hd}]`);
        for (let i = 0; i < R * Hkv; i++) {
          // given row ⌊i / Hkv⌋, head i % Hkv: into the same head of its first row (r) of the `repeats`
          const r = Math.floor(i / Hkv) * repeats * Hkv + (i % Hkv);
          const to = (l * B * Hkv + r) * cap * hd;
          if (put) {
            for (let e = 0; e < P * hd; e++) put(vCache, to + e, v[i * P * hd + e] as number);
          } else {
            vCache.set(v.subarray(i * P * hd, (i + 1) * P * hd), to);
          }
          for (let j = 0; j < P; j++) {
            const from = (i * P + j) * hd;
            for (let e = 0; e < hd; e++) {
              const x = k[from + e] as number; // [P, hd] → [hd, cap]
              if (put) put(kCache, to + e * cap + j, x);
              else kCache[to + e * cap + j] = x;
            }
          }
          for (let c = 1; c < repeats; c++) {
            const copy = to + c * block; // the same head of the next row
            kCache.copyWithin(copy, to, to + hd * cap);
            vCache.copyWithin(copy, to, to + cap * hd);
          }
        }
      }
      for (let b = 0; b < B; b++) {
        const row = prefixMask[Math.floor(b / repeats)] ?? [];
        row.forEach((m, j) => (mask[b * cap + j] = m ? 1 : 0));
      }
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

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The IEEE half nearest to x (ties to even), as native/src/half.h's float_to_half and F16C round: from 65520 up ±∞,
 * below 2^-14 subnormal halves. x is first rounded to float32, as the native side receives it.
 */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const a = bits & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00; // NaN
  if (a >= 0x477ff000) return sign | 0x7c00; // ∞
  if (a < 0x38800000) {
    // a multiple of 2^-24, ties to even
    const v = Math.abs(f32[0] as number) * 16777216;
    const lo = Math.floor(v);
    const r = v - lo > 0.5 || (v - lo === 0.5 && lo % 2 === 1) ? lo + 1 : lo;
    return sign | r;
  }
  let h = (a - 0x38000000) >>> 13;
  const rest = a & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}
