/**
 * `BatchMatMul` on wasm computed by the C++ addon (native_addon.ts, native/src/gemm.cc) directly on
 * the wasm heap, with no copies.
 *
 * Why: tfjs-backend-wasm 4.22 multiplies with XNNPACK only for 2-D operands without transposes, on
 * one thread, at ~20 GFLOP/s; every transposed operand (the whole backward pass) and every batched
 * product (attention) either runs a scalar loop or, through kernels/BatchMatMul.ts, pays a physical
 * transpose first. The addon's packed SGEMM (AVX-512 / AVX2+FMA micro-kernel, all cores) reads
 * transposed operands through its packing and handles batches and broadcasting itself: a 512x512
 * product runs at well over 100 GFLOP/s, transposed or not. Anything that is not float32, or a call
 * while the native kernels are switched off, goes to the kernel registered before.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { activeAddon, type NativeAddon } from "../native_addon.js";
import type { KernelArgs, NativeKernel, TensorInfo } from "../kernels/kernel_utils.js";
import { planMatMul, runMatMul } from "./matmul_plan.js";

function makeBatchMatMul(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (!activeAddon() || a.dtype !== "float32" || b.dtype !== "float32") return fallback(args);
    // tfjs types a kernel's attrs as a generic map.
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const be = args.backend as BackendWasm;
    const p = planMatMul(a, b, transposeA, transposeB);
    const out = be.makeOutput(p.outShape, "float32");
    runMatMul(addon, be, p, a, b, out, transposeA, transposeB, null, 0, 0);
    return out;
  };
}

export const nativeBatchMatMul: NativeKernel = {
  kernelName: "BatchMatMul",
  label: (kernel) => `native ${kernel}`,
  make: makeBatchMatMul,
};
