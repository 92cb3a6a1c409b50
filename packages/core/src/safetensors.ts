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
 * - `encodeSafetensors` / `decodeSafetensors`: bytes ↔ typed arrays, no tfjs involved
 *   (safetensors_encode.ts, safetensors_header.ts, with the dtypes in safetensors_dtypes.ts);
 * - `loadSafetensors` / `saveSafetensors`: files ↔ `tf.Tensor`s, built on the above (this file),
 *   written atomically (atomic_write.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { atomicWrite } from "./atomic_write.js";
import { copyBytes, rawToTypedArray, type RawTensor } from "./safetensors_dtypes.js";
import { encodeSafetensors, type TensorToEncode } from "./safetensors_encode.js";
import {
  MAX_HEADER,
  decodeSafetensors,
  fail,
  parseSafetensorsHeader,
  quoteName,
  type SafetensorsHeader,
} from "./safetensors_header.js";

export { atomicWrite, makeDirs, removeStaleTempFiles, type AtomicWriteOptions } from "./atomic_write.js";
export {
  bf16BitsToF32,
  dtypeSize,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  rawToTypedArray,
  type RawTensor,
  type SafetensorsDtype,
} from "./safetensors_dtypes.js";
export { encodeSafetensors, type TensorToEncode } from "./safetensors_encode.js";
export {
  MAX_HEADER,
  decodeSafetensors,
  parseSafetensorsHeader,
  quoteName,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from "./safetensors_header.js";

type Source = string | Uint8Array;

/** The error for a path that cannot be read, naming it (a directory gets its own message, not a bare EISDIR). */
function readError(label: string, e: unknown): Error {
  if ((e as NodeJS.ErrnoException).code === "EISDIR")
    return new Error(`safetensors ${label}: is a directory, expected a .safetensors file`);
  return new Error(`safetensors ${label}: cannot read file (${(e as Error).message})`, { cause: e });
}

function readSource(source: Source, name?: string): { bytes: Uint8Array; name: string } {
  if (typeof source === "string") {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(source);
    } catch (e) {
      throw readError(name ?? source, e);
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
    throw readError(label, e);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) fail(label, "is a directory, expected a .safetensors file");
    const size = stat.size;
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
      /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < src.length */
      for (let i = 0; i < src.length; i++) {
        const v = Number(src[i]!);
        if (v > 2147483647 || v < -2147483648) {
          fail(
            name,
            `tensor ${quoteName(key)} (${dtype}) holds ${src[i]} at index ${i}, outside the int32 range of tfjs`,
          );
        }
        out[i] = v;
      }
      /* eslint-enable @typescript-eslint/no-non-null-assertion */
      return tf.tensor(out, shape, "int32");
    }
    case "BOOL":
      return tf.tensor(
        Uint8Array.from(raw.bytes, (b) => (b ? 1 : 0)),
        shape,
        "bool",
      );
    default:
      fail(name, `tensor ${quoteName(key)} has dtype ${dtype}, which vlab cannot load into tfjs`);
  }
}

/**
 * Loads every tensor of a safetensors file (or buffer) as tf.Tensors the caller owns.
 * F32/F16/BF16/F64 become float32; I8–I64 and U8–U64 become int32 (an error if a value does not
 * fit); BOOL becomes bool. Use `readSafetensorsHeader` for `__metadata__`. The record has no
 * prototype: a tensor named `__proto__` or `constructor` is an own key like any other.
 */
export function loadSafetensors(source: Source, { name }: { name?: string } = {}): Record<string, tf.Tensor> {
  const src = readSource(source, name);
  const { tensors } = decodeSafetensors(src.bytes, { name: src.name });
  const out = Object.create(null) as Record<string, tf.Tensor>;
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
  if (t.isDisposed) throw new Error(`saveSafetensors: tensor ${quoteName(name)} is disposed`);
  switch (t.dtype) {
    case "float32":
      return { dtype: floatDtype, shape: t.shape, data: t.dataSync() as Float32Array };
    case "int32":
      return { dtype: "I32", shape: t.shape, data: t.dataSync() as Int32Array };
    case "bool":
      return { dtype: "BOOL", shape: t.shape, data: Uint8Array.from(t.dataSync() as Uint8Array, (b) => (b ? 1 : 0)) };
    default:
      throw new Error(
        `saveSafetensors: tensor ${quoteName(name)} has dtype ${t.dtype}, which safetensors cannot store`,
      );
  }
}

/** Encodes tf.Tensors into safetensors bytes (reads their data synchronously; nothing is disposed). */
export function tensorsToSafetensors(
  tensors: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  { dtype = "F32" }: SaveSafetensorsOptions = {},
): Uint8Array {
  const enc = Object.create(null) as Record<string, TensorToEncode>; // no prototype: "__proto__" is a name too
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
  // A Map: every tensor name is kept exactly ("__proto__", "constructor" included).
  const weightMap = new Map<string, string>();
  try {
    const parsed = JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map?: unknown };
    const wm = parsed.weight_map;
    if (!wm || typeof wm !== "object" || Array.isArray(wm)) throw new Error("no weight_map object");
    for (const [k, v] of Object.entries(wm)) {
      if (typeof v !== "string") throw new Error(`weight_map[${quoteName(k)}] is not a file name`);
      weightMap.set(k, v);
    }
  } catch (e) {
    throw new Error(`safetensors index ${index}: ${(e as Error).message}`, { cause: e });
  }
  const out = Object.create(null) as Record<string, tf.Tensor>;
  try {
    for (const shard of [...new Set(weightMap.values())].sort()) {
      const file = path.join(dir, shard);
      const tensors = loadSafetensors(file);
      for (const [k, t] of Object.entries(tensors)) {
        if (weightMap.get(k) !== shard || k in out) {
          t.dispose(); // not listed for this shard (or a duplicate): ignore
          continue;
        }
        out[k] = t;
      }
    }
    const missing = [...weightMap.keys()].filter((k) => !(k in out));
    if (missing.length)
      throw new Error(
        `safetensors index ${index}: tensors listed but not found in their shard: ` +
          missing
            .slice(0, 5)
            .map((k) => quoteName(k))
            .join(", "),
      );
  } catch (e) {
    tf.dispose(out);
    throw e;
  }
  return out;
}
