/**
 * Where a faster kernel may stand in for the reference math.
 *
 * layers.ts, losses.ts, attention.ts and optim.ts write each op as its paper's formula in plain tfjs
 * ops, and ask here first:
 *
 *   return faster("gelu", x) ?? tf.tidy(() => reference formula);
 *
 * `faster(op, ...args)` returns the op's result from a faster kernel of @vlab/backend when the
 * backend provides one and it applies to these arguments (today: one fused native kernel on `wasm`
 * where the C++ addon is built, float32, shapes it handles), and null otherwise: then the caller
 * computes the reference formula, which every other backend runs and which the tests compare the
 * fast kernels against. The results agree to float32 rounding.
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  adamwUpdateFused,
  geluFused,
  layerNormFused,
  scaledMaskedSoftmaxAvailable,
  scaledMaskedSoftmaxFused,
  softmaxCrossEntropyFused,
} from "@vlab/backend";

/** Each op with a faster kernel, and the @vlab/backend function computing it (null where it does not apply). */
const KERNELS = {
  /** layers.ts `gelu`: x·Φ(x), one kernel forward and one backward. */
  gelu: geluFused,
  /** layers.ts `LayerNorm` with weight and bias. */
  layerNorm: layerNormFused,
  /** attention.ts `attentionWeights`: softmax(scale · scores + mask). */
  scaledMaskedSoftmax: scaledMaskedSoftmaxFused,
  /** losses.ts `crossEntropy`: per-row −log softmax(z)[y]. */
  softmaxCrossEntropy: softmaxCrossEntropyFused,
  /** optim.ts `AdamW.step`: one parameter's update in one kernel. */
  adamwUpdate: adamwUpdateFused,
};

export type FasterOp = keyof typeof KERNELS;
type Args = { [K in FasterOp]: Parameters<(typeof KERNELS)[K]> };
type Result = { [K in FasterOp]: ReturnType<(typeof KERNELS)[K]> };
/** The same table, typed so that an op name picks its arguments and result. */
const FASTER: { [K in FasterOp]: (...args: Args[K]) => Result[K] } = KERNELS;

/** `op` computed by a faster kernel, or null where none applies (compute the reference math then). */
export function faster<K extends FasterOp>(op: K, ...args: Args[K]): Result[K] {
  return FASTER[op](...args);
}

/**
 * Whether `faster("scaledMaskedSoftmax", ...)` will run for scores of this dtype and shape with this
 * mask: attention asks before it computes the scores, since the fast kernel applies the scale to the
 * scores and the reference path to q (the cheaper place when nothing is fused).
 */
export function fasterSoftmaxApplies(dtype: tf.DataType, shape: readonly number[], mask?: tf.Tensor): boolean {
  return scaledMaskedSoftmaxAvailable(dtype, shape, mask);
}
