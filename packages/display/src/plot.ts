/**
 * Plots as plotly figures that every Jupyter frontend can show: `linePlot`, `scatter`, `heatmap`, `barPlot`, or
 * `figure(json)` for any plotly figure. Each returns a `Plot`, which is the plotly JSON itself and displays itself
 * with the views of html.ts (plotly.js, with svg.ts's static picture as the fallback) and figure_text.ts.
 *
 *   linePlot({ y: { train: losses, eval: evalLosses }, x: { train: steps, eval: evalSteps }, logY: true })
 */
import path from "node:path";
import sharp from "sharp";
import { atomicWrite, escapeHtml, formatNumber, JUPYTER_DISPLAY, type MimeBundle } from "@vlab/core";
import { DARK_FIRST_SCALES, plotlyScale } from "./colors.js";
import { figureJson, titleText, type Datum, type Figure, type Layout, type Trace } from "./figure.js";
import { figureText } from "./figure_text.js";
import { figureBundle, figureHtml } from "./html.js";
import { figureSvg } from "./svg.js";

/** A figure that displays itself. It is the plotly JSON (`data`, `layout`) plus rendering helpers. */
export class Plot implements Figure {
  data: Trace[];
  layout: Layout;

  constructor(fig: Figure) {
    if (!fig || !Array.isArray(fig.data)) throw new TypeError("figure(): expected { data: Trace[], layout? }");
    this.data = fig.data;
    this.layout = fig.layout ?? {};
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return figureBundle(this);
  }

  toJSON(): { data: Trace[]; layout: Layout } {
    return { data: this.data, layout: this.layout };
  }

  toSvg(): string {
    return figureSvg(this);
  }

  toString(): string {
    return figureText(this);
  }

  /** See `saveFigure`. */
  save(file: string, opts?: SaveFigureOptions): Promise<string> {
    return saveFigure(this, file, opts);
  }
}

/** Wraps plotly figure JSON so it displays itself. */
export function figure(fig: Figure): Plot {
  return fig instanceof Plot ? fig : new Plot(fig);
}

export interface SaveFigureOptions {
  /** Pixel density multiplier for .png (default 2). */
  scale?: number;
}

/**
 * Writes a figure: `.svg` (the static rendering), `.png` (that SVG rasterised by sharp), `.json` (plotly JSON)
 * or `.html` (a standalone page with plotly.js inlined). Creates the folder. Returns the path.
 */
export async function saveFigure(fig: Figure, file: string, opts: SaveFigureOptions = {}): Promise<string> {
  const ext = path.extname(file).toLowerCase();
  let content: string | Buffer;
  if (ext === ".svg") content = figureSvg(fig);
  else if (ext === ".png")
    content = await sharp(Buffer.from(figureSvg(fig)), { density: 72 * (opts.scale ?? 2) })
      .png()
      .toBuffer();
  else if (ext === ".json") content = JSON.stringify(figureJson(fig), null, 1) + "\n";
  else if (ext === ".html") {
    const title = escapeHtml(titleText(fig.layout?.title) ?? "figure");
    const head = `<head><meta charset="utf-8"><title>${title}</title></head>`;
    content = `<!DOCTYPE html>\n<html>${head}<body>\n${figureHtml(fig, { includeLibrary: true })}\n</body></html>\n`;
  } else throw new Error(`saveFigure(): unsupported extension "${ext}" (use .svg, .png, .json or .html)`);
  atomicWrite(file, content);
  return file;
}

/** Titles, log axes and size, shared by every plot builder. */
export interface AxisOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logY?: boolean;
  logX?: boolean;
  width?: number;
  height?: number;
}

function baseLayout(o: AxisOptions): Layout {
  const layout: Layout = {};
  if (o.title !== undefined) layout.title = { text: o.title };
  layout.xaxis = {
    ...(o.xLabel !== undefined && { title: { text: o.xLabel } }),
    ...(o.logX && { type: "log" as const }),
  };
  layout.yaxis = {
    ...(o.yLabel !== undefined && { title: { text: o.yLabel } }),
    ...(o.logY && { type: "log" as const }),
  };
  if (o.width !== undefined) layout.width = o.width;
  if (o.height !== undefined) layout.height = o.height;
  return layout;
}

