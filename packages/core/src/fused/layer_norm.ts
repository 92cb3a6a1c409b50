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
 * (layers.ts LayerNorm).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  addon,
  f32,
  fusedAvailable,
  registerWasmKernel,
  size,
  type KernelArgs,
  type TensorInfo,
} from "./kernel_util.js";

export const LAYER_NORM = "VlabLayerNorm";
export const LAYER_NORM_GRAD = "VlabLayerNormGrad";

function layerNormKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { eps } = attrs as unknown as { eps: number };
  const cols = x.shape[x.shape.length - 1]!;
  const rows = cols === 0 ? 0 : size(x.shape) / cols;
  const out = be.makeOutput(x.shape, "float32");
  if (rows === 0) return out;
  addon().layerNorm(f32(be, x), f32(be, gamma), f32(be, beta), f32(be, out), rows, cols, eps); // native/src/layer_norm.cc
  return out;
}

/** Outputs [dx, dγ, dβ]. */
function layerNormGradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const be = backend as BackendWasm;
  const { dy, x, gamma } = inputs as { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo };
  const { eps } = attrs as unknown as { eps: number };
  const cols = x.shape[x.shape.length - 1]!;
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

registerWasmKernel(LAYER_NORM, layerNormKernel, "layer norm in one pass");
registerWasmKernel(LAYER_NORM_GRAD, layerNormGradKernel, "layer norm gradient in one pass");
if (!tf.getGradient(LAYER_NORM)) {
  tf.registerGradient({
    kernelName: LAYER_NORM,
    inputsToSave: ["x", "gamma"],
    gradFunc: (dy, saved, attrs) => {
      // One kernel gives all three gradients. It runs here, not inside the closures below: tfjs
      // calls each closure in its own tidy, which would dispose the parts another closure returns.
      const [dx, dgamma, dbeta] = tf
        .engine()
        .runKernel(
          LAYER_NORM_GRAD,
          { dy: dy as tf.Tensor, x: saved[0]!, gamma: saved[1]! },
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
      return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
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
