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
import { DTYPE_RANK, dtypeSize, type RawTensor, type SafetensorsDtype } from "./safetensors_dtypes.js";
import { HeaderJsonError, JsonObject, readTopLevelMembers, type JsonValue } from "./safetensors_json.js";

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

/**
 * Largest header accepted: the Rust reader's `MAX_HEADER_SIZE` (100,000,000 bytes; `SafeTensorError::HeaderTooLarge`,
 * "larger than 100Mo"). Reading such a header takes a few seconds (see `parseSafetensorsHeader`).
 */
export const MAX_HEADER = 100_000_000;

/** Throws `safetensors <name>: <msg>` (with the error that caused it, if any). */
export function fail(name: string, msg: string, cause?: unknown): never {
  throw new Error(`safetensors ${name}: ${msg}`, cause === undefined ? undefined : { cause });
}

/** A tensor name (or any text from the file) for a message: JSON-quoted, cut to its first 80 characters. */
export function quoteName(text: string, max = 80): string {
  if (text.length <= max) return JSON.stringify(text);
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max; // do not split a surrogate pair
  return `${JSON.stringify(text.slice(0, end))}…(${text.length} chars)`;
}

/** A JSON value from the header for a message, cut to 80 characters. */
function quoteValue(v: unknown): string {
  const plain = (x: unknown): unknown => (x instanceof JsonObject ? x.toRecord() : Array.isArray(x) ? x.map(plain) : x);
  const s = JSON.stringify(plain(v)) ?? String(v);
  return s.length <= 80 ? s : `${s.slice(0, 80)}…`;
}

/** A parsed header, and its tensors in file order as two parallel lists (no tuple per tensor). */
interface ParsedHeader {
  header: SafetensorsHeader;
  names: string[];
  list: SafetensorsEntry[];
}

