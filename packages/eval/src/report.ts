/**
 * The results report every notebook ends with: `report({ notebook, metrics, claims })` checks each of the
 * paper's claims against this run's metrics and writes `results/<notebook>.json`:
 *
 *   { "notebook": "02-clip", "budget": "quick", "backend": "wasm", "seed": 0, "wall_s": 71.4,
 *     "metrics": { "ensemble_gain": 0.03 },
 *     "claims": [ { "id": "ensembling-helps", "source": "CLIP, Radford et al. 2021, sec. 3.1.4",
 *                   "statement": "prompt ensembling improves zero-shot accuracy",
 *                   "metric": "ensemble_gain", "op": ">=", "threshold": 0, "value": 0.03, "holds": true } ] }
 *
 * `value` and `holds` are always computed here from `metrics`, never taken from the caller. The returned
 * object is the written JSON and also displays itself as the claims table (Symbol.for("Jupyter.display")).
 */
import fs from "node:fs";
import path from "node:path";
import { atomicWrite, tf } from "@vlab/core";
import { currentBudget, isBudget, type Budget } from "./budget.js";

const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

export type ClaimOp = ">=" | ">" | "<=" | "<" | "==";
export const CLAIM_OPS: readonly ClaimOp[] = [">=", ">", "<=", "<", "=="];

/** A paper's claim, stated as a comparison of one of this run's metrics with a threshold. */
export interface Claim {
  /** Short unique slug, e.g. "ensembling-helps". */
  id: string;
  /** Where the claim comes from, e.g. "CLIP, Radford et al. 2021, sec. 3.1.4". */
  source: string;
  /** The claim in words. */
  statement: string;
  /** The key in `metrics` the claim is about. */
  metric: string;
  op: ClaimOp;
  threshold: number;
}

export interface ClaimResult extends Claim {
  /** `metrics[metric]` of this run. */
  value: number;
  /** `value op threshold`. */
  holds: boolean;
}

/** The content of `results/<notebook>.json`. */
export interface Results {
  notebook: string;
  budget: Budget;
  backend: string;
  seed: number | null;
  wall_s: number;
  metrics: Record<string, number>;
  claims: ClaimResult[];
}

export interface ReportOptions {
  /** The notebook's name without extension, e.g. "02-clip"; the file is `<dir>/<notebook>.json`. */
  notebook: string;
  /** Every number the run measured (finite numbers only). */
  metrics: Record<string, number>;
  claims: Claim[];
  /** The run's seed (default null: not recorded). */
  seed?: number | null;
  /** Default: `currentBudget()` (env VLAB_BUDGET). */
  budget?: Budget;
  /** Default: the active tfjs backend (`tf.getBackend()`), or "none" if no tensor op ran yet. */
  backend?: string;
  /**
   * Wall-clock seconds of the run. Default: `process.uptime()` rounded to 0.1 s — the runner starts one
   * kernel process per notebook, so the process age is the notebook's run time. Pass it yourself in a
   * long-lived kernel where you re-run cells.
   */
  wall_s?: number;
  /** Where to write. Default: `resultsDir()`. */
  dir?: string;
}

