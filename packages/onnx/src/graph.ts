/**
 * A minimal ONNX model WRITER: enough protobuf, encoded by hand, to build small graphs (and to
 * export the CLIP encoders, clip_export.ts) without a protobuf library.
 *
 * Protobuf in one paragraph: a message is a sequence of fields; each field starts with a tag,
 * the varint `(fieldNumber << 3) | wireType`. Wire type 0 is a varint (7 bits per byte, low
 * bits first, high bit = "more bytes follow"; negative int64 as its 64-bit two's complement, so
 * 10 bytes), 2 is length-delimited (a varint byte count, then the bytes: strings, bytes, nested
 * messages, packed repeated numbers), 5 is a fixed 32-bit little-endian value (float).
 *
 * The messages and field numbers used here, from onnx/onnx.proto (proto2, package `onnx`):
 *
 *   ModelProto          ir_version=1 (int64), producer_name=2, producer_version=3, domain=4,
 *                       model_version=5, doc_string=6, graph=7, opset_import=8, metadata_props=14
 *   OperatorSetIdProto  domain=1 (string), version=2 (int64)
 *   StringStringEntry   key=1, value=2
 *   GraphProto          node=1, name=2, initializer=5, doc_string=10, input=11, output=12, value_info=13
 *   NodeProto           input=1, output=2, name=3, op_type=4, attribute=5, doc_string=6, domain=7
 *   AttributeProto      name=1, f=2 (float), i=3 (int64), s=4 (bytes), t=5 (TensorProto),
 *                       floats=7, ints=8, strings=9, type=20 (FLOAT=1 INT=2 STRING=3 TENSOR=4
 *                       FLOATS=6 INTS=7 STRINGS=8)
 *   TensorProto         dims=1 (int64), data_type=2, name=8, raw_data=9 (little-endian bytes)
 *   ValueInfoProto      name=1, type=2 (TypeProto), doc_string=3
 *   TypeProto           tensor_type=1 → Tensor { elem_type=1, shape=2 (TensorShapeProto) }
 *   TensorShapeProto    dim=1 → Dimension { dim_value=1 (int64) | dim_param=2 (string) }
 *   DataType            FLOAT=1 UINT8=2 INT8=3 INT32=6 INT64=7 BOOL=9 FLOAT16=10 DOUBLE=11
 *
 * Usage:
 *
 *   const g = new OnnxGraphBuilder("double");
 *   g.input("x", "float32", ["batch", 4]);
 *   const two = g.constant("float32", [], [2]);
 *   g.op("Mul", ["x", two], {}, "y");
 *   g.output("y", "float32", ["batch", 4]);
 *   const bytes = g.encode();   // a Uint8Array that onnxruntime's InferenceSession.create accepts
 *
 * Protobuf caps one message at 2 GiB, and so does onnxruntime for a model without external data;
 * this writer does not emit external data.
 */

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Element types the writer knows, named like onnxruntime-node's tensor types. */
export type OnnxDataType = "float32" | "float16" | "float64" | "int8" | "uint8" | "int32" | "int64" | "bool";

/** TensorProto.DataType numbers. */
export const ONNX_DATA_TYPE: Readonly<Record<OnnxDataType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

const BYTES_PER_ELEMENT: Readonly<Record<OnnxDataType, number>> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
};

/** Values of a tensor: a typed array of the right kind, or plain numbers (bigints for int64 allowed). */
export type OnnxTensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Uint16Array // float16 bits
  | readonly number[]
  | readonly bigint[];

/** A constant tensor (an initializer, or a tensor attribute). */
export interface OnnxTensorSpec {
  name: string;
  dtype: OnnxDataType;
  /** Row-major dims; [] is a scalar. */
  dims: readonly number[];
  data: OnnxTensorData;
}

/** One dimension of a declared shape: a size, a symbolic name ("batch"), or null for unknown. */
export type OnnxDim = number | string | null;

/** A graph input or output (or an intermediate value's declared type). */
export interface OnnxValueInfoSpec {
  name: string;
  dtype: OnnxDataType;
  /** Undefined: rank unknown. */
  shape?: readonly OnnxDim[];
  docString?: string;
}

