/**
 * Gradients missing on every backend (tfjs 4.22): comparisons and logical ops (`Greater`, `Equal`,
 * ...) have no registered gradient, so `tf.where(tf.greater(x, 0), ...)` inside a loss throws. They
 * are piecewise constant: their gradient is zero, which is what is registered here.
 */
import * as tf from "@tensorflow/tfjs-core";

/** Comparisons and logical ops, with their input names. */
const ZERO_GRAD_KERNELS: Record<string, string[]> = {
  Equal: ["a", "b"],
  NotEqual: ["a", "b"],
  Greater: ["a", "b"],
  GreaterEqual: ["a", "b"],
  Less: ["a", "b"],
  LessEqual: ["a", "b"],
  LogicalAnd: ["a", "b"],
  LogicalOr: ["a", "b"],
  LogicalXor: ["a", "b"],
  LogicalNot: ["x"],
  IsNan: ["x"],
  IsInf: ["x"],
  IsFinite: ["x"],
};

/** Registers a zero gradient for each of them that has none; returns `grad:<Kernel>` for each registered. */
export function registerZeroGradients(): string[] {
  const done: string[] = [];
  for (const [kernelName, inputNames] of Object.entries(ZERO_GRAD_KERNELS)) {
    if (tf.getGradient(kernelName)) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: inputNames,
      gradFunc: (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const grads: Record<string, () => tf.Tensor> = {};
        inputNames.forEach((name, i) => {
          const x = saved[i];
          if (!x) throw new Error(`the zero gradient of ${kernelName}: input '${name}' was not saved`);
          grads[name] = () => tf.zeros(x.shape, "float32");
        });
        return grads;
      },
    });
    done.push(`grad:${kernelName}`);
  }
  return done;
}
