/**
 * safetensors read / write (https://github.com/huggingface/safetensors, format in its README and
 * `safetensors/src/tensor.rs`).
 *
 *   [ 8 bytes: N, u64 little-endian ][ N bytes: JSON header, space-padded ][ byte buffer ]
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end) }`, offsets relative
 * to the start of the byte buffer; an optional `__metadata__` holds string → string pairs. Tensors are
 * little-endian, row-major, and tile the buffer with no holes and no overlaps. Writers pad the header
 * to a multiple of 8 bytes and lay tensors out by descending dtype alignment, then by name, so every
 * tensor starts aligned for its element type.
 *
 * Two levels:
 * - `encodeSafetensors` / `decodeSafetensors`: bytes ↔ typed arrays, no tfjs involved;
 * - `loadSafetensors` / `saveSafetensors`: files ↔ `tf.Tensor`s, built on the above.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";

// ---------------------------------------------------------------------------------------------
// dtypes

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
const DTYPE_RANK: readonly string[] = [
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

/** One header entry, as stored in the file. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) relative to the start of the byte buffer. */
  data_offsets: [number, number];
}

export interface SafetensorsHeader {
  tensors: Record<string, SafetensorsEntry>;
  metadata?: Record<string, string>;
  /** Byte offset of the data buffer in the file: 8 + header length. */
  dataStart: number;
}

/** A decoded tensor: its dtype, shape and raw little-endian bytes (a view into the input). */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

/** Input to `encodeSafetensors`: raw bytes (`Uint8Array`) or values to convert to `dtype`. */
export interface TensorToEncode {
  dtype: SafetensorsDtype;
  shape: number[];
  /**
   * A `Uint8Array` is taken as the tensor's raw bytes (for U8 and BOOL that is the values). Any other
   * typed array holds values, converted to `dtype` (F32/F16/BF16/F64 from float arrays with
   * round-to-nearest-even; integer dtypes from integer arrays).
   */
  data: ArrayBufferView;
}

/** Largest header the Rust reader accepts. */
const MAX_HEADER = 100_000_000;

