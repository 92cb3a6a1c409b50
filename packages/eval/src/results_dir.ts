/**
 * Where results live: `resultsDir()` finds the folder, `readResults()` reads and checks every run's file in it.
 */
import fs from "node:fs";
import path from "node:path";
import { isRecord, validateResults, type Results } from "./results.js";

/**
 * The results folder: env `VLAB_RESULTS_DIR`, else the nearest ancestor of the working directory
 * (itself included) that has a `results/` folder, else `./results`.
 */
export function resultsDir(cwd = process.cwd()): string {
  const env = process.env.VLAB_RESULTS_DIR;
  if (env && env.trim()) return path.resolve(env);
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, "results");
    try {
      if (fs.statSync(candidate).isDirectory()) return candidate;
    } catch {
      // not here; go up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.resolve(cwd, "results");
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