/** An attribute value, tagged with its type (ONNX distinguishes 1 from 1.0). */
export type OnnxAttribute =
  | { type: "int"; value: number | bigint }
  | { type: "float"; value: number }
  | { type: "string"; value: string }
  | { type: "ints"; value: readonly (number | bigint)[] }
  | { type: "floats"; value: readonly number[] }
  | { type: "strings"; value: readonly string[] }
  | { type: "tensor"; value: OnnxTensorSpec };

/** Attribute constructors: `{ axis: onnxAttr.int(-1), epsilon: onnxAttr.float(1e-5), perm: onnxAttr.ints([0, 2, 1]) }`. */
export const onnxAttr = {
  int: (value: number | bigint): OnnxAttribute => ({ type: "int", value }),
  float: (value: number): OnnxAttribute => ({ type: "float", value }),
  string: (value: string): OnnxAttribute => ({ type: "string", value }),
  ints: (value: readonly (number | bigint)[]): OnnxAttribute => ({ type: "ints", value }),
  floats: (value: readonly number[]): OnnxAttribute => ({ type: "floats", value }),
  strings: (value: readonly string[]): OnnxAttribute => ({ type: "strings", value }),
  tensor: (value: OnnxTensorSpec): OnnxAttribute => ({ type: "tensor", value }),
};

export interface OnnxNodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator set domain; "" (default) is the standard ai.onnx set. */
  domain?: string;
  attributes?: Readonly<Record<string, OnnxAttribute>>;
  docString?: string;
}

export interface OnnxGraphSpec {
  name: string;
  /** Topologically sorted. */
  nodes: readonly OnnxNodeSpec[];
  inputs: readonly OnnxValueInfoSpec[];
  outputs: readonly OnnxValueInfoSpec[];
  initializers?: readonly OnnxTensorSpec[];
  valueInfo?: readonly OnnxValueInfoSpec[];
  docString?: string;
}

export interface OnnxModelSpec {
  graph: OnnxGraphSpec;
  /** Version of the default (ai.onnx) operator set; default 17 (the first with LayerNormalization). */
  opsetVersion?: number;
  /** Further operator sets, e.g. { domain: "com.microsoft", version: 1 }. */
  extraOpsets?: readonly { domain: string; version: number }[];
  /** IR version; default 8 (the one that goes with opset 17). */
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** Free-form key/value metadata (ModelProto.metadata_props), readable from an onnxruntime session. */
  metadata?: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// Protobuf encoding
// ---------------------------------------------------------------------------------------------

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const TEXT = new TextEncoder();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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
class ProtoWriter {
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

// ---------------------------------------------------------------------------------------------
// ONNX messages
// ---------------------------------------------------------------------------------------------

function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** The tensor's values as little-endian bytes (TensorProto.raw_data). */
export function onnxTensorRawData(t: OnnxTensorSpec): Uint8Array {
  const n = elementCount(t.dims);
  const d = t.data;
  if (d.length !== n) {
    throw new Error(`ONNX tensor "${t.name}": dims [${t.dims.join(", ")}] hold ${n} values but data has ${d.length}`);
  }
  const size = BYTES_PER_ELEMENT[t.dtype];
  if (size === undefined) throw new Error(`ONNX tensor "${t.name}": unsupported dtype ${String(t.dtype)}`);
  // A typed array of exactly the right kind on a little-endian machine: use its bytes as they are.
  const exact =
    (t.dtype === "float32" && d instanceof Float32Array) ||
    (t.dtype === "float64" && d instanceof Float64Array) ||
    (t.dtype === "int32" && d instanceof Int32Array) ||
    (t.dtype === "int64" && d instanceof BigInt64Array) ||
    (t.dtype === "float16" && d instanceof Uint16Array) ||
    ((t.dtype === "uint8" || t.dtype === "bool") && d instanceof Uint8Array) ||
    (t.dtype === "int8" && d instanceof Int8Array);
  if (exact && LITTLE_ENDIAN) {
    const view = d as unknown as ArrayBufferView;
    return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  }
  const out = new Uint8Array(n * size);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = (d as ArrayLike<number | bigint>)[i]!;
    switch (t.dtype) {
      case "float32":
        dv.setFloat32(i * 4, Number(v), true);
        break;
      case "float64":
        dv.setFloat64(i * 8, Number(v), true);
        break;
      case "int32":
        dv.setInt32(i * 4, Number(v), true);
        break;
      case "int64":
        dv.setBigInt64(i * 8, typeof v === "bigint" ? v : BigInt(checkedInteger(v, t.name)), true);
        break;
      case "float16":
        dv.setUint16(i * 2, Number(v), true);
        break;
      case "int8":
        dv.setInt8(i, Number(v));
        break;
      case "uint8":
        dv.setUint8(i, Number(v));
        break;
      case "bool":
        dv.setUint8(i, v ? 1 : 0);
        break;
    }
  }
  return out;
}

function checkedInteger(v: number, name: string): number {
  if (!Number.isInteger(v)) throw new Error(`ONNX tensor "${name}": int64 value ${v} is not an integer`);
  return v;
}

function tensorProto(t: OnnxTensorSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) {
    if (!Number.isInteger(d) || d < 0)
      throw new Error(`ONNX tensor "${t.name}": bad dimension ${d} in [${t.dims.join(", ")}]`);
  }
  if (t.dims.length > 0) w.packedVarints(1, t.dims); // dims
  w.varint(2, ONNX_DATA_TYPE[t.dtype]); // data_type
  w.string(8, t.name); // name
  w.bytes(9, onnxTensorRawData(t)); // raw_data
  return w;
}