function fail(name: string, msg: string): never {
  throw new Error(`safetensors ${name}: ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// float16 and bfloat16 conversion (round to nearest, ties to even)

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value → IEEE half bits, rounding to nearest even; overflow gives ±Inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
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
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40; // quiet NaN
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** bfloat16 bits → number. */
export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

// ---------------------------------------------------------------------------------------------
// bytes → typed arrays

/** A copy of `bytes` as a fresh, aligned ArrayBuffer (safe for any typed-array view). */
function copyBytes(bytes: Uint8Array): ArrayBuffer {
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
      for (let i = 0; i < h.length; i++) out[i] = f16BitsToF32(h[i]!);
      return out;
    }
    case "BF16": {
      const h = view(b, 2, (x, o, n) => new Uint16Array(x, o, n));
      const out = new Float32Array(h.length);
      const bits = new Uint32Array(out.buffer);
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

// ---------------------------------------------------------------------------------------------
// decode

/** Parses and validates the header of a safetensors byte buffer (`bytes` may hold only the start of the file when `fileSize` is given). */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  { name = "<buffer>", fileSize }: { name?: string; fileSize?: number } = {},
): SafetensorsHeader {
  const size = fileSize ?? bytes.byteLength;
  if (size < 8) fail(name, `file is ${size} bytes, shorter than the 8-byte header length field`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(name, `header length ${n64} is over the 100 MB limit (not a safetensors file?)`);
  const n = Number(n64);
  if (8 + n > size)
    fail(
      name,
      `header length ${n} runs past the end of the file (file is ${size} bytes; truncated or not a safetensors file)`,
    );
  if (8 + n > bytes.byteLength) fail(name, `internal: only ${bytes.byteLength} bytes given for a ${n}-byte header`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(name, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) fail(name, `header is not a JSON object`);

  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const tensors: Record<string, SafetensorsEntry> = {};
  let metadata: Record<string, string> | undefined;
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (key === "__metadata__") {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        fail(name, `__metadata__ is not an object`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") fail(name, `__metadata__["${k}"] is not a string`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const e = value as Partial<SafetensorsEntry> | null;
    if (e === null || typeof e !== "object") fail(name, `entry "${key}" is not an object`);
    const elem = typeof e.dtype === "string" ? dtypeSize(e.dtype) : undefined;
    if (elem === undefined) fail(name, `tensor "${key}" has unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(name, `tensor "${key}" has an invalid shape ${JSON.stringify(e.shape)}`);
    }
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isInteger(d) && d >= 0) ||
      off[0]! > off[1]!
    ) {
      fail(name, `tensor "${key}" has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (count * elem !== off[1]! - off[0]!) {
      fail(
        name,
        `tensor "${key}": shape [${e.shape}] × ${e.dtype} (${elem} B) = ${count * elem} bytes, but data_offsets [${off}] span ${off[1]! - off[0]!}`,
      );
    }
    tensors[key] = { dtype: e.dtype as SafetensorsDtype, shape: e.shape, data_offsets: [off[0]!, off[1]!] };
  }

  // The tensors must tile [0, dataSize) exactly.
  const sorted = Object.entries(tensors).sort(
    (a, b) => a[1].data_offsets[0] - b[1].data_offsets[0] || a[1].data_offsets[1] - b[1].data_offsets[1],
  );
  const needed = sorted.reduce((m, [, e]) => Math.max(m, e.data_offsets[1]), 0);
  if (needed > dataSize) {
    fail(
      name,
      `file is truncated: the header needs ${dataStart + needed} bytes, the file has ${size} (${dataStart + needed - size} missing)`,
    );
  }
  let pos = 0;
  for (const [key, e] of sorted) {
    const [begin, end] = e.data_offsets;
    if (begin < pos)
      fail(name, `tensor "${key}" (bytes [${begin}, ${end})) overlaps the previous tensor, which ends at ${pos}`);
    if (begin > pos)
      fail(name, `hole in the data buffer: bytes [${pos}, ${begin}) belong to no tensor (before "${key}")`);
    pos = end;
  }
  if (pos !== dataSize)
    fail(name, `${dataSize - pos} trailing bytes after the last tensor (data ends at ${pos}, buffer is ${dataSize})`);

  return metadata ? { tensors, metadata, dataStart } : { tensors, dataStart };
}

/** Decodes a whole safetensors buffer into raw tensors (views into `bytes`) and its metadata. */
export function decodeSafetensors(
  bytes: Uint8Array,
  { name = "<buffer>" }: { name?: string } = {},
): { tensors: Record<string, RawTensor>; metadata?: Record<string, string> } {
  const header = parseSafetensorsHeader(bytes, { name });
  const tensors: Record<string, RawTensor> = {};
  for (const [key, e] of Object.entries(header.tensors)) {
    const [begin, end] = e.data_offsets;
    tensors[key] = {
      dtype: e.dtype,
      shape: e.shape,
      bytes: bytes.subarray(header.dataStart + begin, header.dataStart + end),
    };
  }
  return header.metadata ? { tensors, metadata: header.metadata } : { tensors };
}

// ---------------------------------------------------------------------------------------------
// encode

/** The little-endian bytes of `t.data` stored as `t.dtype`. */
function toBytes(name: string, t: TensorToEncode): Uint8Array {
  const elem = dtypeSize(t.dtype);
  if (elem === undefined) throw new Error(`encodeSafetensors: tensor "${name}" has unknown dtype ${t.dtype}`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  const d = t.data;
  let out: Uint8Array;
  if (d instanceof Uint8Array) {
    out = d;
  } else if (t.dtype === "F16" || t.dtype === "BF16") {
    const src = d as unknown as ArrayLike<number>;
    const h = new Uint16Array(src.length);
    const conv = t.dtype === "F16" ? f32ToF16Bits : f32ToBf16Bits;
    for (let i = 0; i < src.length; i++) h[i] = conv(src[i]!);
    out = new Uint8Array(h.buffer);
  } else {
    const ctor = {
      F32: Float32Array,
      F64: Float64Array,
      I8: Int8Array,
      I16: Int16Array,
      U16: Uint16Array,
      I32: Int32Array,
      U32: Uint32Array,
      I64: BigInt64Array,
      U64: BigUint64Array,
    }[t.dtype as string];
    if (!ctor) throw new Error(`encodeSafetensors: tensor "${name}": pass ${t.dtype} data as raw bytes (Uint8Array)`);
    let arr: ArrayBufferView;
    if (d instanceof ctor) arr = d;
    else if (ctor === BigInt64Array || ctor === BigUint64Array) {
      arr = (ctor as typeof BigInt64Array).from(d as unknown as ArrayLike<number>, (x) => BigInt(x));
    } else arr = (ctor as Float32ArrayConstructor).from(d as unknown as ArrayLike<number>);
    out = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  }
  if (out.byteLength !== count * elem) {
    throw new Error(
      `encodeSafetensors: tensor "${name}": shape [${t.shape}] × ${t.dtype} needs ${count * elem} bytes, data has ${out.byteLength}`,
    );
  }
  return out;
}

/**
 * Encodes tensors (and optional string metadata) as a safetensors buffer: tensors sorted by
 * descending dtype (alignment, then the reference enum order) then name, header space-padded to a
 * multiple of 8 bytes. The output is byte-identical to the reference Python/Rust writer's.
 */
export function encodeSafetensors(
  tensors: Record<string, TensorToEncode>,
  metadata?: Record<string, string>,
): Uint8Array {
  for (const [k, t] of Object.entries(tensors)) {
    if (dtypeSize(t.dtype) === undefined)
      throw new Error(`encodeSafetensors: tensor "${k}" has unknown dtype ${t.dtype}`);
  }
  const names = Object.keys(tensors).sort((a, b) => {
    const d = DTYPE_RANK.indexOf(tensors[b]!.dtype) - DTYPE_RANK.indexOf(tensors[a]!.dtype);
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`encodeSafetensors: metadata["${k}"] must be a string`);
    }
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let pos = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new Error(`encodeSafetensors: "__metadata__" is reserved`);
    const t = tensors[name]!;
    const bytes = toBytes(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + bytes.byteLength] };
    chunks.push(bytes);
    pos += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + pos);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + padded); // spaces
  let o = 8 + padded;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// atomic file writes

export interface AtomicWriteOptions {
  /** Bytes per write call (default 8 MiB). */
  chunkSize?: number;
  /** Called after each chunk is written to the temporary file (tests use it to simulate a crash). */
  onChunk?: (written: number, total: number, tempPath: string) => void;
}

/**
 * Writes `bytes` to `file` atomically: into a temporary file in the same directory, fsync'd, then
 * renamed over `file` (a rename within one file system is atomic on POSIX). A reader sees either
 * the old file or the complete new one, never a torn write. If the process dies mid-write, a
 * `.<name>.tmp-*` file may remain next to the target; the target itself is untouched.
 */
export function atomicWrite(
  file: string,
  data: Uint8Array | string,
  { chunkSize = 8 << 20, onChunk }: AtomicWriteOptions = {},
): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  const fd = fs.openSync(tmp, "w");
  let closed = false;
  try {
    let written = 0;
    while (written < bytes.byteLength) {
      const n = fs.writeSync(fd, bytes, written, Math.min(chunkSize, bytes.byteLength - written));
      written += n;
      onChunk?.(written, bytes.byteLength, tmp);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (!closed) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  // Persist the rename itself (best effort: not every platform can fsync a directory).
  try {
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* ignore */
  }
}

// ---------------------------------------------------------------------------------------------
// tf.Tensor level

type Source = string | Uint8Array;

function readSource(source: Source, name?: string): { bytes: Uint8Array; name: string } {
  if (typeof source === "string") {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(source);
    } catch (e) {
      throw new Error(`safetensors ${source}: cannot read file (${(e as Error).message})`);
    }
    return { bytes, name: name ?? source };
  }
  return { bytes: source, name: name ?? "<buffer>" };
}

/**
 * Reads only the header (tensor names, dtypes, shapes, offsets, `__metadata__`) of a file or buffer.
 * For a path, only the first 8 + N bytes are read from disk.
 */
export function readSafetensorsHeader(source: Source, { name }: { name?: string } = {}): SafetensorsHeader {
  if (typeof source !== "string") return parseSafetensorsHeader(source, { name: name ?? "<buffer>" });
  const label = name ?? source;
  let fd: number;
  try {
    fd = fs.openSync(source, "r");
  } catch (e) {
    throw new Error(`safetensors ${label}: cannot read file (${(e as Error).message})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = new Uint8Array(Math.min(8, size));
    fs.readSync(fd, head, 0, head.byteLength, 0);
    if (size < 8) return parseSafetensorsHeader(head, { name: label, fileSize: size });
    const n = new DataView(head.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER) || 8 + Number(n) > size)
      return parseSafetensorsHeader(head, { name: label, fileSize: size });
    const buf = new Uint8Array(8 + Number(n));
    fs.readSync(fd, buf, 0, buf.byteLength, 0);
    return parseSafetensorsHeader(buf, { name: label, fileSize: size });
  } finally {
    fs.closeSync(fd);
  }
}

