/**
 * The parts of an ONNX model as plain data (onnx/onnx.proto's ModelProto, GraphProto, NodeProto,
 * TensorProto, ValueInfoProto, AttributeProto), which onnx_encode.ts serialises and graph_builder.ts
 * fills in.
 */

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

/**
 * Attribute constructors: `{ axis: onnxAttr.int(-1), epsilon: onnxAttr.float(1e-5), perm: onnxAttr.ints([0, 2, 1]) }`.
 */
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
