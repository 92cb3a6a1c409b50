/**
 * Budgets: every notebook runs at `quick` (tests, CI: about a minute on 2 CPU cores) or `full`
 * (the committed results: at most ~10 minutes). The runner sets `VLAB_BUDGET`; a notebook's parameters
 * cell picks its sizes with `budget({ quick: ..., full: ... })`.
 */

export type Budget = "quick" | "full";

export const BUDGETS: readonly Budget[] = ["quick", "full"];

export function isBudget(v: unknown): v is Budget {
  return v === "quick" || v === "full";
}

/** The budget named by env `VLAB_BUDGET` (default `quick`); anything else is an error. */
export function currentBudget(): Budget {
  const raw = process.env.VLAB_BUDGET;
  if (raw === undefined || raw.trim() === "") return "quick";
  const v = raw.trim().toLowerCase();
  if (isBudget(v)) return v;
  throw new Error(`VLAB_BUDGET must be "quick" or "full", got ${JSON.stringify(raw)}`);
}

/** The value for the current budget: `const steps = budget({ quick: 200, full: 3000 })`. */
export function budget<T>(choices: { quick: T; full: T }): T {
  if (typeof choices !== "object" || choices === null || !("quick" in choices) || !("full" in choices)) {
    throw new Error("budget() needs a value for each budget: budget({ quick: ..., full: ... })");
  }
  return choices[currentBudget()];
}

/**
 * The run's seed: env `VLAB_SEED` (set by `vlab run --seed N`), else `fallback`. A notebook's parameters cell
 * writes `const SEED = runSeed(0)`, so the same notebook can be re-run over several seeds without editing it.
 */
export function runSeed(fallback = 0): number {
  const raw = process.env.VLAB_SEED;
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = Number(raw.trim());
  if (!Number.isSafeInteger(v) || v < 0)
    throw new Error(`VLAB_SEED must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return v;
}
