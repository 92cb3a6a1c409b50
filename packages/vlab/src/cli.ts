#!/usr/bin/env node
/**
 * The `vlab` command. It lives in the umbrella package because `--summary` reads the results with @vlab/eval,
 * and the kernel (@vlab/kernel) depends on no model package.
 *
 *   vlab kernel install [--user | --prefix P]    register the "TypeScript (vlab)" Jupyter kernel
 *   vlab kernel start <connection_file>           what Jupyter runs (via the kernelspec)
 *   vlab run <notebook...> [--budget quick|full] [--seed N] [--out DIR] [--summary]   (run_command.ts)
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { RUN_USAGE } from "./run_command.js";

const USAGE = `usage:
  vlab kernel install [--user | --prefix P]
  vlab kernel start <connection_file>
  ${RUN_USAGE}`;

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
    const { runCommand } = await import("./run_command.js");
    return runCommand(rest);
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
