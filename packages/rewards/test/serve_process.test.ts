// The service as processes use it: `vlab rewards serve` shut down by SIGTERM while a request is in flight, and
// the Python shim (verl's compute_score, TRL's reward function, OpenRLHF's reward_func) run by Debian's python3
// against the service, each compared with the library.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRewardServer, routeTable, shimPath, type RewardServer } from "../src/serve/index.js";
import { chatPrompt, examples, request } from "./http.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const CLI = path.join(ROOT, "packages/vlab/dist/cli.js");
const built = fs.existsSync(CLI) && fs.existsSync(path.join(ROOT, "packages/rewards/dist/serve/index.js"));

describe("vlab rewards serve (a process)", () => {
  it.skipIf(!built)("SIGTERM: stops accepting, finishes the request in flight, exits 0", async () => {
    const child = spawn(process.execPath, [CLI, "rewards", "serve", "--port", "0", "--token", "tok"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const base = await until(() => /(http:\/\/127\.0\.0\.1:\d+)\/get_reward/.exec(out)?.[1], 20_000);
      const body = JSON.stringify({ query: ["<think>t</think><answer>3</answer>"], labels: ["3"] });
      const inFlight = http.request(new URL("/get_reward", base), {
        method: "POST",
        agent: false,
        headers: { Authorization: "Bearer tok", "Content-Length": String(Buffer.byteLength(body)) },
      });
      const reply = new Promise<[number, string, string | undefined]>((resolve, reject) => {
        inFlight.on("response", (res) => {
          let s = "";
          res.on("data", (c: Buffer) => (s += c.toString()));
          res.on("end", () => resolve([res.statusCode ?? 0, s, res.headers["connection"]]));
        });
        inFlight.on("error", reject);
      });
      inFlight.write(body.slice(0, 5));
      await until(
        async () => (await request(base, { method: "GET", path: "/health" })).json["active"] === 1 || undefined,
      );
      child.kill("SIGTERM");
      await until(() => /SIGTERM: finishing 1 request/.test(out) || undefined);
      await expect(request(base, { method: "GET", path: "/health" })).rejects.toThrow(/ECONNREFUSED/);
      inFlight.end(body.slice(5));
      const [status, text, connection] = await reply;
      expect(status).toBe(200);
      expect(JSON.parse(text).rewards).toEqual([2]);
      expect(connection).toBe("close");
      expect(await exited).toBe(0);
      expect(out).toMatch(/stopped after 1 requests \(1 items\)/);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it.skipIf(!built)("prints the shim and its path; usage errors exit 2", () => {
    const shim = spawnSync(process.execPath, [CLI, "rewards", "shim"], { encoding: "utf8" });
    expect(shim.status).toBe(0);
    expect(shim.stdout).toBe(fs.readFileSync(shimPath(), "utf8"));
    const where = spawnSync(process.execPath, [CLI, "rewards", "shim", "--path"], { encoding: "utf8" });
    expect(where.stdout.trim()).toBe(shimPath());
    for (const args of [["serve", "--port", "x"], ["serve", "--bogus"], ["nope"], []]) {
      const r = spawnSync(process.execPath, [CLI, "rewards", ...args], { encoding: "utf8" });
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/usage:\n {2}vlab rewards serve/);
    }
    const routes = spawnSync(process.execPath, [CLI, "rewards", "serve", "--routes", "/nonexistent.json"], {
      encoding: "utf8",
    });
    expect(routes.status).toBe(1);
    expect(routes.stderr).toMatch(/cannot read routes file \/nonexistent.json/);
  });
});

/** Debian's python3 first (the one the engines' machines have), else any python3 on PATH. */
function python(): string | undefined {
  for (const py of ["/usr/bin/python3", "python3"])
    if (spawnSync(py, ["-c", "import json, urllib.request"], { encoding: "utf8" }).status === 0) return py;
  return undefined;
}
const PY = python();
if (!PY) console.warn("serve_process.test: no python3 found, the Python shim tests are skipped");

const SCRIPT = String.raw`
import json, sys
import vlab_rewards as v
cases, prompt = json.loads(sys.stdin.read())
n = len(cases)
srcs = ["src/" + c["reward"] for c in cases]
responses = [c["response"] for c in cases]
labels = [c["label"] for c in cases]
out = {}
out["verl"] = [v.compute_score(s, r, l, {"index": i}) for i, (s, r, l) in enumerate(zip(srcs, responses, labels))]
out["verl_batch"] = v.compute_score(data_sources=srcs, solution_strs=responses, ground_truths=labels,
                                    extra_infos=[None] * n)
logged = []
f = v.make_trl_reward(label_key="label")
out["trl"] = f(prompts=["Q"] * n, completions=responses, completion_ids=[[1]] * n, label=labels, data_source=srcs,
               trainer_state=None, log_extra=None, log_metric=lambda k, x: logged.append(k))
chat = [[{"role": "assistant", "content": r}] for r in responses]
chat[0] = [{"role": "assistant", "content": [{"type": "text", "text": responses[0]}]}]
out["trl_chat"] = v.trl_reward(prompts=[[{"role": "user", "content": "Q"}]] * n, completions=chat, solution=labels,
                               data_source=srcs)
out["logged"] = logged
res = [v.reward_func([prompt + r + "<|im_end|>"], [prompt], [l], reward=c["reward"])
       for r, l, c in zip(responses, labels, cases)]
out["openrlhf"] = [x["rewards"].tolist() if hasattr(x["rewards"], "tolist") else x["rewards"] for x in res]
out["openrlhf_logs"] = sorted(res[0]["extra_logs"])
try:
    import numpy as np
    out["numpy"] = v.compute_score("src/vlm-r1-rec", "<think>t</think><answer>[0, 0, 10, 10]</answer>",
                                   np.array([0, 0, 10, 10]))["score"]
except ImportError:
    out["numpy"] = 1.0
print(json.dumps(out))
`;

describe.skipIf(!PY)("the Python shim, run by python3 against the service", () => {
  let server: RewardServer;
  let base: string;
  beforeAll(async () => {
    const routes = Object.fromEntries(
      ["r1v", "lmm-r1", "vlm-r1-rec", "visual-rft-det", "visual-rft-cls", "visualthinker-mc"].map((r) => [
        `src/${r}`,
        r,
      ]),
    );
    server = createRewardServer({ port: 0, token: "pytok", routes: routeTable({ routes }) });
    base = await server.listen();
  });
  afterAll(() => server.close());

  const env = (extra: Record<string, string> = {}) => ({
    ...process.env,
    PYTHONPATH: path.dirname(shimPath()),
    PYTHONDONTWRITEBYTECODE: "1", // no __pycache__ beside the shipped file
    VLAB_REWARD_URL: `${base}/get_reward`,
    VLAB_REWARD_TOKEN: "pytok",
    ...extra,
  });

  it("verl (single and batch), TRL (strings and chat messages), OpenRLHF's reward_func equal the library", async () => {
    const cases = examples();
    const r = await run(PY ?? "python3", ["-c", SCRIPT], JSON.stringify([cases, chatPrompt("Q?")]), env());
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    const expected = cases.map((c) => c.expected);
    const close = (xs: unknown) => (xs as number[]).map((x) => Math.round(x * 1e6) / 1e6);
    const want = close(expected);
    expect(close((out["verl"] as { score: number }[]).map((d) => d.score))).toEqual(want);
    expect(close((out["verl_batch"] as { score: number }[]).map((d) => d.score))).toEqual(want);
    expect((out["verl"] as Record<string, number>[])[0]).toMatchObject({ acc: 1, accuracy: 1, format: 1, invalid: 0 });
    expect(close(out["trl"])).toEqual(want);
    expect(close(out["trl_chat"])).toEqual(want);
    expect(out["logged"]).toEqual(expect.arrayContaining(["vlab/accuracy", "vlab/format", "vlab/invalid"]));
    expect(close((out["openrlhf"] as number[][]).map((x) => x[0]))).toEqual(want); // float32 tensors: 6 places
    expect(out["openrlhf_logs"]).toEqual(["accuracy", "format", "invalid"]);
    expect(out["numpy"]).toBe(1); // a numpy label goes through tolist()
  });

  it("a wrong token fails at once with the service's reason; an unreachable service after the retries", async () => {
    const code = String.raw`
import sys, time, vlab_rewards as v
v.RETRY_SLEEP_S = 0.05
t = time.time()
try:
    v.compute_score("x", "<answer>1</answer>", "1")
except RuntimeError as e:
    print(type(e).__name__, round(time.time() - t, 1), e)
`;
    const wrong = await run(PY ?? "python3", ["-c", code], "", env({ VLAB_REWARD_TOKEN: "nope" }));
    expect(wrong.stdout).toMatch(/^RuntimeError 0\.\d .*\(401\): .*missing or wrong bearer token/);
    const port = await closedPort();
    const gone = await run(PY ?? "python3", ["-c", code], "", env({ VLAB_REWARD_URL: `127.0.0.1:${port}` }));
    expect(gone.stdout).toMatch(/failed 5 times; last error: .*(Connection refused|URLError)/);
  });
});

function run(
  cmd: string,
  args: string[],
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function until<T>(f: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const t0 = performance.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (performance.now() - t0 > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
