/**
 * `Sum` over leading axes (bias and norm-weight gradients) on wasm as native column sums
 * (native/src/column_sum.cc); other reductions go to the kernel registered before (kernels/Sum.ts).
 *
 *   out[j] = Σ_r x[r, j]          r over the leading axes, j over the rest
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { activeAddon, type NativeAddon } from "../native_addon.js";
import { f32, input, size, type KernelArgs, type NativeKernel } from "../kernels/kernel_utils.js";
import { leadingAxes } from "../kernels/Sum.js";

function makeSum(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = input(args, "x", "Sum");
    // tfjs types a kernel's attrs as a generic map.
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const { axes, leading } = leadingAxes(axis, x.shape.length);
    if (!activeAddon() || !leading || x.dtype !== "float32") return fallback(args);
    const be = args.backend as BackendWasm;
    const k = axes.length;
    const rows = size(x.shape.slice(0, k));
    const cols = size(x.shape.slice(k));
    const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
    const out = be.makeOutput(outShape, "float32");
    if (cols > 0) addon.columnSum(f32(be, x), f32(be, out), rows, cols);
    return out;
  };
}

export const nativeSum: NativeKernel = {
  kernelName: "Sum",
  label: () => "native column sums for leading axes",
  make: makeSum,
};
