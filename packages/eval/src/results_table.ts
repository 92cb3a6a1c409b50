/**
 * How results read: the claims table of one run (what a notebook's last cell shows) and the summary of every run
 * (`vlab run --summary`). Tables are @vlab/display's `table`, numbers core's `formatNumber`, so a value reads the
 * same here as in any other vlab table.
 *
 * A run that did not write the committed `results/` (a quick run, a notebook in Jupyter) is shown beside the
 * committed full-budget run: each claim's full-budget value and whether it held there, and, for a claim that does
 * not hold, the one-line reason its notebook gives (`Claim.note`).
 */
import fs from "node:fs";
import path from "node:path";
import { escapeHtml, formatNumber } from "@vlab/core";
import { escapeMarkdownCell, table, type Table } from "@vlab/display";
import { findResultsDir, readResults, resultsDir } from "./results_dir.js";
import type { ClaimOp, ClaimResult, Results } from "./results.js";

const OP_TEXT: Record<ClaimOp, string> = { ">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "=" };

const threshold = (c: ClaimResult) => `${OP_TEXT[c.op]} ${formatNumber(c.threshold)}`;

/** "ensemble_gain = 0.03" and "≥ 0": a claim's measured value and its threshold as text. */
function measured(c: ClaimResult): { "this run": string; threshold: string } {
  return { "this run": `${c.metric} = ${formatNumber(c.value)}`, threshold: threshold(c) };
}

/**
 * The committed full-budget run's verdict on claim `c`: "0.504 ✓", with its threshold when it differs from this
 * run's (quick thresholds are looser), or "—" when the committed run has no such claim.
 */
function fullBudgetCell(c: ClaimResult, committed: Results): string {
  const f = committed.claims.find((x) => x.id === c.id);
  if (!f) return "—";
  const same = f.op === c.op && f.threshold === c.threshold && f.metric === c.metric;
  return `${formatNumber(f.value)}${same ? "" : ` (${threshold(f)})`} ${f.holds ? "✓" : "✗"}`;
}

/** A one-line explanation for each claim that fails in this run or in the committed full-budget run. */
function notes(r: Results, committed?: Results): string[] {
  const out: string[] = [];
  for (const c of r.claims) {
    const f = committed?.claims.find((x) => x.id === c.id);
    const failsFull = f ? !f.holds : r.budget === "full" && !c.holds;
    if (c.holds && !failsFull) continue;
    // the notebook's current note first: the committed file may predate it
    const note = c.note ?? f?.note;
    const where = failsFull
      ? "does not hold at the full budget"
      : `does not hold in this ${r.budget} run${f ? " (it holds at the full budget)" : ""}`;
    out.push(`${r.notebook} ${c.id} ${where}${note ? `: ${note}` : ""}`);
  }
  return out;
}

/**
 * One row per claim; in HTML the claim's id is bold above its statement. With `committed`, a claim the notebook
 * checks only at the full budget (in the committed run, not in this one) gets a row with its committed verdict.
 */
function claimsTable(claims: ClaimResult[], committed?: Results, budget = "quick"): Table {
  const rows: Array<Record<string, string | boolean>> = claims.map((c) => ({
    claim: `${c.id}: ${c.statement}`,
    source: c.source,
    ...measured(c),
    holds: c.holds,
    ...(committed ? { "full budget": fullBudgetCell(c, committed) } : {}),
  }));
  const fullOnly = committed?.claims.filter((f) => !claims.some((c) => c.id === f.id)) ?? [];
  for (const f of fullOnly)
    rows.push({
      claim: `${f.id}: ${f.statement}`,
      source: f.source,
      "this run": `not checked at ${budget}`,
      threshold: threshold(f),
      holds: "—",
      "full budget": `${formatNumber(f.value)} ${f.holds ? "✓" : "✗"}`,
    });
  const all = [...claims, ...fullOnly];
  const claimHtml = (_: unknown, row: number) => {
    const c = all[row];
    if (c === undefined) throw new RangeError(`claimsTable(): no claim for row ${row}`);
    return `<b>${escapeHtml(c.id)}</b><br>${escapeHtml(c.statement)}`;
  };
  return table(rows, {
    columns: ["claim", "source", "this run", "threshold", "holds", ...(committed ? ["full budget"] : [])],
    align: { "this run": "right", "full budget": "right" },
    html: { claim: claimHtml },
  });
}

/** The headline of a run: notebook, budget, backend, seed and wall time. */
function headline(r: Results): string {
  return (
    `${r.notebook} · budget ${r.budget} · backend ${r.backend} · ` +
    `seed ${r.seed ?? "—"} · ${formatNumber(r.wall_s)} s`
  );
}

/** What the "full budget" column is, under a table that has one. */
function committedLine(committed: Results): string {
  const held = committed.claims.filter((c) => c.holds).length;
  return (
    `full budget: the committed results/${committed.notebook}.json (backend ${committed.backend}, ` +
    `${formatNumber(committed.wall_s)} s, ${held}/${committed.claims.length} claims hold); ` +
    `only \`vlab run --budget full\` rewrites it`
  );
}

/**
 * The claims table of one run as a mime bundle: text/html, text/markdown and text/plain. With `committed` (the
 * committed full-budget results of the same notebook), a "full budget" column shows its value and verdict per claim.
 */
export function claimsBundle(
  r: Results,
  file?: string,
  committed?: Results,
): { "text/html": string; "text/markdown": string; "text/plain": string } {
  const held = r.claims.filter((c) => c.holds).length;
  const summary = `${held}/${r.claims.length} claims hold`;
  const where = file ? ` → ${file}` : "";
  const claims = r.claims.length || committed ? claimsTable(r.claims, committed, r.budget) : undefined;
  const metrics = Object.entries(r.metrics);
  const metricsTable = metrics.length ? table(metrics, { columns: ["metric", "value"] }) : undefined;
  const footer = [...(committed ? [committedLine(committed)] : []), ...notes(r, committed)];

  const html =
    `<div class="vlab-report"><p><b>${escapeHtml(r.notebook)}</b> · budget ${escapeHtml(r.budget)} · ` +
    `backend ${escapeHtml(r.backend)} · seed ${escapeHtml(String(r.seed ?? "—"))} · ` +
    `${escapeHtml(formatNumber(r.wall_s))} s — <b>${summary}</b>${escapeHtml(where)}</p>` +
    (claims ? claims.toHtml() : "<p>(no claims)</p>") +
    (footer.length ? `<ul>${footer.map((l) => `<li>${escapeHtml(l)}</li>`).join("")}</ul>` : "") +
    (metricsTable ? `<details><summary>metrics</summary>${metricsTable.toHtml()}</details>` : "") +
    `</div>`;

  const markdown =
    `**${escapeMarkdownCell(r.notebook)}** · budget ${r.budget} · backend ${escapeMarkdownCell(r.backend)} · ` +
    `seed ${r.seed ?? "—"} · ` +
    `${formatNumber(r.wall_s)} s — **${summary}**\n\n` +
    (claims ? claims.toMarkdown() : "(no claims)") +
    (footer.length ? `\n\n${footer.map((l) => `- ${l}`).join("\n")}` : "") +
    (metricsTable ? `\n\n${metricsTable.toMarkdown()}` : "");

  const plain =
    `${headline(r)} — ${summary}${where}\n` +
    (claims ? claims.toText() : "(no claims)") +
    (footer.length ? `\n${footer.map((l) => `· ${l}`).join("\n")}` : "") +
    (metrics.length ? `\n\nmetrics: ${metrics.map(([k, v]) => `${k}=${formatNumber(v)}`).join(", ")}` : "");

  return { "text/html": html, "text/markdown": markdown, "text/plain": plain };
}

export interface ResultsTableOptions {
  /**
   * The committed results folder to compare with: adds a "full budget" column (value and ✓/✗ of each claim in
   * `<committed>/<notebook>.json`, full-budget files only) and a line per claim that does not hold. Leave it out
   * when `dir` is itself the committed folder.
   */
  committed?: string;
  /** Only these notebooks (names without .ipynb); one that has no file is listed as having no results. */
  notebooks?: string[];
  /** Epoch ms: files older than this are left over from an earlier run and listed as having no results. */
  since?: number;
}

/** The runs of `dir` that `opts` asks for, the notebooks with no fresh results, and the committed run of each. */
function selectRuns(dir: string, opts: ResultsTableOptions) {
  const set = readResults(dir);
  const missing: string[] = [];
  let found = set.results;
  if (opts.notebooks) {
    const wanted = opts.notebooks;
    found = found.filter(({ results: r }) => wanted.includes(r.notebook));
    missing.push(...wanted.filter((n) => !found.some(({ results: r }) => r.notebook === n)));
  }
  if (opts.since !== undefined) {
    const since = opts.since;
    const stale = found.filter(({ file }) => fs.statSync(file).mtimeMs < since);
    found = found.filter((x) => !stale.includes(x));
    missing.push(...stale.map(({ results: r }) => r.notebook));
  }
  const committedOf = new Map<string, Results>();
  if (opts.committed) {
    for (const { file, results: c } of readResults(opts.committed).results) {
      // a folder is not compared with itself, and only full-budget files are the committed reference
      if (c.budget === "full" && path.resolve(file) !== path.resolve(dir, `${c.notebook}.json`))
        committedOf.set(c.notebook, c);
    }
  }
  return { set, found, missing, committedOf };
}

/**
 * A summary of every `<dir>/*.json`: one row per notebook (budget, backend, seed, wall time, claims held),
 * then one row per claim, then notes and any invalid files. `format` is "markdown" (default) or "text".
 */
export function resultsTable(
  dir: string = resultsDir(),
  format: "markdown" | "text" = "markdown",
  opts: ResultsTableOptions = {},
): string {
  const { set, found, missing, committedOf } = selectRuns(dir, opts);
  const render = (t: Table) => (format === "markdown" ? t.toMarkdown() : t.toText());
  const bullet = format === "markdown" ? "- " : "  ";
  const compare = committedOf.size > 0;

  const parts: string[] = [];
  if (found.length === 0 && set.invalid.length === 0 && missing.length === 0) return `No results in ${dir}.`;
  if (found.length) {
    const runs = found.map(({ results: r }) => {
      const c = committedOf.get(r.notebook);
      return {
        notebook: r.notebook,
        budget: r.budget,
        backend: r.backend,
        seed: r.seed === null ? "—" : String(r.seed),
        "wall (s)": r.wall_s,
        "claims hold": `${r.claims.filter((x) => x.holds).length}/${r.claims.length}`,
        ...(compare
          ? {
              "full budget": c
                ? `${c.claims.filter((x) => x.holds).length}/${c.claims.length} in ${formatNumber(c.wall_s)} s`
                : "—",
            }
          : {}),
      };
    });
    parts.push(render(table(runs, { align: { seed: "right", "claims hold": "right", "full budget": "right" } })));
    const claims = found.flatMap(({ results: r }) => {
      const c = committedOf.get(r.notebook);
      const rows: Array<Record<string, string | boolean>> = r.claims.map((x) => ({
        notebook: r.notebook,
        claim: x.id,
        ...(compare ? {} : { source: x.source }),
        ...measured(x),
        holds: x.holds,
        ...(compare ? { "full budget": c ? fullBudgetCell(x, c) : "—" } : {}),
      }));
      // claims a notebook checks only at the full budget (no quick threshold holds reliably): their committed verdict
      for (const f of c?.claims.filter((x) => !r.claims.some((y) => y.id === x.id)) ?? [])
        rows.push({
          notebook: r.notebook,
          claim: f.id,
          "this run": `not checked at ${r.budget}`,
          threshold: threshold(f),
          holds: "—",
          "full budget": `${formatNumber(f.value)} ${f.holds ? "✓" : "✗"}`,
        });
      return rows;
    });
    if (claims.length) parts.push(render(table(claims, { align: { "this run": "right", "full budget": "right" } })));
    const lines = found.flatMap(({ results: r }) => notes(r, committedOf.get(r.notebook)));
    if (lines.length) parts.push(lines.map((l) => `${bullet}${l}`).join("\n"));
  }
  if (missing.length)
    parts.push(`No results from this run for ${missing.join(", ")} (a notebook failed before its report() cell).`);
  if (set.invalid.length) {
    const list = set.invalid.map((i) => `${bullet}${i.error}`).join("\n");
    parts.push(`${format === "markdown" ? "**Invalid result files**" : "Invalid result files:"}\n${list}`);
  }
  return parts.join("\n\n");
}

/** What each budget means, for a reader who has not opened a notebook (lines for a terminal). */
export const BUDGET_TEXT = {
  quick:
    "Quick budget: each notebook trains for fewer steps on less data (one to two minutes each on 2 idle CPU cores)\n" +
    "and checks looser thresholds: enough to show each effect, not its full size; a claim the quick run cannot show\n" +
    'reliably over seeds is "not checked at quick". The "full budget" column is the committed results/\n' +
    "(`npm run reproduce`, up to ~10 minutes a notebook), which quick runs never change.",
  full:
    "Full budget: each notebook at the size its committed results were measured with (up to ~10 minutes a\n" +
    "notebook on 2 CPU cores); only an explicit full run (`vlab run --budget full`, `npm run reproduce`)\n" +
    "rewrites results/.",
} as const;

/**
 * The summary `vlab run --summary` prints: what the budget means, where this run's results are, and the results
 * table of the notebooks it ran beside the committed full-budget results (the nearest `results/` above `dir`'s
 * project, unless `dir` is that folder).
 */
export function runSummary(opts: {
  dir: string;
  budget: "quick" | "full";
  notebooks?: string[];
  since?: number;
  committed?: string;
}): string {
  const committed = opts.committed ?? findResultsDir(path.dirname(path.resolve(opts.dir)));
  const same = committed !== undefined && path.resolve(committed) === path.resolve(opts.dir);
  const table = resultsTable(opts.dir, "text", {
    committed: same ? undefined : committed,
    notebooks: opts.notebooks,
    since: opts.since,
  });
  const where = same
    ? `This run's results: ${opts.dir} (the committed folder).`
    : `This run's results: ${opts.dir}${committed ? ` (${committed} untouched)` : ""}.`;
  // the verdict first, in one line: how many claims hold in this run, and at the full budget
  const { found, committedOf } = selectRuns(opts.dir, { ...opts, committed: same ? undefined : committed });
  const count = (rs: Results[]) =>
    `${rs.reduce((n, r) => n + r.claims.filter((c) => c.holds).length, 0)}/` +
    `${rs.reduce((n, r) => n + r.claims.length, 0)} claims hold`;
  const mine = found.map((x) => x.results);
  const theirs = mine.flatMap((r) => committedOf.get(r.notebook) ?? []);
  const verdict =
    `This ${opts.budget} run: ${count(mine)} in ${mine.length} notebook${mine.length === 1 ? "" : "s"}` +
    (theirs.length ? `; the committed full-budget runs of the same notebooks: ${count(theirs)}.` : ".");
  return `${BUDGET_TEXT[opts.budget]}\n${where}\n${verdict}\n\n${table}`;
}
