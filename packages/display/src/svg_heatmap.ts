/**
 * Heatmaps in the static SVG, drawn as plotly.js draws them: a cell per value, centred on its coordinate. On a
 * category axis a cell fills its category's band; on a numeric axis (numbers as `x` / `y`, or none: 0, 1, 2, ...)
 * a cell spans the midpoints between its coordinate and its neighbours' ("bricks", the outer ones extended by half
 * a step), and the axis range is exactly the outer edges. Colours are the trace's colorscale as plotly reads it
 * (plotly's named stops, `reversescale`) between zmin and zmax (the data's min and max where unset); cell text is
 * the trace's own `text` where `texttemplate` is `%{text}`, else the value as core's formatNumber writes it.
 *
 * A large heatmap on a regular grid (more than RASTER_MIN_CELLS cells, no cell text) is embedded as a PNG of one
 * pixel per cell (a data URI, so the SVG stays self-contained), as plotly.js draws heatmaps as an image too: a
 * 60×60 decision boundary is then ~10 KB instead of ~260 KB of `<rect>`s.
 */
import { escapeXml, formatNumber } from "@vlab/core";
import { colorAt, luminance, resolveColorscale, rgbAt, type Colorscale } from "./colors.js";
import { num, type Datum, type Trace } from "./figure.js";
import { encodePngRgba } from "./png.js";
import { extent, linearScale, type Scale } from "./scales.js";

