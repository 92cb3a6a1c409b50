/**
 * The figure model: a figure is plain plotly JSON, `{ data: Trace[], layout }`, so whatever vlab builds can be
 * handed to plotly.js as it is. This file holds the types and the few readings of them that every view needs
 * (a trace's kind and drawing mode, a title's text); the views are svg.ts (static), html.ts (plotly.js and the
 * mime bundle) and figure_text.ts (text/plain).
 */
import { plotlyScale } from "./colors.js";

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
  /** As in plotly: flip the colorscale. */
  reversescale?: boolean;
  zmin?: number;
  zmax?: number;
  showscale?: boolean;
  texttemplate?: string;
  /** Per-point text (a heatmap: one row of strings per row of z), shown by `texttemplate: "%{text}"`. */
  text?: string | string[] | string[][];
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

/** The colour of the i-th series: plotly's sequence, cycled. */
export function paletteColor(i: number): string {
  const c = PALETTE[i % PALETTE.length];
  if (c === undefined) throw new Error(`paletteColor(): ${i} is not a series index (a whole number >= 0)`);
  return c;
}

/** The text of a plotly title, which is a string or `{ text }`. */
export function titleText(t: string | { text?: string } | undefined): string | undefined {
  if (t === undefined) return undefined;
  return typeof t === "string" ? t : t.text;
}

/** The trace kinds vlab draws; any other plotly type is "other" (left to plotly.js). */
export function traceType(t: Trace): "scatter" | "bar" | "heatmap" | "other" {
  const ty = t.type ?? "scatter";
  return ty === "scatter" || ty === "bar" || ty === "heatmap" ? ty : "other";
}

/** A scatter trace's mode, with plotly's default: markers on lines of fewer than 20 points. */
export function traceMode(t: Trace): string {
  if (t.mode) return t.mode;
  const n = (t.y ?? t.x ?? []).length;
  return n < 20 ? "lines+markers" : "lines";
}

/** A datum as a number (a category string is NaN). */
export function num(v: Datum | null | undefined): number {
  return typeof v === "number" ? v : NaN;
}

/**
 * The figure as plain JSON for plotly.js (a deep copy), with an empty layout where it has none. A colorscale name
 * with vlab's `_r` suffix, which plotly.js does not know, becomes the name with `reversescale` toggled.
 */
export function figureJson(fig: Figure): { data: Trace[]; layout: Layout } {
  const json = JSON.parse(JSON.stringify({ data: fig.data, layout: fig.layout ?? {} })) as {
    data: Trace[];
    layout: Layout;
  };
  for (const t of json.data) {
    if (typeof t.colorscale !== "string" || !t.colorscale.endsWith("_r")) continue;
    const p = plotlyScale(t.colorscale, t.reversescale === true);
    if (p.colorscale === undefined) continue;
    t.colorscale = p.colorscale;
    if (p.reversescale) t.reversescale = true;
    else delete t.reversescale;
  }
  return json;
}
