/**
 * Tensors in and out of onnxruntime: float32 pixels as the float type an input declares (float16 as
 * its bits), int32 token ids as int64 or int32, an output [B, D] back as a float32 tf tensor.
 */
import { f16BitsToF32, f32ToF16Bits, tf } from "@vlab/core";
import type * as Ort from "onnxruntime-node";
import type { OrtModule } from "./ort_session.js";
import type { OnnxValueInfo } from "./session_io.js";

/** float32 values as the element type an input wants (float32 or float16). */
export function floatInput(
  ort: OrtModule,
  where: string,
  info: OnnxValueInfo,
  data: Float32Array,
  dims: number[],
): Ort.Tensor {
  const type = info.type ?? "float32";
  if (type === "float32") return new ort.Tensor("float32", data, dims);
  if (type === "float16") {
    const bits = Uint16Array.from(data, (v) => f32ToF16Bits(v));
    return new ort.Tensor("float16", bits, dims);
  }
  throw new Error(
    `${where}: input "${info.name}" has element type ${type}; only float32 and float16 image inputs are supported`,
  );
}

/** Token ids (int32 values) as the integer type an input wants. */
export function integerInput(
  ort: OrtModule,
  where: string,
  info: OnnxValueInfo,
  data: Int32Array,
  dims: number[],
): Ort.Tensor {
  const type = info.type ?? "int64";
  switch (type) {
    case "int64":
      return new ort.Tensor(
        "int64",
        BigInt64Array.from(data, (v) => BigInt(v)),
        dims,
      );
    case "int32":
      return new ort.Tensor("int32", data, dims);
    default:
      throw new Error(
        `${where}: input "${info.name}" has element type ${type}; token ids can be given as int64 or int32 only`,
      );
  }
}

/** An output tensor [B, D] as a float32 tf tensor. */
export function toTf2D(where: string, name: string, t: Ort.Tensor): tf.Tensor2D {
  if (t.dims.length !== 2)
    throw new Error(`${where}: output "${name}" has shape [${t.dims.join(", ")}]; expected [batch, embed]`);
  const [B, D] = t.dims as [number, number];
  let data: Float32Array;
  if (t.type === "float32")
    data = new Float32Array(t.data as Float32Array); // copy: the session owns its buffer
  else if (t.type === "float16") data = Float32Array.from(t.data as Uint16Array, (h) => f16BitsToF32(h));
  else if (t.type === "float64") data = Float32Array.from(t.data as Float64Array);
  else throw new Error(`${where}: output "${name}" has element type ${t.type}; expected a float tensor`);
  return tf.tensor2d(data, [B, D], "float32");
}

/** Token ids (a tensor or number[][]) as int32 values and their dims [B, T]. */
export async function idsData(
  where: string,
  ids: tf.Tensor | number[][],
): Promise<{ data: Int32Array; dims: [number, number] }> {
  if (ids instanceof tf.Tensor) {
    if (ids.rank !== 2) throw new Error(`${where}: ids must be 2-D [B, T], got shape [${ids.shape.join(", ")}]`);
    if (ids.dtype !== "int32")
      throw new Error(`${where}: ids must be int32 token ids, got a ${ids.dtype} tensor (use tf.cast(ids, "int32"))`);
    const [B, T] = (ids as tf.Tensor2D).shape; // rank 2, checked above
    return { data: (await ids.data()) as Int32Array, dims: [B, T] };
  }
  const notIds = () => new Error(`${where}: ids must be an int32 tensor [B, T] or a non-empty number[][]`);
  if (!Array.isArray(ids) || !ids.every((r) => Array.isArray(r))) throw notIds();
  const [first] = ids;
  if (first === undefined) throw notIds();
  const T = first.length;
  if (ids.some((r) => r.length !== T)) throw new Error(`${where}: every row of ids must have the same length`);
  const data = new Int32Array(ids.length * T);
  ids.forEach((row, b) =>
    row.forEach((v, j) => {
      if (!Number.isInteger(v)) throw new Error(`${where}: ids must be integers, got ${v} at [${b}, ${j}]`);
      data[b * T + j] = v;
    }),
  );
  return { data, dims: [ids.length, T] };
}
