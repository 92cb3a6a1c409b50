/**
 * `vlab run <notebook...> [--budget quick|full] [--seed N] [--out DIR] [--summary] [--cell-timeout SECONDS]`:
 * executes notebooks headlessly through the vlab kernel (@vlab/kernel's runNotebook) and, with `--summary`,
 * prints what the budget means and the results of the notebooks it ran beside the committed full-budget results
 * (@vlab/eval). Only `--budget full` lets a notebook's report() rewrite the committed `results/`; any other run
 * writes `runs/<budget>/`.
 */
import path from "node:path";
import { parseArgs } from "node:util";

export const RUN_USAGE =
  "vlab run <notebook.ipynb...> [--budget quick|full] [--seed N] [--out DIR] [--summary] [--cell-timeout SECONDS]";

/** A non-negative number of seconds (0: no limit), or a clear error naming the option. */
function parseSeconds(option: string, raw: string): number {
  const v = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(v) || v < 0)
    throw new Error(`vlab run: ${option} must be a number of seconds ≥ 0 (0: no limit), got ${JSON.stringify(raw)}`);
  return v;
}

/** A non-negative integer seed, or a clear error (the kernel would refuse it only when a notebook reads it). */
function parseSeed(raw: string): string {
  const v = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isSafeInteger(v) || v < 0)
    throw new Error(`vlab run: --seed must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return String(v);
}

export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      budget: { type: "string", default: process.env.VLAB_BUDGET ?? "quick" },
      seed: { type: "string" },
      out: { type: "string", default: "executed" },
      summary: { type: "boolean", default: false },
      "cell-timeout": { type: "string", default: "0" },
    },
  });
  const budget = values.budget;
  if (budget !== "quick" && budget !== "full")
    throw new Error(`vlab run: --budget must be quick or full, got ${JSON.stringify(budget)}`);
  const cellTimeoutMs = parseSeconds("--cell-timeout", values["cell-timeout"]) * 1000;
  if (positionals.length === 0) throw new Error("vlab run: name at least one notebook");
  if (values.seed !== undefined) process.env.VLAB_SEED = parseSeed(values.seed);
  const { runNotebook, describeFailure } = await import("@vlab/kernel");
  const started = Date.now();
  let failed = 0;
  for (const nb of positionals) {
    console.log(`▶ ${nb} (budget ${budget})`);
    const r = await runNotebook(nb, {
      budget,
      // the runner's default, stated: an explicit full-budget run is the one that writes the committed results/
      writeResults: budget === "full",
      outDir: path.resolve(values.out),
      cellTimeoutMs,
      log: (l) => console.log(l),
    });
    if (r.ok) console.log(`✔ ${nb} in ${r.seconds.toFixed(1)} s → ${r.output}`);
    else {
      failed++;
      console.error(`✘ ${describeFailure(r)}`);
    }
  }
  if (values.summary) console.log("\n" + (await summary(positionals, budget, started)));
  return failed ? 1 : 0;
}

/**
 * The results of the notebooks just run, read from where their report() wrote (the kernel's working directory is
 * the notebook's folder, so the same rule finds the same folder), beside the committed results found from there.
 */
async function summary(notebooks: string[], budget: "quick" | "full", since: number): Promise<string> {
  const { findResultsDir, runResultsDir, runSummary } = await import("@vlab/eval");
  const byDir = new Map<string, { names: string[]; committed?: string }>();
  for (const nb of notebooks) {
    const cwd = path.dirname(path.resolve(nb));
    const dir = runResultsDir(budget, cwd, budget === "full");
    const entry = byDir.get(dir) ?? { names: [], committed: findResultsDir(cwd) };
    entry.names.push(path.basename(nb, ".ipynb"));
    byDir.set(dir, entry);
  }
  return [...byDir]
    .map(([dir, { names, committed }]) => runSummary({ dir, budget, notebooks: names, since, committed }))
    .join("\n\n");
}