function valueInfoProto(v: OnnxValueInfoSpec): ProtoWriter {
  const tensorType = new ProtoWriter().varint(1, ONNX_DATA_TYPE[v.dtype]); // elem_type
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      if (typeof d === "number") {
        if (!Number.isInteger(d) || d < 0) throw new Error(`ONNX value "${v.name}": bad dimension ${d}`);
        dim.varint(1, d); // dim_value
      } else if (typeof d === "string") {
        dim.string(2, d); // dim_param
      } // null: an unknown dimension (an empty Dimension)
      shape.message(1, dim);
    }
    tensorType.message(2, shape); // shape
  }
  const type = new ProtoWriter().message(1, tensorType); // TypeProto.tensor_type
  const w = new ProtoWriter().string(1, v.name).message(2, type);
  if (v.docString) w.string(3, v.docString);
  return w;
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

function attributeProto(name: string, a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  switch (a.type) {
    case "float":
      w.float(2, a.value);
      break;
    case "int":
      w.varint(3, a.value);
      break;
    case "string":
      w.string(4, a.value);
      break;
    case "tensor":
      w.message(5, tensorProto(a.value));
      break;
    case "floats":
      for (const f of a.value) w.float(7, f); // proto2 repeated float: unpacked
      break;
    case "ints":
      for (const i of a.value) w.varint(8, i);
      break;
    case "strings":
      for (const s of a.value) w.string(9, s);
      break;
    default:
      throw new Error(`ONNX attribute "${name}": unknown attribute type ${JSON.stringify(a)}`);
  }
  w.varint(20, ATTRIBUTE_TYPE[a.type]);
  return w;
}

function nodeProto(n: OnnxNodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, a] of Object.entries(n.attributes ?? {})) w.message(5, attributeProto(k, a));
  if (n.docString) w.string(6, n.docString);
  if (n.domain) w.string(7, n.domain);
  return w;
}

function graphProto(g: OnnxGraphSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, nodeProto(n));
  w.string(2, g.name);
  for (const t of g.initializers ?? []) w.message(5, tensorProto(t));
  if (g.docString) w.string(10, g.docString);
  for (const v of g.inputs) w.message(11, valueInfoProto(v));
  for (const v of g.outputs) w.message(12, valueInfoProto(v));
  for (const v of g.valueInfo ?? []) w.message(13, valueInfoProto(v));
  return w;
}

/** Serialises a model to the bytes of a `.onnx` file. */
export function encodeOnnxModel(model: OnnxModelSpec): Uint8Array {
  checkGraph(model.graph);
  const w = new ProtoWriter();
  w.varint(1, model.irVersion ?? 8); // ir_version
  w.string(2, model.producerName ?? "vlab");
  if (model.producerVersion) w.string(3, model.producerVersion);
  if (model.docString) w.string(6, model.docString);
  w.message(7, graphProto(model.graph));
  w.message(8, new ProtoWriter().string(1, "").varint(2, model.opsetVersion ?? 17)); // opset_import (ai.onnx)
  for (const o of model.extraOpsets ?? []) w.message(8, new ProtoWriter().string(1, o.domain).varint(2, o.version));
  for (const [k, v] of Object.entries(model.metadata ?? {})) w.message(14, new ProtoWriter().string(1, k).string(2, v));
  return w.finish();
}

