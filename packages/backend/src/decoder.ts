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
 *   // or loadPrefix(keys, values, mask, n): B / n prompts' caches, each shared by n consecutive rows (their
 *   // completions): kept once, and read once per step for the n rows (native/src/decode_attention.h)
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
  const half = kvCache === "float16";
  const cacheArray = (n: number): Float32Array | Uint16Array => (half ? new Uint16Array(n) : new Float32Array(n));
  const put = half ? (c: Float32Array | Uint16Array, i: number, x: number) => (c[i] = floatToHalf(x)) : undefined;
  // The prompts' columns (loadPrefix): [L, R, Hkv, hd, P] keys transposed, [L, R, Hkv, P, hd] values, mask [R, P],
  // R = B / repeats prompts; each row's own columns (the steps'): [L, B, Hkv, hd, own] and [L, B, Hkv, own, hd], mask
  // [B, own], allocated at loadPrefix or the first step with the columns left.
  let prefixK = cacheArray(0);
  let prefixV = cacheArray(0);
  let prefixMask = new Uint8Array(0);
  let repeats = 1;
  let P = 0;
  let own: { k: Float32Array | Uint16Array; v: Float32Array | Uint16Array; mask: Uint8Array; cap: number } | null =
    null;
  const ownCaches = () => {
    const c = cap - P;
    return {
      k: cacheArray(L * B * Hkv * hd * c),
      v: cacheArray(L * B * Hkv * c * hd),
      mask: new Uint8Array(B * c),
      cap: c,
    };
  };
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
    loadPrefix(keys, values, givenMask, rowsEach = 1) {
      const width = givenMask[0]?.length ?? 0;
      const R = B / rowsEach; // prompts given
      if (!Number.isInteger(rowsEach) || rowsEach < 1 || !Number.isInteger(R))
        throw new RangeError(`nativeDecoder.loadPrefix: repeats must be a positive divisor of ${B}, got ${rowsEach}`);
      if (keys.length !== L || values.length !== L || givenMask.length !== R || width > cap)
        throw new Error(`nativeDecoder.loadPrefix: expected ${L} layers of [${R}, ${Hkv}, P <= ${cap}, ${hd}]`);
      if (length > 0) throw new Error("nativeDecoder.loadPrefix: the caches already hold columns");
      const k1 = cacheArray(L * R * Hkv * hd * width);
      const v1 = cacheArray(k1.length);
      for (let l = 0; l < L; l++) {
        /* eslint-disable @typescript-eslint/no-non-null-assertion -- l < L = keys.length = values.length */
        const k = keys[l]!;
        const v = values[l]!;
        /* eslint-enable @typescript-eslint/no-non-null-assertion */
        if (k.length !== R * Hkv * width * hd || v.length !== k.length)
          throw new Error(`nativeDecoder.loadPrefix: layer ${l} is not [${R}, ${Hkv}, ${width}, ${hd}]`);
        const at = l * R * Hkv * width * hd;
        if (put) for (let i = 0; i < v.length; i++) put(v1, at + i, v[i] as number);
        else v1.set(v, at);
        for (let i = 0; i < R * Hkv; i++) {
          for (let j = 0; j < width; j++) {
            const from = (i * width + j) * hd;
            const to = at + i * hd * width + j;
            for (let e = 0; e < hd; e++) {
              const x = k[from + e] as number; // [P, hd] → [hd, P]
              if (put) put(k1, to + e * width, x);
              else k1[to + e * width] = x;
            }
          }
        }
      }
      prefixK = k1;
      prefixV = v1;
      prefixMask = new Uint8Array(R * width);
      givenMask.forEach((row, r) => row.forEach((m, j) => (prefixMask[r * width + j] = m ? 1 : 0)));
      repeats = rowsEach;
      P = width;
      own = ownCaches();
      length = P;
    },
    step(tokens, positions, attend) {
      if (freed) throw new Error("nativeDecoder: step after free()");
      if (length >= cap) throw new Error(`nativeDecoder: the caches are full (${cap} columns)`);
      own ??= ownCaches();
      const past = length - P;
      for (let b = 0; b < B; b++) own.mask[b * own.cap + past] = attend[b] ? 1 : 0;
      addon.decoderStep(
        handle,
        tokens,
        positions,
        prefixK,
        prefixV,
        prefixMask,
        own.k,
        own.v,
        own.mask,
        B,
        repeats,
        P,
        past,
        own.cap,
        logits,
      );
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
