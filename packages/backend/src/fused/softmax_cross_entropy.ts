/**
 * Softmax cross-entropy per row as one fused kernel forward and one backward (see kernel_util.ts):
 *
 *   loss_r = log Σ_j exp(z_rj) − z_r,y_r                   (log-sum-exp taken after subtracting max)
 *   ∂loss_r/∂z_r = softmax(z_r) − onehot(y_r)
 *
 * (native/src/softmax_xent.cc). `softmaxCrossEntropyFused(logits [N, V], labels int32 [N])` gives
 * the N losses, or null where the kernel is unavailable (see kernel_util.ts); @vlab/core's losses.ts composes
 * tfjs ops then. Labels must lie in [0, V): the kernel throws otherwise.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { f32, i32, type KernelArgs, type TensorInfo } from "../kernels/kernel_utils.js";
import { addon, fusedAvailable, registerFusedKernel } from "./kernel_util.js";

export const SOFTMAX_XENT = "VlabSoftmaxCrossEntropy";
export const SOFTMAX_XENT_GRAD = "VlabSoftmaxCrossEntropyGrad";

function xentKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const { logits, labels } = inputs as { logits: TensorInfo; labels: TensorInfo };
  const [rows, cols] = logits.shape as [number, number];
  const out = be.makeOutput([rows], "float32");
  if (rows === 0) return out;
  addon().softmaxXent(f32(be, logits), i32(be, labels), f32(be, out), rows, cols); // native/src/softmax_xent.cc
  return out;
}

function xentGradKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const { dy, logits, labels } = inputs as { dy: TensorInfo; logits: TensorInfo; labels: TensorInfo };
  const [rows, cols] = logits.shape as [number, number];
  const out = be.makeOutput(logits.shape, "float32");
  if (rows === 0) return out;
  addon().softmaxXentGrad(f32(be, dy), f32(be, logits), i32(be, labels), f32(be, out), rows, cols);
  return out;
}

registerFusedKernel(SOFTMAX_XENT, xentKernel, "softmax cross-entropy in one pass");
registerFusedKernel(SOFTMAX_XENT_GRAD, xentGradKernel, "softmax cross-entropy gradient in one pass");
if (!tf.getGradient(SOFTMAX_XENT)) {
  tf.registerGradient({
    kernelName: SOFTMAX_XENT,
    inputsToSave: ["logits", "labels"],
    gradFunc: (dy, saved) => {
      const [logits, labels] = saved;
      if (!logits || !labels) throw new Error(`the gradient of ${SOFTMAX_XENT}: its inputs were not saved`);
      return {
        logits: () => tf.engine().runKernel(SOFTMAX_XENT_GRAD, { dy: dy as tf.Tensor, logits, labels }) as tf.Tensor,
        labels: () => tf.zeros(labels.shape, "float32"), // integer labels: no gradient
      };
    },
  });
}

/** Per-row losses [N] of logits [N, V] against labels [N] in one fused kernel, or null where unavailable. */
export function softmaxCrossEntropyFused(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D | null {
  if (logits.dtype !== "float32" || labels.dtype !== "int32" || !fusedAvailable(SOFTMAX_XENT)) return null;
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) return null;
  return tf.engine().runKernel(SOFTMAX_XENT, { logits, labels }) as tf.Tensor1D;
}
