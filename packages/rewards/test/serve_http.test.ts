// The reward service over loopback HTTP: every reward kind through the protocol equals the library call; the
// documented answers to malformed, oversize, unauthorised and misrouted requests; keep-alive; the concurrency
// and time limits; a small load smoke test.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accuracyReward, formatReward, iouReward, visualRftDetectionReward } from "../src/index.js";
import { createRewardServer, routeTable, type RewardServer } from "../src/serve/index.js";
import { chatPrompt, examples, post, request } from "./http.js";

async function start(options: Parameters<typeof createRewardServer>[0] = {}): Promise<[RewardServer, string]> {
  const s = createRewardServer({ port: 0, ...options });
  return [s, await s.listen()];
}

const ROUTES = {
  default: "r1v",
  routes: Object.fromEntries(
    ["r1v", "lmm-r1", "vlm-r1-rec", "visual-rft-det", "visual-rft-cls", "visualthinker-mc"].map((r) => [`src/${r}`, r]),
  ),
};

describe("the protocol, every reward kind", () => {
  let server: RewardServer;
  let base: string;
  beforeAll(async () => {
    [server, base] = await start({ routes: routeTable(ROUTES) });
  });
  afterAll(() => server.close());

  const cases = examples();

  it("health lists the rewards", async () => {
    const r = await request(base, { method: "GET", path: "/health" });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, default: "r1v" });
    expect(r.json["rewards"]).toEqual(expect.arrayContaining(["r1v", "lmm-r1", "vlm-r1-rec", "visual-rft-det"]));
  });

  it("one item per request (OpenRLHF ≥ 0.9), templated query and prompt: equals the library", async () => {
    for (const c of cases) {
      const prompt = chatPrompt("Q?");
      const r = await post(base, {
        query: [prompt + c.response + "<|im_end|>"],
        prompts: [prompt],
        labels: [c.label],
        reward: c.reward,
      });
      expect(r.status, c.reward).toBe(200);
      expect(r.json["rewards"], `${c.reward} ${c.response}`).toEqual([c.expected]);
      expect((r.json["extra_logs"] as Record<string, number[]>)["invalid"]).toEqual([0]);
    }
  });

  it("one batch of everything, routed by data_source; VLM queries (no prompt prefix) cut at the header", async () => {
    const prompt = chatPrompt("<|vision_start|><|image_pad|><|vision_end|>Q?");
    const query = cases.map(
      (c) => prompt.replace("<|image_pad|>", "<|image_pad|>".repeat(16)) + c.response + "<|im_end|>",
    );
    const r = await post(base, {
      query,
      prompts: cases.map(() => prompt),
      labels: cases.map((c) => c.label),
      data_source: cases.map((c) => `src/${c.reward}`),
    });
    expect(r.status).toBe(200);
    expect(r.json["rewards"]).toEqual(cases.map((c) => c.expected));
    const logs = r.json["extra_logs"] as Record<string, number[]>;
    for (const list of Object.values(logs)) expect(list).toHaveLength(cases.length);
    expect(r.json["scores"]).toHaveLength(cases.length);
  });

  it("routes by a label object's data_source; unknown sources fall back to the default", async () => {
    const r = await post(base, {
      query: ["<think>x</think><answer>[0, 0, 10, 10]</answer>", "<think>x</think><answer>3</answer>"],
      labels: [
        { data_source: "src/vlm-r1-rec", box: [0, 0, 10, 10] },
        { data_source: "elsewhere", solution: "3" },
      ],
    });
    expect(r.json["rewards"]).toEqual([1, 2]); // IoU 1 + no REC format (no braces); r1v accuracy 1 + format 1
  });

  it("each kind's options reach the library call", async () => {
    const fp = "<think>I see 3 cubes</think><answer>4</answer>"; // R1-V's false positive
    const rec = "<think>t</think><answer>{'bbox': [0, 0, 10, 10]}</answer>";
    const det = "<think>t</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>";
    const ask = async (reward: unknown, query: string, label: unknown) =>
      ((await post(base, { query: [query], labels: [label], reward })).json["rewards"] as number[])[0];
    expect(await ask({ reward: "r1v", options: { accuracy: "r1v" } }, fp, "<answer> 3 </answer>")).toBe(
      accuracyReward(fp, "<answer> 3 </answer>", { mode: "r1v" }) + formatReward(fp),
    );
    expect(await ask("r1v", fp, "3")).toBe(1); // vlab's checker: accuracy 0, format 1
    expect(
      await ask({ reward: "vlm-r1-rec", options: { rule: "threshold", weights: { format: 0 } } }, rec, [5, 5, 15, 15]),
    ).toBe(0);
    const scaled = { box: [0, 0, 20, 10], input_size: [28, 28], image_size: [56, 28] };
    expect(await ask({ reward: "vlm-r1-rec", options: { convention: "plain" } }, rec, scaled)).toBe(
      iouReward(rec, [0, 0, 20, 10], { convention: "plain", rescale: { inputSize: [28, 28], imageSize: [56, 28] } }) +
        1,
    );
    expect(await ask({ reward: "visual-rft-det", options: { iouThreshold: 0.9 } }, det, [[0, 0, 10, 11]])).toBe(
      visualRftDetectionReward(det, [[0, 0, 10, 11]], { iouThreshold: 0.9 }).total,
    );
    const none = "<think>t</think><answer>[]</answer>";
    const q25 = { boxText: "qwen2.5-vl", width: 32, height: 32 };
    expect(await ask({ reward: "visual-rft-det", options: q25 }, none, [])).toBe(1); // Visual-RFT: format only
    expect(await ask({ reward: "visual-rft-det", options: { ...q25, rewardEmpty: true } }, none, [])).toBe(3);
    const empty = "<think>t</think><answer></answer>";
    expect(await ask({ reward: "visual-rft-cls", options: { faithful: true } }, empty, "dog")).toBe(2);
    expect(await ask("visual-rft-cls", empty, "dog")).toBe(1);
    const base_ = "I pick</think><answer>B</answer>";
    expect(
      await ask({ reward: "visualthinker-mc", options: { thinkPrefilled: true, accuracy: "choice" } }, base_, "B"),
    ).toBe(2);
    expect(
      await ask(
        { reward: "lmm-r1", options: { weights: { format: 0 } } },
        "<think>x</think><answer>\\boxed{2}</answer>",
        "2",
      ),
    ).toBe(1);
  });

  it("garbage items score 0 and are counted; the rest of the batch is scored", async () => {
    const r = await post(base, {
      query: ["<think>x</think><answer>3</answer>", "\u0000\uffff garbage", "<answer>1</answer>"],
      labels: [{ no: "label" }, "3", "[1,2"],
      reward: "vlm-r1-rec",
    });
    expect(r.status).toBe(200);
    expect(r.json["rewards"]).toEqual([0, 0, 0]);
    expect((r.json["extra_logs"] as Record<string, number[]>)["invalid"]).toEqual([1, 1, 1]);
    expect((r.json["invalid_items"] as { index: number }[]).map((x) => x.index)).toEqual([0, 1, 2]);
  });
});

