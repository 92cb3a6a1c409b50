/**
 * The static SVG view of a figure, for viewers that run no JavaScript (GitHub, nbviewer) and for saved .svg/.png:
 * axes with ticks and labels, lines and markers for scatter traces with a legend, rectangles with a colour bar for
 * heatmaps, grouped or stacked bars. It follows plotly.js's defaults (margins, tick steps, colours) closely enough
 * that the static picture and the interactive one read the same.
 *
 * `figureSvg` reads the figure (`plan`), lays out the plot area (`plotArea`), builds the two scales, then draws in
 * layers: grid, heatmaps (+ colour bar), bars, lines and markers, axes, titles, legend.
 */
import { escapeXml } from "@vlab/core";
import {
  num,
  paletteColor,
  titleText,
  traceMode,
  traceType,
  type Datum,
  type Figure,
  type Layout,
  type Trace,
} from "./figure.js";
import {
  categoryLabel,
  categoryScale,
  categoryTickEvery,
  extent,
  linearScale,
  logScale,
  pad,
  type Scale,
} from "./scales.js";
import { colorbar, f1, heatEdges, heatmapCells, heatX, heatY } from "./svg_heatmap.js";

const TICK_FONT = 11;
const DASH: Record<string, string> = { dash: "6,4", dot: "2,3", dashdot: "6,3,2,3" };

/** What a figure holds, sorted for drawing. */
interface Plan {
  layout: Layout;
  title?: string;
  xTitle?: string;
  yTitle?: string;
  heatmaps: Trace[];
  bars: Trace[];
  lines: Trace[];
  /** The scatter and bar traces that get a legend entry, with their names. */
  legend: Array<{ trace: Trace; name: string }>;
  showLegend: boolean;
  hasColorbar: boolean;
  xIsCategory: boolean;
  yIsCategory: boolean;
  logX: boolean;
  logY: boolean;
  xCats: string[];
  yCats: string[];
}

/** The plot area in pixels: x0..x1 left to right, y0 (bottom)..y1 (top), inside a W x H picture. */
interface Area {
  W: number;
  H: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  legendW: number;
  rotateX: boolean;
  /** Where the legend and colour bar start: right of the plot area before square cells shrank it. */
  right: number;
}

const hasStrings = (v: Datum[] | undefined) => v?.some((d) => typeof d === "string") ?? false;
/** A trace's x values, 0, 1, 2, ... where it has none. */
const xsOf = (t: Trace): Datum[] => t.x ?? (t.y ?? []).map((_, i) => i);
const unique = (vals: string[]) => [...new Set(vals)];

function plan(fig: Figure): Plan {
  const layout = fig.layout ?? {};
  const traces = fig.data.filter((t) => traceType(t) !== "other");
  const heatmaps = traces.filter((t) => traceType(t) === "heatmap");
  const bars = traces.filter((t) => traceType(t) === "bar");
  const lines = traces.filter((t) => traceType(t) === "scatter");
  const legendTraces = [...lines, ...bars].filter((t) => t.showlegend !== false);
  const [firstLegend] = legendTraces;
  const showLegend =
    layout.showlegend ??
    (legendTraces.length > 1 || (legendTraces.length === 1 && !!firstLegend?.name && lines.length + bars.length > 1));
  const xIsCategory =
    layout.xaxis?.type === "category" ||
    heatmaps.some((t) => hasStrings(t.x)) ||
    bars.length > 0 ||
    lines.some((t) => (t.x ?? []).some((v) => typeof v === "string"));
  const yIsCategory = layout.yaxis?.type === "category" || heatmaps.some((t) => hasStrings(t.y));
  return {
    layout,
    title: titleText(layout.title),
    xTitle: titleText(layout.xaxis?.title),
    yTitle: titleText(layout.yaxis?.title),
    heatmaps,
    bars,
    lines,
    legend: legendTraces.map((trace, i) => ({ trace, name: trace.name ?? `trace ${i}` })),
    showLegend,
    hasColorbar: heatmaps.some((t) => t.showscale !== false),
    xIsCategory,
    yIsCategory,
    logX: layout.xaxis?.type === "log" && !xIsCategory,
    logY: layout.yaxis?.type === "log" && !yIsCategory,
    xCats: xIsCategory
      ? unique([
          ...heatmaps.flatMap((t) => heatX(t).map(String)),
          ...bars.flatMap((t) => xsOf(t).map(String)),
          ...lines.flatMap((t) => xsOf(t).map(String)),
        ])
      : [],
    yCats: yIsCategory ? unique(heatmaps.flatMap((t) => heatY(t).map(String))) : [],
  };
}

