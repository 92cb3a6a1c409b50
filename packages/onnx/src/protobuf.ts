/**
 * Protobuf's wire format, written by hand: just enough to serialise ONNX models (onnx_encode.ts)
 * without a protobuf library.
 *
 * A message is a sequence of fields; each field starts with a tag, the varint
 * `(fieldNumber << 3) | wireType`. Wire type 0 is a varint (7 bits per byte, low bits first, high
 * bit = "more bytes follow"; negative int64 as its 64-bit two's complement, so 10 bytes), 2 is
 * length-delimited (a varint byte count, then the bytes: strings, bytes, nested messages, packed
 * repeated numbers), 5 is a fixed 32-bit little-endian value (float).
 * (https://protobuf.dev/programming-guides/encoding/)
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const TEXT = new TextEncoder();

/** Appends the varint encoding of an unsigned value (number up to 2^53, or bigint up to 2^64). */
function pushVarint(out: number[], value: number | bigint): void {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`protobuf varint: ${value} is not an integer`);
    if (value < 0) return pushVarint(out, BigInt(value));
    while (value >= 0x80) {
      out.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    out.push(value);
    return;
  }
  // int64 fields store negatives as their 64-bit two's complement (10 bytes).
  let v = BigInt.asUintN(64, value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/** Encodes a value as a varint into a fresh byte array (exported for tests). */
export function encodeVarint(value: number | bigint): Uint8Array {
  const out: number[] = [];
  pushVarint(out, value);
  return Uint8Array.from(out);
}

/**
 * A message under construction: a list of byte chunks and their total length. Nested messages
 * are appended chunk by chunk, so large weights are copied once, when the model is finished.
 */
export class ProtoWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  private pending: number[] = [];

  private flush(): void {
    if (this.pending.length === 0) return;
    this.chunks.push(Uint8Array.from(this.pending));
    this.pending = [];
  }

  private pushBytes(bytes: Uint8Array): void {
    if (bytes.length < 64) {
      for (const b of bytes) this.pending.push(b);
    } else {
      this.flush();
      this.chunks.push(bytes);
    }
    this.length += bytes.length;
  }

  private pushRaw(values: number[]): void {
    for (const b of values) this.pending.push(b);
    this.length += values.length;
  }

  private tag(field: number, wire: number): void {
    const t: number[] = [];
    pushVarint(t, field * 8 + wire);
    this.pushRaw(t);
  }

  /** int32 / int64 / enum field. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    const v: number[] = [];
    pushVarint(v, value);
    this.pushRaw(v);
    return this;
  }

  /** float field (fixed 32-bit, little-endian). */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.pushRaw(Array.from(b));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    const len: number[] = [];
    pushVarint(len, value.length);
    this.pushRaw(len);
    this.pushBytes(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, TEXT.encode(value));
  }

  /** A nested message: its chunks are appended as they are (no copy). */
  message(field: number, sub: ProtoWriter): this {
    this.tag(field, WIRE_LEN);
    const len: number[] = [];
    pushVarint(len, sub.length);
    this.pushRaw(len);
    this.flush(); // our tag and length go before the child's bytes
    sub.flush();
    for (const c of sub.chunks) this.chunks.push(c);
    this.length += sub.length;
    return this;
  }

  /** Packed repeated int64 (one length-delimited field of varints). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    const body: number[] = [];
    for (const v of values) pushVarint(body, v);
    return this.bytes(field, Uint8Array.from(body));
  }

  /** Packed repeated float. */
  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    if (at !== this.length)
      throw new Error(`internal error: protobuf writer wrote ${at} bytes, expected ${this.length}`);
    return out;
  }
}
