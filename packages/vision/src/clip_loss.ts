/**
 * CLIP's symmetric contrastive loss (Radford et al. 2021, Figure 3; open_clip's `ClipLoss`).
 * The i-th image and the i-th text are a pair; every other entry of the row / column is a negative.
 *
 *   # logits = np.dot(I_e, T_e.T) * np.exp(t)           [n, n] scaled cosine similarities
 *   labels = np.arange(n)
 *   loss_i = cross_entropy_loss(logits, labels, axis=0)
 *   loss_t = cross_entropy_loss(logits, labels, axis=1)
 *   loss   = (loss_i + loss_t) / 2
 */
import { tf } from "@vlab/core";

/** Mean cross-entropy of each row against the diagonal: mean_i (logsumexp_j z_ij − z_ii). */
function crossEntropyDiagonal(logits: tf.Tensor2D): tf.Scalar {
  const diag = tf.sum(tf.mul(logits, tf.eye(logits.shape[0])), 1); // [n] z_ii
  return tf.mean(tf.sub(tf.logSumExp(logits, 1), diag)) as tf.Scalar;
}

/** L = (CE(logitsPerImage, arange n) + CE(logitsPerText, arange n)) / 2; logitsPerText defaults to the transpose. */
export function clipLoss(logitsPerImage: tf.Tensor2D, logitsPerText?: tf.Tensor2D): tf.Scalar {
  const [n, m] = logitsPerImage.shape;
  if (n !== m) throw new Error(`clipLoss: logits must be square [n, n] (n pairs), got [${n}, ${m}]`);
  return tf.tidy(() => {
    const perText = logitsPerText ?? (tf.transpose(logitsPerImage) as tf.Tensor2D); // [n, n]
    return tf.div(tf.add(crossEntropyDiagonal(logitsPerImage), crossEntropyDiagonal(perText)), 2) as tf.Scalar;
  });
}