/**
 * Margins as plotly sizes them: room for the title, tick labels (rotated when they would overlap), legend, colour bar.
 */
function plotArea(p: Plan): Area {
  const W = Math.round(p.layout.width ?? 640);
  const H = Math.round(p.layout.height ?? 400);
  const longestXLabel = Math.max(0, ...p.xCats.map((c) => categoryLabel(c).length));
  const xTicksShown = Math.ceil(p.xCats.length / categoryTickEvery(p.xCats.length));
  const rotateX = p.xIsCategory && xTicksShown * Math.min(longestXLabel, 24) * 6.5 > W * 0.75;
  const mt = p.title ? 40 : 16;
  const mb = 30 + (p.xTitle ? 18 : 0) + (rotateX ? Math.min(70, Math.min(longestXLabel, 24) * 5) : 0);
  const longestYLabel = p.yIsCategory ? Math.max(0, ...p.yCats.map((c) => Math.min(categoryLabel(c).length, 16))) : 6;
  const ml = 18 + longestYLabel * 6.2 + (p.yTitle ? 20 : 0);
  const legendW = p.showLegend ? Math.min(160, 34 + Math.max(...p.legend.map((l) => l.name.length)) * 6.5) : 0;
  const mr = 16 + legendW + (p.hasColorbar ? 70 : 0);
  return { W, H, x0: ml, x1: W - mr, y0: H - mb, y1: mt, legendW, rotateX, right: W - mr };
}

function xScaleOf(p: Plan, a: Area): Scale {
  if (p.xIsCategory) return categoryScale(p.xCats, a.x0, a.x1);
  const xv = [...p.lines.flatMap((t) => xsOf(t).map((v) => num(v))), ...p.heatmaps.flatMap((t) => heatEdges(t, "x"))];
  let ext: [number, number] = extent(xv, p.logX) ?? (p.logX ? [1, 10] : [0, 1]);
  if (p.logX) ext = [Math.log10(ext[0]), Math.log10(ext[1])];
  const markers = p.lines.some((t) => traceMode(t).includes("markers")) && p.heatmaps.length === 0;
  ext = p.layout.xaxis?.range ?? pad(ext, markers ? 0.04 : 0);
  if (ext[0] === ext[1]) ext = pad(ext, 0);
  return p.logX ? logScale(ext[0], ext[1], a.x0, a.x1) : linearScale(ext[0], ext[1], a.x0, a.x1);
}

/** The totals of stacked bars at each x, positive and negative parts apart (the y extent must hold them). */
function stackTotals(bars: Trace[]): number[] {
  const pos = new Map<string, number>();
  const neg = new Map<string, number>();
  for (const t of bars)
    (t.y ?? []).forEach((v, i) => {
      const k = String(t.x?.[i] ?? i);
      const n = num(v);
      if (!Number.isFinite(n)) return;
      const m = n >= 0 ? pos : neg;
      m.set(k, (m.get(k) ?? 0) + n);
    });
  return [...pos.values(), ...neg.values()];
}

