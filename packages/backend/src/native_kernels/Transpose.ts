/**
 * `Transpose` of 4-byte tensors (attention's head splits and merges) on wasm by the C++ addon
 * (native/src/transpose.cc): a memcpy of whole rows when the last axis stays last. tfjs-backend-wasm's
 * own costs ~20 µs for 8K elements. Identity permutations keep the previous kernel (it shares the
 * buffer, kernels/Transpose.ts).
 *
 *   y[i_perm[0], ..., i_perm[r−1]] = x[i_0, ..., i_{r−1}]          (output axis d is input axis perm[d])
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { activeAddon, type NativeAddon } from "../native_addon.js";
import { input, size, type KernelArgs, type NativeKernel, type TensorInfo } from "../kernels/kernel_utils.js";

function makeTranspose(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = input(args, "x", "Transpose");
    // tfjs types a kernel's attrs as a generic map.
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (
      !activeAddon() ||
      (x.dtype !== "float32" && x.dtype !== "int32") ||
      perm.every((p, i) => p === i) ||
      x.shape.length > 16
    )
      return fallback(args);
    const be = args.backend as BackendWasm;
    const outShape = perm.map((p) => {
      const d = x.shape[p];
      if (d === undefined) throw new Error(`Transpose: perm [${perm}] does not fit x [${x.shape}]`);
      return d;
    });
    const out = be.makeOutput(outShape, x.dtype);
    if (size(x.shape) > 0) {
      const view = (t: TensorInfo) => be.typedArrayFromHeap(t) as Float32Array | Int32Array;
      addon.transpose(view(x), view(out), Int32Array.from(x.shape), Int32Array.from(perm));
    }
    return out;
  };
}

export const nativeTranspose: NativeKernel = {
  kernelName: "Transpose",
  label: () => "native row copies",
  make: makeTranspose,
};
