/**
 * OpenRLHF's remote reward protocol: the request, checked, and its answer.
 *
 *   POST /get_reward  {"query": [N strings], "prompts": [N strings or nulls], "labels": [N JSON values],
 *                      "data_source": [N strings or nulls] (optional), "reward": name or {reward, options} (optional)}
 *   200               {"rewards": [N], "scores": [N], "extra_logs": {"<part>": [N], …, "invalid": [N]},
 *                      "invalid_items": [{"index": i, "reason": "…"}] (only when some item was unusable)}
 *
 * The request is OpenRLHF's (openrlhf/utils/agent.py builds `query`, `prompts`, `labels`; lmm-r1's client the
 * same three); the answer is shaped like openrlhf/cli/serve_rm.py's: `rewards` train, `scores` (0–1) drive
 * dynamic filtering, every `extra_logs` entry is a list as long as `query`, which OpenRLHF logs. lmm-r1's client
 * reads `rewards` only. `prompts`, `labels` and `data_source` may be left out.
 *
 * Two kinds of trouble, kept apart: a request that is not of this shape (not an object, `query` missing, a
 * length mismatch, a non-string query) is refused whole with a `BadRequest` naming the field and index; one
 * unusable item (a label that does not parse, a response past the text limit) scores 0, is flagged in
 * `extra_logs.invalid`, and its reason is listed in `invalid_items`. A reward never throws (the library's
 * promise), so nothing else can fail an item.
 */
import { MAX_TEXT_CHARS } from "../text.js";
import { extractResponse } from "./extract.js";
import { resolveReward, type RewardChoice } from "./kinds.js";
import { isLabelError, isRecord } from "./labels.js";
import { chooseReward, type RouteTable } from "./routes.js";

/** A malformed request: answered 400 with this reason. */
export class BadRequest extends Error {
  constructor(
    message: string,
    readonly field?: string,
    readonly index?: number,
  ) {
    super(message);
    this.name = "BadRequest";
  }

  /** The JSON body of the 400 answer. */
  body(): { error: string; field?: string; index?: number } {
    return { error: this.message, field: this.field, index: this.index };
  }
}

/** The scoring ran past its deadline (answered 503). */
export class ScoringTimeout extends Error {
  constructor(ms: number) {
    super(`scoring did not finish within the time limit (${ms} ms)`);
    this.name = "ScoringTimeout";
  }
}

export interface RewardRequest {
  query: string[];
  prompts: (string | null)[] | null;
  labels: unknown[] | null;
  dataSource: (string | null)[] | null;
  /** The request's own reward, overriding the routing table. */
  override: RewardChoice | null;
}

export interface RewardResponse {
  rewards: number[];
  scores: number[];
  extra_logs: Record<string, number[]>;
  invalid_items?: { index: number; reason: string }[];
}

/** An optional array field of the request: absent/null, or an array as long as `query` whose items pass `ok`. */
function optionalArray<T>(
  body: Record<string, unknown>,
  field: string,
  n: number,
  ok: (x: unknown) => x is T,
  what: string,
): T[] | null {
  const v = body[field];
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw new BadRequest(`${field} must be an array`, field);
  if (v.length !== n) throw new BadRequest(`${field} has ${v.length} items but query has ${n}`, field);
  v.forEach((x, i) => {
    if (!ok(x)) throw new BadRequest(`${field}[${i}] must be ${what}`, field, i);
  });
  return v as T[];
}

const stringOrNull = (x: unknown): x is string | null => typeof x === "string" || x === null;
const anything = (x: unknown): x is unknown => x !== undefined;

/** Checks a parsed JSON body against the protocol; throws `BadRequest` (field and index) if it does not fit. */
export function parseRewardRequest(body: unknown): RewardRequest {
  if (!isRecord(body)) throw new BadRequest("the body must be a JSON object with a query array");
  const query = body["query"];
  if (!Array.isArray(query)) throw new BadRequest("query must be an array of strings", "query");
  query.forEach((q, i) => {
    if (typeof q !== "string") throw new BadRequest(`query[${i}] must be a string`, "query", i);
  });
  const n = query.length;
  const prompts = optionalArray(body, "prompts", n, stringOrNull, "a string or null");
  const labels = optionalArray(body, "labels", n, anything, "a JSON value");
  const dataSource = optionalArray(body, "data_source", n, stringOrNull, "a string or null");
  let override: RewardChoice | null = null;
  if (body["reward"] !== undefined && body["reward"] !== null) {
    try {
      override = resolveReward(body["reward"], "reward");
    } catch (e) {
      throw new BadRequest(e instanceof Error ? e.message : String(e), "reward");
    }
  }
  return { query: query as string[], prompts, labels, dataSource, override };
}

