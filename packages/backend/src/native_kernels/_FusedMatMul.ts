/**
 * `_FusedMatMul` on wasm computed by the C++ addon (native/src/gemm.cc) on the wasm heap, the bias
 * and activation applied in the same pass:
 *
 *   y = act(op(a) · op(b) + bias)
 *
 * The addon adds a per-column or scalar bias and applies linear / relu / relu6 / leakyrelu /
 * sigmoid / elu itself; other biases and prelu go through the wasm Add / Prelu kernels afterwards
 * (kernels/_FusedMatMul.ts `applyBiasAndActivation`). Anything that is not float32, or a call while
 * the native kernels are switched off, goes to the kernel registered before.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { activeAddon, type NativeAddon } from "../native_addon.js";
import { size, type KernelArgs, type NativeKernel, type TensorInfo } from "../kernels/kernel_utils.js";
import { applyBiasAndActivation } from "../kernels/_FusedMatMul.js";
import { planMatMul, runMatMul } from "./matmul_plan.js";

/** tfjs activation names → the addon's codes (tfjs-backend-wasm's FusableActivation numbering). */
const ACTIVATION_CODES: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 4, sigmoid: 5, elu: 6 };

function makeFusedMatMul(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: TensorInfo;
      b: TensorInfo;
      bias?: TensorInfo;
      preluActivationWeights?: TensorInfo;
    };
    if (!activeAddon() || a.dtype !== "float32" || b.dtype !== "float32" || (bias && bias.dtype !== "float32"))
      return fallback(args);
    // tfjs types a kernel's attrs as a generic map.
    const attrs = args.attrs as unknown as {
      transposeA: boolean;
      transposeB: boolean;
      activation: string;
      leakyreluAlpha?: number;
    };
    const { transposeA, transposeB } = attrs;
    const activation = attrs.activation ?? "linear";
    const alpha = attrs.leakyreluAlpha ?? 0.2;
    const be = args.backend as BackendWasm;
    const p = planMatMul(a, b, transposeA, transposeB);
    const outRank = p.outShape.length;
    // A bias the addon adds itself: one value per column ([N], [1, N], ...) or a single value.
    const biasSize = bias ? size(bias.shape) : 0;
    const simpleBias =
      !bias ||
      (bias.shape.length <= outRank &&
        (biasSize === 1 || (biasSize === p.n && bias.shape[bias.shape.length - 1] === p.n)));
    const code = ACTIVATION_CODES[activation];
    if (code !== undefined && simpleBias) {
      const out = be.makeOutput(p.outShape, "float32");
      runMatMul(addon, be, p, a, b, out, transposeA, transposeB, bias ?? null, code, alpha);
      return out;
    }
    // General bias or prelu: multiply natively, then the wasm kernels for the rest.
    const y = be.makeOutput(p.outShape, "float32");
    runMatMul(addon, be, p, a, b, y, transposeA, transposeB, null, 0, 0);
    return applyBiasAndActivation(be, y, bias, activation, preluActivationWeights, alpha);
  };
}

export const nativeFusedMatMul: NativeKernel = {
  kernelName: "_FusedMatMul",
  label: (kernel) => `native ${kernel}, bias and activation fused`,
  make: makeFusedMatMul,
};
