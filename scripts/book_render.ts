/**
 * One notebook as one page of the book (scripts/book.ts): markdown cells through book_markdown.ts, code cells with
 * their source and outputs. Output HTML (`text/html`) is the notebook's own and goes in as it is; everything else
 * (sources, text, streams, errors, Markdown) is escaped. A figure with plotly JSON is drawn by plotly in the browser
 * (assets/book.js) over its static SVG/PNG fallback, which stays when scripts are off or plotly fails.
 */
import { escapeHtml, renderMarkdown } from "./book_markdown.js";

export type MimeBundle = Record<string, unknown>;

export interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: MimeBundle;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  execution_count?: number | null;
}

export interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
  execution_count?: number | null;
}

export interface Notebook {
  nbformat: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

/** What the book knows of a notebook beyond its cells: results/<nb>.json's budget, wall time and claims. */
export interface PageInfo {
  name: string;
  title: string;
  budget?: string;
  backend?: string;
  wallS?: number;
  claimsHeld?: number;
  claimsTotal?: number;
}

export interface Nav {
  prev?: PageInfo;
  next?: PageInfo;
}

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** A multiline notebook string (a string or a list of lines) as one string. */
export const joined = (v: unknown): string =>
  Array.isArray(v) ? v.map(String).join("") : typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v);

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

/** The notebook's title: its first level-1 heading, else its file name. */
export function notebookTitle(nb: Notebook, name: string): string {
  for (const cell of nb.cells) {
    if (cell.cell_type !== "markdown") continue;
    const m = /^\s*#\s+(.+?)\s*#*\s*$/m.exec(joined(cell.source));
    if (m?.[1]) return m[1];
  }
  return name;
}

/** JSON that is safe inside a <script type="application/json"> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/** The static image of a bundle as an <img>, or "" when it has none. */
function staticImage(data: MimeBundle, alt: string): string {
  const svg = data["image/svg+xml"];
  if (svg !== undefined) return `<img src="data:image/svg+xml;base64,${base64(joined(svg))}" alt="${escapeHtml(alt)}">`;
  for (const mime of ["image/png", "image/jpeg", "image/gif"]) {
    const img = data[mime];
    if (img !== undefined) {
      return `<img src="data:${mime};base64,${joined(img).replace(/\s/g, "")}" alt="${escapeHtml(alt)}">`;
    }
  }
  return "";
}

function figureTitle(fig: unknown): string {
  const layout = (fig as { layout?: { title?: unknown } }).layout;
  const title = layout?.title;
  const text = typeof title === "string" ? title : (title as { text?: unknown } | undefined)?.text;
  return typeof text === "string" ? text.replace(/<[^>]*>/g, "") : "figure";
}

/** One rich output (execute_result or display_data): the richest representation the book can show. */
function renderBundle(data: MimeBundle, figureId: string): string {
  const fig = data[PLOTLY_MIME];
  if (fig !== undefined && typeof fig === "object") {
    const title = figureTitle(fig);
    const fallback = staticImage(data, title) || `<pre>${escapeHtml(joined(data["text/plain"]))}</pre>`;
    return (
      `<div class="figure plotly-figure" id="${figureId}" data-figure="${figureId}-json">` +
      `<div class="fallback">${fallback}</div></div>\n` +
      `<script type="application/json" id="${figureId}-json">${scriptJson(fig)}</script>`
    );
  }
  if (data["text/html"] !== undefined) return `<div class="html-output">${joined(data["text/html"])}</div>`;
  const image = staticImage(data, joined(data["text/plain"]).slice(0, 200) || "image");
  if (image) return `<div class="figure">${image}</div>`;
  if (data["text/markdown"] !== undefined) {
    return `<div class="markdown-output">${renderMarkdown(joined(data["text/markdown"]))}</div>`;
  }
  if (data["text/latex"] !== undefined)
    return `<div class="latex-output">${escapeHtml(joined(data["text/latex"]))}</div>`;
  if (data["text/plain"] !== undefined)
    return `<pre class="text-output">${escapeHtml(joined(data["text/plain"]))}</pre>`;
  return "";
}

