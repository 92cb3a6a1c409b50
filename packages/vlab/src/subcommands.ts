/**
 * What `vlab rewards …` and `vlab export …` share: a usage error, integer options, and the dispatch of a command's
 * subcommands (help, unknown names and bad options print the usage and exit 2).
 */

/** A mistake in the command line: printed with the command's usage, exit status 2. */
export class Usage extends Error {}

/** An integer option ≥ `min`, or a usage error naming it. */
export function integerOption(option: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const v = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v) || v < min) throw new Usage(`${option} must be an integer ≥ ${min}, got ${raw}`);
  return v;
}

/**
 * Runs `vlab <command> <sub> …` through `subs`; `--help` anywhere prints `usage`. Usage errors and node's
 * parseArgs errors print the message and the usage and give 2; any other error propagates.
 */
export async function runSubcommands(
  command: string,
  usage: string,
  args: string[],
  subs: Record<string, (rest: string[]) => Promise<number>>,
): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === undefined) throw new Usage(`vlab ${command}: name a subcommand (${Object.keys(subs).join(", ")})`);
    if (sub === "--help" || sub === "-h" || rest.includes("--help") || rest.includes("-h")) {
      console.log(usage);
      return 0;
    }
    const run = Object.hasOwn(subs, sub) ? subs[sub] : undefined;
    if (!run) throw new Usage(`unknown command '${command} ${sub}'`);
    return await run(rest);
  } catch (e) {
    const parse = (e as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS");
    if (!(e instanceof Usage) && !parse) throw e;
    console.error(`vlab: ${(e as Error).message}\n${usage}`);
    return 2;
  }
}
