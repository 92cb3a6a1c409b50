/**
 * Heatmaps in the static SVG, drawn as plotly.js draws them: a cell per value, centred on its coordinate. On a
 * category axis a cell fills its category's band; on a numeric axis (numbers as `x` / `y`, or none: 0, 1, 2, ...)
 * a cell spans the midpoints between its coordinate and its neighbours' ("bricks", the outer ones extended by half
 * a step), and the axis range is exactly the outer edges. Colours are the trace's colorscale as plotly reads it
 * (plotly's named stops, `reversescale`) between zmin and zmax (the data's min and max where unset); cell text is
 * the trace's own `text` where `texttemplate` is `%{text}`, else the value as core's formatNumber writes it.
 */
import { escapeXml, formatNumber } from "@vlab/core";
import { colorAt, luminance, resolveColorscale, type Colorscale } from "./colors.js";
import { num, type Datum, type Trace } from "./figure.js";
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

/** One rectangle per finite cell, its text written in it when asked and the cell is large enough. */
export function heatmapCells(t: Trace, xs: Scale, ys: Scale): string[] {
  const hx = heatX(t);
  const hy = heatY(t);
  const xe = xs.kind === "category" ? [] : cellEdges(hx.map(num));
  const ye = ys.kind === "category" ? [] : cellEdges(hy.map(num));
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
