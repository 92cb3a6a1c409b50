/**
 * Losses over logits.
 *
 *   crossEntropy(logits [..., V], targets [...])     mean of −log softmax(logits)[target]
 *
 * `crossEntropy` is PyTorch's `F.cross_entropy(logits.view(-1, V), targets.view(-1))`: the
 * softmax and the log are taken together (log-sum-exp after subtracting the row maximum), then
 * averaged over every position: per row −Σ_j onehot(y)_j · log softmax(z)_j, where a faster kernel
 * may stand in (faster.ts). Targets must lie in [0, V).
 */
import * as tf from "@tensorflow/tfjs-core";
import { faster } from "./faster.js";

/** Mean cross-entropy of logits [..., V] against integer class targets [...]. */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor | number[]): tf.Scalar {
  return tf.tidy(() => {
    const V = logits.shape[logits.rank - 1];
    if (V === undefined) throw new Error("crossEntropy: logits is a scalar; it needs a last axis of V classes");
    const z = tf.reshape(logits, [-1, V]) as tf.Tensor2D; // [N, V]
    const t = targets instanceof tf.Tensor ? targets : tf.tensor(targets, undefined, "int32");
    const y = tf.reshape(t.dtype === "int32" ? t : tf.cast(t, "int32"), [-1]) as tf.Tensor1D; // [N]
    if (y.shape[0] !== z.shape[0]) {
      throw new Error(
        `crossEntropy: ${y.shape[0]} targets for ${z.shape[0]} rows of logits [${logits.shape.join(", ")}]`,
      );
    }
    // [N]: −Σ_j onehot(y)_j · log softmax(z)_j per row
    const perRow = faster("softmaxCrossEntropy", z, y) ?? tf.neg(tf.sum(tf.mul(tf.logSoftmax(z), tf.oneHot(y, V)), -1));
    return tf.mean(perRow) as tf.Scalar;
  });
}
