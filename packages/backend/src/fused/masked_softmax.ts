/**
 * Attention's softmax with the score scale and the additive mask folded in, as one fused kernel
 * forward and one backward (see kernel_util.ts):
 *
 *   y  = softmax(scale · x + max(mask, maskMin))         over the last axis; mask broadcasts to x
 *   dx = scale · y ⊙ (dy − Σ dy ⊙ y)                      (dmask: the same without the scale, summed
 *                                                         over broadcast axes, 0 where clamped
 *                                                         below maskMin)
 *
 * Composed from tfjs ops this is a multiply (of q by the scale), a maximum, a broadcasting add and
 * the softmax forward, and four kernels for the softmax's gradient (native/src/masked_softmax.cc).
 * `scaledMaskedSoftmaxFused` returns null where the kernel is unavailable (see kernel_util.ts, not
 * float32, or a mask whose last axis does not match); @vlab/core's attention.ts composes tfjs ops then.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { f32, size, type KernelArgs, type TensorInfo } from "../kernels/kernel_utils.js";
import { addon, fusedAvailable, registerFusedKernel } from "./kernel_util.js";

export const MASKED_SOFTMAX = "VlabScaledMaskedSoftmax";
/** The same without a mask (a kernel of its own: tfjs saves every input named for the gradient). */
export const SCALED_SOFTMAX = "VlabScaledSoftmax";
export const MASKED_SOFTMAX_GRAD = "VlabScaledMaskedSoftmaxGrad";

interface Attrs {
  scale: number;
  maskMin: number;
}

/** For each row of x (all axes but the last), the row of the broadcast mask it adds (cached by shape). */
const rowMaps = new Map<string, Int32Array>();
function maskRows(xShape: readonly number[], maskShape: readonly number[]): Int32Array {
  const key = `${xShape}|${maskShape}`;
  let rows = rowMaps.get(key);
  if (rows) return rows;
  const outer = xShape.slice(0, -1);
  const m = [...Array(xShape.length - maskShape.length).fill(1), ...maskShape].slice(0, -1);
  rows = new Int32Array(size(outer));
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- d < outer.length = m.length (m is the mask's
     shape padded to x's rank, less the last axis) */
  for (let r = 0; r < rows.length; r++) {
    let rest = r;
    let src = 0;
    let stride = 1;
    for (let d = outer.length - 1; d >= 0; d--) {
      const coord = rest % outer[d]!;
      rest = Math.floor(rest / outer[d]!);
      if (m[d] !== 1) src += coord * stride;
      stride *= m[d]!;
    }
    rows[r] = src;
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  if (rowMaps.size > 32) rowMaps.clear();
  rowMaps.set(key, rows);
  return rows;
}

/** The softmax (last) axis. */
function lastDim(x: TensorInfo): number {
  const d = x.shape[x.shape.length - 1];
  if (d === undefined) throw new Error(`${MASKED_SOFTMAX}: a scalar has no axis to take the softmax over`);
  return d;
}

function softmaxKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const { x, mask } = inputs as { x: TensorInfo; mask?: TensorInfo };
  const { scale, maskMin } = attrs as unknown as Attrs;
  const cols = lastDim(x);
  const rows = cols === 0 ? 0 : size(x.shape) / cols;
  const out = be.makeOutput(x.shape, "float32");
  if (rows === 0) return out;
  const map = mask ? maskRows(x.shape, mask.shape) : null;
  addon().maskedSoftmax(f32(be, x), mask ? f32(be, mask) : null, map, f32(be, out), rows, cols, scale, maskMin);
  return out;
}

function softmaxGradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const { dy, y } = inputs as { dy: TensorInfo; y: TensorInfo };
  const { scale } = attrs as unknown as Attrs;
  const cols = lastDim(y);
  const rows = cols === 0 ? 0 : size(y.shape) / cols;
  const out = be.makeOutput(y.shape, "float32");
  if (rows > 0) addon().maskedSoftmaxGrad(f32(be, dy), f32(be, y), f32(be, out), rows, cols, scale);
  return out;
}

registerFusedKernel(MASKED_SOFTMAX, softmaxKernel, "scaled, masked softmax in one pass");
registerFusedKernel(SCALED_SOFTMAX, softmaxKernel, "scaled softmax in one pass");
registerFusedKernel(MASKED_SOFTMAX_GRAD, softmaxGradKernel, "softmax gradient in one pass");

/** dx (scaled) or dz (unscaled) from the saved output y. */
function softmaxGrad(dy: tf.Tensor, y: tf.Tensor, scale: number): tf.Tensor {
  return tf.engine().runKernel(MASKED_SOFTMAX_GRAD, { dy, y }, { scale }) as tf.Tensor;
}

if (!tf.getGradient(MASKED_SOFTMAX)) {
  tf.registerGradient({
    kernelName: MASKED_SOFTMAX,
    inputsToSave: ["mask"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const { scale, maskMin } = attrs as unknown as Attrs;
      const [mask, y] = saved as [tf.Tensor, tf.Tensor];
      return {
        x: () => softmaxGrad(dy as tf.Tensor, y, scale),
        // Only computed if the mask itself is being differentiated (it rarely is).
        mask: () => {
          const dz = softmaxGrad(dy as tf.Tensor, y, 1);
          const axes = tf.backend_util.getReductionAxes(mask.shape, dz.shape);
          const summed = tf.reshape(axes.length ? tf.sum(dz, axes) : dz, mask.shape);
          return tf.mul(summed, tf.cast(tf.greaterEqual(mask, maskMin), "float32")); // as tf.maximum's gradient
        },
      };
    },
  });
}
if (!tf.getGradient(SCALED_SOFTMAX)) {
  tf.registerGradient({
    kernelName: SCALED_SOFTMAX,
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [y] = saved;
      if (!y) throw new Error(`the gradient of ${SCALED_SOFTMAX}: its output was not saved`);
      // A gradient's attrs are typed as the generic attribute map they were passed as.
      return { x: () => softmaxGrad(dy as tf.Tensor, y, (attrs as unknown as Attrs).scale) };
    },
  });
}

/** Whether scaledMaskedSoftmaxFused can run for x of this dtype and shape with this mask. */
export function scaledMaskedSoftmaxAvailable(dtype: tf.DataType, shape: readonly number[], mask?: tf.Tensor): boolean {
  if (dtype !== "float32" || shape.length < 1 || !fusedAvailable(mask ? MASKED_SOFTMAX : SCALED_SOFTMAX)) return false;
  if (!mask) return true;
  if (mask.dtype !== "float32" || mask.rank > shape.length || mask.shape[mask.rank - 1] !== shape[shape.length - 1])
    return false;
  try {
    return tf.util.arraysEqual(tf.backend_util.assertAndGetBroadcastShape([...shape], mask.shape), [...shape]);
  } catch {
    return false;
  }
}

/**
 * softmax(scale · x + max(mask, maskMin)) over the last axis as one fused kernel, or null where it is
 * unavailable. The mask (optional) must broadcast to x and have x's last axis.
 */
export function scaledMaskedSoftmaxFused(
  x: tf.Tensor,
  mask: tf.Tensor | undefined,
  scale: number,
  maskMin: number,
): tf.Tensor | null {
  if (!scaledMaskedSoftmaxAvailable(x.dtype, x.shape, mask)) return null;
  if (!mask) return tf.engine().runKernel(SCALED_SOFTMAX, { x }, { scale, maskMin }) as tf.Tensor;
  return tf.engine().runKernel(MASKED_SOFTMAX, { x, mask }, { scale, maskMin }) as tf.Tensor;
}
