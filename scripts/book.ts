/**
 * The static HTML book of the executed notebooks:
 *
 *   npm run book                                   results/executed/*.ipynb → book/ (index.html, one page each)
 *   node scripts/dist/book.js --from runs/quick/executed [--results DIR] [--out DIR]
 *   node scripts/dist/book.js --readme             prints the README's table of executed notebooks and wall times
 *
 * Each page shows the notebook's markdown (math typeset by MathJax, served from book/assets/mathjax: no network),
 * its code and its outputs; figures are drawn by plotly (book/assets/plotly.min.js, one copy for the whole book)
 * from their JSON, over their static SVG/PNG, which is what shows with scripts off. Budget, wall time and claims come
 * from each notebook's <nb>.json in `--results DIR`, else in the folder above `--from` (results/ for results/executed,
 * runs/quick/ for runs/quick/executed: the run that wrote the notebooks).
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { BOOK_CSS, BOOK_JS } from "./book_assets.js";
import { escapeHtml } from "./book_markdown.js";
import { formatWall, notebookTitle, pageHead, renderPage, type Notebook, type PageInfo } from "./book_render.js";

export interface BookOptions {
  from: string;
  out: string;
  results?: string;
}

interface ResultsFile {
  notebook?: string;
  budget?: string;
  backend?: string;
  wall_s?: number;
  claims?: Array<{ holds?: boolean }>;
}

/** The executed notebooks of a folder, by name. */
export function executedNotebooks(from: string): string[] {
  if (!fs.existsSync(from)) throw new Error(`${from}: no such folder (run the notebooks first, or pass --from DIR)`);
  return fs
    .readdirSync(from)
    .filter((f) => f.endsWith(".ipynb"))
    .sort();
}

function readResults(name: string, from: string, results?: string): ResultsFile | undefined {
  // The run that wrote <dir>/executed/ wrote its results to <dir>/ (results/, runs/quick/): never mix two runs.
  const file = path.join(results ?? path.dirname(path.resolve(from)), `${name}.json`);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as ResultsFile) : undefined;
}

/** What the book shows of one notebook besides its cells. */
export function pageInfo(nb: Notebook, name: string, from: string, results?: string): PageInfo {
  const r = readResults(name, from, results);
  const claims = r?.claims ?? [];
  return {
    name,
    title: notebookTitle(nb, name),
    budget: r?.budget,
    backend: r?.backend,
    wallS: typeof r?.wall_s === "number" ? r.wall_s : undefined,
    claimsHeld: r ? claims.filter((c) => c.holds === true).length : undefined,
    claimsTotal: r ? claims.length : undefined,
  };
}

function readNotebook(file: string): Notebook {
  const nb = JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
  if (nb.nbformat !== 4 || !Array.isArray(nb.cells)) throw new Error(`${file}: not an nbformat 4 notebook`);
  return nb;
}

function copyAssets(out: string): void {
  const assets = path.join(out, "assets");
  fs.mkdirSync(path.join(assets, "mathjax"), { recursive: true });
  fs.writeFileSync(path.join(assets, "book.css"), BOOK_CSS.trimStart());
  fs.writeFileSync(path.join(assets, "book.js"), BOOK_JS.trimStart());
  const require = createRequire(import.meta.url);
  const plotly = require.resolve("plotly.js-dist-min", { paths: [path.resolve("packages/display"), process.cwd()] });
  fs.copyFileSync(plotly, path.join(assets, "plotly.min.js"));
  const mathjax = path.dirname(require.resolve("mathjax/package.json", { paths: [process.cwd()] }));
  fs.copyFileSync(path.join(mathjax, "es5", "tex-svg-full.js"), path.join(assets, "mathjax", "tex-svg-full.js"));
}

function claimsCell(info: PageInfo): string {
  if (info.claimsTotal === undefined) return "";
  const cls = info.claimsHeld === info.claimsTotal ? "holds-all" : "holds-some";
  return `<span class="${cls}">${info.claimsHeld ?? 0}/${info.claimsTotal}</span>`;
}

