#!/usr/bin/env node
/**
 * The `vlab` command. It lives in the umbrella package because `--summary` reads the results with @vlab/eval,
 * and the kernel (@vlab/kernel) depends on no model package.
 *
 *   vlab kernel install [--user | --prefix P]     register the "TypeScript (vlab)" Jupyter kernel
 *   vlab kernel uninstall [--user | --prefix P]   remove it
 *   vlab kernel start <connection_file>            what Jupyter runs (via the kernelspec)
 *   vlab run <notebook...> [options]               run notebooks headlessly (run_command.ts)
 *   vlab --version | --help, vlab <command> --help
 *
 * Exit codes: 0 done (and --help, --version), 1 the command failed, 2 a usage error (unknown command or
 * option, missing argument), with the usage printed.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { RUN_USAGE } from "./run_command.js";

const VERSION: string = createRequire(import.meta.url)("../package.json").version;

const KERNEL_INSTALL = "vlab kernel install [--user | --prefix P]     register the Jupyter kernel (default: --user)";
const KERNEL_UNINSTALL = "vlab kernel uninstall [--user | --prefix P]   remove it";
const KERNEL_START = "vlab kernel start <connection_file>            what Jupyter runs (see the kernelspec)";

const USAGE = `usage:
  ${KERNEL_INSTALL}
  ${KERNEL_UNINSTALL}
  ${KERNEL_START}
  ${RUN_USAGE}
  vlab rewards serve|shim [options]              the reward service for OpenRLHF / verl / TRL (vlab rewards --help)
  vlab export data|hf <source> <dir> [options]   task data and models for OpenRLHF / verl / TRL (vlab export --help)
  vlab --version
  vlab --help | vlab <command> --help`;

const KERNEL_USAGE = `usage:\n  ${KERNEL_INSTALL}\n  ${KERNEL_UNINSTALL}\n  ${KERNEL_START}`;

/** A mistake in how the command was called: reported with its usage, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string = USAGE,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

const wantsHelp = (args: string[]) => args.includes("--help") || args.includes("-h");

function kernelspecOptions(args: string[], usage: string): { user?: boolean; prefix?: string } {
  try {
    const { values } = parseArgs({ args, options: { user: { type: "boolean" }, prefix: { type: "string" } } });
    if (values.user && values.prefix !== undefined) throw new UsageError("--user and --prefix exclude each other");
    return values;
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message, usage);
    throw new UsageError(e instanceof Error ? e.message : String(e), usage);
  }
}

async function kernelCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usages: Record<string, string> = {
    install: KERNEL_INSTALL,
    uninstall: KERNEL_UNINSTALL,
    start: KERNEL_START,
  };
  if (sub === undefined || sub === "--help" || sub === "-h") {
    if (sub === undefined) throw new UsageError("vlab kernel: name a subcommand", KERNEL_USAGE);
    console.log(KERNEL_USAGE);
    return 0;
  }
  const usage = usages[sub];
  if (usage === undefined) throw new UsageError(`unknown command 'kernel ${sub}'`, KERNEL_USAGE);
  if (wantsHelp(rest)) {
    console.log(`usage:\n  ${usage}`);
    return 0;
  }
  const kernel = await import("@vlab/kernel");
  if (sub === "start") {
    const [connectionFile, ...extra] = rest;
    if (connectionFile === undefined || extra.length) throw new UsageError("name one connection file", usage);
    await kernel.startKernel(connectionFile);
    return 0;
  }
  const opts = kernelspecOptions(rest, `usage:\n  ${usage}`);
  if (sub === "install") {
    const dir = kernel.installKernel(opts);
    console.log(`installed kernelspec "vlab" (TypeScript (vlab)) in ${dir}`);
    return 0;
  }
  const removed = kernel.uninstallKernel(opts);
  if (removed.found) console.log(`removed kernelspec "vlab" from ${removed.dir}`);
  else console.error(`vlab: no kernelspec "vlab" in ${removed.dir}`);
  return removed.found ? 0 : 1;
}

/** Runs the command; a usage error is printed with its usage and gives 2, other failures are thrown. */
export async function main(args: string[]): Promise<number> {
  try {
    return await dispatch(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(describeError(e).message);
    return 2;
  }
}

async function dispatch(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (cmd === undefined) throw new UsageError("name a command");
  if (cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(USAGE);
    return 0;
  }
  if (cmd === "--version" || cmd === "-v" || cmd === "version") {
    console.log(VERSION);
    return 0;
  }
  if (cmd === "kernel") return kernelCommand(rest);
  if (cmd === "run") {
    if (wantsHelp(rest)) {
      console.log(`usage:\n  ${RUN_USAGE}`);
      return 0;
    }
    const { runCommand } = await import("./run_command.js");
    return runCommand(rest);
  }
  if (cmd === "rewards") return (await import("./rewards_command.js")).rewardsCommand(rest);
  if (cmd === "export") return (await import("./export_command.js")).exportCommand(rest);
  throw new UsageError(`unknown command '${cmd}'`);
}

/** What a failure prints and the exit code: usage errors (ours and parseArgs') exit 2 with the usage. */
export function describeError(e: unknown): { message: string; code: number } {
  if (e instanceof UsageError) return { message: `vlab: ${e.message}\n${e.usage}`, code: 2 };
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))
    return { message: `vlab: ${message}\nusage:\n  ${RUN_USAGE}`, code: 2 };
  return { message: `vlab: ${message}`, code: 1 };
}

/** Runs `main` on this process's arguments and sets the exit code (used by the `vlab` bin). */
export function cliEntry(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      const { message, code } = describeError(e);
      console.error(message);
      process.exitCode = code;
    },
  );
}

// Run when executed directly (node cli.js ...), not when imported.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) cliEntry();
