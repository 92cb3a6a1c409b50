/**
 * Reading a safetensors header and checking it (https://github.com/huggingface/safetensors, format in
 * its README and `safetensors/src/tensor.rs`):
 *
 *   [ 8 bytes: N, u64 little-endian ][ N bytes: JSON header, space-padded ][ byte buffer ]
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end) }`, offsets relative
 * to the start of the byte buffer; an optional `__metadata__` holds string → string pairs. The tensors
 * must tile the buffer with no holes and no overlaps. Every fault is an error naming the file and what
 * is wrong, as the Rust reader checks them.
 */
import { dtypeSize, type RawTensor, type SafetensorsDtype } from "./safetensors_dtypes.js";

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

/** Largest header the Rust reader accepts. */
export const MAX_HEADER = 100_000_000;

/** Throws `safetensors <name>: <msg>` (with the error that caused it, if any). */
export function fail(name: string, msg: string, cause?: unknown): never {
  throw new Error(`safetensors ${name}: ${msg}`, cause === undefined ? undefined : { cause });
}

/**
 * Parses and validates the header of a safetensors byte buffer (`bytes` may hold only the start of the
 * file when `fileSize` is given).
 */
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
    fail(name, `header is not valid UTF-8 JSON (${(e as Error).message})`, e);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) fail(name, `header is not a JSON object`);

  const dataStart = 8 + n;
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
    tensors[key] = readEntry(name, key, value);
  }
  checkTiling(name, tensors, dataStart, size);
  return metadata ? { tensors, metadata, dataStart } : { tensors, dataStart };
}

/** One tensor's header entry, checked: a known dtype, a shape, and offsets spanning exactly its bytes. */
function readEntry(name: string, key: string, value: unknown): SafetensorsEntry {
  const e = value as Partial<SafetensorsEntry> | null;
  if (e === null || typeof e !== "object") fail(name, `entry "${key}" is not an object`);
  const elem = typeof e.dtype === "string" ? dtypeSize(e.dtype) : undefined;
  if (elem === undefined) fail(name, `tensor "${key}" has unknown dtype ${JSON.stringify(e.dtype)}`);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    fail(name, `tensor "${key}" has an invalid shape ${JSON.stringify(e.shape)}`);
  }
  const off: unknown = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0)) {
    fail(name, `tensor "${key}" has invalid data_offsets ${JSON.stringify(off)}`);
  }
  const [begin, end] = off as [number, number];
  if (begin > end) fail(name, `tensor "${key}" has invalid data_offsets ${JSON.stringify(off)}`);
  const count = e.shape.reduce((a, b) => a * b, 1);
  if (count * elem !== end - begin) {
    fail(
      name,
      `tensor "${key}": shape [${e.shape}] × ${e.dtype} (${elem} B) = ${count * elem} bytes, but data_offsets ` +
        `[${begin},${end}] span ${end - begin}`,
    );
  }
  return { dtype: e.dtype as SafetensorsDtype, shape: e.shape, data_offsets: [begin, end] };
}

/** The tensors must tile the data buffer [0, size − dataStart) exactly: no hole, no overlap, nothing after. */
function checkTiling(name: string, tensors: Record<string, SafetensorsEntry>, dataStart: number, size: number): void {
  const dataSize = size - dataStart;
  const sorted = Object.entries(tensors).sort(
    (a, b) => a[1].data_offsets[0] - b[1].data_offsets[0] || a[1].data_offsets[1] - b[1].data_offsets[1],
  );
  const needed = sorted.reduce((m, [, e]) => Math.max(m, e.data_offsets[1]), 0);
  if (needed > dataSize) {
    fail(
      name,
      `file is truncated: the header needs ${dataStart + needed} bytes, the file has ${size} ` +
        `(${dataStart + needed - size} missing)`,
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
