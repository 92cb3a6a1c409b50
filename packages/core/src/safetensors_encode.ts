/**
 * Writing safetensors bytes: tensors sorted by descending dtype (alignment, then the reference enum
 * order) then name, the JSON header space-padded to a multiple of 8 bytes, so every tensor starts
 * aligned for its element type and the output is byte-identical to the reference Python/Rust writer's
 * (https://github.com/huggingface/safetensors, `safetensors/src/tensor.rs`).
 */
import { DTYPE_RANK, dtypeSize, f32ToBf16Bits, f32ToF16Bits, type SafetensorsDtype } from "./safetensors_dtypes.js";
import { MAX_HEADER, quoteName } from "./safetensors_header.js";

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

/** The little-endian bytes of `t.data` stored as `t.dtype`. */
function toBytes(name: string, t: TensorToEncode): Uint8Array {
  const elem = dtypeSize(t.dtype);
  if (elem === undefined)
    throw new Error(`encodeSafetensors: tensor ${quoteName(name)} has unknown dtype ${quoteName(String(t.dtype))}`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  const d = t.data;
  let out: Uint8Array;
  if (d instanceof Uint8Array) {
    out = d;
  } else if (t.dtype === "F16" || t.dtype === "BF16") {
    // `data` holds float values here; ArrayBufferView's type names no element access.
    const src = d as unknown as ArrayLike<number>;
    const h = new Uint16Array(src.length);
    const conv = t.dtype === "F16" ? f32ToF16Bits : f32ToBf16Bits;
    // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < src.length
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
    if (!ctor)
      throw new Error(`encodeSafetensors: tensor ${quoteName(name)}: pass ${t.dtype} data as raw bytes (Uint8Array)`);
    let arr: ArrayBufferView;
    // Values to convert: `data` is a typed array of numbers (ArrayBufferView's type names no element access).
    if (d instanceof ctor) arr = d;
    else if (ctor === BigInt64Array || ctor === BigUint64Array) {
      arr = (ctor as typeof BigInt64Array).from(d as unknown as ArrayLike<number>, (x) => BigInt(x));
    } else arr = (ctor as Float32ArrayConstructor).from(d as unknown as ArrayLike<number>);
    out = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  }
  if (out.byteLength !== count * elem) {
    throw new Error(
      `encodeSafetensors: tensor ${quoteName(name)}: shape [${t.shape}] × ${t.dtype} needs ${count * elem} bytes, ` +
        `data has ${out.byteLength}`,
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
  let nameChars = 0;
  for (const [k, t] of Object.entries(tensors)) {
    if (dtypeSize(t.dtype) === undefined)
      throw new Error(`encodeSafetensors: tensor ${quoteName(k)} has unknown dtype ${quoteName(String(t.dtype))}`);
    nameChars += k.length;
  }
  // The names alone already outgrow the limit: say so before building a huge JSON text (checked exactly below).
  const tooBig = (what: string) =>
    new Error(
      `encodeSafetensors: the header of ${Object.keys(tensors).length} tensors would be ${what}, over the 100 MB ` +
        `limit (${MAX_HEADER} bytes) that safetensors readers accept`,
    );
  if (nameChars > MAX_HEADER) throw tooBig(`over ${nameChars} bytes`);
  const sorted = Object.entries(tensors).sort(([a, ta], [b, tb]) => {
    const d = DTYPE_RANK.indexOf(tb.dtype) - DTYPE_RANK.indexOf(ta.dtype);
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  // No prototype: a tensor named "__proto__" becomes a key of the JSON, not the object's prototype.
  const header = Object.create(null) as Record<string, unknown>;
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`encodeSafetensors: metadata[${quoteName(k)}] must be a string`);
    }
    header.__metadata__ = Object.assign(Object.create(null) as Record<string, string>, metadata);
  }
  const chunks: Uint8Array[] = [];
  let pos = 0;
  for (const [name, t] of sorted) {
    if (name === "__metadata__") throw new Error(`encodeSafetensors: "__metadata__" is reserved`);
    const bytes = toBytes(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + bytes.byteLength] };
    chunks.push(bytes);
    pos += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded > MAX_HEADER) throw tooBig(`${padded} bytes`);
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
