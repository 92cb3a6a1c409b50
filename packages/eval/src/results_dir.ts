/**
 * Where results live. `results/<notebook>.json` holds the committed full-budget results, and only an explicit
 * full-budget run writes there (`vlab run --budget full`, `npm run reproduce`: the runner sets VLAB_WRITE_RESULTS=1).
 * Every other run — a notebook in Jupyter at any budget, `npm start`, `vlab run --budget quick` — writes to
 * `runs/<budget>/` beside that folder (git-ignored), so trying a notebook never changes what is committed.
 *
 * `resultsDir()` finds the committed folder, `runResultsDir()` says where this run writes, `readResults()` reads and
 * checks every run's file in a folder.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { currentBudget, type Budget } from "./budget.js";
import { isRecord, validateResults, type Results } from "./results.js";

/** The nearest ancestor of `cwd` (itself included) that has a `results/` folder, or undefined. */
export function findResultsDir(cwd = process.cwd()): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, "results");
    try {
      if (fs.statSync(candidate).isDirectory()) return candidate;
    } catch {
      // not here; go up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** True in an explicit full-budget run: the runner (`vlab run --budget full`) sets VLAB_WRITE_RESULTS=1. */
export function isFullRun(budget: Budget = currentBudget()): boolean {
  return budget === "full" && process.env.VLAB_WRITE_RESULTS === "1";
}

/**
 * Where `report()` writes this run's results: env `VLAB_RESULTS_DIR` when set (an explicit choice); in an explicit
 * full-budget run, the committed folder (`resultsDir()`); otherwise `runs/<budget>/` beside the nearest `results/`
 * folder, or `<tmpdir>/vlab-runs/<budget>` when there is none (a notebook outside any vlab project).
 * `fullRun` lets the runner ask for a kernel it starts (default: this process's VLAB_WRITE_RESULTS).
 */
export function runResultsDir(
  budget: Budget = currentBudget(),
  cwd = process.cwd(),
  fullRun = isFullRun(budget),
): string {
  const env = process.env.VLAB_RESULTS_DIR;
  if (env && env.trim()) return path.resolve(env);
  if (fullRun && budget === "full") return resultsDir(cwd);
  const committed = findResultsDir(cwd);
  if (committed) return path.join(path.dirname(committed), "runs", budget);
  return path.join(os.tmpdir(), "vlab-runs", budget);
}

/**
 * The committed results folder: env `VLAB_RESULTS_DIR`, else the nearest ancestor of the working directory
 * (itself included) that has a `results/` folder, else `./results`.
 */
export function resultsDir(cwd = process.cwd()): string {
  const env = process.env.VLAB_RESULTS_DIR;
  if (env && env.trim()) return path.resolve(env);
  return findResultsDir(cwd) ?? path.resolve(cwd, "results");
}

/**
 * The committed full-budget results of `notebook` to compare a run with: `<nearest results/>/<notebook>.json`
 * (VLAB_RESULTS_DIR is where this run writes, not what it is compared with), when it exists, is valid and was
 * measured at the full budget; else undefined. Never throws: a comparison is extra information.
 */
export function readCommitted(notebook: string, cwd = process.cwd()): { file: string; results: Results } | undefined {
  const dir = findResultsDir(cwd);
  if (!dir) return undefined;
  const file = path.join(dir, `${notebook}.json`);
  try {
    const results = validateResults(JSON.parse(fs.readFileSync(file, "utf8")), file);
    return results.budget === "full" ? { file, results } : undefined;
  } catch {
    return undefined;
  }
}

export interface ResultsSet {
  dir: string;
  results: Array<{ file: string; results: Results }>;
  invalid: Array<{ file: string; error: string }>;
}

/** Reads and validates every `*.json` in `dir` (sorted by name); invalid files are listed, not thrown. */
export function readResults(dir: string = resultsDir()): ResultsSet {
  const out: ResultsSet = { dir, results: [], invalid: [] };
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".json") && !f.startsWith("."))
      .sort();
  } catch {
    return out;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const obj = JSON.parse(fs.readFileSync(file, "utf8"));
      // other JSON that may live in results/ (saved figures, ...) is not a run's results
      if (isRecord(obj) && !("notebook" in obj) && !("claims" in obj)) continue;
      out.results.push({ file, results: validateResults(obj, name) });
    } catch (e) {
      out.invalid.push({
        file,
        error:
          e instanceof SyntaxError
            ? `${name}: invalid JSON (${e.message})`
            : String(e instanceof Error ? e.message : e),
      });
    }
  }
  return out;
}
