/**
 * Classification metrics over labels: plain arrays, typed arrays, or tensors
 * (a rank-2 tensor of logits or one-hot rows is reduced with argmax over its last axis),
 * and retrieval metrics over a similarity matrix (recall@k, image→text and text→image).
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
    throw new Error(
      `${what}: expected a rank-1 tensor of labels or rank-2 scores [N, C], got shape [${x.shape.join(", ")}]`,
    );
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
  for (const [arr, name] of [
    [p, "pred"],
    [t, "target"],
  ] as const) {
    const i = arr.findIndex((v) => !Number.isInteger(v) || v < 0);
    if (i >= 0) throw new Error(`confusionMatrix(): ${name}[${i}] = ${arr[i]} is not a class (a non-negative integer)`);
  }
  const n = numClasses ?? p.concat(t).reduce((a, b) => Math.max(a, b), 0) + 1;
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`confusionMatrix(): numClasses must be a positive integer, got ${n}`);
  const m = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const notAClass = (name: string, i: number, v: number | undefined) =>
    new Error(`confusionMatrix(): ${name}[${i}] = ${v} is not a class in 0..${n - 1}`);
  for (const [i, ti] of t.entries()) {
    const pi = p[i]; // p and t have the same length (pair)
    if (pi === undefined || pi >= n) throw notAClass("pred", i, pi);
    const row = m[ti];
    if (row === undefined) throw notAClass("target", i, ti);
    row[pi]++;
  }
  return m;
}

/** Accuracy of each class (recall per class); NaN for a class absent from `target`. */
export function perClassAccuracy(pred: Labels, target: Labels, numClasses?: number): number[] {
  return confusionMatrix(pred, target, numClasses).map((row, c) => {
    let total = 0;
    let hits = 0;
    for (const [j, count] of row.entries()) {
      total += count;
      if (j === c) hits = count;
    }
    return total ? hits / total : NaN;
  });
}

// ---------------------------------------------------------------------------------------------
// Retrieval
// ---------------------------------------------------------------------------------------------

export type Similarity = ArrayLike<ArrayLike<number>> | tf.Tensor;

function toMatrix(sim: Similarity, fn: string): number[][] {
  let rows: number[][];
  if (sim instanceof tf.Tensor) {
    if (sim.rank !== 2)
      throw new Error(
        `${fn}(): similarity must be a rank-2 tensor [queries, candidates], got shape [${sim.shape.join(", ")}]`,
      );
    rows = sim.arraySync() as number[][];
  } else {
    rows = Array.from(sim, (r) => Array.from(r));
  }
  const [first] = rows;
  if (first === undefined || first.length === 0) throw new Error(`${fn}(): empty similarity matrix`);
  const n = first.length;
  rows.forEach((r, i) => {
    if (r.length !== n) throw new Error(`${fn}(): row ${i} has ${r.length} candidates, row 0 has ${n}`);
    const j = r.findIndex((v) => Number.isNaN(v));
    if (j >= 0) throw new Error(`${fn}(): similarity[${i}][${j}] is NaN`);
  });
  return rows;
}

export interface RecallOptions {
  /**
   * The correct candidate(s) of each query: one index, or a list of indices (e.g. the 5 captions of
   * an image). Default: the diagonal, query i ↔ candidate i.
   */
  targets?: readonly (number | readonly number[])[];
}

/**
 * Recall@k for retrieval: the fraction of queries (rows of `similarity` [Nq, Nc]) with a correct
 * candidate among the k most similar columns. Ties are counted at their expected value under a
 * random order: a query whose best score is shared by c correct and t wrong candidates, behind g
 * strictly better wrong ones, fills its m = k − g remaining places from those c + t at random and
 * scores 1 − C(t, m) / C(c + t, m) (for c = 1: m / (t + 1)). So a constant matrix scores chance,
 * 1 − C(Nc − c, k) / C(Nc, k) for c correct candidates (k / Nc for one).
 * Image→text on a [N_images, N_texts] matrix; text→image on its transpose (see `retrievalReport`).
 */
export function recallAtK(similarity: Similarity, k: number, opts: RecallOptions = {}): number {
  const S = toMatrix(similarity, "recallAtK");
  return recallOf(S, k, opts.targets, "recallAtK");
}