export function renderOutput(output: Output, figureId: string): string {
  switch (output.output_type) {
    case "stream": {
      const name = output.name === "stderr" ? "stderr" : "stdout";
      return `<pre class="stream ${name}">${escapeHtml(joined(output.text).replace(ANSI, ""))}</pre>`;
    }
    case "error": {
      const trace = (output.traceback ?? []).join("\n").replace(ANSI, "");
      const head = `${output.ename ?? "Error"}: ${output.evalue ?? ""}`;
      const text = output.evalue !== undefined && trace.includes(output.evalue) ? trace : `${head}\n${trace}`;
      return `<pre class="error">${escapeHtml(text)}</pre>`;
    }
    case "execute_result":
    case "display_data":
      return renderBundle(output.data ?? {}, figureId);
    default:
      return "";
  }
}

function renderCell(cell: Cell, index: number): string {
  const source = joined(cell.source);
  if (cell.cell_type === "markdown") return `<section class="cell markdown">\n${renderMarkdown(source)}\n</section>`;
  if (cell.cell_type !== "code") return `<section class="cell raw"><pre>${escapeHtml(source)}</pre></section>`;
  const count = cell.execution_count ?? " ";
  const outputs = (cell.outputs ?? []).map((o, j) => renderOutput(o, `fig-${index}-${j}`)).filter((h) => h !== "");
  return (
    `<section class="cell code" id="cell-${index}">\n` +
    `<div class="input"><span class="prompt">[${count}]</span>` +
    `<pre><code class="language-typescript">${escapeHtml(source)}</code></pre></div>\n` +
    (outputs.length > 0 ? `<div class="outputs">\n${outputs.join("\n")}\n</div>\n` : "") +
    `</section>`
  );
}

/** A one-line summary of a notebook's run: budget, backend, wall time, claims. */
export function runSummary(info: PageInfo): string {
  const parts: string[] = [];
  if (info.budget) parts.push(`${info.budget} budget`);
  if (info.backend) parts.push(info.backend);
  if (info.wallS !== undefined) parts.push(formatWall(info.wallS));
  if (info.claimsTotal !== undefined) parts.push(`${info.claimsHeld ?? 0}/${info.claimsTotal} claims hold`);
  return parts.join(" · ");
}

/** Wall time as a reader wants it: "48 s", "7 min 12 s". */
export function formatWall(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - 60 * m);
  return s === 0 ? `${m} min` : `${m} min ${s} s`;
}

/** The page's head: stylesheet, MathJax (offline) and, where the page has figures, plotly, both from assets/. */
export function pageHead(title: string, withPlotly: boolean): string {
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    '<link rel="stylesheet" href="assets/book.css">',
    '<script src="assets/book.js" defer></script>',
    '<script src="assets/mathjax/tex-svg-full.js" defer></script>',
    ...(withPlotly ? ['<script src="assets/plotly.min.js" defer></script>'] : []),
    "</head>",
  ].join("\n");
}

function navLink(info: PageInfo | undefined, rel: string): string {
  return info ? `<a rel="${rel}" href="${escapeHtml(info.name)}.html">${escapeHtml(info.title)}</a>` : "<span></span>";
}

/** The whole page of one notebook. */
export function renderPage(nb: Notebook, info: PageInfo, nav: Nav): string {
  const cells = nb.cells.map((c, i) => renderCell(c, i));
  const withPlotly = nb.cells.some((c) => (c.outputs ?? []).some((o) => o.data?.[PLOTLY_MIME] !== undefined));
  const bar = `<nav>${navLink(nav.prev, "prev")}<a href="index.html">contents</a>${navLink(nav.next, "next")}</nav>`;
  const summary = runSummary(info);
  return [
    pageHead(info.title, withPlotly),
    "<body>",
    bar,
    "<main>",
    summary ? `<p class="run-summary">${escapeHtml(info.name)}.ipynb · ${escapeHtml(summary)}</p>` : "",
    ...cells,
    "</main>",
    bar,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