function yScaleOf(p: Plan, a: Area): Scale {
  const reversed = p.layout.yaxis?.autorange === "reversed";
  if (p.yIsCategory) return categoryScale(reversed ? p.yCats : [...p.yCats].reverse(), a.y1, a.y0);
  const stacked = p.layout.barmode === "stack" || p.layout.barmode === "relative";
  const yv: number[] = [
    ...p.lines.flatMap((t) => (t.y ?? []).map(num)),
    ...p.heatmaps.flatMap((t) => heatEdges(t, "y")),
  ];
  if (p.bars.length) {
    yv.push(0);
    if (stacked) yv.push(...stackTotals(p.bars));
    else yv.push(...p.bars.flatMap((t) => (t.y ?? []).map(num)));
  }
  let ext: [number, number] = extent(yv, p.logY) ?? (p.logY ? [1, 10] : [0, 1]);
  if (p.logY) ext = [Math.log10(ext[0]), Math.log10(ext[1])];
  ext = p.layout.yaxis?.range ?? pad(ext, p.heatmaps.length ? 0 : 0.05);
  if (ext[0] === ext[1]) ext = pad(ext, 0);
  if (p.bars.length && !p.logY && !p.layout.yaxis?.range) {
    // bars grow from zero: do not pad below a zero baseline
    const minData = Math.min(...yv.filter(Number.isFinite));
    if (minData >= 0) ext[0] = 0;
  }
  const [lo, hi] = reversed ? [ext[1], ext[0]] : ext;
  return p.logY ? logScale(lo, hi, a.y0, a.y1) : linearScale(lo, hi, a.y0, a.y1);
}

/** Grid lines (numeric axes only) and tick marks with labels, long labels cut with "…". */
function ticks(p: Plan, a: Area, xs: Scale, ys: Scale): { grid: string[]; axis: string[] } {
  const { x0, x1, y0, y1 } = a;
  const grid: string[] = [];
  const axis: string[] = [];
  for (const t of xs.ticks) {
    if (t.pos < x0 - 0.5 || t.pos > x1 + 0.5) continue;
    if (!p.xIsCategory) grid.push(`<line x1="${f1(t.pos)}" y1="${f1(y1)}" x2="${f1(t.pos)}" y2="${f1(y0)}"/>`);
    axis.push(`<line x1="${f1(t.pos)}" y1="${f1(y0)}" x2="${f1(t.pos)}" y2="${f1(y0 + 4)}" stroke="#444"/>`);
    const label = escapeXml(t.label.length > 24 ? t.label.slice(0, 23) + "…" : t.label);
    const [x, y] = [f1(t.pos), f1(y0 + 14)];
    axis.push(
      a.rotateX
        ? `<text x="${x}" y="${y}" text-anchor="end" transform="rotate(-40 ${x} ${y})">${label}</text>`
        : `<text x="${x}" y="${f1(y0 + 16)}" text-anchor="middle">${label}</text>`,
    );
  }
  for (const t of ys.ticks) {
    if (t.pos < y1 - 0.5 || t.pos > y0 + 0.5) continue;
    if (!p.yIsCategory) grid.push(`<line x1="${f1(x0)}" y1="${f1(t.pos)}" x2="${f1(x1)}" y2="${f1(t.pos)}"/>`);
    axis.push(`<line x1="${f1(x0 - 4)}" y1="${f1(t.pos)}" x2="${f1(x0)}" y2="${f1(t.pos)}" stroke="#444"/>`);
    const label = escapeXml(t.label.length > 16 ? t.label.slice(0, 15) + "…" : t.label);
    axis.push(`<text x="${f1(x0 - 7)}" y="${f1(t.pos + 4)}" text-anchor="end">${label}</text>`);
  }
  return { grid, axis };
}

/** Bars side by side within 80% of each category's band (`group`), or on top of each other (`stack`, `relative`). */
function barShapes(p: Plan, a: Area, xs: Scale, ys: Scale, colorOf: (t: Trace) => string): string[] {
  const stacked = p.layout.barmode === "stack" || p.layout.barmode === "relative";
  const groupW = xs.band * 0.8;
  const bw = stacked ? groupW : groupW / p.bars.length;
  const posBase = new Map<string, number>();
  const negBase = new Map<string, number>();
  const out: string[] = [];
  for (const [bi, t] of p.bars.entries()) {
    const color = escapeXml(colorOf(t));
    for (const [i, v] of (t.y ?? []).entries()) {
      const val = num(v);
      if (!Number.isFinite(val)) continue;
      const key = String(t.x?.[i] ?? i);
      const left = xs.map(key) - groupW / 2 + (stacked ? 0 : bi * bw);
      let from = 0;
      if (stacked) {
        const m = val >= 0 ? posBase : negBase;
        from = m.get(key) ?? 0;
        m.set(key, from + val);
      }
      const pa = p.logY && from <= 0 ? a.y0 : ys.map(from); // on a log axis bars start at the bottom
      const pb = ys.map(from + val);
      const top = Math.min(pa, pb);
      const h = Math.abs(pb - pa);
      if (!Number.isFinite(top) || !Number.isFinite(h)) continue;
      out.push(
        `<rect x="${f1(left)}" y="${f1(top)}" width="${f1(Math.max(0.5, bw - 1))}" height="${f1(h)}" fill="${color}"/>`,
      );
    }
  }
  return out;
}

