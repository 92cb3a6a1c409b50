/**
 * Layer normalisation over the last axis as one fused kernel forward and one backward (see
 * kernel_util.ts), PyTorch's `F.layer_norm` with weight and bias:
 *
 *   x̂ = (x − μ) / √(σ² + eps),  y = x̂·γ + β                        (biased variance σ²)
 *   g = dy·γ,  dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + eps),  dγ = Σ dy·x̂,  dβ = Σ dy
 *
 * (means over the normalised axis, sums over all other axes). The backward kernel recomputes μ and
 * σ² from x rather than saving them (native/src/layer_norm.cc). `layerNormFused` returns null where
 * the kernel is unavailable (see kernel_util.ts, or not float32); the caller then composes tfjs ops
 * (@vlab/core's layers.ts LayerNorm).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { f32, size, type KernelArgs, type TensorInfo } from "../kernels/kernel_utils.js";
import { addon, fusedAvailable, registerFusedKernel } from "./kernel_util.js";

export const LAYER_NORM = "VlabLayerNorm";
export const LAYER_NORM_GRAD = "VlabLayerNormGrad";

/** The normalised (last) axis of x. */
function lastDim(x: TensorInfo): number {
  const d = x.shape[x.shape.length - 1];
  if (d === undefined) throw new Error(`${LAYER_NORM}: x is a scalar; it needs an axis to normalise`);
  return d;
}

function layerNormKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { eps } = attrs as unknown as { eps: number };
  const cols = lastDim(x);
  const rows = cols === 0 ? 0 : size(x.shape) / cols;
  const out = be.makeOutput(x.shape, "float32");
  if (rows === 0) return out;
  // native/src/layer_norm.cc
  addon().layerNorm(f32(be, x), f32(be, gamma), f32(be, beta), f32(be, out), rows, cols, eps);
  return out;
}

/** Outputs [dx, dγ, dβ]. */
function layerNormGradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const be = backend as BackendWasm;
  const { dy, x, gamma } = inputs as { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo };
  const { eps } = attrs as unknown as { eps: number };
  const cols = lastDim(x);
  const rows = cols === 0 ? 0 : size(x.shape) / cols;
  const dx = be.makeOutput(x.shape, "float32");
  const dgamma = be.makeOutput([cols], "float32");
  const dbeta = be.makeOutput([cols], "float32");
  if (rows === 0) {
    f32(be, dgamma).fill(0);
    f32(be, dbeta).fill(0);
    return [dx, dgamma, dbeta];
  }
  addon().layerNormGrad(
    f32(be, dy),
    f32(be, x),
    f32(be, gamma),
    f32(be, dx),
    f32(be, dgamma),
    f32(be, dbeta),
    rows,
    cols,
    eps,
  );
  return [dx, dgamma, dbeta];
}

registerFusedKernel(LAYER_NORM, layerNormKernel, "layer norm in one pass");
registerFusedKernel(LAYER_NORM_GRAD, layerNormGradKernel, "layer norm gradient in one pass");
if (!tf.getGradient(LAYER_NORM)) {
  tf.registerGradient({
    kernelName: LAYER_NORM,
    inputsToSave: ["x", "gamma"],
    gradFunc: (dy, saved, attrs) => {
      const [x, gamma] = saved;
      if (!x || !gamma) throw new Error(`the gradient of ${LAYER_NORM}: its inputs were not saved`);
      // One kernel gives all three gradients. It runs here, not inside the closures below: tfjs
      // calls each closure in its own tidy, which would dispose the parts another closure returns.
      // (A gradient's attrs are typed as the generic attribute map they were passed as.)
      const grads = tf
        .engine()
        .runKernel(LAYER_NORM_GRAD, { dy: dy as tf.Tensor, x, gamma }, attrs as unknown as tf.NamedAttrMap);
      const [dx, dgamma, dbeta] = grads as tf.Tensor[];
      if (!dx || !dgamma || !dbeta) throw new Error(`${LAYER_NORM_GRAD} returned fewer than three tensors`);
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    },
  });
}

/** Layer norm of x [..., D] with weight and bias [D] as one fused kernel, or null where unavailable. */
export function layerNormFused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor | null {
  if (x.dtype !== "float32" || gamma.dtype !== "float32" || beta.dtype !== "float32" || !fusedAvailable(LAYER_NORM))
    return null;
  const d = x.shape[x.rank - 1];
  if (x.rank < 1 || gamma.rank !== 1 || beta.rank !== 1 || gamma.shape[0] !== d || beta.shape[0] !== d) return null;
  return tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as tf.Tensor;
}