type Series = number[] | Float32Array | Float64Array | Int32Array;

function toArray(v: Series | undefined): number[] | undefined {
  return v === undefined ? undefined : Array.from(v);
}

function isSeriesRecord(v: unknown): v is Record<string, Series> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function namedSeries(
  x: Series | Record<string, Series> | undefined,
  y: Series | Record<string, Series>,
  what: string,
): Array<{ name?: string; x?: number[]; y: number[] }> {
  if (isSeriesRecord(y)) {
    return Object.entries(y).map(([name, ys]) => {
      const xs = isSeriesRecord(x) ? x[name] : x;
      if (isSeriesRecord(x) && xs === undefined) throw new Error(`${what}: x has no series named "${name}"`);
      return { name, x: toArray(xs), y: Array.from(ys) };
    });
  }
  if (isSeriesRecord(x)) throw new Error(`${what}: x is a record of series but y is a single series`);
  return [{ x: toArray(x), y: Array.from(y) }];
}

export interface LinePlotOptions extends AxisOptions {
  /** Shared x values, or one x series per named y series (e.g. eval steps). Default: 0, 1, 2, ... */
  x?: Series | Record<string, Series>;
  /** One series, or several by name (one line each, with a legend). */
  y: Series | Record<string, Series>;
  /** Draw markers on the points as well. */
  markers?: boolean;
}

/**
 * Line plot: `linePlot({ y: { train: losses, eval: evalLosses }, x: { train: steps, eval: evalSteps }, logY: true })`.
 */
export function linePlot(o: LinePlotOptions): Plot {
  const data: Trace[] = namedSeries(o.x, o.y, "linePlot()").map((s) => ({
    type: "scatter",
    mode: o.markers ? "lines+markers" : "lines",
    ...(s.name !== undefined && { name: s.name }),
    ...(s.x && { x: s.x }),
    y: s.y,
  }));
  return new Plot({ data, layout: baseLayout(o) });
}

export interface ScatterOptions extends AxisOptions {
  x: Series | Record<string, Series>;
  y: Series | Record<string, Series>;
  /** Hover text per point (single series only). */
  text?: string[];
  markerSize?: number;
}

/** Scatter plot of one series, or several by name: `scatter({ x: { a: xa, b: xb }, y: { a: ya, b: yb } })`. */
export function scatter(o: ScatterOptions): Plot {
  const data: Trace[] = namedSeries(o.x, o.y, "scatter()").map((s) => ({
    type: "scatter",
    mode: "markers",
    ...(s.name !== undefined && { name: s.name }),
    x: s.x ?? s.y.map((_, i) => i),
    y: s.y,
    ...(o.text && { text: o.text }),
    ...(o.markerSize && { marker: { size: o.markerSize } }),
  }));
  return new Plot({ data, layout: baseLayout(o) });
}

export interface HeatmapOptions extends Omit<AxisOptions, "logX" | "logY"> {
  /** Column coordinates: numbers keep a numeric axis (plotly ticks it), strings make a category axis. */
  x?: Datum[];
  /** Row coordinates, as `x`. */
  y?: Datum[];
  /**
   * A plotly colorscale name (Viridis, Cividis, Blues, Greens, Greys, Reds, RdBu, Hot, Jet, ...; `_r` reverses) or
   * `[[0, "#..."], ..., [1, "#..."]]`. Both renderings draw it as plotly.js does, except that the scales plotly.js
   * runs dark → light (Blues, Greens, Greys, YlGnBu, YlOrRd) are reversed so that larger values are darker.
   */
  colorscale?: string | Array<[number, string]>;
  /** Flip the colour scale (on top of the default above). */
  reverseScale?: boolean;
  zmin?: number;
  zmax?: number;
  /** Row 0 at the top, like a matrix (default true). */
  reverseY?: boolean;
  /** Write each cell's value in it (good for confusion matrices): whole numbers as they are, others to 3 digits. */
  showValues?: boolean;
  /** Square cells (plotly's `scaleanchor`); default: when the matrix is square. */
  square?: boolean;
}

/**
 * Tick labels of a category axis cut at `max` characters with "…" (the SVG cuts them the same way: 24 on x, 16 on
 * y), so long captions do not squeeze the plot; hovering still shows the whole category.
 */
