/**
 * Plots as plotly figures that every Jupyter frontend can show.
 *
 * A figure is plain plotly JSON (`{ data: Trace[], layout }`). Its mime bundle carries four views and each
 * frontend picks the one it can render:
 * - `application/vnd.plotly.v1+json`: JupyterLab with jupyterlab-plotly, VS Code;
 * - `text/html`: a div + a script calling `Plotly.newPlot` (classic Notebook, JupyterLab without the extension).
 *   plotly.js (from the installed `plotly.js-dist-min`) is inlined into the FIRST figure this process displays;
 *   later figures use `window.Plotly`. The div starts out holding the static SVG, so where scripts do not
 *   run (untrusted notebooks) the picture is still there;
 * - `image/svg+xml`: a static rendering made here (axes, ticks, lines, markers, bars, heatmaps, legend)
 *   for viewers that run no JavaScript (GitHub, nbviewer);
 * - `text/plain`: the title and one line per trace.
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import sharp from "sharp";
import { atomicWrite, JUPYTER_DISPLAY, kernelHook, type MimeBundle } from "@vlab/core";
import { sendBundle } from "./display.js";
import { escapeHtml, escapeXml, formatNumber, newDisplayId } from "./util.js";

export type Datum = number | string;

/** The subset of a plotly trace that vlab draws itself; any other plotly attribute passes through to plotly.js. */
export interface Trace {
  type?: "scatter" | "bar" | "heatmap";
  name?: string;
  x?: Datum[];
  y?: Datum[];
  z?: Array<Array<number | null>>;
  mode?: "lines" | "markers" | "lines+markers" | "text" | "none";
  line?: { color?: string; width?: number; dash?: "solid" | "dash" | "dot" | "dashdot" };
  marker?: { color?: string; size?: number };
  colorscale?: string | Array<[number, string]>;
  zmin?: number;
  zmax?: number;
  showscale?: boolean;
  texttemplate?: string;
  showlegend?: boolean;
  [attr: string]: unknown;
}

export interface Axis {
  title?: string | { text?: string };
  type?: "linear" | "log" | "category" | "-";
  /** As in plotly: for a log axis, the range is in log10 units. */
  range?: [number, number];
  autorange?: boolean | "reversed";
  [attr: string]: unknown;
}

export interface Layout {
  title?: string | { text?: string };
  xaxis?: Axis;
  yaxis?: Axis;
  width?: number;
  height?: number;
  showlegend?: boolean;
  barmode?: "group" | "stack" | "overlay" | "relative";
  [attr: string]: unknown;
}

export interface Figure {
  data: Trace[];
  layout?: Layout;
}

/** plotly's default colour sequence. */
export const PALETTE = [
  "#636efa",
  "#EF553B",
  "#00cc96",
  "#ab63fa",
  "#FFA15A",
  "#19d3f3",
  "#FF6692",
  "#B6E880",
  "#FF97FF",
  "#FECB52",
];

const COLORSCALES: Record<string, Array<[number, string]>> = {
  Viridis: [
    [0, "#440154"],
    [0.111, "#482878"],
    [0.222, "#3e4989"],
    [0.333, "#31688e"],
    [0.444, "#26828e"],
    [0.556, "#1f9e89"],
    [0.667, "#35b779"],
    [0.778, "#6ece58"],
    [0.889, "#b5de2b"],
    [1, "#fde725"],
  ],
  Greys: [
    [0, "#000000"],
    [1, "#ffffff"],
  ],
  Blues: [
    [0, "#f7fbff"],
    [0.5, "#6baed6"],
    [1, "#08306b"],
  ],
  Reds: [
    [0, "#fff5f0"],
    [0.5, "#fb6a4a"],
    [1, "#67000d"],
  ],
  RdBu: [
    [0, "#67001f"],
    [0.25, "#d6604d"],
    [0.5, "#f7f7f7"],
    [0.75, "#4393c3"],
    [1, "#053061"],
  ],
  Hot: [
    [0, "#000000"],
    [0.3, "#e60000"],
    [0.6, "#ffd200"],
    [1, "#ffffff"],
  ],
};

function titleText(t: string | { text?: string } | undefined): string | undefined {
  if (t === undefined) return undefined;
  return typeof t === "string" ? t : t.text;
}

function traceType(t: Trace): "scatter" | "bar" | "heatmap" | "other" {
  const ty = t.type ?? "scatter";
  return ty === "scatter" || ty === "bar" || ty === "heatmap" ? ty : "other";
}

function traceMode(t: Trace): string {
  if (t.mode) return t.mode;
  const n = (t.y ?? t.x ?? []).length;
  return n < 20 ? "lines+markers" : "lines"; // plotly's default
}

