/**
 * How much of what a run learns in distribution (ID) carries over out of distribution (OOD), measured along the run:
 * the question behind "SFT memorises, RL generalises" (Chu et al. 2025; R1-V, Chen et al. 2025, README), asked so
 * that a method which learns less is not mistaken for one that transfers worse.
 *
 * A run is a list of checkpoints p_k = (step_k, id_k, ood_k), the first one the model it starts from (step 0).
 *
 *   checkpoints along a run   `alongRun`: evaluate after every `every` completed steps, or at the completed steps
 *                             listed in `at`, and after the last one, from a training loop's per-step hook
 *                             (GrpoTrainer's `onStep`, core `train`'s `evalFn` with `evalEvery: 1`);
 *                             `geometricSteps(steps, n)` spaces n checkpoints as steps^(i/(n−1)), dense where
 *                             accuracy moves fastest, at the start
 *   OOD at matched ID         `oodAtId(run, L)`: the OOD accuracy where the run's ID accuracy first reaches L,
 *                             linear between the two checkpoints around that crossing,
 *                               t = (L − id_{k−1}) / (id_k − id_{k−1}),   ood(L) = ood_{k−1} + t (ood_k − ood_{k−1})
 *                             NaN if the run never reaches L
 *   common ID levels          `commonIdLevels(runs, n)`: n levels evenly inside (max start, min best ID) — reached
 *                             by every run, so every run has an OOD value at each
 *   OOD gain per ID gain      `transferSlope(run)`: least squares through the start point,
 *                               s = Σ_k Δid_k Δood_k / Σ_k Δid_k²,   Δ = p_k − p_0
 *                             (1: OOD rises as much as ID; 0: nothing carries over)
 *   spread over seeds         `spread(xs)`: mean, sample standard deviation (÷ (n − 1)), standard error σ/√n, range
 *   two methods compared      `compareMeans(a, b)`: mean(a) − mean(b), its standard error √(σ_a²/n_a + σ_b²/n_b)
 *                             (Welch), and the difference minus two standard errors ("low"): above 0, a is ahead
 *                             beyond the spread between seeds
 */

/** One checkpoint of a run: completed steps, accuracy in and out of distribution (a record of numbers). */
export type RunPoint = { step: number; id: number; ood: number };

export interface AlongRunOptions {
  /** Evaluate after every this many completed steps (and after the last). */
  every?: number;
  /** Evaluate after these completed steps (and after the last), e.g. `geometricSteps(steps, n)`. */
  at?: readonly number[];
  /** The run's total steps. */
  steps: number;
  /** Accuracy of the model as it is now, in and out of distribution. */
  evaluate: () => { id: number; ood: number };
  /** The model the run starts from (step 0), evaluated once before: the first point of `points`. */
  start?: { id: number; ood: number };
}

export interface AlongRun {
  /** The checkpoints so far (the start first, if given). */
  readonly points: RunPoint[];
  /**
   * Call after step `step` (0-based, as GrpoTrainer's `onStep` and core `train`'s `evalFn` pass it): evaluates and
   * records a point when `step + 1` is a multiple of `every`, in `at`, or the last step; returns it, or undefined.
   */
  onStep(step: number): RunPoint | undefined;
}

/** Checkpoint evaluation along a run; see the file comment. */
export function alongRun(opts: AlongRunOptions): AlongRun {
  const { every, steps, evaluate, start } = opts;
  if (every !== undefined && !(Number.isInteger(every) && every >= 1))
    throw new Error(`alongRun: every must be a positive integer, got ${every}`);
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`alongRun: steps must be a positive integer, got ${steps}`);
  const at = new Set(opts.at ?? []);
  for (const s of at)
    if (!Number.isInteger(s) || s < 1 || s > steps)
      throw new Error(`alongRun: at holds ${s}, not a completed step count in 1..${steps}`);
  const points: RunPoint[] = start ? [{ step: 0, ...checkAcc(start, "alongRun: start") }] : [];
  return {
    points,
    onStep(step: number) {
      const completed = step + 1;
      const due = (every !== undefined && completed % every === 0) || at.has(completed) || completed === steps;
      if (!due) return undefined;
      const last = points[points.length - 1];
      if (last && last.step >= completed)
        throw new Error(`alongRun: step ${step} comes after a checkpoint at ${last.step} completed steps`);
      const p = { step: completed, ...checkAcc(evaluate(), `alongRun: evaluate() after step ${step}`) };
      points.push(p);
      return p;
    },
  };
}

