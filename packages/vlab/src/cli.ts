#!/usr/bin/env node
/**
 * The `vlab` command. It lives in the umbrella package because `--summary` reads the results with @vlab/eval,
 * and the kernel (@vlab/kernel) depends on no model package.
 *
 *   vlab kernel install [--user | --prefix P]    register the "TypeScript (vlab)" Jupyter kernel
 *   vlab kernel start <connection_file>           what Jupyter runs (via the kernelspec)
 *   vlab run <notebook...> [--budget quick|full] [--out DIR] [--summary]
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const USAGE = `usage:
  vlab kernel install [--user | --prefix P]
  vlab kernel start <connection_file>
  vlab run <notebook.ipynb...> [--budget quick|full] [--out DIR] [--summary] [--cell-timeout SECONDS]`;

export async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (cmd === "kernel" && rest[0] === "start" && rest[1]) {
    const { startKernel } = await import("@vlab/kernel");
    await startKernel(rest[1]);
    return 0;
  }
  if (cmd === "kernel" && rest[0] === "install") {
    const { values } = parseArgs({
      args: rest.slice(1),
      options: { user: { type: "boolean" }, prefix: { type: "string" } },
    });
    const { installKernel } = await import("@vlab/kernel");
    const dir = installKernel({ prefix: values.prefix, user: values.user });
    console.log(`installed kernelspec "vlab" (TypeScript (vlab)) in ${dir}`);
    return 0;
  }
  if (cmd === "run") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        budget: { type: "string", default: process.env.VLAB_BUDGET ?? "quick" },
        out: { type: "string", default: "executed" },
        summary: { type: "boolean", default: false },
        "cell-timeout": { type: "string", default: "0" },
      },
    });
    if (values.budget !== "quick" && values.budget !== "full")
      throw new Error(`--budget must be quick or full, not ${values.budget}`);
    if (positionals.length === 0) throw new Error("vlab run: name at least one notebook");
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
  console.error(USAGE);
  return cmd === "--help" || cmd === "-h" ? 0 : 2;
}

/** Runs `main` on this process's arguments and sets the exit code (used by the `vlab` bin). */
export function cliEntry(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      console.error(`vlab: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    },
  );
}

// Run when executed directly (node cli.js ...), not when imported.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) cliEntry();
