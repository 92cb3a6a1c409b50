/**
 * Classification metrics over labels: plain arrays, typed arrays, or tensors
 * (a rank-2 tensor of logits or one-hot rows is reduced with argmax over its last axis).
 */
import { tf } from "@vlab/core";

export type Labels = ArrayLike<number> | tf.Tensor;

/** Integer class labels from an array or tensor. */
export function toLabels(x: Labels, what = "labels"): number[] {
  if (x instanceof tf.Tensor) {
    if (x.rank === 1) return Array.from(x.dataSync() as ArrayLike<number>);
    if (x.rank === 2) {
      const idx = tf.argMax(x, -1);
      try {
        return Array.from(idx.dataSync() as ArrayLike<number>);
      } finally {
        idx.dispose();
      }
    }
    throw new Error(`${what}: expected a rank-1 tensor of labels or rank-2 scores [N, C], got shape [${x.shape.join(", ")}]`);
  }
  return Array.from(x);
}

function pair(pred: Labels, target: Labels, fn: string): [number[], number[]] {
  const p = toLabels(pred, `${fn}(): pred`);
  const t = toLabels(target, `${fn}(): target`);
  if (p.length !== t.length) throw new Error(`${fn}(): pred has ${p.length} labels but target has ${t.length}`);
  if (p.length === 0) throw new Error(`${fn}(): no labels`);
  return [p, t];
}

/** Fraction of positions where `pred` equals `target`, in [0, 1]. */
export function accuracy(pred: Labels, target: Labels): number {
  const [p, t] = pair(pred, target, "accuracy");
  let hit = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === t[i]) hit++;
  return hit / p.length;
}

/**
 * `m[trueClass][predictedClass]` counts (rows: target, columns: prediction, as in scikit-learn).
 * `numClasses` defaults to the largest label + 1.
 */
export function confusionMatrix(pred: Labels, target: Labels, numClasses?: number): number[][] {
  const [p, t] = pair(pred, target, "confusionMatrix");
  for (const [arr, name] of [[p, "pred"], [t, "target"]] as const) {
    const i = arr.findIndex((v) => !Number.isInteger(v) || v < 0);
    if (i >= 0) throw new Error(`confusionMatrix(): ${name}[${i}] = ${arr[i]} is not a class (a non-negative integer)`);
  }
  const n = numClasses ?? p.concat(t).reduce((a, b) => Math.max(a, b), 0) + 1;
  if (!Number.isInteger(n) || n < 1) throw new Error(`confusionMatrix(): numClasses must be a positive integer, got ${n}`);
  const m = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < p.length; i++) {
    for (const [v, name] of [[p[i]!, "pred"], [t[i]!, "target"]] as const)
      if (v >= n) throw new Error(`confusionMatrix(): ${name}[${i}] = ${v} is not a class in 0..${n - 1}`);
    m[t[i]!]![p[i]!]!++;
  }
  return m;
}

/** Accuracy of each class (recall per class); NaN for a class absent from `target`. */
export function perClassAccuracy(pred: Labels, target: Labels, numClasses?: number): number[] {
  return confusionMatrix(pred, target, numClasses).map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total ? row[c]! / total : NaN;
  });
}