/** Converts one raw tensor to a tf.Tensor (float types → float32, integers → int32, BOOL → bool). */
export function rawToTensor(
  raw: RawTensor,
  { key = "?", name = "<buffer>" }: { key?: string; name?: string } = {},
): tf.Tensor {
  const { dtype, shape } = raw;
  switch (dtype) {
    case "F32": {
      // Copy: a tensor must not alias (and keep alive) the whole file buffer.
      const out = new Float32Array(copyBytes(raw.bytes));
      return tf.tensor(out, shape, "float32");
    }
    case "F16":
    case "BF16":
      return tf.tensor(rawToTypedArray(raw) as Float32Array, shape, "float32");
    case "F64":
      return tf.tensor(Float32Array.from(rawToTypedArray(raw) as Float64Array), shape, "float32");
    case "I32":
      return tf.tensor(new Int32Array(copyBytes(raw.bytes)), shape, "int32");
    case "I8":
    case "I16":
    case "U16":
    case "U8":
      return tf.tensor(Int32Array.from(rawToTypedArray(raw) as ArrayLike<number>), shape, "int32");
    case "U32":
    case "I64":
    case "U64": {
      const src = rawToTypedArray(raw) as Uint32Array | BigInt64Array | BigUint64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = Number(src[i]!);
        if (v > 2147483647 || v < -2147483648) {
          fail(name, `tensor "${key}" (${dtype}) holds ${src[i]} at index ${i}, outside the int32 range of tfjs`);
        }
        out[i] = v;
      }
      return tf.tensor(out, shape, "int32");
    }
    case "BOOL":
      return tf.tensor(
        Uint8Array.from(raw.bytes, (b) => (b ? 1 : 0)),
        shape,
        "bool",
      );
    default:
      fail(name, `tensor "${key}" has dtype ${dtype}, which vlab cannot load into tfjs`);
  }
}