/** Catches the mistakes onnxruntime would report less clearly: unknown or duplicate value names. */
function checkGraph(g: OnnxGraphSpec): void {
  const defined = new Set<string>([""]); // "" = an omitted optional input
  const define = (name: string, what: string) => {
    if (defined.has(name)) throw new Error(`ONNX graph "${g.name}": ${what} "${name}" is defined twice`);
    defined.add(name);
  };
  for (const v of g.inputs) define(v.name, "input");
  for (const t of g.initializers ?? []) {
    if (!g.inputs.some((v) => v.name === t.name)) define(t.name, "initializer");
  }
  for (const n of g.nodes) {
    for (const i of n.inputs) {
      if (!defined.has(i))
        throw new Error(`ONNX graph "${g.name}": node ${n.name ?? n.opType} reads "${i}" before anything defines it`);
    }
    for (const o of n.outputs) define(o, `output of node ${n.name ?? n.opType}`);
  }
  for (const v of g.outputs) {
    if (!defined.has(v.name)) throw new Error(`ONNX graph "${g.name}": graph output "${v.name}" is never computed`);
  }
}

// ---------------------------------------------------------------------------------------------
// A builder for writing graphs by hand
// ---------------------------------------------------------------------------------------------

/** Collects inputs, initializers, nodes and outputs; names intermediate values automatically. */
export class OnnxGraphBuilder {
  readonly inputs: OnnxValueInfoSpec[] = [];
  readonly outputs: OnnxValueInfoSpec[] = [];
  readonly initializers: OnnxTensorSpec[] = [];
  readonly nodes: OnnxNodeSpec[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name = "graph") {}

  /** A fresh value name starting with `base`. */
  fresh(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX graph "${this.name}": the name "${name}" is already used`);
    this.used.add(name);
    return name;
  }

  /** Declares a graph input; returns its name. */
  input(name: string, dtype: OnnxDataType, shape?: readonly OnnxDim[]): string {
    this.inputs.push({ name: this.claim(name), dtype, ...(shape ? { shape } : {}) });
    return name;
  }

  /** Declares an existing value as a graph output. */
  output(name: string, dtype: OnnxDataType, shape?: readonly OnnxDim[]): string {
    this.outputs.push({ name, dtype, ...(shape ? { shape } : {}) });
    return name;
  }

  /** Adds a constant tensor under the given name; returns the name. */
  initializer(name: string, dtype: OnnxDataType, dims: readonly number[], data: OnnxTensorData): string {
    this.initializers.push({ name: this.claim(name), dtype, dims: [...dims], data });
    return name;
  }

  /** An initializer with a generated name (for small constants: shapes, axes, scalars). */
  constant(dtype: OnnxDataType, dims: readonly number[], data: OnnxTensorData, base = "const"): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dtype, dims: [...dims], data });
    return name;
  }

  /** An int64 vector constant, as Reshape / Slice / Unsqueeze want. */
  int64s(values: readonly number[], base = "const_i64"): string {
    return this.constant("int64", [values.length], values, base);
  }

  /** A float32 scalar constant. */
  scalar(value: number, base = "const_f32"): string {
    return this.constant("float32", [], [value], base);
  }

  /** Adds a node with one output; returns the output's name (given, or generated from the op type). */
  op(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, OnnxAttribute> = {},
    output?: string,
  ): string {
    return this.opN(opType, inputs, 1, attributes, output ? [output] : undefined)[0]!;
  }

  /** Adds a node with `nOutputs` outputs; returns their names. */
  opN(
    opType: string,
    inputs: readonly string[],
    nOutputs: number,
    attributes: Record<string, OnnxAttribute> = {},
    outputs?: readonly string[],
  ): string[] {
    const outs = outputs
      ? outputs.map((o) => this.claim(o))
      : Array.from({ length: nOutputs }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({ opType, inputs: [...inputs], outputs: outs, name: this.fresh(`node_${opType}`), attributes });
    return outs;
  }

  toGraph(): OnnxGraphSpec {
    return {
      name: this.name,
      nodes: this.nodes,
      inputs: this.inputs,
      outputs: this.outputs,
      initializers: this.initializers,
    };
  }

  /** The finished model's bytes. */
  encode(opts: Omit<OnnxModelSpec, "graph"> = {}): Uint8Array {
    return encodeOnnxModel({ ...opts, graph: this.toGraph() });
  }
}