describe("refusals", () => {
  let server: RewardServer;
  let base: string;
  beforeAll(async () => {
    [server, base] = await start({ maxBodyBytes: 2000, token: "s3cret" });
  });
  afterAll(() => server.close());
  const auth = { Authorization: "Bearer s3cret" };

  it("400 with the reason, field and index", async () => {
    let r = await request(base, { raw: "{not json", headers: auth });
    expect(r.status).toBe(400);
    expect(r.json["error"]).toMatch(/^invalid JSON/);
    r = await post(base, { query: ["a", "b"], labels: ["1"] }, { headers: auth });
    expect(r).toMatchObject({ status: 400, json: { field: "labels", error: "labels has 1 items but query has 2" } });
    r = await post(base, { query: ["a", 5] }, { headers: auth });
    expect(r).toMatchObject({ status: 400, json: { field: "query", index: 1 } });
    r = await post(base, { query: ["a"], reward: "nope" }, { headers: auth });
    expect(r).toMatchObject({ status: 400, json: { field: "reward" } });
    r = await request(base, { raw: "", headers: auth });
    expect(r.status).toBe(400);
  });

  it("413 for a body over the limit, declared or streamed", async () => {
    const big = { query: ["x".repeat(3000)] };
    const r = await post(base, big, { headers: auth });
    expect(r.status).toBe(413);
    expect(r.json["error"]).toMatch(/over the limit of 2000/);
    expect(r.headers["connection"]).toBe("close");
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(new URL("/get_reward", base), {
        method: "POST",
        headers: { ...auth, "Transfer-Encoding": "chunked" },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      const send = (i: number) => {
        if (i < 10 && !req.destroyed) req.write("x".repeat(500), () => setTimeout(() => send(i + 1), 5));
      };
      send(0);
    });
    expect(chunked).toBe(413);
  });

  it("401 without or with a wrong token (health stays open); 405 and 404 name what is allowed", async () => {
    let r = await post(base, { query: [] });
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toMatch(/^Bearer/);
    r = await post(base, { query: [] }, { headers: { Authorization: "Bearer s3cres" } });
    expect(r.status).toBe(401);
    r = await post(base, { query: [] }, { headers: { Authorization: "Basic s3cret" } });
    expect(r.status).toBe(401);
    r = await post(base, { query: [] }, { headers: { Authorization: "bearer  s3cret" } });
    expect(r).toMatchObject({ status: 200, json: { rewards: [] } });
    expect((await request(base, { method: "GET", path: "/health" })).status).toBe(200);
    r = await request(base, { method: "GET", headers: auth });
    expect(r).toMatchObject({ status: 405, headers: { allow: "POST" } });
    r = await request(base, { method: "DELETE", path: "/health" });
    expect(r).toMatchObject({ status: 405, headers: { allow: "GET, HEAD" } });
    r = await request(base, { path: "/reward", body: {} });
    expect(r.status).toBe(404);
    expect(r.json["error"]).toMatch(/no such path: \/reward/);
  });
});