/**
 * Loads every tensor of a safetensors file (or buffer) as tf.Tensors the caller owns.
 * F32/F16/BF16/F64 become float32; I8–I64 and U8–U64 become int32 (an error if a value does not
 * fit); BOOL becomes bool. Use `readSafetensorsHeader` for `__metadata__`.
 */
export function loadSafetensors(source: Source, { name }: { name?: string } = {}): Record<string, tf.Tensor> {
  const src = readSource(source, name);
  const { tensors } = decodeSafetensors(src.bytes, { name: src.name });
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [key, raw] of Object.entries(tensors)) out[key] = rawToTensor(raw, { key, name: src.name });
  } catch (e) {
    tf.dispose(out);
    throw e;
  }
  return out;
}

export interface SaveSafetensorsOptions {
  /** Storage type of float32 tensors (default "F32"). int32 tensors are stored as I32, bool as BOOL. */
  dtype?: "F32" | "F16" | "BF16";
}

/** One tf.Tensor as an `encodeSafetensors` input: float32 stored as `floatDtype`, int32 as I32, bool as BOOL. */
export function tensorToEncode(name: string, t: tf.Tensor, floatDtype: "F32" | "F16" | "BF16" = "F32"): TensorToEncode {
  if (t.isDisposed) throw new Error(`saveSafetensors: tensor "${name}" is disposed`);
  switch (t.dtype) {
    case "float32":
      return { dtype: floatDtype, shape: t.shape, data: t.dataSync() as Float32Array };
    case "int32":
      return { dtype: "I32", shape: t.shape, data: t.dataSync() as Int32Array };
    case "bool":
      return { dtype: "BOOL", shape: t.shape, data: Uint8Array.from(t.dataSync() as Uint8Array, (b) => (b ? 1 : 0)) };
    default:
      throw new Error(`saveSafetensors: tensor "${name}" has dtype ${t.dtype}, which safetensors cannot store`);
  }
}