/**
 * Parses and validates the header of a safetensors byte buffer (`bytes` may hold only the start of the file when
 * `fileSize` is given). Every tensor name is kept exactly: `tensors` has no prototype, so `__proto__` and
 * `constructor` are names like any other; a name given twice is an error. Time and memory are linear in the header's
 * size (one sort of the offsets aside, and only when they are out of order): about 1.5 s for 200 k entries, 10 s for
 * 1.7 M (a 99 MB header), most of it V8 building the record of 1.7 M names.
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  { name = "<buffer>", fileSize }: { name?: string; fileSize?: number } = {},
): SafetensorsHeader {
  return parseHeader(bytes, name, fileSize).header;
}

function parseHeader(bytes: Uint8Array, name: string, fileSize: number | undefined): ParsedHeader {
  const size = fileSize ?? bytes.byteLength;
  if (size < 8) fail(name, `file is ${size} bytes, shorter than the 8-byte header length field`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER))
    fail(
      name,
      `header length ${n64} is over the 100 MB limit (${MAX_HEADER} bytes, the reference reader's; ` +
        "not a safetensors file?)",
    );
  const n = Number(n64);
  if (8 + n > size)
    fail(
      name,
      `header length ${n} runs past the end of the file (file is ${size} bytes; truncated or not a safetensors file)`,
    );
  if (8 + n > bytes.byteLength) fail(name, `internal: only ${bytes.byteLength} bytes given for a ${n}-byte header`);
  const raw = bytes.subarray(8, 8 + n);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch (e) {
    fail(name, `header is not valid UTF-8 (first bad byte at offset ${8 + firstBadUtf8(raw)} of the file)`, e);
  }

  const dataStart = 8 + n;
  // No prototype: every name is an own key, none reaches Object.prototype (`__proto__` stays a tensor).
  const tensors = Object.create(null) as Record<string, SafetensorsEntry>;
  const names: string[] = [];
  const list: SafetensorsEntry[] = [];
  let metadata: Record<string, string> | undefined;
  const byteAt = (index: number) => 8 + Buffer.byteLength(text.slice(0, index), "utf8");
  try {
    readTopLevelMembers(
      text,
      (key, value, at) => {
        if (key === "__metadata__") {
          if (metadata) fail(name, `__metadata__ appears twice in the header (again at byte ${byteAt(at)})`);
          metadata = readMetadata(name, value);
          return;
        }
        if (key in tensors)
          fail(name, `tensor ${quoteName(key)} appears twice in the header (again at byte ${byteAt(at)})`);
        const entry = readEntry(name, key, value);
        tensors[key] = entry;
        names.push(key);
        list.push(entry);
      },
      (what) => fail(name, `header is not a JSON object (${what})`),
    );
  } catch (e) {
    if (!(e instanceof HeaderJsonError)) throw e;
    const near = text.slice(Math.max(0, e.index - 20), e.index + 20);
    fail(
      name,
      `header is not valid JSON at byte ${byteAt(e.index)} of the file: ${e.message} (near ${quoteName(near)})`,
      e,
    );
  }
  checkTiling(name, names, list, dataStart, size);
  const header: SafetensorsHeader = metadata ? { tensors, metadata, dataStart } : { tensors, dataStart };
  return { header, names, list };
}

/** Offset of the first byte that breaks UTF-8 in `b` (only called once the decoder has refused it). */
function firstBadUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (len === 0) return i;
    for (let k = 1; k < len; k++) if (((b[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1] ?? 0;
    // Overlong 3- and 4-byte forms, UTF-16 surrogates, code points above U+10FFFF.
    const bad3 = (c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 >= 0xa0);
    const bad4 = (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 >= 0x90);
    if (bad3 || bad4) return i;
    i += len;
  }
  return b.length;
}

/** `__metadata__`: an object of strings, as a prototype-free record (so any key is kept). */
function readMetadata(name: string, value: JsonValue): Record<string, string> {
  if (!(value instanceof JsonObject)) fail(name, `__metadata__ is not an object (it is ${quoteValue(value)})`);
  const record = value.toRecord();
  for (const [k, v] of Object.entries(record)) {
    if (typeof v !== "string") fail(name, `__metadata__[${quoteName(k)}] is not a string (it is ${quoteValue(v)})`);
  }
  return record as Record<string, string>;
}

/** Each known dtype name, so that millions of entries share one string per dtype. */
const DTYPES = new Map(DTYPE_RANK.filter((d) => dtypeSize(d) !== undefined).map((d) => [d, d as SafetensorsDtype]));

/** True for an array of non-negative safe integers. */
function naturals(v: JsonValue | undefined): v is number[] {
  if (!Array.isArray(v)) return false;
  for (const d of v) if (!Number.isSafeInteger(d) || (d as number) < 0) return false;
  return true;
}

/** One tensor's header entry, checked: a known dtype, a shape, and offsets spanning exactly its bytes. */
function readEntry(name: string, key: string, value: JsonValue): SafetensorsEntry {
  const k = () => quoteName(key);
  if (!(value instanceof JsonObject)) fail(name, `entry ${k()} is not an object (it is ${quoteValue(value)})`);
  const dtypeText = value.get("dtype"),
    shape = value.get("shape"),
    off = value.get("data_offsets");
  const dtype = typeof dtypeText === "string" ? DTYPES.get(dtypeText) : undefined;
  if (dtype === undefined) fail(name, `tensor ${k()} has unknown dtype ${quoteValue(dtypeText)}`);
  if (!naturals(shape)) fail(name, `tensor ${k()} has an invalid shape ${quoteValue(shape)}`);
  if (!naturals(off) || off.length !== 2) fail(name, `tensor ${k()} has invalid data_offsets ${quoteValue(off)}`);
  const [begin, end] = off as [number, number];
  if (begin > end) fail(name, `tensor ${k()} has invalid data_offsets ${quoteValue(off)} (begin after end)`);
  const elem = dtypeSize(dtype) ?? 0;
  let count = 1;
  for (const d of shape) count *= d;
  if (count * elem !== end - begin) {
    fail(
      name,
      `tensor ${k()}: shape [${shape}] × ${dtype} (${elem} B) = ${count * elem} bytes, but data_offsets ` +
        `[${begin},${end}] span ${end - begin}`,
    );
  }
  return { dtype, shape, data_offsets: off as [number, number] };
}

/**
 * The tensors must tile the data buffer [0, size − dataStart) exactly: no hole, no overlap, nothing after. One pass
 * when the entries come in offset order (as writers lay them out), else after one sort of their indices.
 */
function checkTiling(name: string, names: string[], list: SafetensorsEntry[], dataStart: number, size: number): void {
  const dataSize = size - dataStart;
  const count = list.length;
  const begins = new Float64Array(count);
  const ends = new Float64Array(count);
  let needed = 0;
  let last = -1; // the tensor that reaches furthest
  let inOrder = true;
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- every index is < count */
  for (let i = 0; i < count; i++) {
    const [b, e] = list[i]!.data_offsets;
    begins[i] = b;
    ends[i] = e;
    if (e > needed) {
      needed = e;
      last = i;
    }
    if (i > 0 && (b < begins[i - 1]! || (b === begins[i - 1] && e < ends[i - 1]!))) inOrder = false;
  }
  if (needed > dataSize) {
    fail(
      name,
      `file is truncated: the header needs ${dataStart + needed} bytes, the file has ${size} ` +
        `(${dataStart + needed - size} missing; tensor ${quoteName(names[last]!)} ends at byte ${dataStart + needed})`,
    );
  }
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (!inOrder) order.sort((x, y) => begins[x]! - begins[y]! || ends[x]! - ends[y]!);
  let pos = 0;
  let prev = -1;
  for (const i of order) {
    const begin = begins[i]!,
      end = ends[i]!;
    if (begin < pos) {
      const other = prev >= 0 ? ` ${quoteName(names[prev]!)}` : "";
      fail(
        name,
        `tensor ${quoteName(names[i]!)} (bytes [${begin}, ${end})) overlaps the previous tensor${other}, ` +
          `which ends at ${pos}`,
      );
    }
    if (begin > pos)
      fail(
        name,
        `hole in the data buffer: bytes [${pos}, ${begin}) belong to no tensor (before ${quoteName(names[i]!)})`,
      );
    pos = end;
    prev = i;
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  if (pos !== dataSize)
    fail(name, `${dataSize - pos} trailing bytes after the last tensor (data ends at ${pos}, buffer is ${dataSize})`);
}

/**
 * Decodes a whole safetensors buffer into raw tensors (views into `bytes`) and its metadata. `tensors` has no
 * prototype, so every name (`__proto__` included) is an own key.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  { name = "<buffer>" }: { name?: string } = {},
): { tensors: Record<string, RawTensor>; metadata?: Record<string, string> } {
  const { header, names, list } = parseHeader(bytes, name, undefined);
  const tensors = Object.create(null) as Record<string, RawTensor>;
  const base = header.dataStart;
  for (let i = 0; i < names.length; i++) {
    /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < names.length === list.length */
    const e = list[i]!;
    const [begin, end] = e.data_offsets;
    tensors[names[i]!] = { dtype: e.dtype, shape: e.shape, bytes: bytes.subarray(base + begin, base + end) };
    /* eslint-enable @typescript-eslint/no-non-null-assertion */
  }
  return header.metadata ? { tensors, metadata: header.metadata } : { tensors };
}
