/**
 * GELU, exact (erf) form, as one fused kernel forward and one backward (see kernel_util.ts):
 *
 *   gelu(x)  = x·Φ(x),             Φ(x) = ½(1 + erf(x/√2))          (Hendrycks & Gimpel 2016)
 *   gelu'(x) = Φ(x) + x·φ(x),      φ(x) = exp(−x²/2) / √(2π)
 *
 * erf(x/√2) and φ share exp(−x²/2), so the backward pass costs one exp per element
 * (native/src/gelu.cc; erf by Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7, as tfjs-backend-cpu).
 * `geluFused(x)` returns null where the kernel is unavailable (see kernel_util.ts, or not
 * float32): the caller then composes tfjs ops (@vlab/core's layers.ts `gelu`). No second derivatives.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { f32, input, type KernelArgs, type TensorInfo } from "../kernels/kernel_utils.js";
import { addon, fusedAvailable, registerFusedKernel } from "./kernel_util.js";

export const GELU = "VlabGelu";
export const GELU_GRAD = "VlabGeluGrad";

function geluKernel(args: KernelArgs): TensorInfo {
  const be = args.backend as BackendWasm;
  const x = input(args, "x", GELU);
  const out = be.makeOutput(x.shape, "float32");
  addon().gelu(f32(be, x), f32(be, out)); // native/src/gelu.cc
  return out;
}

function geluGradKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const out = be.makeOutput(x.shape, "float32");
  addon().geluGrad(f32(be, x), f32(be, dy), f32(be, out));
  return out;
}

registerFusedKernel(GELU, geluKernel, "exact GELU in one pass");
registerFusedKernel(GELU_GRAD, geluGradKernel, "GELU gradient in one pass");
if (!tf.getGradient(GELU)) {
  tf.registerGradient({
    kernelName: GELU,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      if (!x) throw new Error(`the gradient of ${GELU}: its input was not saved`);
      return { x: () => tf.engine().runKernel(GELU_GRAD, { x, dy: dy as tf.Tensor }) as tf.Tensor };
    },
  });
}

/** gelu(x) as one fused kernel, or null where it is unavailable. */
export function geluFused(x: tf.Tensor): tf.Tensor | null {
  if (x.dtype !== "float32" || !fusedAvailable(GELU)) return null;
  return tf.engine().runKernel(GELU, { x }) as tf.Tensor;
}
