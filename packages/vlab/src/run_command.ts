/**
 * `vlab run <notebook...> [--budget quick|full] [--seed N] [--out DIR] [--summary] [--cell-timeout SECONDS]`:
 * executes notebooks headlessly through the vlab kernel (@vlab/kernel's runNotebook) and, with `--summary`,
 * prints the results table (@vlab/eval).
 */
import path from "node:path";
import { parseArgs } from "node:util";

export const RUN_USAGE =
  "vlab run <notebook.ipynb...> [--budget quick|full] [--seed N] [--out DIR] [--summary] [--cell-timeout SECONDS]";

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
  if (values.budget !== "quick" && values.budget !== "full")
    throw new Error(`--budget must be quick or full, not ${values.budget}`);
  if (positionals.length === 0) throw new Error("vlab run: name at least one notebook");
  if (values.seed !== undefined) process.env.VLAB_SEED = values.seed;
  const { runNotebook, describeFailure } = await import("@vlab/kernel");
  let failed = 0;
  for (const nb of positionals) {
    console.log(`▶ ${nb} (budget ${values.budget})`);
    const r = await runNotebook(nb, {
      budget: values.budget,
      outDir: path.resolve(values.out),
      cellTimeoutMs: Number(values["cell-timeout"]) * 1000,
      log: (l) => console.log(l),
    });
    if (r.ok) console.log(`✔ ${nb} in ${r.seconds.toFixed(1)} s → ${r.output}`);
    else {
      failed++;
      console.error(`✘ ${describeFailure(r)}`);
    }
  }
  if (values.summary) {
    const { resultsTable } = await import("@vlab/eval");
    console.log("\n" + resultsTable(process.env.VLAB_RESULTS_DIR ?? path.resolve("results"), "text"));
  }
  return failed ? 1 : 0;
}
