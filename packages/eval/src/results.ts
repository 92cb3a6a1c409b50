/**
 * The results format: what `report()` writes to `results/<notebook>.json` and how a file is checked.
 *
 *   { "notebook": "02-clip", "budget": "quick", "backend": "wasm", "seed": 0, "wall_s": 71.4,
 *     "metrics": { "ensemble_gain": 0.03 },
 *     "claims": [ { "id": "ensembling-helps", "source": "CLIP, Radford et al. 2021, sec. 3.1.4",
 *                   "statement": "prompt ensembling improves zero-shot accuracy",
 *                   "metric": "ensemble_gain", "op": ">=", "threshold": 0, "value": 0.03, "holds": true } ] }
 *
 * A claim's `value` is always `metrics[metric]` and `holds` is always `value op threshold`: `validateResults`
 * refuses a file where they disagree, so a results file cannot say more than its metrics do.
 */
import { isBudget, type Budget } from "./budget.js";

export type ClaimOp = ">=" | ">" | "<=" | "<" | "==";
export const CLAIM_OPS: readonly ClaimOp[] = [">=", ">", "<=", "<", "=="];

/** A paper's claim, stated as a comparison of one of this run's metrics with a threshold. */
export interface Claim {
  /** Short unique slug, e.g. "ensembling-helps". */
  id: string;
  /** Where the claim comes from, e.g. "CLIP, Radford et al. 2021, sec. 3.1.4". */
  source: string;
  /** The claim in words. */
  statement: string;
  /** The key in `metrics` the claim is about. */
  metric: string;
  op: ClaimOp;
  threshold: number;
  /**
   * Optional one-line reason, from the notebook, for a claim that does not hold (e.g. at the full budget): what
   * the small model or data set cannot show. Tables show it beside a claim that does not hold.
   */
  note?: string;
}

export interface ClaimResult extends Claim {
  /** `metrics[metric]` of this run. */
  value: number;
  /** `value op threshold`. */
  holds: boolean;
}

/** The content of `results/<notebook>.json`. */
export interface Results {
  notebook: string;
  budget: Budget;
  backend: string;
  seed: number | null;
  wall_s: number;
  metrics: Record<string, number>;
  claims: ClaimResult[];
}