/** A string label holding a JSON object is read as that object (routing and rewards read its fields). */
function readLabel(label: unknown): unknown {
  if (typeof label !== "string" || !label.trimStart().startsWith("{")) return label;
  try {
    const v: unknown = JSON.parse(label);
    return isRecord(v) ? v : label;
  } catch {
    return label;
  }
}

export interface ItemResult {
  reward: number;
  score: number;
  choice: RewardChoice;
  /** The parts, in `choice.kind.parts` order (all 0 for an unusable item). */
  parts: number[];
  /** Why the item scored 0 without being read, if it did. */
  invalid?: string;
}

/** Scores one item: extracts the response, routes it, and runs the chosen reward. Never throws. */
export function scoreItem(
  table: RouteTable,
  override: RewardChoice | null,
  query: string,
  prompt: string | null | undefined,
  rawLabel: unknown,
  dataSource: string | null | undefined,
): ItemResult {
  const label = readLabel(rawLabel);
  const choice = chooseReward(table, override, dataSource, label);
  const zero = (invalid: string): ItemResult => ({
    reward: 0,
    score: 0,
    choice,
    parts: choice.kind.parts.map(() => 0),
    invalid,
  });
  try {
    const { response } = extractResponse(query, prompt);
    if (response.length > MAX_TEXT_CHARS) return zero(`response longer than ${MAX_TEXT_CHARS} characters`);
    const parts = choice.kind.compute(response, label, choice.options);
    if (isLabelError(parts)) return zero(parts.error);
    let reward = 0;
    parts.forEach((p, k) => (reward += (choice.weights[k] ?? 0) * p));
    const score = parts[choice.kind.parts.indexOf(choice.kind.score)] ?? 0;
    if (!Number.isFinite(reward) || !Number.isFinite(score)) return zero("the reward was not a finite number");
    return { reward, score, choice, parts };
  } catch (e) {
    return zero(`internal error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface ScoreOptions {
  /** `performance.now()` time after which scoring stops with `ScoringTimeout`; default none. */
  deadline?: number;
  /** The limit the deadline came from, for the error message. */
  timeoutMs?: number;
  /** Checked between slices: true stops the work (the client went away). */
  cancelled?: () => boolean;
  /** Longest run of scoring between two yields to the event loop, ms (default 10). */
  sliceMs?: number;
}

/**
 * The answer to a checked request. Scores in slices of about `sliceMs`, yielding to the event loop between
 * them so that one large batch does not stall the other connections, and checks the deadline at each yield.
 */
export async function scoreRequest(
  req: RewardRequest,
  table: RouteTable,
  options: ScoreOptions = {},
): Promise<RewardResponse> {
  const n = req.query.length;
  const results: ItemResult[] = [];
  const sliceMs = options.sliceMs ?? 10;
  let sliceStart = performance.now();
  for (let i = 0; i < n; i++) {
    const now = performance.now();
    if (now - sliceStart > sliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
      if (options.deadline !== undefined && sliceStart > options.deadline)
        throw new ScoringTimeout(options.timeoutMs ?? 0);
      if (options.cancelled?.()) throw new Error("cancelled");
    }
    results.push(
      scoreItem(table, req.override, req.query[i] ?? "", req.prompts?.[i], req.labels?.[i], req.dataSource?.[i]),
    );
  }
  return assemble(results);
}

/** The response body from per-item results: one list per part name used (0 where another reward scored). */
export function assemble(results: readonly ItemResult[]): RewardResponse {
  const n = results.length;
  const logs: Record<string, number[]> = {};
  const invalid: { index: number; reason: string }[] = [];
  results.forEach((r, i) => {
    r.choice.kind.parts.forEach((part, k) => {
      const list = (logs[part] ??= new Array<number>(n).fill(0));
      list[i] = r.parts[k] ?? 0;
    });
    if (r.invalid !== undefined) invalid.push({ index: i, reason: r.invalid });
  });
  logs["invalid"] = results.map((r) => (r.invalid !== undefined ? 1 : 0));
  const out: RewardResponse = {
    rewards: results.map((r) => r.reward),
    scores: results.map((r) => r.score),
    extra_logs: logs,
  };
  if (invalid.length) out.invalid_items = invalid;
  return out;
}