describe("connections, limits, load", () => {
  it("keep-alive: one socket serves successive requests", async () => {
    const [server, base] = await start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const a = await post(base, { query: ["<answer>1</answer>"], labels: ["1"] }, { agent });
    const b = await post(base, { query: ["<answer>1</answer>"], labels: ["1"] }, { agent });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.headers["connection"]).toBe("keep-alive");
    expect(b.reused).toBe(true);
    expect(b.localPort).toBe(a.localPort);
    agent.destroy();
    await server.close();
  });

  it("concurrency 1: a second request waits for the first; a full queue answers 503 at once", async () => {
    const [server, base] = await start({ concurrency: 1, maxQueue: 1 });
    const body = JSON.stringify({ query: ["<answer>1</answer>"], labels: ["1"] });
    const order: string[] = [];
    // A: headers and half the body, then a pause; it holds the only slot.
    const slow = http.request(new URL("/get_reward", base), {
      method: "POST",
      agent: false,
      headers: { "Content-Length": String(Buffer.byteLength(body)) },
    });
    const slowDone = new Promise<number>((resolve, reject) => {
      slow.on("response", (res) => {
        res.resume();
        res.on("end", () => (order.push("A"), resolve(res.statusCode ?? 0)));
      });
      slow.on("error", reject);
    });
    slow.write(body.slice(0, 10));
    await waitFor(() => server.stats().active === 1);
    const fast = post(base, JSON.parse(body)).then((r) => (order.push("B"), r.status));
    await waitFor(() => server.stats().queued === 1);
    const refused = await post(base, JSON.parse(body)); // the queue (1) is full
    expect(refused.status).toBe(503);
    expect(refused.json["error"]).toMatch(/queue is full/);
    expect(order).toEqual([]);
    slow.end(body.slice(10));
    expect(await Promise.all([slowDone, fast])).toEqual([200, 200]);
    expect(order).toEqual(["A", "B"]);
    expect(server.stats()).toMatchObject({ active: 0, queued: 0, served: 2 });
    await server.close();
  });

  it("time limit: a body that never ends gets 408 and frees the slot for the request queued behind it", async () => {
    const [server, base] = await start({ concurrency: 1, timeoutMs: 300 });
    const stuck = http.request(new URL("/get_reward", base), {
      method: "POST",
      agent: false,
      headers: { "Content-Length": "1000" },
    });
    const t0 = performance.now();
    const stuckReply = new Promise<[number, string]>((resolve, reject) => {
      stuck.on("response", (res) => {
        let s = "";
        res.on("data", (c: Buffer) => (s += c.toString()));
        res.on("end", () => resolve([res.statusCode ?? 0, s]));
      });
      stuck.on("error", reject);
    });
    stuck.write('{"query": [');
    await waitFor(() => server.stats().active === 1);
    const queued = await post(base, { query: [] });
    const [status, text] = await stuckReply;
    const waited = performance.now() - t0;
    expect(status).toBe(408);
    expect(JSON.parse(text).error).toMatch(/did not arrive within the time limit \(300 ms\)/);
    expect(queued.status).toBe(200); // it got the slot within its own limit (it arrived later)
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(5000);
    stuck.destroy();
    expect(server.stats()).toMatchObject({ active: 0, queued: 0 }); // the slot came back
    await server.close();
  });

  it("a client that disconnects while queued leaves the queue", async () => {
    const [server, base] = await start({ concurrency: 1 });
    const holder = http.request(new URL("/get_reward", base), {
      method: "POST",
      agent: false,
      headers: { "Content-Length": "100" },
    });
    holder.on("error", () => {});
    holder.write("{");
    await waitFor(() => server.stats().active === 1);
    const quitter = http.request(new URL("/get_reward", base), { method: "POST", agent: false });
    quitter.on("error", () => {});
    quitter.write("{");
    await waitFor(() => server.stats().queued === 1);
    quitter.destroy();
    await waitFor(() => server.stats().queued === 0);
    holder.destroy();
    await waitFor(() => server.stats().active === 0);
    await server.close();
  });

  it("load smoke: 200 single-item requests, 16 at a time, all answered correctly", async () => {
    const [server, base] = await start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const t0 = performance.now();
    let next = 0;
    const results: number[] = [];
    const worker = async () => {
      while (next < 200) {
        const i = next++;
        const r = await post(base, { query: [`<think>t</think><answer>${i % 3}</answer>`], labels: ["1"] }, { agent });
        expect(r.status).toBe(200);
        results[i] = (r.json["rewards"] as number[])[0] ?? NaN;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const seconds = (performance.now() - t0) / 1000;
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => (i % 3 === 1 ? 2 : 1)));
    expect(seconds).toBeLessThan(20);
    agent.destroy();
    await server.close();
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
