/**
 * Axes for the static SVG: a scale maps data to pixels and carries its ticks. Linear scales tick at round steps
 * (1, 2, 2.5 or 5 times a power of ten), log scales at powers of ten (or 1-2-5 within a decade), category scales at
 * band centres, as plotly.js does.
 */
import { formatNumber } from "@vlab/core";
import { num, type Datum } from "./figure.js";

export interface Scale {
  kind: "linear" | "log" | "category";
  /** data value → pixel */
  map(v: Datum): number;
  ticks: Array<{ pos: number; label: string }>;
  /** band width in pixels for category scales */
  band: number;
  /** Length of the axis in data units: hi - lo (log10 units on a log axis), the number of categories. */
  span: number;
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

/** Pixels p0..p1 for data lo..hi. */
export function linearScale(lo: number, hi: number, p0: number, p1: number): Scale {
  const map = (v: Datum) => p0 + ((num(v) - lo) / (hi - lo)) * (p1 - p0);
  const ticks = niceTicks(Math.min(lo, hi), Math.max(lo, hi)).map((t) => ({ pos: map(t), label: formatNumber(t, 4) }));
  return { kind: "linear", map, ticks, band: 0, categories: [], span: Math.abs(hi - lo) };
}

/** Pixels p0..p1 for data 10^lo..10^hi (`lo`, `hi` are log10 values, as plotly's log-axis range). */
export function logScale(lo: number, hi: number, p0: number, p1: number): Scale {
  const map = (v: Datum) => p0 + ((Math.log10(num(v)) - lo) / (hi - lo)) * (p1 - p0);
  const a = Math.min(lo, hi);
  const b = Math.max(lo, hi);
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
    span: Math.abs(hi - lo),
  };
}

/** A category's tick label: long numbers (a heatmap's coordinates) are shortened to 3 significant digits. */
export function categoryLabel(c: string): string {
  const v = Number(c);
  return c.length > 6 && c.trim() !== "" && Number.isFinite(v) ? formatNumber(v, 3) : c;
}

/** Every how many categories a tick is drawn: all up to 30, else about 10. */
export function categoryTickEvery(n: number): number {
  return n <= 30 ? 1 : Math.ceil(n / 10);
}

/** One band of (p1 - p0) / n pixels per category, the category at its centre. */
export function categoryScale(categories: string[], p0: number, p1: number): Scale {
  const n = Math.max(1, categories.length);
  const band = (p1 - p0) / n;
  const index = new Map(categories.map((c, i) => [c, i]));
  const map = (v: Datum) => p0 + ((index.get(String(v)) ?? NaN) + 0.5) * band;
  const every = categoryTickEvery(n);
  const ticks = categories.filter((_, i) => i % every === 0).map((c) => ({ pos: map(c), label: categoryLabel(c) }));
  return { kind: "category", map, ticks, band, categories, span: n };
}

/** [min, max] of the finite values (positive ones only for a log axis), or undefined when there are none. */
export function extent(values: number[], positiveOnly: boolean): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (positiveOnly && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/** Widens [lo, hi] by `frac` of its length on each side; a single value gets ±10% (±1 around 0). */
export function pad([lo, hi]: [number, number], frac: number): [number, number] {
  if (hi === lo) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  const d = (hi - lo) * frac;
  return [lo - d, hi + d];
}