function renderIndex(pages: PageInfo[], from: string): string {
  const rows = pages.map(
    (p) =>
      `<tr><td><a href="${escapeHtml(p.name)}.html">${escapeHtml(p.title)}</a></td>` +
      `<td>${escapeHtml(p.budget ?? "")}</td><td style="text-align:right">` +
      `${p.wallS === undefined ? "" : formatWall(p.wallS)}</td>` +
      `<td style="text-align:center">${claimsCell(p)}</td><td>${escapeHtml(p.backend ?? "")}</td></tr>`,
  );
  return [
    pageHead("vlab: the notebooks", false),
    "<body>",
    "<main>",
    "<h1>vlab: the notebooks</h1>",
    `<p>Each notebook as it ran (executed copies from <code>${escapeHtml(from)}</code>), with its outputs and` +
      " figures. Budget, wall time and the claims that held come from the notebook's" +
      " <code>results/&lt;notebook&gt;.json</code>.</p>",
    '<table class="toc">',
    "<thead><tr><th>notebook</th><th>budget</th><th>wall time</th><th>claims hold</th><th>backend</th></tr></thead>",
    `<tbody>\n${rows.join("\n")}\n</tbody>`,
    "</table>",
    "</main>",
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** Builds the book; returns the pages written (index.html first). */
export function buildBook(options: BookOptions): string[] {
  const names = executedNotebooks(options.from);
  if (names.length === 0) throw new Error(`${options.from}: no executed notebooks (*.ipynb)`);
  const notebooks = names.map((f) => readNotebook(path.join(options.from, f)));
  const infos = names.map((f, i) =>
    pageInfo(notebooks[i] as Notebook, f.replace(/\.ipynb$/, ""), options.from, options.results),
  );
  fs.mkdirSync(options.out, { recursive: true });
  // Pages of notebooks no longer there go, in a folder this script wrote (it has assets/book.js), and only there.
  if (fs.existsSync(path.join(options.out, "assets", "book.js"))) {
    for (const f of fs.readdirSync(options.out)) if (f.endsWith(".html")) fs.rmSync(path.join(options.out, f));
  }
  copyAssets(options.out);
  const written = [path.join(options.out, "index.html")];
  fs.writeFileSync(written[0] as string, renderIndex(infos, options.from));
  notebooks.forEach((nb, i) => {
    const info = infos[i] as PageInfo;
    const file = path.join(options.out, `${info.name}.html`);
    fs.writeFileSync(file, renderPage(nb, info, { prev: infos[i - 1], next: infos[i + 1] }));
    written.push(file);
  });
  return written;
}

/**
 * The README's table of the committed executed notebooks: each linked (relative to the repository root), with the
 * budget and wall time of its run and the claims that held.
 */
export function readmeTable(from: string, results?: string): string {
  const rows = executedNotebooks(from).map((f) => {
    const name = f.replace(/\.ipynb$/, "");
    const info = pageInfo(readNotebook(path.join(from, f)), name, from, results);
    const link = path.relative(process.cwd(), path.resolve(from, f)).split(path.sep).join("/");
    const wall = info.wallS === undefined ? "?" : formatWall(info.wallS);
    const claims = info.claimsTotal === undefined ? "?" : `${info.claimsHeld ?? 0}/${info.claimsTotal}`;
    return `| [${info.title.replace(/\|/g, "\\|")}](${link}) | ${info.budget ?? "?"} | ${wall} | ${claims} |`;
  });
  return ["| executed notebook | budget | wall time | claims hold |", "| --- | --- | ---: | :---: |", ...rows].join(
    "\n",
  );
}

function parseArgs(argv: string[]): BookOptions & { readme: boolean } {
  const opts: BookOptions & { readme: boolean } = { from: "results/executed", out: "book", readme: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--from") opts.from = value();
    else if (arg === "--out") opts.out = value();
    else if (arg === "--results") opts.results = value();
    else if (arg === "--readme") opts.readme = true;
    else if (arg === "--help" || arg === "-h") {
      console.log("usage: node scripts/dist/book.js [--from DIR] [--out DIR] [--results DIR] [--readme]");
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (try --help)`);
  }
  return opts;
}

function main(): void {
  try {
    const opts = parseArgs(process.argv.slice(2));
    if (opts.readme) {
      console.log(readmeTable(opts.from, opts.results));
      return;
    }
    const pages = buildBook(opts);
    console.log(`book: ${pages.length - 1} notebooks → ${path.join(opts.out, "index.html")}`);
  } catch (e) {
    console.error(`book: ${(e as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main();
