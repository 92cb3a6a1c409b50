// The committed full-budget executed notebooks (results/executed/) as GitHub and nbviewer show them: each small
// enough to browse (under 1.5 MB, plotly.js not inlined), every figure with a static image beside its plotly JSON,
// and, through `jupyter nbconvert --to html` opened in headless Chromium with scripts blocked, every figure visible.
// A tiny notebook executed now by `vlab run` gets the same check, so the display package's current output is covered.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findChromium, loadPage, visibleImages } from "../scripts/book_chromium.js";
import { CLI, hasJupyterNbconvert, ROOT } from "./helpers.js";

const EXECUTED = path.join(ROOT, "results/executed");
const MAX_BYTES = 1.5e6;
const PLOTLY_MIME = "application/vnd.plotly.v1+json";
const IMAGE_MIMES = ["image/png", "image/svg+xml", "image/jpeg"];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-book-executed-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Output {
  output_type: string;
  data?: Record<string, unknown>;
}
interface Notebook {
  cells: Array<{ cell_type: string; outputs?: Output[] }>;
}

const committed = fs.existsSync(EXECUTED)
  ? fs
      .readdirSync(EXECUTED)
      .filter((f) => f.endsWith(".ipynb"))
      .sort()
  : [];
const readNotebook = (file: string): Notebook => JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
const outputs = (nb: Notebook): Output[] => nb.cells.flatMap((c) => (c.cell_type === "code" ? (c.outputs ?? []) : []));
const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "");
const isFigure = (o: Output): boolean => [PLOTLY_MIME, ...IMAGE_MIMES].some((m) => o.data?.[m] !== undefined);

/** What keeps a notebook from showing well on GitHub, judged from its JSON: size, inlined plotly.js, no fallback. */
function staticFaults(file: string): string[] {
  const faults: string[] = [];
  const bytes = fs.statSync(file).size;
  if (bytes > MAX_BYTES) faults.push(`${(bytes / 1e6).toFixed(2)} MB (at most ${MAX_BYTES / 1e6} MB)`);
  outputs(readNotebook(file)).forEach((o, i) => {
    const html = text(o.data?.["text/html"]);
    if (/Plotly, Inc\.|plotly\.js v\d/.test(html)) faults.push(`output ${i}: plotly.js inlined into its text/html`);
    if (o.data?.[PLOTLY_MIME] === undefined) return;
    if (!IMAGE_MIMES.some((m) => o.data?.[m] !== undefined)) faults.push(`output ${i}: a figure without an image`);
    if (html && visibleImages(html).length === 0) faults.push(`output ${i}: its text/html shows no image without JS`);
  });
  return faults;
}

const chromium = hasJupyterNbconvert() ? findChromium() : undefined;

/**
 * The figures of a notebook that `jupyter nbconvert --to html` shows no image for when scripts are blocked (GitHub
 * and nbviewer run none): nbconvert writes one `jp-OutputArea-output` div per output, in order.
 */
function invisibleFigures(file: string): string[] {
  const dir = fs.mkdtempSync(path.join(tmp, "nbconvert-"));
  const r = spawnSync("jupyter", ["nbconvert", "--to", "html", "--output-dir", dir, file], {
    encoding: "utf8",
    timeout: 180_000,
  });
  if (r.status !== 0) return [`nbconvert failed: ${(r.stderr ?? "").slice(-1500)}`];
  const html = path.join(dir, path.basename(file).replace(/\.ipynb$/, ".html"));
  const dom = loadPage(chromium!, html, { scripts: false, budgetMs: 2000 }).dom;
  fs.rmSync(dir, { recursive: true, force: true });
  if (/<svg class="main-svg"/.test(dom)) return ["scripts ran (plotly drew a figure): the check is void"];
  const starts = [...dom.matchAll(/<div class="[^"]*\bjp-OutputArea-output\b[^"]*"[^>]*>/g)].map((m) => m.index ?? 0);
  const outs = outputs(readNotebook(file));
  if (starts.length !== outs.length) return [`${starts.length} output areas in the HTML for ${outs.length} outputs`];
  return outs.flatMap((o, i) => {
    if (!isFigure(o)) return [];
    const area = dom.slice(starts[i], starts[i + 1] ?? dom.length);
    return visibleImages(area).length > 0 ? [] : [`output ${i} (a figure) shows no image`];
  });
}

describe("the committed executed notebooks (results/executed/)", () => {
  it("are there", () => {
    expect(committed.length, "npm run reproduce writes them; they are committed").toBeGreaterThan(0);
  });

  it.each(committed)("%s is under 1.5 MB, plotly.js not inlined, every figure with a static image", (name) => {
    expect(staticFaults(path.join(EXECUTED, name))).toEqual([]);
  });
});

describe.skipIf(!chromium)("executed notebooks through nbconvert's HTML, scripts blocked in Chromium", () => {
  it("a notebook run now by `vlab run`: small, and each figure visible", { timeout: 300_000 }, () => {
    const cells = [
      'import { display } from "vlab";',
      "display.linePlot({ y: [1, 3, 2], xLabel: 'step', yLabel: 'loss' })",
      "display.heatmap([[1, 2], [3, 4]])",
      "display.linePlot({ y: { a: [2, 1, 0.5], b: [1, 1, 1] } })",
    ].map((source, i) => ({
      cell_type: "code",
      id: `c${i}`,
      metadata: {},
      source,
      outputs: [],
      execution_count: null,
    }));
    const src = path.join(tmp, "figures.ipynb");
    fs.writeFileSync(src, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }));
    const outDir = path.join(tmp, "executed");
    const r = spawnSync(process.execPath, [CLI, "run", src, "--budget", "quick", "--out", outDir], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, VLAB_RESULTS_DIR: path.join(tmp, "results") },
      timeout: 240_000,
    });
    expect(r.status, (r.stdout ?? "") + (r.stderr ?? "")).toBe(0);
    const file = path.join(outDir, "figures.ipynb");
    expect(outputs(readNotebook(file)).filter(isFigure)).toHaveLength(3);
    expect(staticFaults(file)).toEqual([]);
    expect(fs.statSync(file).size).toBeLessThan(200_000);
    expect(invisibleFigures(file)).toEqual([]);
  });

  it.each(committed)("%s: every figure visible", { timeout: 300_000 }, (name) => {
    expect(invisibleFigures(path.join(EXECUTED, name))).toEqual([]);
  });
});