/** A scatter trace: a polyline per run of finite points (a lone point is a dot), markers on top when asked. */
function lineShapes(t: Trace, xs: Scale, ys: Scale, color: string): string[] {
  const mode = traceMode(t);
  const yv = t.y ?? [];
  const xv = xsOf(t);
  const pts = yv.map((v, i): [number, number] | null => {
    const x = xv[i];
    const px = x === undefined ? NaN : xs.map(x);
    const py = ys.map(v);
    return Number.isFinite(px) && Number.isFinite(py) ? [px, py] : null;
  });
  const out: string[] = [];
  if (mode.includes("lines")) {
    const width = t.line?.width ?? 2;
    const dashes = t.line?.dash ? DASH[t.line.dash] : undefined;
    const dash = dashes ? ` stroke-dasharray="${dashes}"` : "";
    let seg: Array<[number, number]> = [];
    const flush = () => {
      const [only] = seg;
      if (seg.length >= 2) {
        const points = seg.map(([px, py]) => `${f1(px)},${f1(py)}`).join(" ");
        out.push(
          `<polyline fill="none" stroke="${color}" stroke-width="${width}"${dash} stroke-linejoin="round" ` +
            `points="${points}"/>`,
        );
      } else if (only && !mode.includes("markers"))
        out.push(`<circle cx="${f1(only[0])}" cy="${f1(only[1])}" r="${width}" fill="${color}"/>`);
      seg = [];
    };
    for (const pt of pts) {
      if (pt) seg.push(pt);
      else flush();
    }
    flush();
  }
  if (mode.includes("markers")) {
    const r = (t.marker?.size ?? 6) / 2;
    const dots = pts
      .filter((pt): pt is [number, number] => pt !== null)
      .map(([px, py]) => `<circle cx="${f1(px)}" cy="${f1(py)}" r="${r}"/>`);
    out.push(`<g fill="${color}" fill-opacity="0.85">${dots.join("")}</g>`);
  }
  return out;
}

/** The legend right of the plot: a swatch (bar, line or dot) and the name of each series, names cut at 20. */
function legend(p: Plan, a: Area, colorOf: (t: Trace) => string): string {
  const lx = a.right + 12;
  const items = p.legend.map(({ trace, name }, i) => {
    const y = a.y1 + 10 + i * 18;
    const color = escapeXml(colorOf(trace));
    const label = escapeXml(name.length > 20 ? name.slice(0, 19) + "…" : name);
    const swatch =
      traceType(trace) === "bar"
        ? `<rect x="${f1(lx)}" y="${f1(y - 5)}" width="18" height="10" fill="${color}"/>`
        : traceMode(trace).includes("lines")
          ? `<line x1="${f1(lx)}" y1="${f1(y)}" x2="${f1(lx + 18)}" y2="${f1(y)}" stroke="${color}" ` +
            `stroke-width="2.5"/>`
          : `<circle cx="${f1(lx + 9)}" cy="${f1(y)}" r="4" fill="${color}"/>`;
    return `${swatch}<text x="${f1(lx + 24)}" y="${f1(y + 4)}">${label}</text>`;
  });
  return `<g class="legend" font-size="11" fill="#222">${items.join("")}</g>`;
}

/** Each series' colour: its own, else the palette's at its legend position (or its position among the series). */
function seriesColors(p: Plan): (t: Trace) => string {
  const index = new Map<Trace, number>(p.legend.map(({ trace }, i) => [trace, i]));
  for (const [i, t] of [...p.lines, ...p.bars].entries()) if (!index.has(t)) index.set(t, i);
  const position = (t: Trace) => {
    const i = index.get(t);
    if (i === undefined) throw new Error("figureSvg(): a series that is neither a line nor a bar has no colour");
    return i;
  };
  return (t) => t.marker?.color ?? t.line?.color ?? paletteColor(position(t));
}

