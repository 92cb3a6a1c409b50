/**
 * The interactive views of a figure: `text/html` that draws it with plotly.js, and the full mime bundle.
 *
 * A frontend picks the richest entry it can show:
 * - `application/vnd.plotly.v1+json`: JupyterLab with jupyterlab-plotly, VS Code;
 * - `text/html`: a div holding the static SVG (an `<img>` with the SVG as a data URI: self-contained, so it shows
 *   wherever scripts do not run: GitHub, nbviewer, nbconvert's HTML, untrusted notebooks) and a script that
 *   replaces it with `Plotly.newPlot`. Where plotly.js comes from is the plotly mode (`setPlotlyMode`):
 *   - `"once"` (the default in an interactive kernel): inlined (from the installed `plotly.js-dist-min`, ~4.8 MB)
 *     into the FIRST figure this process displays; later figures use `window.Plotly`;
 *   - `"never"` (the default under `vlab run`, which sets `VLAB_NOTEBOOK`): never inlined, so an executed notebook
 *     stays light; the script draws with plotly only where the page already has `window.Plotly` (the book, a
 *     notebook where an earlier figure loaded it) and otherwise leaves the static SVG;
 *   - `"always"`: inlined into every figure (self-contained outputs);
 * - `image/svg+xml`: the same static SVG, for viewers that show images but not HTML;
 * - `text/plain`: figure_text.ts's title and one line per trace.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import { escapeHtml, type MimeBundle } from "@vlab/core";
import { figureJson, titleText, type Figure } from "./figure.js";
import { figureText } from "./figure_text.js";
import { figureSvg } from "./svg.js";
import { newDisplayId } from "./util.js";

export type PlotlyMode = "once" | "always" | "never";

let plotlyInlined = false;
let chosenMode: PlotlyMode | undefined;
let plotlySource: string | undefined;

/**
 * How `text/html` ships plotly.js (see the top of this file): `"once"` inlines it in the first figure this process
 * shows, `"always"` in every figure, `"never"` relies on a page that already has `window.Plotly` and shows the static
 * SVG otherwise. `undefined` goes back to the default: `"never"` under `vlab run` (env `VLAB_NOTEBOOK` set), else
 * `"once"`. `resetPlotly()` makes the next figure inline it again (e.g. after clearing all outputs).
 */
export function setPlotlyMode(mode: PlotlyMode | undefined): void {
  chosenMode = mode;
}

/** The plotly mode in force: the one set by `setPlotlyMode`, else the default for this process. */
export function plotlyMode(): PlotlyMode {
  return chosenMode ?? (process.env.VLAB_NOTEBOOK ? "never" : "once");
}

/** The former name of `setPlotlyMode`. */
export const setPlotlyInlining: (mode: PlotlyMode | undefined) => void = setPlotlyMode;

export function resetPlotly(): void {
  plotlyInlined = false;
}

function readPlotly(): string | undefined {
  if (plotlySource !== undefined) return plotlySource;
  try {
    const file = createRequire(import.meta.url).resolve("plotly.js-dist-min");
    plotlySource = fs.readFileSync(file, "utf8");
  } catch {
    plotlySource = "";
  }
  return plotlySource || undefined;
}

/**
 * The `<script>` that defines `window.Plotly`, shielded from an AMD loader (classic Notebook's requirejs) and
 * CommonJS globals.
 */
function plotlyLibraryScript(): string | undefined {
  const src = readPlotly();
  if (!src) return undefined;
  const safe = src.replace(/<\/(script)/gi, "<\\/$1");
  return (
    `<script type="text/javascript">if (!window.Plotly) { (function (define, module, exports, require) {\n` +
    `${safe}\n}).call(window); }</script>`
  );
}

function jsonForScript(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * The `text/html` view: a div (holding the static SVG until plotly draws) and a script calling
 * `Plotly.newPlot`. `includeLibrary` inlines plotly.js before it.
 */
export function figureHtml(fig: Figure, opts: { includeLibrary?: boolean; svg?: string } = {}): string {
  const id = newDisplayId("vlab-plot");
  const layout = fig.layout ?? {};
  const w = Math.round(layout.width ?? 640);
  const h = Math.round(layout.height ?? 400);
  const svgText = opts.svg ?? figureSvg(fig);
  const alt = escapeHtml(titleText(layout.title) ?? "figure");
  const fallback = `<img alt="${alt}" src="data:image/svg+xml;base64,${Buffer.from(svgText).toString("base64")}"/>`;
  const lib = opts.includeLibrary ? (plotlyLibraryScript() ?? "") : "";
  const script =
    `<script type="text/javascript">(function () {\n` +
    `var fig = ${jsonForScript(figureJson(fig))};\n` +
    `var id = ${JSON.stringify(id)};\n` +
    `function draw() { var el = document.getElementById(id); if (!el) return; el.innerHTML = ""; ` +
    `window.Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false}); }\n` +
    `if (window.Plotly) { draw(); return; }\n` +
    `var tries = 0; var timer = setInterval(function () { if (window.Plotly) { clearInterval(timer); draw(); } ` +
    `else if (++tries > 100) { clearInterval(timer); } }, 100);\n` +
    `})();</script>`;
  return `${lib}<div id="${id}" class="vlab-plot" style="width:${w}px;height:${h}px">${fallback}</div>${script}`;
}

/** The full mime bundle of a figure (see the top of this file); plotly.js is inlined as the plotly mode says. */
export function figureBundle(fig: Figure): MimeBundle {
  const svgText = figureSvg(fig);
  const mode = plotlyMode();
  const includeLibrary = mode === "always" || (mode === "once" && !plotlyInlined);
  const htmlText = figureHtml(fig, { includeLibrary, svg: svgText });
  if (includeLibrary && plotlyLibraryScript()) plotlyInlined = true;
  return {
    "application/vnd.plotly.v1+json": figureJson(fig),
    "text/html": htmlText,
    "image/svg+xml": svgText,
    "text/plain": figureText(fig),
  };
}