/** `n` completed-step counts from 1 to `steps`, spaced geometrically (steps^(i/(n−1)), rounded, repeats dropped). */
export function geometricSteps(steps: number, n: number): number[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`geometricSteps: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`geometricSteps: n must be a positive integer, got ${n}`);
  if (n === 1) return [steps];
  const out = Array.from({ length: n }, (_, i) => Math.round(steps ** (i / (n - 1))));
  return [...new Set(out)];
}

function checkAcc(a: { id: number; ood: number }, where: string): { id: number; ood: number } {
  if (!Number.isFinite(a.id) || !Number.isFinite(a.ood))
    throw new Error(`${where}: id and ood must be finite numbers, got ${a.id} and ${a.ood}`);
  return { id: a.id, ood: a.ood };
}

function checkRun(run: readonly RunPoint[], fn: string): void {
  if (run.length === 0) throw new Error(`${fn}: the run has no checkpoints`);
  for (const [k, p] of run.entries()) {
    if (!Number.isFinite(p.id) || !Number.isFinite(p.ood))
      throw new Error(`${fn}: checkpoint ${k} (step ${p.step}) has id ${p.id}, ood ${p.ood}`);
    const prev = run[k - 1];
    if (prev && p.step <= prev.step)
      throw new Error(`${fn}: checkpoint ${k} (step ${p.step}) is not after ${prev.step}`);
  }
}

/** The OOD accuracy where the run's ID accuracy first reaches `level` (linear between checkpoints); NaN if never. */
export function oodAtId(run: readonly RunPoint[], level: number): number {
  checkRun(run, "oodAtId");
  const [first] = run;
  if (first && first.id >= level) return first.ood;
  for (let k = 1; k < run.length; k++) {
    const a = run[k - 1];
    const b = run[k];
    if (!a || !b || b.id < level) continue;
    const t = (level - a.id) / (b.id - a.id); // a.id < level <= b.id, so b.id > a.id
    return a.ood + t * (b.ood - a.ood);
  }
  return NaN;
}

/** `n` ID levels evenly inside (highest start, lowest best ID) over the runs: every run reaches each. */
export function commonIdLevels(runs: readonly (readonly RunPoint[])[], n: number): number[] {
  if (runs.length === 0) throw new Error("commonIdLevels: no runs");
  if (!Number.isInteger(n) || n < 1) throw new Error(`commonIdLevels: n must be a positive integer, got ${n}`);
  runs.forEach((r) => checkRun(r, "commonIdLevels"));
  const lo = Math.max(...runs.map((r) => r[0]?.id ?? NaN));
  const hi = Math.min(...runs.map((r) => Math.max(...r.map((p) => p.id))));
  if (!(hi > lo)) return [];
  return Array.from({ length: n }, (_, i) => lo + ((i + 1) * (hi - lo)) / (n + 1));
}

/** OOD gain per unit of ID gain over the run: least squares through its start point; NaN if ID never moves. */
export function transferSlope(run: readonly RunPoint[]): number {
  checkRun(run, "transferSlope");
  const [p0] = run;
  if (!p0) return NaN;
  let sxy = 0;
  let sxx = 0;
  for (const p of run) {
    const dx = p.id - p0.id;
    sxy += dx * (p.ood - p0.ood);
    sxx += dx * dx;
  }
  return sxx > 0 ? sxy / sxx : NaN;
}

/** Mean, sample standard deviation, standard error and range of a set of numbers (one per seed). */
export interface Spread {
  n: number;
  mean: number;
  /** Sample standard deviation (÷ (n − 1)); 0 for one value. */
  std: number;
  /** std / √n. */
  se: number;
  min: number;
  max: number;
}

export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) throw new Error("spread: no values");
  const bad = xs.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new Error(`spread: value ${bad} is ${xs[bad]}, not a finite number`);
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, std, se: std / Math.sqrt(n), min: Math.min(...xs), max: Math.max(...xs) };
}

/** mean(a) − mean(b) with its (Welch) standard error, and the difference less two standard errors. */
export function compareMeans(a: readonly number[], b: readonly number[]): { diff: number; se: number; low: number } {
  const [sa, sb] = [spread(a), spread(b)];
  const diff = sa.mean - sb.mean;
  const se = Math.sqrt(sa.se ** 2 + sb.se ** 2);
  return { diff, se, low: diff - 2 * se };
}
