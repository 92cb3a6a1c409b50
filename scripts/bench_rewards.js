/**
 * Throughput of the reward service (`vlab rewards serve`, @vlab/rewards/serve), for `npm run bench`: the load
 * OpenRLHF ≥ 0.9 puts on it (one rollout sample per request, many at once over keep-alive connections) and the
 * one lmm-r1 puts on it (whole batches in one body).
 *
 *   single   1,000 requests of one templated ChatML query each, 64 in flight over 64 keep-alive sockets:
 *            requests/s, p50 and p99 latency (ms), errors (non-200 answers or wrong rewards)
 *   batches  3 requests of ~10 MB each (about 10k templated queries): latency per batch, items/s
 *
 * The service runs in its own process (the built CLI, as a user starts it) so the load generator does not share
 * its event loop; on this 2-core machine the two still share the CPU. Run alone:
 *   node scripts/bench_rewards.js            # prints one JSON object
 */
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.join(repo, "packages", "vlab", "dist", "cli.js");

const PROMPT =
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>" +
  "<|image_pad|>".repeat(32) +
  "<|vision_end|>How many circles are in the image?  Output the thinking process in <think> </think> and final " +
  "answer (number) in <answer> </answer> tags.<|im_end|>\n<|im_start|>assistant\n";
const think = "I look at the strip from left to right and count each circle once. ".repeat(5);

/** Item i of a benchmark batch: a correct answer when i is even, a wrong one when odd (reward 2 or 1). */
function item(i) {
  const answer = i % 2 === 0 ? "3" : "4";
  return { query: PROMPT + `<think>${think}</think><answer>${answer}</answer><|im_end|>`, prompt: PROMPT, label: "3" };
}
const expectedReward = (i) => (i % 2 === 0 ? 2 : 1);

function post(base, body, agent) {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      new URL("/get_reward", base),
      {
        method: "POST",
        agent,
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const ms = performance.now() - t0;
          try {
            resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString("utf8")), ms });
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Starts `vlab rewards serve` on a free port; resolves with its base URL and a stop function. */
function startService() {
  const child = spawn(process.execPath, [CLI, "rewards", "serve", "--port", "0", "--max-body", "64M"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const onData = (c) => {
      out += c.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)\/get_reward/.exec(out);
      if (m) {
        child.stdout.removeListener("data", onData);
        const exited = new Promise((r) => child.on("exit", (code) => r(code)));
        resolve({ base: m[1], stop: () => (child.kill("SIGTERM"), exited) });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (c) => (out += c.toString()));
    child.on("exit", (code) => reject(new Error(`vlab rewards serve exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error(`vlab rewards serve did not start: ${out}`)), 30_000).unref();
  });
}

async function single(base, { requests = 1000, concurrency = 64 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  // warm-up: open the sockets and let both processes compile the hot paths
  await Promise.all(Array.from({ length: concurrency }, (_, i) => post(base, one(i), agent)));
  const latencies = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      const r = await post(base, one(i), agent);
      latencies.push(r.ms);
      if (r.status !== 200 || r.json.rewards?.[0] !== expectedReward(i)) errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return {
    requests,
    concurrency,
    requests_per_s: round(requests / seconds, 1),
    p50_ms: round(quantile(latencies, 0.5)),
    p99_ms: round(quantile(latencies, 0.99)),
    max_ms: round(Math.max(...latencies)),
    errors,
  };
}

function one(i) {
  const it = item(i);
  return { query: [it.query], prompts: [it.prompt], labels: [it.label] };
}

async function batches(base, { count = 3, targetBytes = 10 * 1024 * 1024 } = {}) {
  const n = Math.ceil(targetBytes / JSON.stringify(item(0)).length);
  const items = Array.from({ length: n }, (_, i) => item(i));
  const body = {
    query: items.map((x) => x.query),
    prompts: items.map((x) => x.prompt),
    labels: items.map((x) => x.label),
  };
  const bytes = Buffer.byteLength(JSON.stringify(body));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ms = [];
  let errors = 0;
  for (let b = 0; b < count; b++) {
    const r = await post(base, body, agent);
    ms.push(r.ms);
    const rewards = r.json.rewards ?? [];
    if (r.status !== 200 || rewards.length !== n || rewards.some((v, i) => v !== expectedReward(i))) errors++;
  }
  agent.destroy();
  return {
    count,
    items_per_batch: n,
    body_mb: round(bytes / 2 ** 20),
    per_batch_ms: ms.map((x) => round(x, 1)),
    p99_ms: round(quantile(ms, 0.99), 1),
    items_per_s: round((n * count) / (ms.reduce((a, b) => a + b, 0) / 1000), 0),
    errors,
  };
}

/** The service's numbers: {single, batches, shutdown_exit_code}. */
export async function benchRewards({ log = () => {} } = {}) {
  const service = await startService();
  try {
    log(`reward service at ${service.base}: 1000 single-item requests, 64 at a time ...`);
    const s = await single(service.base);
    log(`  ${s.requests_per_s} requests/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, ${s.errors} errors`);
    log(`reward service: 3 batches of ~10 MB ...`);
    const b = await batches(service.base);
    log(
      `  ${b.items_per_batch} items (${b.body_mb} MB) per batch: ${b.per_batch_ms.join(", ")} ms, ${b.errors} errors`,
    );
    return { single: s, batches: b, shutdown_exit_code: await service.stop() };
  } catch (e) {
    await service.stop();
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await benchRewards({ log: (...a) => console.error("[bench rewards]", ...a) });
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
}