/** Encodes tf.Tensors into safetensors bytes (reads their data synchronously; nothing is disposed). */
export function tensorsToSafetensors(
  tensors: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  { dtype = "F32" }: SaveSafetensorsOptions = {},
): Uint8Array {
  const enc: Record<string, TensorToEncode> = {};
  for (const [k, t] of Object.entries(tensors)) enc[k] = tensorToEncode(k, t, dtype);
  return encodeSafetensors(enc, metadata);
}

/** Saves tf.Tensors (not disposed) to a safetensors file, atomically. */
export function saveSafetensors(
  file: string,
  tensors: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  options: SaveSafetensorsOptions = {},
): void {
  atomicWrite(file, tensorsToSafetensors(tensors, metadata, options));
}

/**
 * Loads a sharded Hugging Face checkpoint: `dir/model.safetensors.index.json` (or the index file
 * given directly) maps each tensor to its shard in `weight_map`.
 */
export function loadSafetensorsSharded(dirOrIndex: string): Record<string, tf.Tensor> {
  const index = dirOrIndex.endsWith(".json") ? dirOrIndex : path.join(dirOrIndex, "model.safetensors.index.json");
  const dir = path.dirname(index);
  let weightMap: Record<string, string>;
  try {
    const parsed = JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map?: Record<string, string> };
    if (!parsed.weight_map || typeof parsed.weight_map !== "object") throw new Error("no weight_map object");
    weightMap = parsed.weight_map;
  } catch (e) {
    throw new Error(`safetensors index ${index}: ${(e as Error).message}`);
  }
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const shard of [...new Set(Object.values(weightMap))].sort()) {
      const file = path.join(dir, shard);
      const tensors = loadSafetensors(file);
      for (const [k, t] of Object.entries(tensors)) {
        if (weightMap[k] !== shard || k in out) {
          t.dispose(); // not listed for this shard (or a duplicate): ignore
          continue;
        }
        out[k] = t;
      }
    }
    const missing = Object.keys(weightMap).filter((k) => !(k in out));
    if (missing.length)
      throw new Error(
        `safetensors index ${index}: tensors listed but not found in their shard: ${missing.slice(0, 5).join(", ")}`,
      );
  } catch (e) {
    tf.dispose(out);
    throw e;
  }
  return out;
}
