/**
 * A builder for writing ONNX graphs by hand: inputs, initializers, nodes and outputs, with
 * intermediate values named automatically (clip_export.ts builds CLIP's encoders with it).
 *
 * Usage:
 *
 *   const g = new OnnxGraphBuilder("double");
 *   g.input("x", "float32", ["batch", 4]);
 *   const two = g.constant("float32", [], [2]);
 *   g.op("Mul", ["x", two], {}, "y");
 *   g.output("y", "float32", ["batch", 4]);
 *   const bytes = g.encode();   // a Uint8Array that onnxruntime's InferenceSession.create accepts
 */
import { encodeOnnxModel } from "./onnx_encode.js";
import type {
  OnnxAttribute,
  OnnxDataType,
  OnnxDim,
  OnnxGraphSpec,
  OnnxModelSpec,
  OnnxNodeSpec,
  OnnxTensorData,
  OnnxTensorSpec,
  OnnxValueInfoSpec,
} from "./onnx_types.js";

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
    const [name] = this.opN(opType, inputs, 1, attributes, output ? [output] : undefined);
    if (name === undefined) throw new Error(`ONNX graph "${this.name}": the ${opType} node has no output`);
    return name;
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