/** `value op threshold`. `==` is exact equality (use it for counts and other integers). */
export function checkClaim(op: ClaimOp, value: number, threshold: number): boolean {
  switch (op) {
    case ">=":
      return value >= threshold;
    case ">":
      return value > threshold;
    case "<=":
      return value <= threshold;
    case "<":
      return value < threshold;
    case "==":
      return value === threshold;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

function fail(where: string, msg: string): never {
  throw new Error(`${where}: ${msg}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === "string" && v.trim().length > 0;
}

function show(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (v === undefined) return "undefined";
  return JSON.stringify(v) ?? String(v);
}

function checkNotebook(where: string, v: unknown): string {
  if (!nonEmptyString(v)) fail(where, `notebook must be a non-empty name, got ${show(v)}`);
  if (/[/\\]/.test(v) || v === "." || v === ".." || v !== v.trim())
    fail(where, `notebook must be a plain name (no slashes or surrounding spaces), e.g. "02-clip", got ${show(v)}`);
  return v;
}

function checkMetrics(where: string, v: unknown): Record<string, number> {
  if (!isRecord(v)) fail(where, `metrics must be an object of numbers, got ${show(v)}`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "number") fail(where, `metric "${k}" must be a number, got ${show(x)}`);
    if (!Number.isFinite(x)) fail(where, `metric "${k}" is ${x}; every metric must be a finite number`);
  }
  return v as Record<string, number>;
}

function checkClaimSpec(where: string, c: unknown, i: number, metrics: Record<string, number>): Claim {
  if (!isRecord(c)) fail(where, `claims[${i}] must be an object, got ${show(c)}`);
  const name = nonEmptyString(c.id) ? `claim "${c.id}"` : `claims[${i}]`;
  if (!nonEmptyString(c.id)) fail(where, `claims[${i}] needs a non-empty string id`);
  for (const key of ["source", "statement"] as const)
    if (!nonEmptyString(c[key])) fail(where, `${name} needs a non-empty ${key}, got ${show(c[key])}`);
  if (!nonEmptyString(c.metric)) fail(where, `${name} needs a metric name, got ${show(c.metric)}`);
  if (!Object.prototype.hasOwnProperty.call(metrics, c.metric)) {
    const known = Object.keys(metrics);
    fail(
      where,
      `${name} uses metric "${c.metric}", which is not in metrics (${known.length ? `known: ${known.join(", ")}` : "metrics is empty"})`,
    );
  }
  if (!CLAIM_OPS.includes(c.op as ClaimOp))
    fail(where, `${name} has op ${show(c.op)}; use one of ${CLAIM_OPS.join(", ")}`);
  if (typeof c.threshold !== "number" || !Number.isFinite(c.threshold))
    fail(where, `${name} needs a finite number threshold, got ${show(c.threshold)}`);
  return {
    id: c.id,
    source: c.source as string,
    statement: c.statement as string,
    metric: c.metric,
    op: c.op as ClaimOp,
    threshold: c.threshold,
  };
}

function checkClaimIds(where: string, claims: Claim[]): void {
  const seen = new Set<string>();
  for (const c of claims) {
    if (seen.has(c.id)) fail(where, `duplicate claim id "${c.id}"`);
    seen.add(c.id);
  }
}

function checkBudget(where: string, v: unknown): Budget {
  if (!isBudget(v)) fail(where, `budget must be "quick" or "full", got ${show(v)}`);
  return v;
}

function checkSeed(where: string, v: unknown): number | null {
  if (v === null) return null;
  if (typeof v !== "number" || !Number.isInteger(v)) fail(where, `seed must be an integer or null, got ${show(v)}`);
  return v;
}

function checkWall(where: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    fail(where, `wall_s must be a finite number of seconds ≥ 0, got ${show(v)}`);
  return v;
}

function checkBackend(where: string, v: unknown): string {
  if (!nonEmptyString(v)) fail(where, `backend must be a non-empty string, got ${show(v)}`);
  return v;
}

const RESULT_KEYS = ["notebook", "budget", "backend", "seed", "wall_s", "metrics", "claims"];
const CLAIM_KEYS = ["id", "source", "statement", "metric", "op", "threshold", "value", "holds"];

/**
 * Checks that `obj` is a well-formed results object (as written by `report`): every field present with the
 * right type, no unknown fields, and each claim's `value` and `holds` consistent with `metrics`.
 * Returns it typed; throws an Error naming the first problem otherwise. `where` prefixes messages (e.g. a file name).
 */
export function validateResults(obj: unknown, where = "results"): Results {
  if (!isRecord(obj)) fail(where, `expected an object, got ${show(obj)}`);
  for (const k of RESULT_KEYS) if (!(k in obj)) fail(where, `missing field "${k}"`);
  for (const k of Object.keys(obj)) if (!RESULT_KEYS.includes(k)) fail(where, `unknown field "${k}"`);
  checkNotebook(where, obj.notebook);
  checkBudget(where, obj.budget);
  checkBackend(where, obj.backend);
  checkSeed(where, obj.seed);
  checkWall(where, obj.wall_s);
  const metrics = checkMetrics(where, obj.metrics);
  if (!Array.isArray(obj.claims)) fail(where, `claims must be an array, got ${show(obj.claims)}`);
  const claims = obj.claims.map((c: unknown, i: number) => {
    const spec = checkClaimSpec(where, c, i, metrics);
    const r = c as Record<string, unknown>;
    for (const k of CLAIM_KEYS) if (!(k in r)) fail(where, `claim "${spec.id}" is missing "${k}"`);
    for (const k of Object.keys(r))
      if (!CLAIM_KEYS.includes(k)) fail(where, `claim "${spec.id}" has unknown field "${k}"`);
    if (r.value !== metrics[spec.metric])
      fail(
        where,
        `claim "${spec.id}" has value ${show(r.value)} but metrics.${spec.metric} is ${metrics[spec.metric]}`,
      );
    const holds = checkClaim(spec.op, metrics[spec.metric]!, spec.threshold);
    if (r.holds !== holds)
      fail(
        where,
        `claim "${spec.id}" says holds: ${show(r.holds)} but ${metrics[spec.metric]} ${spec.op} ${spec.threshold} is ${holds}`,
      );
    return spec;
  });
  checkClaimIds(where, claims);
  return obj as unknown as Results;
}

// ---------------------------------------------------------------------------------------------
// Where results go

/**
 * The results folder: env `VLAB_RESULTS_DIR`, else the nearest ancestor of the working directory
 * (itself included) that has a `results/` folder, else `./results`.
 */
export function resultsDir(cwd = process.cwd()): string {
  const env = process.env.VLAB_RESULTS_DIR;
  if (env && env.trim()) return path.resolve(env);
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, "results");
    try {
      if (fs.statSync(candidate).isDirectory()) return candidate;
    } catch {
      // not here; go up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.resolve(cwd, "results");
}

function activeBackend(): string {
  try {
    return tf.getBackend() || "none";
  } catch {
    return "none";
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e6) return v.toExponential(3).replace(/\.?0+e/, "e");
  if (a >= 1e4) return v.toFixed(0);
  return String(Number(v.toPrecision(4)));
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function escapeMd(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

const OP_TEXT: Record<ClaimOp, string> = { ">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "=" };

function mdTable(head: string[], rows: string[][], right: boolean[]): string {
  const rule = head.map((_, i) => (right[i] ? "---:" : "---"));
  return [head, rule, ...rows].map((r) => `| ${r.map(escapeMd).join(" | ")} |`).join("\n");
}

function textTable(head: string[], rows: string[][], right: boolean[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function htmlTable(
  head: string[],
  rows: Array<Array<{ text: string; style?: string; html?: string }>>,
  right: boolean[],
): string {
  const th = head.map((h, i) => `<th style="text-align:${right[i] ? "right" : "left"}">${escapeHtml(h)}</th>`).join("");
  const body = rows
    .map(
      (r) =>
        `<tr>${r
          .map(
            (c, i) =>
              `<td style="text-align:${right[i] ? "right" : "left"}${c.style ? `;${c.style}` : ""}">${c.html ?? escapeHtml(c.text)}</td>`,
          )
          .join("")}</tr>`,
    )
    .join("");
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function headline(r: Results): string {
  return `${r.notebook} · budget ${r.budget} · backend ${r.backend} · seed ${r.seed ?? "—"} · ${formatNumber(r.wall_s)} s`;
}

const CLAIM_HEAD = ["claim", "source", "this run", "threshold", "holds"];
const CLAIM_RIGHT = [false, false, true, false, false];

function claimCells(c: ClaimResult): string[] {
  return [
    `${c.id}: ${c.statement}`,
    c.source,
    `${c.metric} = ${formatNumber(c.value)}`,
    `${OP_TEXT[c.op]} ${formatNumber(c.threshold)}`,
    c.holds ? "✓" : "✗",
  ];
}

/** The claims table of one run as a mime bundle: text/html, text/markdown and text/plain. */
export function claimsBundle(r: Results, file?: string): Record<string, string> {
  const held = r.claims.filter((c) => c.holds).length;
  const summary = `${held}/${r.claims.length} claims hold`;
  const where = file ? ` → ${file}` : "";
  const metricRows = Object.entries(r.metrics).map(([k, v]) => [k, formatNumber(v)]);

  const htmlRows = r.claims.map((c) => {
    const cells = claimCells(c);
    return [
      { text: cells[0]!, html: `<b>${escapeHtml(c.id)}</b><br>${escapeHtml(c.statement)}` },
      { text: cells[1]! },
      { text: cells[2]! },
      { text: cells[3]! },
      { text: cells[4]!, style: `color:${c.holds ? "#1a7f37" : "#cf222e"};font-weight:bold` },
    ];
  });
  const html =
    `<div class="vlab-report"><p><b>${escapeHtml(r.notebook)}</b> · budget ${escapeHtml(r.budget)} · backend ${escapeHtml(r.backend)}` +
    ` · seed ${escapeHtml(String(r.seed ?? "—"))} · ${escapeHtml(formatNumber(r.wall_s))} s — <b>${summary}</b>${escapeHtml(where)}</p>` +
    (r.claims.length ? htmlTable(CLAIM_HEAD, htmlRows, CLAIM_RIGHT) : "<p>(no claims)</p>") +
    (metricRows.length
      ? `<details><summary>metrics</summary>${htmlTable(
          ["metric", "value"],
          metricRows.map((r) => r.map((text) => ({ text }))),
          [false, true],
        )}</details>`
      : "") +
    `</div>`;

  const rows = r.claims.map(claimCells);
  const markdown =
    `**${escapeMd(r.notebook)}** · budget ${r.budget} · backend ${escapeMd(r.backend)} · seed ${r.seed ?? "—"} · ${formatNumber(r.wall_s)} s — **${summary}**\n\n` +
    (rows.length ? mdTable(CLAIM_HEAD, rows, CLAIM_RIGHT) : "(no claims)") +
    (metricRows.length ? `\n\n${mdTable(["metric", "value"], metricRows, [false, true])}` : "");

  const plain =
    `${headline(r)} — ${summary}${where}\n` +
    (rows.length ? textTable(CLAIM_HEAD, rows, CLAIM_RIGHT) : "(no claims)") +
    (metricRows.length ? `\n\nmetrics: ${metricRows.map(([k, v]) => `${k}=${v}`).join(", ")}` : "");

  return { "text/html": html, "text/markdown": markdown, "text/plain": plain };
}

/** What `report()` returns: the written results (its JSON is exactly the file) that also displays itself. */
export class ResultsReport implements Results {
  notebook!: string;
  budget!: Budget;
  backend!: string;
  seed!: number | null;
  wall_s!: number;
  metrics!: Record<string, number>;
  claims!: ClaimResult[];
  /** The file written (not part of the JSON). */
  declare readonly path: string;

  constructor(r: Results, file: string) {
    Object.assign(this, {
      notebook: r.notebook,
      budget: r.budget,
      backend: r.backend,
      seed: r.seed,
      wall_s: r.wall_s,
      metrics: r.metrics,
      claims: r.claims,
    });
    Object.defineProperty(this, "path", { value: file, enumerable: false });
  }

  /** True when every claim holds. */
  get allHold(): boolean {
    return this.claims.every((c) => c.holds);
  }

  [JUPYTER_DISPLAY](): Record<string, string> {
    return claimsBundle(this, this.path);
  }

  toString(): string {
    return claimsBundle(this, this.path)["text/plain"]!;
  }
}

/**
 * Checks each claim against `metrics`, writes `<dir>/<notebook>.json` atomically, and returns the written
 * results (displayable as the claims table). Throws a clear error for a missing or non-finite metric, a
 * duplicate claim id, an unknown op, an empty notebook name or an invalid budget.
 */
export function report(opts: ReportOptions): ResultsReport {
  const where = "report()";
  if (!isRecord(opts)) fail(where, "expected { notebook, metrics, claims, ... }");
  const notebook = checkNotebook(where, opts.notebook);
  const metrics = checkMetrics(where, opts.metrics);
  if (!Array.isArray(opts.claims)) fail(where, `claims must be an array (may be empty), got ${show(opts.claims)}`);
  const specs = opts.claims.map((c, i) => checkClaimSpec(where, c, i, metrics));
  checkClaimIds(where, specs);
  const results: Results = {
    notebook,
    budget: checkBudget(where, opts.budget ?? currentBudget()),
    backend: checkBackend(where, opts.backend ?? activeBackend()),
    seed: checkSeed(where, opts.seed ?? null),
    wall_s: checkWall(where, opts.wall_s ?? Math.round(process.uptime() * 10) / 10),
    metrics: { ...metrics },
    claims: specs.map((c) => {
      const value = metrics[c.metric]!;
      return { ...c, value, holds: checkClaim(c.op, value, c.threshold) };
    }),
  };
  validateResults(results, where);
  const dir = path.resolve(opts.dir ?? resultsDir());
  const file = path.join(dir, `${notebook}.json`);
  atomicWrite(file, JSON.stringify(results, null, 2) + "\n");
  return new ResultsReport(results, file);
}

// ---------------------------------------------------------------------------------------------
// All results

export interface ResultsSet {
  dir: string;
  results: Array<{ file: string; results: Results }>;
  invalid: Array<{ file: string; error: string }>;
}

/** Reads and validates every `*.json` in `dir` (sorted by name); invalid files are listed, not thrown. */
export function readResults(dir: string = resultsDir()): ResultsSet {
  const out: ResultsSet = { dir, results: [], invalid: [] };
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".json") && !f.startsWith("."))
      .sort();
  } catch {
    return out;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const obj = JSON.parse(fs.readFileSync(file, "utf8"));
      // other JSON that may live in results/ (saved figures, ...) is not a run's results
      if (isRecord(obj) && !("notebook" in obj) && !("claims" in obj)) continue;
      out.results.push({ file, results: validateResults(obj, name) });
    } catch (e) {
      out.invalid.push({
        file,
        error: e instanceof SyntaxError ? `${name}: invalid JSON (${e.message})` : (e as Error).message,
      });
    }
  }
  return out;
}

/**
 * A summary of every `results/*.json`: one row per notebook (budget, backend, seed, wall time, claims held),
 * then one row per claim, then any invalid files. `format` is "markdown" (default, e.g. for RESULTS.md) or "text".
 */
export function resultsTable(dir: string = resultsDir(), format: "markdown" | "text" = "markdown"): string {
  const set = readResults(dir);
  const table = format === "markdown" ? mdTable : textTable;
  const parts: string[] = [];
  if (set.results.length === 0 && set.invalid.length === 0) return `No results in ${dir}.`;
  if (set.results.length) {
    const runs = set.results.map(({ results: r }) => [
      r.notebook,
      r.budget,
      r.backend,
      r.seed === null ? "—" : String(r.seed),
      formatNumber(r.wall_s),
      `${r.claims.filter((c) => c.holds).length}/${r.claims.length}`,
    ]);
    parts.push(
      table(["notebook", "budget", "backend", "seed", "wall (s)", "claims hold"], runs, [
        false,
        false,
        false,
        true,
        true,
        true,
      ]),
    );
    const claims = set.results.flatMap(({ results: r }) =>
      r.claims.map((c) => [
        r.notebook,
        c.id,
        c.source,
        `${c.metric} = ${formatNumber(c.value)}`,
        `${OP_TEXT[c.op]} ${formatNumber(c.threshold)}`,
        c.holds ? "✓" : "✗",
      ]),
    );
    if (claims.length)
      parts.push(
        table(["notebook", "claim", "source", "this run", "threshold", "holds"], claims, [
          false,
          false,
          false,
          true,
          false,
          false,
        ]),
      );
  }
  if (set.invalid.length) {
    const list = set.invalid.map((i) => `${format === "markdown" ? "- " : "  "}${i.error}`).join("\n");
    parts.push(`${format === "markdown" ? "**Invalid result files**" : "Invalid result files:"}\n${list}`);
  }
  return parts.join("\n\n");
}