function num(v: Datum | null | undefined): number {
  return typeof v === "number" ? v : NaN;
}

// ---------------------------------------------------------------------------------------------
// Scales and ticks

interface Scale {
  kind: "linear" | "log" | "category";
  /** data value → pixel */
  map(v: Datum): number;
  ticks: Array<{ pos: number; label: string }>;
  /** band width in pixels for category scales */
  band: number;
  categories: string[];
}

/** Round tick steps: 1, 2, 2.5 or 5 times a power of ten. */
export function niceTicks(min: number, max: number, target = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.ceil(min / step - 1e-9) * step;
  for (let v = first; v <= max + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

function linearScale(lo: number, hi: number, p0: number, p1: number): Scale {
  const map = (v: Datum) => p0 + ((num(v) - lo) / (hi - lo)) * (p1 - p0);
  const ticks = niceTicks(Math.min(lo, hi), Math.max(lo, hi)).map((t) => ({ pos: map(t), label: formatNumber(t, 4) }));
  return { kind: "linear", map, ticks, band: 0, categories: [] };
}

function logScale(lo: number, hi: number, p0: number, p1: number): Scale {
  // lo, hi are log10 values
  const map = (v: Datum) => p0 + ((Math.log10(num(v)) - lo) / (hi - lo)) * (p1 - p0);
  const a = Math.min(lo, hi),
    b = Math.max(lo, hi);
  let vals: number[] = [];
  for (let e = Math.ceil(a - 1e-9); e <= b + 1e-9; e++) vals.push(10 ** e);
  if (vals.length < 3) {
    vals = [];
    for (let e = Math.floor(a); e <= Math.ceil(b); e++) for (const m of [1, 2, 5]) vals.push(m * 10 ** e);
    vals = vals.filter((v) => Math.log10(v) >= a - 1e-9 && Math.log10(v) <= b + 1e-9);
  }
  if (vals.length < 2) vals = niceTicks(10 ** a, 10 ** b, 4).filter((v) => v > 0);
  return {
    kind: "log",
    map,
    ticks: vals.map((t) => ({ pos: map(t), label: formatNumber(Number(t.toPrecision(6)), 4) })),
    band: 0,
    categories: [],
  };
}

/** A category's tick label: long numbers (a heatmap's coordinates) are shortened to 3 significant digits. */
function categoryLabel(c: string): string {
  const v = Number(c);
  return c.length > 6 && c.trim() !== "" && Number.isFinite(v) ? formatNumber(v, 3) : c;
}

/** Every how many categories a tick is drawn: all up to 30, else about 10. */
function categoryTickEvery(n: number): number {
  return n <= 30 ? 1 : Math.ceil(n / 10);
}

function categoryScale(categories: string[], p0: number, p1: number): Scale {
  const n = Math.max(1, categories.length);
  const band = (p1 - p0) / n;
  const index = new Map(categories.map((c, i) => [c, i]));
  const map = (v: Datum) => p0 + ((index.get(String(v)) ?? NaN) + 0.5) * band;
  const every = categoryTickEvery(n);
  const ticks = categories.filter((_, i) => i % every === 0).map((c) => ({ pos: map(c), label: categoryLabel(c) }));
  return { kind: "category", map, ticks, band, categories };
}

function extent(values: number[], positiveOnly: boolean): [number, number] | undefined {
  let lo = Infinity,
    hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (positiveOnly && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

function pad([lo, hi]: [number, number], frac: number): [number, number] {
  if (hi === lo) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  const d = (hi - lo) * frac;
  return [lo - d, hi + d];
}

// ---------------------------------------------------------------------------------------------
// Colours

function parseColor(c: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(c.trim());
  if (m) {
    const n = parseInt(m[1]!, 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const r = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/i.exec(c.trim());
  if (r) return [Number(r[1]), Number(r[2]), Number(r[3])];
  return [128, 128, 128];
}

function resolveColorscale(cs: Trace["colorscale"]): Array<[number, string]> {
  if (Array.isArray(cs) && cs.length >= 2) return cs;
  if (typeof cs === "string") {
    const reversed = cs.endsWith("_r");
    const base = COLORSCALES[reversed ? cs.slice(0, -2) : cs];
    if (base) return reversed ? base.map(([p, c]) => [1 - p, c] as [number, string]).reverse() : base;
  }
  return COLORSCALES.Viridis!;
}

/** Colour at t ∈ [0, 1] of a colorscale, as `rgb(r,g,b)`. */
export function colorAt(scale: Array<[number, string]>, t: number): string {
  const x = Math.min(1, Math.max(0, t));
  let i = 0;
  while (i < scale.length - 2 && x > scale[i + 1]![0]) i++;
  const [p0, c0] = scale[i]!,
    [p1, c1] = scale[i + 1] ?? scale[i]!;
  const f = p1 > p0 ? (x - p0) / (p1 - p0) : 0;
  const a = parseColor(c0),
    b = parseColor(c1);
  const mix = a.map((v, k) => Math.round(v + (b[k]! - v) * f));
  return `rgb(${mix[0]},${mix[1]},${mix[2]})`;
}

function luminance(rgb: string): number {
  const [r, g, b] = parseColor(rgb);
  return (0.299 * r + 0.587 * g + 0.114 * b) / 255;
}

// ---------------------------------------------------------------------------------------------
// SVG rendering

let svgCounter = 0;

const DASH: Record<string, string> = { dash: "6,4", dot: "2,3", dashdot: "6,3,2,3" };

function f1(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/**
 * A static SVG rendering of the figure (no JavaScript): axes with ticks and labels, lines and markers for
 * scatter traces with a legend, rectangles with a colour bar for heatmaps, grouped or stacked bars.
 */
export function figureSvg(fig: Figure): string {
  const layout = fig.layout ?? {};
  const W = Math.round(layout.width ?? 640);
  const H = Math.round(layout.height ?? 400);
  const uid = `vlab${(++svgCounter).toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const title = titleText(layout.title);
  const xTitle = titleText(layout.xaxis?.title);
  const yTitle = titleText(layout.yaxis?.title);
  const traces = fig.data.filter((t) => traceType(t) !== "other");
  const heatmaps = traces.filter((t) => traceType(t) === "heatmap");
  const bars = traces.filter((t) => traceType(t) === "bar");
  const lines = traces.filter((t) => traceType(t) === "scatter");
  const legendTraces = [...lines, ...bars].filter((t) => t.showlegend !== false);
  const showLegend =
    layout.showlegend ??
    (legendTraces.length > 1 ||
      (legendTraces.length === 1 && !!legendTraces[0]!.name && lines.length + bars.length > 1));
  const hasColorbar = heatmaps.some((t) => t.showscale !== false);

  // --- x categories / values
  const heatX = (t: Trace) => (t.x ?? Array.from({ length: t.z?.[0]?.length ?? 0 }, (_, i) => i)).map(String);
  const heatY = (t: Trace) => (t.y ?? Array.from({ length: t.z?.length ?? 0 }, (_, i) => i)).map(String);
  const xIsCategory =
    layout.xaxis?.type === "category" ||
    heatmaps.length > 0 ||
    bars.length > 0 ||
    lines.some((t) => (t.x ?? []).some((v) => typeof v === "string"));
  const yIsCategory = layout.yaxis?.type === "category" || heatmaps.length > 0;
  const logX = layout.xaxis?.type === "log" && !xIsCategory;
  const logY = layout.yaxis?.type === "log" && !yIsCategory;

  const unique = (vals: string[]) => [...new Set(vals)];
  const xCats = xIsCategory
    ? unique([
        ...heatmaps.flatMap(heatX),
        ...bars.flatMap((t) => (t.x ?? (t.y ?? []).map((_, i) => i)).map(String)),
        ...lines.flatMap((t) => (t.x ?? (t.y ?? []).map((_, i) => i)).map(String)),
      ])
    : [];
  const yCats = yIsCategory ? unique(heatmaps.flatMap(heatY)) : [];

  // --- margins
  const tickFont = 11;
  const longestXLabel = Math.max(0, ...xCats.map((c) => categoryLabel(c).length));
  const xTicksShown = Math.ceil(xCats.length / categoryTickEvery(xCats.length));
  const rotateX = xIsCategory && xTicksShown * Math.min(longestXLabel, 24) * 6.5 > W * 0.75;
  const mt = title ? 40 : 16;
  const mb = 30 + (xTitle ? 18 : 0) + (rotateX ? Math.min(70, Math.min(longestXLabel, 24) * 5) : 0);
  const longestYLabel = yIsCategory ? Math.max(0, ...yCats.map((c) => Math.min(categoryLabel(c).length, 16))) : 6;
  const ml = 18 + longestYLabel * 6.2 + (yTitle ? 20 : 0);
  const legendNames = legendTraces.map((t, i) => t.name ?? `trace ${i}`);
  const legendW = showLegend ? Math.min(160, 34 + Math.max(...legendNames.map((n) => n.length)) * 6.5) : 0;
  const mr = 16 + legendW + (hasColorbar ? 70 : 0);
  const x0 = ml,
    x1 = W - mr,
    y0 = H - mb,
    y1 = mt; // plot area: x0..x1 left→right, y0 (bottom)..y1 (top)

  // --- x scale
  let xs: Scale;
  if (xIsCategory) xs = categoryScale(xCats, x0, x1);
  else {
    const xv = lines.flatMap((t) => (t.x ?? (t.y ?? []).map((_, i) => i)).map((v) => num(v)));
    let ext: [number, number] = extent(xv, logX) ?? (logX ? [1, 10] : [0, 1]);
    if (logX) ext = [Math.log10(ext[0]), Math.log10(ext[1])];
    const markers = lines.some((t) => traceMode(t).includes("markers"));
    ext = layout.xaxis?.range ?? pad(ext, markers ? 0.04 : 0);
    if (ext[0] === ext[1]) ext = pad(ext, 0);
    xs = logX ? logScale(ext[0], ext[1], x0, x1) : linearScale(ext[0], ext[1], x0, x1);
  }
  // --- y scale
  const yReversed = layout.yaxis?.autorange === "reversed";
  let ys: Scale;
  if (yIsCategory) ys = categoryScale(yReversed ? yCats : [...yCats].reverse(), y1, y0);
  else {
    const stacked = layout.barmode === "stack" || layout.barmode === "relative";
    const yv: number[] = lines.flatMap((t) => (t.y ?? []).map(num));
    if (bars.length) {
      yv.push(0);
      if (stacked) {
        const pos = new Map<string, number>(),
          neg = new Map<string, number>();
        for (const t of bars)
          (t.y ?? []).forEach((v, i) => {
            const k = String(t.x?.[i] ?? i),
              n = num(v);
            if (!Number.isFinite(n)) return;
            const m = n >= 0 ? pos : neg;
            m.set(k, (m.get(k) ?? 0) + n);
          });
        yv.push(...pos.values(), ...neg.values());
      } else yv.push(...bars.flatMap((t) => (t.y ?? []).map(num)));
    }
    let ext: [number, number] = extent(yv, logY) ?? (logY ? [1, 10] : [0, 1]);
    if (logY) ext = [Math.log10(ext[0]), Math.log10(ext[1])];
    ext = layout.yaxis?.range ?? pad(ext, 0.05);
    if (ext[0] === ext[1]) ext = pad(ext, 0);
    if (bars.length && !logY && !layout.yaxis?.range) {
      // bars grow from zero: do not pad below a zero baseline
      const minData = Math.min(...yv.filter(Number.isFinite));
      if (minData >= 0) ext[0] = 0;
    }
    const [lo, hi] = yReversed ? [ext[1], ext[0]] : ext;
    ys = logY ? logScale(lo, hi, y0, y1) : linearScale(lo, hi, y0, y1);
  }

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">`,
  );
  out.push(
    `<defs><clipPath id="${uid}-clip"><rect x="${f1(x0)}" y="${f1(y1)}" width="${f1(x1 - x0)}" height="${f1(y0 - y1)}"/></clipPath></defs>`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  if (title)
    out.push(
      `<text x="${f1(W / 2)}" y="24" text-anchor="middle" font-size="15" fill="#222">${escapeXml(title)}</text>`,
    );

  // --- grid and ticks
  const axis: string[] = [];
  const grid: string[] = [];
  for (const t of xs.ticks) {
    if (t.pos < x0 - 0.5 || t.pos > x1 + 0.5) continue;
    if (!xIsCategory) grid.push(`<line x1="${f1(t.pos)}" y1="${f1(y1)}" x2="${f1(t.pos)}" y2="${f1(y0)}"/>`);
    axis.push(`<line x1="${f1(t.pos)}" y1="${f1(y0)}" x2="${f1(t.pos)}" y2="${f1(y0 + 4)}" stroke="#444"/>`);
    const label = escapeXml(t.label.length > 24 ? t.label.slice(0, 23) + "…" : t.label);
    axis.push(
      rotateX
        ? `<text x="${f1(t.pos)}" y="${f1(y0 + 14)}" text-anchor="end" transform="rotate(-40 ${f1(t.pos)} ${f1(y0 + 14)})">${label}</text>`
        : `<text x="${f1(t.pos)}" y="${f1(y0 + 16)}" text-anchor="middle">${label}</text>`,
    );
  }
  for (const t of ys.ticks) {
    if (t.pos < y1 - 0.5 || t.pos > y0 + 0.5) continue;
    if (!yIsCategory) grid.push(`<line x1="${f1(x0)}" y1="${f1(t.pos)}" x2="${f1(x1)}" y2="${f1(t.pos)}"/>`);
    axis.push(`<line x1="${f1(x0 - 4)}" y1="${f1(t.pos)}" x2="${f1(x0)}" y2="${f1(t.pos)}" stroke="#444"/>`);
    const label = escapeXml(t.label.length > 16 ? t.label.slice(0, 15) + "…" : t.label);
    axis.push(`<text x="${f1(x0 - 7)}" y="${f1(t.pos + 4)}" text-anchor="end">${label}</text>`);
  }
  out.push(`<g stroke="#e6e6e6" stroke-width="1">${grid.join("")}</g>`);

  // --- heatmaps
  const body: string[] = [];
  for (const t of heatmaps) {
    const z = t.z ?? [];
    const flat = z.flat().map((v) => (v === null ? NaN : v));
    const [zlo, zhi] = [t.zmin ?? extent(flat, false)?.[0] ?? 0, t.zmax ?? extent(flat, false)?.[1] ?? 1];
    const cs = resolveColorscale(t.colorscale);
    const hx = heatX(t),
      hy = heatY(t);
    const showValues = typeof t.texttemplate === "string" && t.texttemplate.length > 0;
    const fs = Math.max(7, Math.min(12, Math.floor(Math.min(xs.band, ys.band) / 3)));
    z.forEach((row, r) =>
      row.forEach((v, c) => {
        if (v === null || !Number.isFinite(v)) return;
        const cx = xs.map(hx[c]!),
          cy = ys.map(hy[r]!);
        if (!Number.isFinite(cx) || !Number.isFinite(cy)) return;
        const color = colorAt(cs, zhi > zlo ? (v - zlo) / (zhi - zlo) : 0.5);
        body.push(
          `<rect x="${f1(cx - xs.band / 2)}" y="${f1(cy - ys.band / 2)}" width="${f1(xs.band + 0.3)}" height="${f1(ys.band + 0.3)}" fill="${color}"/>`,
        );
        if (showValues && xs.band >= 14 && ys.band >= 10)
          body.push(
            `<text x="${f1(cx)}" y="${f1(cy + fs / 3)}" text-anchor="middle" font-size="${fs}" fill="${luminance(color) < 0.5 ? "#fff" : "#111"}">${escapeXml(formatNumber(v, 3))}</text>`,
          );
      }),
    );
    if (t.showscale !== false) {
      const cbx = x1 + 16 + legendW,
        cbw = 14;
      const stops = cs.map(([p, c]) => `<stop offset="${p}" stop-color="${c}"/>`).join("");
      out.push(`<defs><linearGradient id="${uid}-cb" x1="0" y1="1" x2="0" y2="0">${stops}</linearGradient></defs>`);
      axis.push(
        `<rect x="${f1(cbx)}" y="${f1(y1)}" width="${cbw}" height="${f1(y0 - y1)}" fill="url(#${uid}-cb)" stroke="#888" stroke-width="0.5"/>`,
      );
      const cbScale = linearScale(zlo, zhi === zlo ? zlo + 1 : zhi, y0, y1);
      for (const tk of cbScale.ticks) {
        if (tk.pos < y1 - 0.5 || tk.pos > y0 + 0.5) continue;
        axis.push(
          `<line x1="${f1(cbx + cbw)}" y1="${f1(tk.pos)}" x2="${f1(cbx + cbw + 3)}" y2="${f1(tk.pos)}" stroke="#444"/>`,
        );
        axis.push(`<text x="${f1(cbx + cbw + 5)}" y="${f1(tk.pos + 4)}">${escapeXml(tk.label)}</text>`);
      }
    }
  }

  // --- bars
  const stackedBars = layout.barmode === "stack" || layout.barmode === "relative";
  const colorOf = (t: Trace, i: number) => t.marker?.color ?? t.line?.color ?? PALETTE[i % PALETTE.length]!;
  const seriesIndex = new Map<Trace, number>(legendTraces.map((t, i) => [t, i]));
  [...lines, ...bars].forEach((t, i) => seriesIndex.has(t) || seriesIndex.set(t, i));
  if (bars.length) {
    const groupW = xs.band * 0.8;
    const bw = stackedBars ? groupW : groupW / bars.length;
    const posBase = new Map<string, number>(),
      negBase = new Map<string, number>();
    bars.forEach((t, bi) => {
      const color = colorOf(t, seriesIndex.get(t)!);
      (t.y ?? []).forEach((v, i) => {
        const val = num(v);
        if (!Number.isFinite(val)) return;
        const key = String(t.x?.[i] ?? i);
        const cx = xs.map(key);
        const left = cx - groupW / 2 + (stackedBars ? 0 : bi * bw);
        let from = 0;
        if (stackedBars) {
          const m = val >= 0 ? posBase : negBase;
          from = m.get(key) ?? 0;
          m.set(key, from + val);
        }
        const pa = logY && from <= 0 ? y0 : ys.map(from); // on a log axis bars start at the bottom
        const pb = ys.map(from + val);
        const top = Math.min(pa, pb),
          h = Math.abs(pb - pa);
        if (!Number.isFinite(top) || !Number.isFinite(h)) return;
        body.push(
          `<rect x="${f1(left)}" y="${f1(top)}" width="${f1(Math.max(0.5, bw - 1))}" height="${f1(h)}" fill="${escapeXml(color)}"/>`,
        );
      });
    });
  }

  // --- lines and markers
  for (const t of lines) {
    const color = escapeXml(colorOf(t, seriesIndex.get(t)!));
    const mode = traceMode(t);
    const ys_ = t.y ?? [];
    const xs_ = t.x ?? ys_.map((_, i) => i);
    const pts: Array<[number, number] | null> = ys_.map((v, i) => {
      const px = xs.map(xs_[i] as Datum),
        py = ys.map(v);
      return Number.isFinite(px) && Number.isFinite(py) ? [px, py] : null;
    });
    if (mode.includes("lines")) {
      const width = t.line?.width ?? 2;
      const dash = t.line?.dash && DASH[t.line.dash] ? ` stroke-dasharray="${DASH[t.line.dash]}"` : "";
      let seg: string[] = [];
      const flush = () => {
        if (seg.length >= 2)
          body.push(
            `<polyline fill="none" stroke="${color}" stroke-width="${width}"${dash} stroke-linejoin="round" points="${seg.join(" ")}"/>`,
          );
        else if (seg.length === 1 && !mode.includes("markers")) {
          const [px, py] = seg[0]!.split(",");
          body.push(`<circle cx="${px}" cy="${py}" r="${width}" fill="${color}"/>`);
        }
        seg = [];
      };
      for (const p of pts) {
        if (p) seg.push(`${f1(p[0])},${f1(p[1])}`);
        else flush();
      }
      flush();
    }
    if (mode.includes("markers")) {
      const r = (t.marker?.size ?? 6) / 2;
      const dots = pts
        .filter((p): p is [number, number] => p !== null)
        .map(([px, py]) => `<circle cx="${f1(px)}" cy="${f1(py)}" r="${r}"/>`);
      body.push(`<g fill="${color}" fill-opacity="0.85">${dots.join("")}</g>`);
    }
  }
  out.push(`<g clip-path="url(#${uid}-clip)">${body.join("")}</g>`);

  // --- axes frame and titles
  out.push(
    `<g stroke="#444" stroke-width="1"><line x1="${f1(x0)}" y1="${f1(y0)}" x2="${f1(x1)}" y2="${f1(y0)}"/><line x1="${f1(x0)}" y1="${f1(y1)}" x2="${f1(x0)}" y2="${f1(y0)}"/></g>`,
  );
  out.push(`<g font-size="${tickFont}" fill="#444">${axis.join("")}</g>`);
  if (xTitle)
    out.push(
      `<text x="${f1((x0 + x1) / 2)}" y="${H - 8}" text-anchor="middle" font-size="12" fill="#222">${escapeXml(xTitle)}</text>`,
    );
  if (yTitle)
    out.push(
      `<text x="14" y="${f1((y0 + y1) / 2)}" text-anchor="middle" font-size="12" fill="#222" transform="rotate(-90 14 ${f1((y0 + y1) / 2)})">${escapeXml(yTitle)}</text>`,
    );

  // --- legend
  if (showLegend && legendTraces.length) {
    const lx = x1 + 12;
    const items = legendTraces.map((t, i) => {
      const y = y1 + 10 + i * 18;
      const color = escapeXml(colorOf(t, seriesIndex.get(t)!));
      const name = legendNames[i]!;
      const label = escapeXml(name.length > 20 ? name.slice(0, 19) + "…" : name);
      const swatch =
        traceType(t) === "bar"
          ? `<rect x="${f1(lx)}" y="${f1(y - 5)}" width="18" height="10" fill="${color}"/>`
          : traceMode(t).includes("lines")
            ? `<line x1="${f1(lx)}" y1="${f1(y)}" x2="${f1(lx + 18)}" y2="${f1(y)}" stroke="${color}" stroke-width="2.5"/>`
            : `<circle cx="${f1(lx + 9)}" cy="${f1(y)}" r="4" fill="${color}"/>`;
      return `${swatch}<text x="${f1(lx + 24)}" y="${f1(y + 4)}">${label}</text>`;
    });
    out.push(`<g class="legend" font-size="11" fill="#222">${items.join("")}</g>`);
  }
  out.push("</svg>");
  return out.join("");
}

// ---------------------------------------------------------------------------------------------
// Text summary

function range(values: number[]): string {
  const e = extent(values, false);
  return e ? `${formatNumber(e[0])}..${formatNumber(e[1])}` : "no finite values";
}

/** Title plus one line per trace: `line "train": 200 points, x 0..199, y 0.01..2.3, last 0.012`. */
export function figureText(fig: Figure): string {
  const layout = fig.layout ?? {};
  const title = titleText(layout.title);
  const axes = [
    titleText(layout.xaxis?.title) && `x: ${titleText(layout.xaxis?.title)}`,
    titleText(layout.yaxis?.title) && `y: ${titleText(layout.yaxis?.title)}`,
  ]
    .filter(Boolean)
    .join(", ");
  const head = `Figure${title ? ` "${title}"` : ""}${axes ? ` (${axes}${layout.yaxis?.type === "log" ? ", log y" : ""})` : ""}`;
  const lines = fig.data.map((t, i) => {
    const name = t.name ? ` "${t.name}"` : "";
    switch (traceType(t)) {
      case "heatmap": {
        const z = t.z ?? [];
        return `  heatmap${name}: ${z.length}x${z[0]?.length ?? 0}, z ${range(z.flat().map((v) => (v === null ? NaN : v)))}`;
      }
      case "bar": {
        const y = t.y ?? [];
        const items = y.slice(0, 8).map((v, j) => `${t.x?.[j] ?? j}=${typeof v === "number" ? formatNumber(v) : v}`);
        return `  bar${name}: ${items.join(", ")}${y.length > 8 ? `, … (${y.length} bars)` : ""}`;
      }
      case "scatter": {
        const y = (t.y ?? []).map(num);
        const x = (t.x ?? y.map((_, j) => j)).map(num);
        const kind = traceMode(t).includes("lines") ? "line" : "scatter";
        const last = y.length ? `, last ${formatNumber(y[y.length - 1]!)}` : "";
        return `  ${kind}${name}: ${y.length} points, x ${range(x)}, y ${range(y)}${kind === "line" ? last : ""}`;
      }
      default:
        return `  ${t.type ?? "trace"}${name} (trace ${i})`;
    }
  });
  return [head, ...lines].join("\n");
}

// ---------------------------------------------------------------------------------------------
// HTML with plotly.js

let plotlyInlined = false;
let plotlyMode: "once" | "always" | "never" = "once";
let plotlySource: string | undefined;

/**
 * How `text/html` ships plotly.js: `"once"` (default) inlines it in the first figure this process shows,
 * `"always"` in every figure (self-contained outputs), `"never"` relies on a page that already has `window.Plotly`.
 * `resetPlotly()` makes the next figure inline it again (e.g. after clearing all outputs).
 */
export function setPlotlyInlining(mode: "once" | "always" | "never"): void {
  plotlyMode = mode;
}

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

/** The `<script>` that defines `window.Plotly`, shielded from an AMD loader (classic Notebook's requirejs) and CommonJS globals. */
function plotlyLibraryScript(): string | undefined {
  const src = readPlotly();
  if (!src) return undefined;
  const safe = src.replace(/<\/(script)/gi, "<\\/$1");
  return `<script type="text/javascript">if (!window.Plotly) { (function (define, module, exports, require) {\n${safe}\n}).call(window); }</script>`;
}

function jsonForScript(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function figureJson(fig: Figure): { data: Trace[]; layout: Layout } {
  return JSON.parse(JSON.stringify({ data: fig.data, layout: fig.layout ?? {} }));
}

/**
 * The `text/html` view: a div (holding the static SVG until plotly draws) and a script calling
 * `Plotly.newPlot`. `includeLibrary` inlines plotly.js before it.
 */
export function figureHtml(fig: Figure, opts: { includeLibrary?: boolean; svg?: string } = {}): string {
  const id = newDisplayId("vlab-plot");
  const layout = fig.layout ?? {};
  const w = Math.round(layout.width ?? 640),
    h = Math.round(layout.height ?? 400);
  const svgText = opts.svg ?? figureSvg(fig);
  const fallback = `<img alt="${escapeHtml(titleText(layout.title) ?? "figure")}" src="data:image/svg+xml;base64,${Buffer.from(svgText).toString("base64")}"/>`;
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

/** The full mime bundle of a figure (see the top of this file). Inlines plotly.js in the first one per process. */
export function figureBundle(fig: Figure): MimeBundle {
  const svgText = figureSvg(fig);
  const includeLibrary = plotlyMode === "always" || (plotlyMode === "once" && !plotlyInlined);
  const htmlText = figureHtml(fig, { includeLibrary, svg: svgText });
  if (includeLibrary && plotlyLibraryScript()) plotlyInlined = true;
  return {
    "application/vnd.plotly.v1+json": figureJson(fig),
    "text/html": htmlText,
    "image/svg+xml": svgText,
    "text/plain": figureText(fig),
  };
}

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
    content = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head><body>\n${figureHtml(fig, { includeLibrary: true })}\n</body></html>\n`;
  } else throw new Error(`saveFigure(): unsupported extension "${ext}" (use .svg, .png, .json or .html)`);
  atomicWrite(file, content);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface AxisOptions {
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
  return v === undefined ? undefined : Array.from(v as ArrayLike<number>);
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
      return { name, x: toArray(xs as Series | undefined), y: toArray(ys)! };
    });
  }
  if (isSeriesRecord(x)) throw new Error(`${what}: x is a record of series but y is a single series`);
  return [{ x: toArray(x), y: toArray(y)! }];
}

export interface LinePlotOptions extends AxisOptions {
  /** Shared x values, or one x series per named y series (e.g. eval steps). Default: 0, 1, 2, ... */
  x?: Series | Record<string, Series>;
  /** One series, or several by name (one line each, with a legend). */
  y: Series | Record<string, Series>;
  /** Draw markers on the points as well. */
  markers?: boolean;
}

/** Line plot: `linePlot({ y: { train: losses, eval: evalLosses }, x: { train: steps, eval: evalSteps }, logY: true })`. */
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
  x?: Datum[];
  y?: Datum[];
  /** A plotly colorscale name (Viridis, Greys, Blues, Reds, RdBu, Hot; `_r` reverses) or `[[0, "#..."], ..., [1, "#..."]]`. */
  colorscale?: string | Array<[number, string]>;
  zmin?: number;
  zmax?: number;
  /** Row 0 at the top, like a matrix (default true). */
  reverseY?: boolean;
  /** Write each cell's value in it (good for confusion matrices). */
  showValues?: boolean;
}

/** Heatmap of a matrix `z[row][col]` (attention maps, confusion matrices); row 0 at the top by default. */
export function heatmap(z: ArrayLike<ArrayLike<number>>, o: HeatmapOptions = {}): Plot {
  const rows = Array.from(z, (r) => Array.from(r));
  const trace: Trace = { type: "heatmap", z: rows, colorscale: o.colorscale ?? "Viridis" };
  if (o.x) trace.x = o.x;
  if (o.y) trace.y = o.y;
  if (o.zmin !== undefined) trace.zmin = o.zmin;
  if (o.zmax !== undefined) trace.zmax = o.zmax;
  if (o.showValues) trace.texttemplate = "%{z:.3g}";
  const layout = baseLayout(o);
  if (o.reverseY ?? true) layout.yaxis = { ...layout.yaxis, autorange: "reversed" };
  if (o.x) layout.xaxis = { ...layout.xaxis, type: "category" };
  if (o.y) layout.yaxis = { ...layout.yaxis, type: "category" };
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

// ---------------------------------------------------------------------------------------------
// Live plots

export interface LivePlotOptions extends AxisOptions {
  /** Minimum milliseconds between display updates (default 500). */
  throttleMs?: number;
}

/**
 * A line plot that grows while training runs: `const lp = livePlot({ title: "loss", logY: true });
 * lp.push({ train: loss }, step); ... lp.done();`. In a kernel it updates one display in place
 * (the static SVG while running, the interactive figure once `done()`); elsewhere `done()` prints a summary.
 */
export class LivePlot {
  readonly x: Record<string, number[]> = {};
  readonly y: Record<string, number[]> = {};
  private readonly displayId = newDisplayId("vlab-live");
  private shown = false;
  private last = 0;
  private count = 0;

  constructor(private readonly opts: LivePlotOptions = {}) {}

  /** The figure so far. */
  get figure(): Plot {
    return linePlot({ ...this.opts, x: this.x, y: this.y });
  }

  /** Adds one point to each named series (x defaults to the number of pushes so far). */
  push(values: Record<string, number>, x?: number): void {
    const at = x ?? this.count;
    this.count++;
    for (const [name, v] of Object.entries(values)) {
      (this.x[name] ??= []).push(at);
      (this.y[name] ??= []).push(v);
    }
    const hook = kernelHook();
    if (!hook) return;
    const now = Date.now();
    if (this.shown && now - this.last < (this.opts.throttleMs ?? 500)) return;
    this.last = now;
    const fig = this.figure;
    sendBundle(
      { "image/svg+xml": figureSvg(fig), "text/plain": figureText(fig) },
      { displayId: this.displayId, update: this.shown },
    );
    this.shown = true;
  }

  /** Final rendering: the full interactive figure in a kernel, the text summary in a terminal. */
  done(): void {
    const fig = this.figure;
    if (kernelHook()) sendBundle(figureBundle(fig), { displayId: this.displayId, update: this.shown });
    else sendBundle({ "text/plain": figureText(fig) });
    this.shown = true;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return figureBundle(this.figure);
  }
}

export function livePlot(opts: LivePlotOptions = {}): LivePlot {
  return new LivePlot(opts);
}
