/**
 * safetensors dtypes: the size of each element type, the reference writer's order of them, and the
 * conversions between stored bytes and JavaScript numbers (IEEE half and bfloat16 with round to
 * nearest, ties to even). Format: https://github.com/huggingface/safetensors (its README and
 * `safetensors/src/tensor.rs`).
 */

/** Element size in bytes of every dtype this module can lay out. */
const DTYPE_SIZE = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
  F8_E4M3FNUZ: 1,
  F8_E5M2FNUZ: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
  C64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_SIZE;

/**
 * The order of the reference crate's `Dtype` enum (`safetensors/src/tensor.rs`). Its writer sorts
 * tensors by this rank, descending, then by name: wider types first, so every tensor is aligned.
 * Following it exactly makes our files byte-identical to the reference writer's.
 */
export const DTYPE_RANK: readonly string[] = [
  "BOOL",
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F8_E4M3FNUZ",
  "F8_E5M2FNUZ",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "C64",
  "F64",
  "I64",
  "U64",
];

/** Byte size of one element of `dtype`, or undefined for a dtype this module does not know. */
export function dtypeSize(dtype: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, dtype) ? DTYPE_SIZE[dtype as SafetensorsDtype] : undefined;
}

/** A decoded tensor: its dtype, shape and raw little-endian bytes (a view into the input). */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// float16 and bfloat16 conversion (round to nearest, ties to even)

/** Four bytes to move a value between float32 and its bits. */
const scratch = new DataView(new ArrayBuffer(4));

/** The bits of x rounded to float32. */
function float32Bits(x: number): number {
  scratch.setFloat32(0, x, true);
  return scratch.getUint32(0, true);
}

/** float32 value → IEEE half bits, rounding to nearest even; overflow gives ±Inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  const u = float32Bits(x);
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0); // Inf / NaN
  const e = exp - 127 + 15; // rebias
  if (e >= 31) return sign | 0x7c00; // too large: Inf
  if (e <= 0) {
    // Half subnormal: value = m · 2^(e − 14 − 10) with m the 24-bit significand.
    const shift = 14 - e;
    if (shift > 24) return sign; // below half the smallest subnormal
    const m = mant | 0x800000;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1) === 1)) h++;
    return sign | h; // a carry into 0x400 is the smallest normal, correctly encoded
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry may reach 0x7c00 = Inf: correct
  return sign | h;
}

/** IEEE half bits → number. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 value → bfloat16 bits (the top 16 bits of the float32, rounded to nearest even). */
export function f32ToBf16Bits(x: number): number {
  const u = float32Bits(x);
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40; // quiet NaN
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** bfloat16 bits → number. */
export function bf16BitsToF32(b: number): number {
  scratch.setUint32(0, (b & 0xffff) << 16, true);
  return scratch.getFloat32(0, true);
}

// ---------------------------------------------------------------------------------------------
// bytes → typed arrays

/** A copy of `bytes` as a fresh, aligned ArrayBuffer (safe for any typed-array view). */
export function copyBytes(bytes: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  return buf;
}

/** A typed array over `bytes` for element size `size`: a view when aligned, else a copy. */
function view<T>(bytes: Uint8Array, size: number, make: (b: ArrayBufferLike, off: number, n: number) => T): T {
  const n = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return make(bytes.buffer, bytes.byteOffset, n);
  return make(copyBytes(bytes), 0, n);
}

/**
 * The values of a raw tensor as a JS typed array in its natural type: Float32Array (F32, and F16 /
 * BF16 widened), Float64Array (F64), Int8/Int16/Uint16/Int32/Uint32Array, BigInt64/BigUint64Array
 * (I64/U64), Uint8Array (U8, BOOL). The result may share memory with `raw.bytes` (when aligned).
 */
export function rawToTypedArray(
  raw: RawTensor,
):
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Uint8Array {
  const b = raw.bytes;
  switch (raw.dtype) {
    case "F32":
      return view(b, 4, (x, o, n) => new Float32Array(x, o, n));
    case "F64":
      return view(b, 8, (x, o, n) => new Float64Array(x, o, n));
    case "F16": {
      const h = view(b, 2, (x, o, n) => new Uint16Array(x, o, n));
      const out = new Float32Array(h.length);
      // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < h.length
      for (let i = 0; i < h.length; i++) out[i] = f16BitsToF32(h[i]!);
      return out;
    }
    case "BF16": {
      const h = view(b, 2, (x, o, n) => new Uint16Array(x, o, n));
      const out = new Float32Array(h.length);
      const bits = new Uint32Array(out.buffer);
      // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < h.length
      for (let i = 0; i < h.length; i++) bits[i] = h[i]! << 16;
      return out;
    }
    case "I8":
      return new Int8Array(b.buffer, b.byteOffset, b.byteLength);
    case "I16":
      return view(b, 2, (x, o, n) => new Int16Array(x, o, n));
    case "U16":
      return view(b, 2, (x, o, n) => new Uint16Array(x, o, n));
    case "I32":
      return view(b, 4, (x, o, n) => new Int32Array(x, o, n));
    case "U32":
      return view(b, 4, (x, o, n) => new Uint32Array(x, o, n));
    case "I64":
      return view(b, 8, (x, o, n) => new BigInt64Array(x, o, n));
    case "U64":
      return view(b, 8, (x, o, n) => new BigUint64Array(x, o, n));
    case "U8":
    case "BOOL":
      return b;
    default:
      throw new Error(`safetensors: no typed-array conversion for dtype ${raw.dtype}`);
  }
}
