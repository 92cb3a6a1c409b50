// HTTP helpers for the service tests: a request that resolves with status, headers and parsed JSON, and the
// examples every reward kind is checked on (with the library call each should equal).
import http from "node:http";
import {
  accuracyReward,
  boxedAccuracyReward,
  formatReward,
  iouReward,
  pyStrip,
  visualRftClassificationReward,
  visualRftDetectionReward,
} from "../src/index.js";

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
  reused: boolean;
  localPort: number | undefined;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  body?: unknown;
  /** Raw body text (sent as is instead of JSON). */
  raw?: string;
  headers?: Record<string, string>;
  agent?: http.Agent;
}

/** One request; resolves when the answer is read (rejects on a connection error). */
export function request(base: string, o: RequestOptions = {}): Promise<Reply> {
  const text = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(o.path ?? "/get_reward", base),
      {
        method: o.method ?? "POST",
        agent: o.agent ?? false,
        headers: { "Content-Type": "application/json", ...o.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const s = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            json: s ? (JSON.parse(s) as Record<string, unknown>) : {},
            reused: req.reusedSocket,
            localPort: res.socket?.localPort,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

export const post = (base: string, body: unknown, o: RequestOptions = {}) => request(base, { ...o, body });

/** A ChatML prompt as OpenRLHF's `prompts` carries it, ending with the assistant header. */
export const chatPrompt = (q: string) =>
  `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n` +
  "<|im_start|>assistant\n";

export interface Example {
  reward: string;
  response: string;
  label: unknown;
  /** What the library gives for this response and label (the service must answer the same). */
  expected: number;
}

const think = (a: string) => `<think>reasoning</think><answer>${a}</answer>`;

/** Examples of every reward kind, with the library's value for each. */
export function examples(): Example[] {
  const out: Example[] = [];
  const add = (reward: string, response: string, label: unknown, expected: number) =>
    out.push({ reward, response, label, expected });
  for (const [r, l] of [
    [think("3"), "3"],
    [think("3"), 3],
    [think("4"), "<answer> 3 </answer>"],
    ["<think>I see 3 cubes</think><answer>4</answer>", "3"],
    ["<answer>3</answer>", "3"],
    ["<think>\nmulti\nline\n</think>\n<answer>3.0</answer>", "3"],
  ] as const)
    add("r1v", r, l, accuracyReward(r, String(l)) + formatReward(r));
  for (const [r, l] of [
    [think("\\boxed{60}"), "$\\boxed{60}$"],
    [" " + think("\\boxed{60}") + "\n", "60"],
    ["<think>x</think> <answer>\\boxed{60}</answer>", "60"],
    [think("\\boxed{61}"), "$60$"],
  ] as const) {
    const s = pyStrip(r);
    add("lmm-r1", r, l, boxedAccuracyReward(s, l) + 0.5 * formatReward(s, { variant: "lmm-r1" }));
  }
  for (const [r, l] of [
    [think('{"bbox_2d": [0, 0, 10, 10]}'), [5, 5, 15, 15]],
    [think('{"bbox_2d": [0, 0, 10, 10]}'), "[0, 0, 10, 10]"],
    [think("[0, 0, 10, 10]"), [0, 0, 12, 10]],
    [think("no box"), [0, 0, 10, 10]],
  ] as const)
    add(
      "vlm-r1-rec",
      r,
      l,
      iouReward(r, l === "[0, 0, 10, 10]" ? [0, 0, 10, 10] : l) + formatReward(r, { variant: "vlm-r1-rec" }),
    );
  const det = think(
    "[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}, {'Position': [40, 40, 50, 50], 'Confidence': 0.3}]",
  );
  for (const l of [
    [
      [0, 0, 10, 10],
      [20, 20, 30, 30],
    ],
    [[0, 0, 10, 10]],
    [],
  ])
    add("visual-rft-det", det, l, visualRftDetectionReward(det, l).total);
  for (const [r, l] of [
    [think("golden retriever"), "golden_retriever"],
    [think("cat"), "dog"],
    [think(""), "dog"],
  ] as const)
    add("visual-rft-cls", r, l, visualRftClassificationReward(r, l) + formatReward(r));
  for (const [r, l] of [
    [think("I pick (B)"), "B"],
    [think("left"), "<answer>left</answer>"],
    [think("A or C"), "A"],
  ] as const)
    add("visualthinker-mc", r, l, accuracyReward(r, l, { mode: "visualthinker" }) + formatReward(r));
  return out;
}