function shortTicks(labels: Datum[], max: number): Partial<Layout["xaxis"]> {
  const all = labels.map(String);
  if (all.every((s) => s.length <= max)) return {};
  const ticktext = all.map((s) => (s.length > max ? s.slice(0, max - 1) + "…" : s));
  return { tickmode: "array", tickvals: all, ticktext };
}

/** A value as a heatmap cell writes it: `83`, `0`, `0.123`, `1.5e-4` (core's formatNumber, 3 digits). */
export function cellText(v: number | null): string {
  return v === null || !Number.isFinite(v) ? "" : formatNumber(v, 3);
}

/**
 * Heatmap of a matrix `z[row][col]` (attention maps, confusion matrices); row 0 at the top by default. A square
 * matrix gets square cells; numeric `x` / `y` keep numeric axes.
 */
export function heatmap(z: ArrayLike<ArrayLike<number>>, o: HeatmapOptions = {}): Plot {
  const rows = Array.from(z, (r) => Array.from(r));
  const name = typeof o.colorscale === "string" ? o.colorscale : undefined;
  const darkFirst = name !== undefined && DARK_FIRST_SCALES.has(name.endsWith("_r") ? name.slice(0, -2) : name);
  const scale = plotlyScale(o.colorscale ?? "Viridis", darkFirst !== (o.reverseScale ?? false));
  const trace: Trace = { type: "heatmap", z: rows, colorscale: scale.colorscale ?? "Viridis" };
  if (scale.reversescale) trace.reversescale = true;
  if (o.x) trace.x = o.x;
  if (o.y) trace.y = o.y;
  if (o.zmin !== undefined) trace.zmin = o.zmin;
  if (o.zmax !== undefined) trace.zmax = o.zmax;
  if (o.showValues) {
    trace.text = rows.map((r) => r.map(cellText));
    trace.texttemplate = "%{text}";
  }
  const layout = baseLayout(o);
  if (o.reverseY ?? true) layout.yaxis = { ...layout.yaxis, autorange: "reversed" };
  const isCategory = (v: Datum[] | undefined) => v?.some((d) => typeof d === "string") ?? false;
  if (o.x && isCategory(o.x)) layout.xaxis = { ...layout.xaxis, type: "category", ...shortTicks(o.x, 24) };
  if (o.y && isCategory(o.y)) layout.yaxis = { ...layout.yaxis, type: "category", ...shortTicks(o.y, 16) };
  const cols = rows[0]?.length ?? 0;
  layout.margin = { l: 80, r: 30, t: o.title === undefined ? 30 : 60, b: 60 };
  layout.xaxis = { ...layout.xaxis, automargin: true }; // long category labels widen the margins, not clip
  layout.yaxis = { ...layout.yaxis, automargin: true };
  if (o.square ?? (rows.length === cols && cols > 0)) {
    if (o.width === undefined) layout.width = 560;
    layout.xaxis = { ...layout.xaxis, constrain: "domain" };
    layout.yaxis = { ...layout.yaxis, scaleanchor: "x", scaleratio: 1, constrain: "domain" };
  }
  return new Plot({ data: [trace], layout });
}

export interface BarPlotOptions extends Omit<AxisOptions, "logX"> {
  /** Category labels. */
  x: Datum[];
  /** One value per category, or several named series (grouped bars, or stacked with `stacked`). */
  y: Series | Record<string, Series>;
  stacked?: boolean;
}

/** Bar chart: `barPlot({ x: ["a", "b"], y: { ours: [0.8, 0.7], paper: [0.9, 0.75] } })`. */
export function barPlot(o: BarPlotOptions): Plot {
  const data: Trace[] = namedSeries(undefined, o.y, "barPlot()").map((s) => ({
    type: "bar",
    ...(s.name !== undefined && { name: s.name }),
    x: o.x.map(String),
    y: s.y,
  }));
  const layout = baseLayout(o);
  layout.xaxis = { ...layout.xaxis, type: "category" };
  if (o.stacked) layout.barmode = "stack";
  else if (data.length > 1) layout.barmode = "group";
  return new Plot({ data, layout });
}
