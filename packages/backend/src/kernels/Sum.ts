/**
 * `Sum` over leading axes (bias and norm-weight gradients) on wasm, accumulated row by row.
 *
 * tfjs-backend-wasm 4.22 reduces only the innermost axes: for leading ones it transposes first
 * (6 ms for a [1024, 512] → [512] bias gradient). Accumulating rows in JS (in float64) takes under
 * 1 ms. Other reductions keep the original kernel. (Where the native addon is built,
 * native_kernels/Sum.ts runs in front of this.)
 *
 *   out[j] = Σ_r x[r, j]          r over the leading axes, j over the rest
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { f32, input, size, type KernelArgs, type ReplacedKernel, type TensorInfo } from "./kernel_utils.js";

/** The reduction axes of a Sum, made non-negative, deduplicated and sorted, and whether they are the leading ones. */
export function leadingAxes(axis: number | number[], rank: number): { axes: number[]; leading: boolean } {
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort(
    (p, q) => p - q,
  );
  return { axes, leading: axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i) };
}

function sumLeading(original: tf.KernelFunc, args: KernelArgs): TensorInfo | TensorInfo[] {
  const be = args.backend as BackendWasm;
  const x = input(args, "x", "Sum");
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const { axes, leading } = leadingAxes(axis, x.shape.length);
  if (!leading || x.dtype !== "float32") return original(args);
  const k = axes.length;
  const rows = size(x.shape.slice(0, k));
  const inner = size(x.shape.slice(k));
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
  const acc = new Float64Array(inner);
  const xv = f32(be, x);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- r < rows and j < inner: x holds rows · inner values */
  for (let r = 0; r < rows; r++) {
    const base = r * inner;
    for (let j = 0; j < inner; j++) acc[j] += xv[base + j]!;
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  const out = be.makeOutput(outShape, "float32");
  f32(be, out).set(acc);
  return out;
}

export const sumConfig: ReplacedKernel = {
  kind: "replaced",
  kernelName: "Sum",
  label: "JS for leading axes",
  replace: (original) => (args) => sumLeading(original, args),
};
