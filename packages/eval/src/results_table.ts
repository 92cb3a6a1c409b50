/**
 * How results read: the claims table of one run (what a notebook's last cell shows) and the summary of every run
 * (`vlab run --summary`, RESULTS.md). Tables are @vlab/display's `table`, numbers core's `formatNumber`, so a
 * value reads the same here as in any other vlab table.
 */
import { escapeHtml, formatNumber } from "@vlab/core";
import { escapeMarkdownCell, table, type Table } from "@vlab/display";
import { readResults, resultsDir } from "./results_dir.js";
import type { ClaimOp, ClaimResult, Results } from "./results.js";

const OP_TEXT: Record<ClaimOp, string> = { ">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "=" };

/** "ensemble_gain = 0.03" and "≥ 0": a claim's measured value and its threshold as text. */
function measured(c: ClaimResult): { "this run": string; threshold: string } {
  return {
    "this run": `${c.metric} = ${formatNumber(c.value)}`,
    threshold: `${OP_TEXT[c.op]} ${formatNumber(c.threshold)}`,
  };
}

/** One row per claim; in HTML the claim's id is bold above its statement. */
function claimsTable(claims: ClaimResult[]): Table {
  const rows = claims.map((c) => ({
    claim: `${c.id}: ${c.statement}`,
    source: c.source,
    ...measured(c),
    holds: c.holds,
  }));
  const claimHtml = (_: unknown, row: number) => {
    const c = claims[row];
    if (c === undefined) throw new RangeError(`claimsTable(): no claim for row ${row}`);
    return `<b>${escapeHtml(c.id)}</b><br>${escapeHtml(c.statement)}`;
  };
  return table(rows, {
    columns: ["claim", "source", "this run", "threshold", "holds"],
    align: { "this run": "right" },
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

/** The claims table of one run as a mime bundle: text/html, text/markdown and text/plain. */
export function claimsBundle(
  r: Results,
  file?: string,
): { "text/html": string; "text/markdown": string; "text/plain": string } {
  const held = r.claims.filter((c) => c.holds).length;
  const summary = `${held}/${r.claims.length} claims hold`;
  const where = file ? ` → ${file}` : "";
  const claims = r.claims.length ? claimsTable(r.claims) : undefined;
  const metrics = Object.entries(r.metrics);
  const metricsTable = metrics.length ? table(metrics, { columns: ["metric", "value"] }) : undefined;

  const html =
    `<div class="vlab-report"><p><b>${escapeHtml(r.notebook)}</b> · budget ${escapeHtml(r.budget)} · ` +
    `backend ${escapeHtml(r.backend)} · seed ${escapeHtml(String(r.seed ?? "—"))} · ` +
    `${escapeHtml(formatNumber(r.wall_s))} s — <b>${summary}</b>${escapeHtml(where)}</p>` +
    (claims ? claims.toHtml() : "<p>(no claims)</p>") +
    (metricsTable ? `<details><summary>metrics</summary>${metricsTable.toHtml()}</details>` : "") +
    `</div>`;

  const markdown =
    `**${escapeMarkdownCell(r.notebook)}** · budget ${r.budget} · backend ${escapeMarkdownCell(r.backend)} · ` +
    `seed ${r.seed ?? "—"} · ` +
    `${formatNumber(r.wall_s)} s — **${summary}**\n\n` +
    (claims ? claims.toMarkdown() : "(no claims)") +
    (metricsTable ? `\n\n${metricsTable.toMarkdown()}` : "");

  const plain =
    `${headline(r)} — ${summary}${where}\n` +
    (claims ? claims.toText() : "(no claims)") +
    (metrics.length ? `\n\nmetrics: ${metrics.map(([k, v]) => `${k}=${formatNumber(v)}`).join(", ")}` : "");

  return { "text/html": html, "text/markdown": markdown, "text/plain": plain };
}

/**
 * A summary of every `results/*.json`: one row per notebook (budget, backend, seed, wall time, claims held),
 * then one row per claim, then any invalid files. `format` is "markdown" (default, e.g. for RESULTS.md) or "text".
 */
export function resultsTable(dir: string = resultsDir(), format: "markdown" | "text" = "markdown"): string {
  const set = readResults(dir);
  const render = (t: Table) => (format === "markdown" ? t.toMarkdown() : t.toText());
  const parts: string[] = [];
  if (set.results.length === 0 && set.invalid.length === 0) return `No results in ${dir}.`;
  if (set.results.length) {
    const runs = set.results.map(({ results: r }) => ({
      notebook: r.notebook,
      budget: r.budget,
      backend: r.backend,
      seed: r.seed === null ? "—" : String(r.seed),
      "wall (s)": r.wall_s,
      "claims hold": `${r.claims.filter((c) => c.holds).length}/${r.claims.length}`,
    }));
    parts.push(render(table(runs, { align: { seed: "right", "claims hold": "right" } })));
    const claims = set.results.flatMap(({ results: r }) =>
      r.claims.map((c) => ({ notebook: r.notebook, claim: c.id, source: c.source, ...measured(c), holds: c.holds })),
    );
    if (claims.length) parts.push(render(table(claims, { align: { "this run": "right" } })));
  }
  if (set.invalid.length) {
    const list = set.invalid.map((i) => `${format === "markdown" ? "- " : "  "}${i.error}`).join("\n");
    parts.push(`${format === "markdown" ? "**Invalid result files**" : "Invalid result files:"}\n${list}`);
  }
  return parts.join("\n\n");
}