/** A pixel coordinate with one decimal. */
export function f1(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/** A heatmap's column coordinates: its `x`, else 0, 1, 2, ... */
export const heatX = (t: Trace): Datum[] => t.x ?? Array.from({ length: t.z?.[0]?.length ?? 0 }, (_, i) => i);
/** A heatmap's row coordinates: its `y`, else 0, 1, 2, ... */
export const heatY = (t: Trace): Datum[] => t.y ?? Array.from({ length: t.z?.length ?? 0 }, (_, i) => i);

/** The n + 1 cell edges around n numeric coordinates (midpoints; the ends half a step out; ±0.5 for one). */
export function cellEdges(coords: readonly number[]): number[] {
  const n = coords.length;
  const at = (i: number) => coords[i] ?? NaN;
  if (n === 0) return [];
  if (n === 1) return [at(0) - 0.5, at(0) + 0.5];
  const edges = [at(0) - (at(1) - at(0)) / 2];
  for (let i = 1; i < n; i++) edges.push((at(i - 1) + at(i)) / 2);
  edges.push(at(n - 1) + (at(n - 1) - at(n - 2)) / 2);
  return edges;
}

/** The numeric extent a heatmap's cells cover along x or y (for the axis range). */
export function heatEdges(t: Trace, axis: "x" | "y"): number[] {
  return cellEdges((axis === "x" ? heatX(t) : heatY(t)).map(num));
}

/** zmin..zmax of a heatmap: its own, else its data's. */
export function zRange(t: Trace): [number, number] {
  const flat = (t.z ?? []).flat().map((v) => (v === null ? NaN : v));
  const e = extent(flat, false);
  return [t.zmin ?? e?.[0] ?? 0, t.zmax ?? e?.[1] ?? 1];
}

/** The stops a heatmap is drawn with (its colorscale and reversescale, as plotly.js reads them). */
export function heatScale(t: Trace): Colorscale {
  return resolveColorscale(t.colorscale, t.reversescale === true);
}

/** Pixel interval [from, to] of cell `i` along a scale (a category band, or the bricks between edges). */
function cellSpan(scale: Scale, coords: Datum[], edges: number[], i: number): [number, number] {
  if (scale.kind === "category") {
    const c = scale.map(String(coords[i]));
    return [c - scale.band / 2, c + scale.band / 2];
  }
  const a = scale.map(edges[i] ?? NaN);
  const b = scale.map(edges[i + 1] ?? NaN);
  return a <= b ? [a, b] : [b, a];
}

/** The text written in cell (r, c), or "" when the trace asks for none. */
function cellLabel(t: Trace, r: number, c: number, v: number): string {
  if (typeof t.texttemplate !== "string" || t.texttemplate.length === 0) return "";
  const text = t.text;
  if (t.texttemplate === "%{text}" && Array.isArray(text)) {
    const row: unknown = text[r];
    const cell: unknown = Array.isArray(row) ? row[c] : row;
    return cell === undefined || cell === null ? "" : String(cell);
  }
  return formatNumber(v, 3);
}

/** Heatmaps with more cells than this are embedded as a PNG (when on a regular grid and without cell text). */
export const RASTER_MIN_CELLS = 1024;

/** Whether pixel spans tile one regular grid: equal widths, each starting where the previous ends (either way). */
function regular(spans: Array<[number, number]>): boolean {
  const first = spans[0];
  if (first === undefined) return false;
  const w = first[1] - first[0];
  if (!(w > 0)) return false;
  const step = spans.length > 1 ? (spans[1]?.[0] ?? NaN) - first[0] : w;
  if (!(Math.abs(Math.abs(step) - w) <= w * 0.01)) return false;
  return spans.every(([a, b], i) => Math.abs(b - a - w) <= w * 0.01 && Math.abs(a - (first[0] + i * step)) <= w * 0.01);
}

/** The heatmap as one `<image>` of one pixel per cell, or undefined where it is not a regular grid. */
function rasterCells(t: Trace, cols: Array<[number, number]>, rows: Array<[number, number]>): string | undefined {
  const z = t.z ?? [];
  if (!regular(cols) || !regular(rows) || rows.length !== z.length) return undefined;
  const [W, H] = [cols.length, rows.length];
  const flipX = W > 1 && (cols[1]?.[0] ?? 0) < (cols[0]?.[0] ?? 0);
  const flipY = H > 1 && (rows[1]?.[0] ?? 0) < (rows[0]?.[0] ?? 0);
  const cs = heatScale(t);
  const [zlo, zhi] = zRange(t);
  const rgba = new Uint8Array(W * H * 4); // transparent where a value is missing
  for (const [r, row] of z.entries()) {
    for (const [c, v] of row.entries()) {
      if (v === null || !Number.isFinite(v) || c >= W) continue;
      const p = (flipY ? H - 1 - r : r) * W + (flipX ? W - 1 - c : c);
      rgba.set([...rgbAt(cs, zhi > zlo ? (v - zlo) / (zhi - zlo) : 0.5), 255], p * 4);
    }
  }
  const xs = cols.flat();
  const ys = rows.flat();
  const [left, top] = [Math.min(...xs), Math.min(...ys)];
  const [w, h] = [Math.max(...xs) - left, Math.max(...ys) - top];
  const uri = `data:image/png;base64,${encodePngRgba(W, H, rgba).toString("base64")}`;
  return (
    `<image x="${f1(left)}" y="${f1(top)}" width="${f1(w)}" height="${f1(h)}" preserveAspectRatio="none" ` +
    `style="image-rendering:pixelated" xlink:href="${uri}"/>`
  );
}

/**
 * The cells of a heatmap: one rectangle per finite cell, its text written in it when asked and the cell is large
 * enough; or one embedded PNG for a large regular one (see the top of this file).
 */
export function heatmapCells(t: Trace, xs: Scale, ys: Scale): string[] {
  const hx = heatX(t);
  const hy = heatY(t);
  const xe = xs.kind === "category" ? [] : cellEdges(hx.map(num));
  const ye = ys.kind === "category" ? [] : cellEdges(hy.map(num));
  const z = t.z ?? [];
  const wantsText = typeof t.texttemplate === "string" && t.texttemplate.length > 0;
  if (!wantsText && z.length * (z[0]?.length ?? 0) > RASTER_MIN_CELLS) {
    const cols = hx.map((_, c) => cellSpan(xs, hx, xe, c));
    const rows = hy.slice(0, z.length).map((_, r) => cellSpan(ys, hy, ye, r));
    const image = rasterCells(t, cols, rows);
    if (image !== undefined) return [image];
  }
  const cs = heatScale(t);
  const [zlo, zhi] = zRange(t);
  const out: string[] = [];
  for (const [r, row] of (t.z ?? []).entries()) {
    if (hy[r] === undefined) continue; // a value without a coordinate is not drawn
    const [top, bottom] = cellSpan(ys, hy, ye, r);
    for (const [c, v] of row.entries()) {
      if (v === null || !Number.isFinite(v) || hx[c] === undefined) continue;
      const [left, right] = cellSpan(xs, hx, xe, c);
      if (![left, right, top, bottom].every(Number.isFinite)) continue;
      const color = colorAt(cs, zhi > zlo ? (v - zlo) / (zhi - zlo) : 0.5);
      const [w, h] = [right - left, bottom - top];
      out.push(`<rect x="${f1(left)}" y="${f1(top)}" width="${f1(w + 0.3)}" height="${f1(h + 0.3)}" fill="${color}"/>`);
      const label = cellLabel(t, r, c, v);
      if (label && w >= 14 && h >= 10) {
        const fs = Math.max(7, Math.min(12, Math.floor(Math.min(w / Math.max(2, label.length * 0.6), h / 1.6))));
        const ink = luminance(color) < 0.5 ? "#fff" : "#111";
        out.push(
          `<text x="${f1((left + right) / 2)}" y="${f1((top + bottom) / 2 + fs / 3)}" text-anchor="middle" ` +
            `font-size="${fs}" fill="${ink}">${escapeXml(label)}</text>`,
        );
      }
    }
  }
  return out;
}

/** The colour bar at x = `left`, from y0 (bottom, zmin) to y1 (top, zmax): a gradient with ticks. */
export function colorbar(uid: string, left: number, y0: number, y1: number, t: Trace) {
  const cs = heatScale(t);
  const [zlo, zhi] = zRange(t);
  const cbw = 14;
  const stops = cs.map(([p, c]) => `<stop offset="${p}" stop-color="${c}"/>`).join("");
  const defs = `<defs><linearGradient id="${uid}-cb" x1="0" y1="1" x2="0" y2="0">${stops}</linearGradient></defs>`;
  const axis = [
    `<rect x="${f1(left)}" y="${f1(y1)}" width="${cbw}" height="${f1(y0 - y1)}" fill="url(#${uid}-cb)" ` +
      `stroke="#888" stroke-width="0.5"/>`,
  ];
  const scale = linearScale(zlo, zhi === zlo ? zlo + 1 : zhi, y0, y1);
  for (const tk of scale.ticks) {
    if (tk.pos < y1 - 0.5 || tk.pos > y0 + 0.5) continue;
    const y = f1(tk.pos);
    axis.push(`<line x1="${f1(left + cbw)}" y1="${y}" x2="${f1(left + cbw + 3)}" y2="${y}" stroke="#444"/>`);
    axis.push(`<text x="${f1(left + cbw + 5)}" y="${f1(tk.pos + 4)}">${escapeXml(tk.label)}</text>`);
  }
  return { defs, axis };
}
