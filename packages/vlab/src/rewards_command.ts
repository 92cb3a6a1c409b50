/**
 * `vlab rewards serve | shim`: vlab's rewards for RL engines on other machines (@vlab/rewards/serve).
 *
 *   vlab rewards serve [--port N] [--host H] [--reward NAME] [--routes FILE] [--token T] [--max-body SIZE]
 *                      [--concurrency N] [--timeout-ms MS]
 *       OpenRLHF's remote reward protocol (POST /get_reward, GET /health) until SIGTERM / SIGINT, then finishes
 *       the requests it holds and exits 0. The token may come from VLAB_REWARD_TOKEN instead of --token.
 *   vlab rewards shim [--path]
 *       prints the Python shim (verl's compute_score, TRL's reward function, OpenRLHF's reward_func), or its path.
 *
 * Usage errors print the usage and give 2; a server that cannot start (port taken, bad routes file) gives 1.
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { integerOption, runSubcommands, Usage } from "./subcommands.js";

const SERVE =
  "vlab rewards serve [--port N] [--host H] [--reward NAME] [--routes FILE] [--token T] [--max-body SIZE] " +
  "[--concurrency N] [--timeout-ms MS]";
const SHIM = "vlab rewards shim [--path]";

export const REWARDS_USAGE = `usage:
  ${SERVE}
      serve the rewards over HTTP, OpenRLHF's protocol: POST /get_reward, GET /health
      (defaults: 127.0.0.1:5000, reward r1v, body 256MiB, 32 at once, 60000 ms; token from VLAB_REWARD_TOKEN)
  ${SHIM}
      print the Python shim for verl / TRL / OpenRLHF (or its path)`;

/** Bytes: an integer with an optional binary suffix (k, M, G; "KiB"/"MB" spellings too). */
function bytes(option: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(raw.trim());
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m?.[2] ?? "").toLowerCase()] ?? NaN;
  const v = m ? Math.floor(Number(m[1]) * scale) : NaN;
  if (!Number.isSafeInteger(v) || v < 1)
    throw new Usage(`${option} must be a size like 1048576, 10M or 1G, got ${raw}`);
  return v;
}

export async function rewardsCommand(args: string[]): Promise<number> {
  return runSubcommands("rewards", REWARDS_USAGE, args, { serve, shim });
}

async function shim(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { path: { type: "boolean", default: false } } });
  const { shimPath, shimSource } = await import("@vlab/rewards/serve");
  process.stdout.write(values.path ? shimPath() + "\n" : shimSource());
  return 0;
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      reward: { type: "string" },
      routes: { type: "string" },
      token: { type: "string" },
      "max-body": { type: "string" },
      concurrency: { type: "string" },
      "timeout-ms": { type: "string" },
    },
  });
  const serveLib = await import("@vlab/rewards/serve");
  const port = integerOption("--port", values.port, serveLib.DEFAULT_PORT, 0);
  if (port > 65535) throw new Usage(`--port must be at most 65535, got ${port}`);
  const maxBodyBytes = bytes("--max-body", values["max-body"], serveLib.DEFAULT_MAX_BODY);
  const concurrency = integerOption("--concurrency", values.concurrency, 32, 1);
  const timeoutMs = integerOption("--timeout-ms", values["timeout-ms"], 60_000, 1);
  const token = values.token ?? process.env.VLAB_REWARD_TOKEN ?? "";
  // --reward is a name, or a JSON choice {"reward": …, "options": …}
  let reward: unknown = values.reward;
  if (values.reward?.trim().startsWith("{")) {
    try {
      reward = JSON.parse(values.reward);
    } catch (e) {
      throw new Usage(`--reward: invalid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  let routesJson: unknown = {};
  if (values.routes !== undefined) {
    try {
      routesJson = JSON.parse(fs.readFileSync(values.routes, "utf8"));
    } catch (e) {
      throw new Error(`vlab rewards: cannot read routes file ${values.routes}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  const routes = serveLib.routeTable(routesJson, reward);
  const service = serveLib.createRewardServer({
    host: values.host,
    port,
    routes,
    token: token || undefined,
    maxBodyBytes,
    concurrency,
    timeoutMs,
  });
  const base = await service.listen();
  const loopback = /^(127\.|localhost$|::1$|\[::1\]$)/.test(values.host);
  if (!token && !loopback)
    console.error(
      `vlab rewards: warning: listening on ${values.host} without a token (set --token or VLAB_REWARD_TOKEN)`,
    );
  const routed = routes.routes.size ? `, ${routes.routes.size} routes by ${routes.key}` : "";
  console.log(
    `vlab rewards: ${base}/get_reward (default ${routes.fallback.kind.name}${routed}; token ${token ? "on" : "off"}; ` +
      `${concurrency} at once, body ≤ ${maxBodyBytes} bytes, ${timeoutMs} ms per request)`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.log(`vlab rewards: ${signal}: finishing ${service.stats().active + service.stats().queued} request(s)`);
      process.removeListener("SIGTERM", onTerm);
      process.removeListener("SIGINT", onInt);
      service.close(timeoutMs).then(resolve, resolve);
    };
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    process.once("SIGTERM", onTerm);
    process.once("SIGINT", onInt);
  });
  const s = service.stats();
  console.log(`vlab rewards: stopped after ${s.served} requests (${s.items} items), ${s.refused} refused`);
  return 0;
}
