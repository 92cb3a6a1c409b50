/**
 * ONNX messages as protobuf (protobuf.ts): a model spec (onnx_types.ts) to the bytes of a `.onnx` file.
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
 * Protobuf caps one message at 2 GiB, and so does onnxruntime for a model without external data;
 * this writer does not emit external data.
 */
import { ProtoWriter } from "./protobuf.js";
import {
  ONNX_DATA_TYPE,
  type OnnxAttribute,
  type OnnxDataType,
  type OnnxGraphSpec,
  type OnnxModelSpec,
  type OnnxNodeSpec,
  type OnnxTensorSpec,
  type OnnxValueInfoSpec,
} from "./onnx_types.js";

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

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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
  if (exact && LITTLE_ENDIAN && ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const out = new Uint8Array(n * size);
  const dv = new DataView(out.buffer);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < n === d.length (checked above) */
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
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
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