/**
 * plotly's `yaxis.scaleanchor: "x"` with `constrain: "domain"`: one data unit of y is `scaleratio` times one of x in
 * pixels, the plot area shrunk (centred) along the axis with room to spare.
 */
function squareCells(p: Plan, a: Area): Area {
  const y = p.layout.yaxis;
  if (y?.scaleanchor !== "x") return a;
  const ratio = typeof y.scaleratio === "number" && y.scaleratio > 0 ? y.scaleratio : 1;
  const [xSpan, ySpan] = [xScaleOf(p, a).span, yScaleOf(p, a).span];
  if (!(xSpan > 0 && ySpan > 0)) return a;
  const unit = Math.min((a.x1 - a.x0) / xSpan, (a.y0 - a.y1) / (ySpan * ratio));
  const [w, h] = [unit * xSpan, unit * ySpan * ratio];
  const [cx, cy] = [(a.x0 + a.x1) / 2, (a.y0 + a.y1) / 2];
  return { ...a, x0: cx - w / 2, x1: cx + w / 2, y0: cy + h / 2, y1: cy - h / 2 };
}

let svgCounter = 0;

/**
 * A static SVG rendering of the figure (no JavaScript): axes with ticks and labels, lines and markers for
 * scatter traces with a legend, rectangles with a colour bar for heatmaps, grouped or stacked bars.
 */
export function figureSvg(fig: Figure): string {
  const p = plan(fig);
  const a = squareCells(p, plotArea(p));
  const { W, H, x0, x1, y0, y1 } = a;
  const uid = `vlab${(++svgCounter).toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const xs = xScaleOf(p, a);
  const ys = yScaleOf(p, a);
  const colorOf = seriesColors(p);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="DejaVu Sans, Arial, Helvetica, sans-serif">`,
    `<defs><clipPath id="${uid}-clip"><rect x="${f1(x0)}" y="${f1(y1)}" width="${f1(x1 - x0)}" ` +
      `height="${f1(y0 - y1)}"/></clipPath></defs>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  if (p.title)
    out.push(
      `<text x="${f1(W / 2)}" y="24" text-anchor="middle" font-size="15" fill="#222">${escapeXml(p.title)}</text>`,
    );
  const { grid, axis } = ticks(p, a, xs, ys);
  out.push(`<g stroke="#e6e6e6" stroke-width="1">${grid.join("")}</g>`);

  const body: string[] = [];
  for (const t of p.heatmaps) {
    body.push(...heatmapCells(t, xs, ys));
    if (t.showscale !== false) {
      const bar = colorbar(uid, a.right + 16 + a.legendW, y0, y1, t);
      out.push(bar.defs);
      axis.push(...bar.axis);
    }
  }
  if (p.bars.length) body.push(...barShapes(p, a, xs, ys, colorOf));
  for (const t of p.lines) body.push(...lineShapes(t, xs, ys, escapeXml(colorOf(t))));
  out.push(`<g clip-path="url(#${uid}-clip)">${body.join("")}</g>`);

  out.push(
    `<g stroke="#444" stroke-width="1"><line x1="${f1(x0)}" y1="${f1(y0)}" x2="${f1(x1)}" y2="${f1(y0)}"/>` +
      `<line x1="${f1(x0)}" y1="${f1(y1)}" x2="${f1(x0)}" y2="${f1(y0)}"/></g>`,
  );
  out.push(`<g font-size="${TICK_FONT}" fill="#444">${axis.join("")}</g>`);
  if (p.xTitle)
    out.push(
      `<text x="${f1((x0 + x1) / 2)}" y="${H - 8}" text-anchor="middle" font-size="12" fill="#222">` +
        `${escapeXml(p.xTitle)}</text>`,
    );
  if (p.yTitle) {
    const cy = f1((y0 + y1) / 2);
    out.push(
      `<text x="14" y="${cy}" text-anchor="middle" font-size="12" fill="#222" transform="rotate(-90 14 ${cy})">` +
        `${escapeXml(p.yTitle)}</text>`,
    );
  }
  if (p.showLegend && p.legend.length) out.push(legend(p, a, colorOf));
  out.push("</svg>");
  return out.join("");
}