/** `value op threshold`. `==` is exact equality (use it for counts and other integers). */
export function checkClaim(op: ClaimOp, value: number, threshold: number): boolean {
  switch (op) {
    case ">=":
      return value >= threshold;
    case ">":
      return value > threshold;
    case "<=":
      return value <= threshold;
    case "<":
      return value < threshold;
    case "==":
      return value === threshold;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation: each check returns the value typed, or throws `<where>: <what is wrong>`.

export function fail(where: string, msg: string): never {
  throw new Error(`${where}: ${msg}`);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === "string" && v.trim().length > 0;
}

export function show(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (v === undefined) return "undefined";
  return JSON.stringify(v) ?? String(v);
}

export function checkNotebook(where: string, v: unknown): string {
  if (!nonEmptyString(v)) fail(where, `notebook must be a non-empty name, got ${show(v)}`);
  if (/[/\\]/.test(v) || v === "." || v === ".." || v !== v.trim())
    fail(where, `notebook must be a plain name (no slashes or surrounding spaces), e.g. "02-clip", got ${show(v)}`);
  return v;
}

export function checkMetrics(where: string, v: unknown): Record<string, number> {
  if (!isRecord(v)) fail(where, `metrics must be an object of numbers, got ${show(v)}`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "number") fail(where, `metric "${k}" must be a number, got ${show(x)}`);
    if (!Number.isFinite(x)) fail(where, `metric "${k}" is ${x}; every metric must be a finite number`);
  }
  return v as Record<string, number>;
}

export function checkClaimSpec(where: string, c: unknown, i: number, metrics: Record<string, number>): Claim {
  if (!isRecord(c)) fail(where, `claims[${i}] must be an object, got ${show(c)}`);
  const name = nonEmptyString(c.id) ? `claim "${c.id}"` : `claims[${i}]`;
  if (!nonEmptyString(c.id)) fail(where, `claims[${i}] needs a non-empty string id`);
  for (const key of ["source", "statement"] as const)
    if (!nonEmptyString(c[key])) fail(where, `${name} needs a non-empty ${key}, got ${show(c[key])}`);
  if (!nonEmptyString(c.metric)) fail(where, `${name} needs a metric name, got ${show(c.metric)}`);
  if (!Object.prototype.hasOwnProperty.call(metrics, c.metric)) {
    const known = Object.keys(metrics);
    fail(
      where,
      `${name} uses metric "${c.metric}", which is not in metrics ` +
        `(${known.length ? `known: ${known.join(", ")}` : "metrics is empty"})`,
    );
  }
  if (!CLAIM_OPS.includes(c.op as ClaimOp))
    fail(where, `${name} has op ${show(c.op)}; use one of ${CLAIM_OPS.join(", ")}`);
  if (typeof c.threshold !== "number" || !Number.isFinite(c.threshold))
    fail(where, `${name} needs a finite number threshold, got ${show(c.threshold)}`);
  // a note is shown in one table cell or one summary line, so it is a single line of text
  if (c.note !== undefined && (!nonEmptyString(c.note) || /[\r\n]/.test(c.note)))
    fail(where, `${name} has note ${show(c.note)}; a note is a non-empty single line of text (or leave it out)`);
  return {
    id: c.id,
    source: c.source as string,
    statement: c.statement as string,
    metric: c.metric,
    op: c.op as ClaimOp,
    threshold: c.threshold,
    // only present when given, so files without notes read exactly as before
    ...(c.note !== undefined ? { note: c.note as string } : {}),
  };
}

export function checkClaimIds(where: string, claims: Claim[]): void {
  const seen = new Set<string>();
  for (const c of claims) {
    if (seen.has(c.id)) fail(where, `duplicate claim id "${c.id}"`);
    seen.add(c.id);
  }
}

export function checkBudget(where: string, v: unknown): Budget {
  if (!isBudget(v)) fail(where, `budget must be "quick" or "full", got ${show(v)}`);
  return v;
}

export function checkSeed(where: string, v: unknown): number | null {
  if (v === null) return null;
  if (typeof v !== "number" || !Number.isInteger(v)) fail(where, `seed must be an integer or null, got ${show(v)}`);
  return v;
}

export function checkWall(where: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    fail(where, `wall_s must be a finite number of seconds ≥ 0, got ${show(v)}`);
  return v;
}

export function checkBackend(where: string, v: unknown): string {
  if (!nonEmptyString(v)) fail(where, `backend must be a non-empty string, got ${show(v)}`);
  return v;
}

const RESULT_KEYS = ["notebook", "budget", "backend", "seed", "wall_s", "metrics", "claims"];
const CLAIM_KEYS = ["id", "source", "statement", "metric", "op", "threshold", "value", "holds"];
const OPTIONAL_CLAIM_KEYS = ["note"];

/** `metrics[name]`, which `checkClaimSpec` has made sure exists. */
export function metricValue(where: string, metrics: Record<string, number>, name: string): number {
  const value = metrics[name];
  if (value === undefined) fail(where, `metric "${name}" is not in metrics`);
  return value;
}

/**
 * Checks that `obj` is a well-formed results object (as written by `report`): every field present with the
 * right type, no unknown fields, and each claim's `value` and `holds` consistent with `metrics`.
 * Returns it typed; throws an Error naming the first problem otherwise. `where` prefixes messages (e.g. a file name).
 */
export function validateResults(obj: unknown, where = "results"): Results {
  if (!isRecord(obj)) fail(where, `expected an object, got ${show(obj)}`);
  for (const k of RESULT_KEYS) if (!(k in obj)) fail(where, `missing field "${k}"`);
  for (const k of Object.keys(obj)) if (!RESULT_KEYS.includes(k)) fail(where, `unknown field "${k}"`);
  const notebook = checkNotebook(where, obj.notebook);
  const budget = checkBudget(where, obj.budget);
  const backend = checkBackend(where, obj.backend);
  const seed = checkSeed(where, obj.seed);
  const wall_s = checkWall(where, obj.wall_s);
  const metrics = checkMetrics(where, obj.metrics);
  if (!Array.isArray(obj.claims)) fail(where, `claims must be an array, got ${show(obj.claims)}`);
  const claims = obj.claims.map((c: unknown, i: number): ClaimResult => {
    const spec = checkClaimSpec(where, c, i, metrics);
    const r = c as Record<string, unknown>;
    for (const k of CLAIM_KEYS) if (!(k in r)) fail(where, `claim "${spec.id}" is missing "${k}"`);
    for (const k of Object.keys(r))
      if (!CLAIM_KEYS.includes(k) && !OPTIONAL_CLAIM_KEYS.includes(k))
        fail(where, `claim "${spec.id}" has unknown field "${k}"`);
    const value = metricValue(where, metrics, spec.metric);
    if (r.value !== value)
      fail(where, `claim "${spec.id}" has value ${show(r.value)} but metrics.${spec.metric} is ${value}`);
    const holds = checkClaim(spec.op, value, spec.threshold);
    if (r.holds !== holds)
      fail(
        where,
        `claim "${spec.id}" says holds: ${show(r.holds)} but ${value} ${spec.op} ${spec.threshold} is ${holds}`,
      );
    return { ...spec, value, holds };
  });
  checkClaimIds(where, claims);
  return { notebook, budget, backend, seed, wall_s, metrics, claims };
}
