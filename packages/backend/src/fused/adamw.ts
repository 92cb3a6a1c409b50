/**
 * One AdamW update of one parameter as a single kernel (see kernel_util.ts; @vlab/core's optim.ts has
 * the algorithm). Inputs p, g, m, v; outputs p', m', v' (new tensors: tfjs tensors are immutable, the
 * optimizer assigns them to its variables):
 *
 *   m' = β1·m + (1 − β1)·g
 *   v' = β2·v + (1 − β2)·g²
 *   p' = p·(1 − lr·λ) − stepSize · m' / (√v' / bc2 + ε)        stepSize = lr / (1 − β1^t),
 *                                                               bc2 = √(1 − β2^t)
 *
 * As tfjs ops this is ~12 kernels per parameter, each with a fixed cost on wasm; the 29 parameters
 * of a small transformer took ~15 ms per step that way, ~2 ms as one native kernel each
 * (native/src/adamw.cc, same operations and float32 roundings as the tfjs ops).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { f32, type KernelArgs, type TensorInfo } from "../kernels/kernel_utils.js";
import { addon, fusedAvailable, registerFusedKernel } from "./kernel_util.js";

export const ADAMW_UPDATE = "VlabAdamWUpdate";

export interface AdamWUpdateAttrs {
  beta1: number;
  beta2: number;
  eps: number;
  /** lr · λ (0 without weight decay). */
  lrDecay: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
  /** √(1 − β2^t). */
  bc2Sqrt: number;
}

function adamwKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const be = backend as BackendWasm;
  const { p, g, m, v } = inputs as { p: TensorInfo; g: TensorInfo; m: TensorInfo; v: TensorInfo };
  const { beta1, beta2, eps, lrDecay, stepSize, bc2Sqrt } = attrs as unknown as AdamWUpdateAttrs;
  const outP = be.makeOutput(p.shape, "float32");
  const outM = be.makeOutput(p.shape, "float32");
  const outV = be.makeOutput(p.shape, "float32");
  addon().adamw(
    f32(be, p),
    f32(be, g),
    f32(be, m),
    f32(be, v),
    f32(be, outP),
    f32(be, outM),
    f32(be, outV),
    beta1,
    beta2,
    eps,
    1 - lrDecay,
    stepSize,
    bc2Sqrt,
  );
  return [outP, outM, outV];
}

registerFusedKernel(ADAMW_UPDATE, adamwKernel, "AdamW update in one pass");

/** [p', m', v'] for float32 p, g, m, v of one shape, or null where the kernel is unavailable. */
export function adamwUpdateFused(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamWUpdateAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] | null {
  if (!fusedAvailable(ADAMW_UPDATE) || [p, g, m, v].some((t) => t.dtype !== "float32")) return null;
  // The attrs are plain numbers; tfjs's attribute map type does not accept an interface.
  const out = tf.engine().runKernel(ADAMW_UPDATE, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap);
  const [pNew, mNew, vNew] = out as tf.Tensor[];
  if (!pNew || !mNew || !vNew) throw new Error(`${ADAMW_UPDATE} returned fewer than three tensors`);
  return [pNew, mNew, vNew];
}