function recallOf(S: number[][], k: number, targets: RecallOptions["targets"], fn: string): number {
  if (!Number.isInteger(k) || k < 1) throw new Error(`${fn}(): k must be a positive integer, got ${k}`);
  const [first] = S;
  if (first === undefined) throw new Error(`${fn}(): empty similarity matrix`);
  const nc = first.length;
  if (targets && targets.length !== S.length)
    throw new Error(`${fn}(): ${targets.length} targets for ${S.length} queries`);
  if (!targets && S.length > nc)
    throw new Error(
      `${fn}(): the default diagonal targets need at least as many candidates (${nc}) as queries (${S.length})`,
    );
  let hits = 0;
  for (const [i, row] of S.entries()) {
    const t = targets ? targets[i] : i;
    if (t === undefined) throw new Error(`${fn}(): query ${i} has no target`); // lengths checked above
    const correct = typeof t === "number" ? [t] : [...t];
    if (correct.length === 0) throw new Error(`${fn}(): query ${i} has no correct candidate`);
    for (const c of correct)
      if (!Number.isInteger(c) || c < 0 || c >= nc)
        throw new Error(`${fn}(): target ${c} of query ${i} is not a candidate in 0..${nc - 1}`);
    const isCorrect = new Set(correct);
    let best = -Infinity; // the best score of a correct candidate
    for (const [j, v] of row.entries()) if (isCorrect.has(j) && v > best) best = v;
    let correctTied = 0;
    let greater = 0;
    let ties = 0;
    for (const [j, v] of row.entries()) {
      if (isCorrect.has(j)) correctTied += v === best ? 1 : 0;
      else if (v > best) greater++;
      else if (v === best) ties++;
    }
    hits += hitChance(k - greater, correctTied, ties);
  }
  return hits / S.length;
}

/**
 * Recall@k of a random ranking for a query with `correct` right answers among `candidates`:
 * 1 − C(candidates − correct, k) / C(candidates, k) (k / candidates for one right answer).
 */
export function recallChance(k: number, correct: number, candidates: number): number {
  if (!Number.isInteger(k) || k < 1) throw new Error(`recallChance(): k must be a positive integer, got ${k}`);
  if (!Number.isInteger(correct) || !Number.isInteger(candidates) || correct < 0 || correct > candidates) {
    throw new Error(`recallChance(): need 0 <= correct <= candidates (integers), got ${correct} of ${candidates}`);
  }
  return hitChance(k, correct, candidates - correct);
}

/**
 * Chance that m places drawn at random from c correct and t wrong candidates take a correct one:
 * 1 − C(t, m) / C(c + t, m).
 */
function hitChance(m: number, c: number, t: number): number {
  if (m <= 0 || c <= 0) return 0;
  let miss = 1;
  for (let j = 0; j < m && miss > 0; j++) miss *= Math.max(0, t - j) / (c + t - j);
  return 1 - miss;
}

/** The transpose of a matrix whose rows all have the first row's length (as `toMatrix` checks). */
function transpose(rows: number[][]): number[][] {
  const out: number[][] = (rows[0] ?? []).map(() => []);
  for (const [i, r] of rows.entries())
    for (const [j, v] of r.entries()) {
      const column = out[j];
      if (column === undefined) throw new Error(`transpose(): row ${i} is longer than row 0`);
      column.push(v);
    }
  return out;
}

export interface RetrievalReport {
  /** Image → text: for each image (row), is a matching text among the top k? */
  i2t: Record<number, number>;
  /** Text → image: for each text (column), is its image among the top k? */
  t2i: Record<number, number>;
}

/**
 * Recall@k both ways from a similarity matrix [N_images, N_texts] (rows images, columns texts, as
 * CLIP's `logitsPerImage`). By default text j matches image j; with `imageOfText` (one entry per
 * text, e.g. COCO's 5 captions per image) text j matches image imageOfText[j], and image i matches
 * every text whose image is i.
 *
 *   retrievalReport(sim)  →  { i2t: { 1: 0.62, 5: 0.9, 10: 0.97 }, t2i: { 1: 0.58, 5: 0.88, 10: 0.96 } }
 */
export function retrievalReport(
  similarity: Similarity,
  ks: readonly number[] = [1, 5, 10],
  opts: { imageOfText?: readonly number[] } = {},
): RetrievalReport {
  const S = toMatrix(similarity, "retrievalReport");
  const nImages = S.length;
  const St = transpose(S); // [N_texts, N_images]
  const nTexts = St.length;
  let i2tTargets: number[][] | undefined;
  let t2iTargets: number[] | undefined;
  if (opts.imageOfText) {
    if (opts.imageOfText.length !== nTexts)
      throw new Error(`retrievalReport(): imageOfText has ${opts.imageOfText.length} entries for ${nTexts} texts`);
    t2iTargets = [...opts.imageOfText];
    const textsOfImage: number[][] = Array.from({ length: nImages }, () => []);
    for (const [j, img] of t2iTargets.entries()) {
      const texts = Number.isInteger(img) ? textsOfImage[img] : undefined;
      if (texts === undefined)
        throw new Error(`retrievalReport(): imageOfText[${j}] = ${img} is not an image in 0..${nImages - 1}`);
      texts.push(j);
    }
    i2tTargets = textsOfImage;
  } else if (nImages !== nTexts) {
    throw new Error(
      `retrievalReport(): a ${nImages}×${nTexts} matrix needs imageOfText (which image each text describes)`,
    );
  }
  const report: RetrievalReport = { i2t: {}, t2i: {} };
  for (const k of ks) {
    report.i2t[k] = recallOf(S, k, i2tTargets, "retrievalReport");
    report.t2i[k] = recallOf(St, k, t2iTargets, "retrievalReport");
  }
  return report;
}
