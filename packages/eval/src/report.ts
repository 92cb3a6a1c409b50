/**
 * The results report every notebook ends with: `report({ notebook, metrics, claims })` checks each of the
 * paper's claims against this run's metrics and writes `<notebook>.json` (the format is in results.ts): to the
 * committed `results/` only in an explicit full-budget run, else to `runs/<budget>/` (see results_dir.ts).
 *
 * `value` and `holds` are always computed here from `metrics`, never taken from the caller. The returned
 * object is the written JSON and also displays itself as the claims table (Symbol.for("Jupyter.display")).
 */
import path from "node:path";
import { atomicWrite, makeDirs, JUPYTER_DISPLAY, tf, type MimeBundle } from "@vlab/core";
import { currentBudget, type Budget } from "./budget.js";
import {
  checkBackend,
  checkBudget,
  checkClaim,
  checkClaimIds,
  checkClaimSpec,
  checkMetrics,
  checkNotebook,
  checkSeed,
  checkWall,
  fail,
  isRecord,
  metricValue,
  show,
  validateResults,
  type Claim,
  type ClaimResult,
  type Results,
} from "./results.js";
import { readCommitted, runResultsDir } from "./results_dir.js";
import { claimsBundle } from "./results_table.js";

export interface ReportOptions {
  /** The notebook's name without extension, e.g. "02-clip"; the file is `<dir>/<notebook>.json`. */
  notebook: string;
  /** Every number the run measured (finite numbers only). */
  metrics: Record<string, number>;
  claims: Claim[];
  /** The run's seed (default null: not recorded). */
  seed?: number | null;
  /** Default: `currentBudget()` (env VLAB_BUDGET). */
  budget?: Budget;
  /** Default: the active tfjs backend (`tf.getBackend()`), or "none" if no tensor op ran yet. */
  backend?: string;
  /**
   * Wall-clock seconds of the run. Default: `process.uptime()` rounded to 0.1 s — the runner starts one
   * kernel process per notebook, so the process age is the notebook's run time. Pass it yourself in a
   * long-lived kernel where you re-run cells.
   */
  wall_s?: number;
  /**
   * Where to write. Default: `runResultsDir()` — the committed `results/` only in an explicit full-budget run
   * (`vlab run --budget full`), else `runs/<budget>/` beside it, so an interactive or quick run never overwrites
   * the committed results.
   */
  dir?: string;
}

function activeBackend(): string {
  try {
    return tf.getBackend() || "none";
  } catch {
    return "none";
  }
}

/** What `report()` returns: the written results (its JSON is exactly the file) that also displays itself. */
export class ResultsReport implements Results {
  notebook: string;
  budget: Budget;
  backend: string;
  seed: number | null;
  wall_s: number;
  metrics: Record<string, number>;
  claims: ClaimResult[];
  /** The file written (not part of the JSON). */
  declare readonly path: string;
  /** The committed full-budget results this run is compared with, when there are any (not part of the JSON). */
  declare readonly committed: Results | undefined;

  constructor(r: Results, file: string, committed?: Results) {
    this.notebook = r.notebook;
    this.budget = r.budget;
    this.backend = r.backend;
    this.seed = r.seed;
    this.wall_s = r.wall_s;
    this.metrics = r.metrics;
    this.claims = r.claims;
    // non-enumerable, so JSON.stringify(report) is exactly the file
    Object.defineProperty(this, "path", { value: file, enumerable: false });
    Object.defineProperty(this, "committed", { value: committed, enumerable: false });
  }

  /** True when every claim holds. */
  get allHold(): boolean {
    return this.claims.every((c) => c.holds);
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return claimsBundle(this, this.path, this.committed);
  }

  toString(): string {
    return claimsBundle(this, this.path, this.committed)["text/plain"];
  }
}

/**
 * Checks each claim against `metrics`, writes `<dir>/<notebook>.json` atomically, and returns the written
 * results (displayable as the claims table, with the committed full-budget value of each claim beside this run's
 * when `results/<notebook>.json` exists and this run wrote elsewhere). Throws a clear error for a missing or
 * non-finite metric, a duplicate claim id, an unknown op, an empty notebook name or an invalid budget.
 */
export function report(opts: ReportOptions): ResultsReport {
  const where = "report()";
  if (!isRecord(opts)) fail(where, "expected { notebook, metrics, claims, ... }");
  const notebook = checkNotebook(where, opts.notebook);
  const metrics = checkMetrics(where, opts.metrics);
  if (!Array.isArray(opts.claims)) fail(where, `claims must be an array (may be empty), got ${show(opts.claims)}`);
  const specs = opts.claims.map((c, i) => checkClaimSpec(where, c, i, metrics));
  checkClaimIds(where, specs);
  const results: Results = {
    notebook,
    budget: checkBudget(where, opts.budget ?? currentBudget()),
    backend: checkBackend(where, opts.backend ?? activeBackend()),
    seed: checkSeed(where, opts.seed ?? null),
    wall_s: checkWall(where, opts.wall_s ?? Math.round(process.uptime() * 10) / 10),
    metrics: { ...metrics },
    claims: specs.map((c) => {
      const value = metricValue(where, metrics, c.metric);
      return { ...c, value, holds: checkClaim(c.op, value, c.threshold) };
    }),
  };
  validateResults(results, where);
  const dir = path.resolve(opts.dir ?? runResultsDir(results.budget));
  const file = path.join(dir, `${notebook}.json`);
  // a full run that rewrites the committed file has nothing to compare with but the run it replaces
  const committed = readCommitted(notebook);
  makeDirs(dir);
  atomicWrite(file, JSON.stringify(results, null, 2) + "\n");
  return new ResultsReport(results, file, committed && committed.file !== file ? committed.results : undefined);
}
