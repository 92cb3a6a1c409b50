/**
 * Colours for the static SVG: plotly's named colorscales (a list of [position, colour] stops) and the colour at a
 * point of one, interpolated in RGB as plotly.js does.
 */

export type Colorscale = Array<[number, string]>;

const COLORSCALES: Record<string, Colorscale> = {
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

const VIRIDIS: Colorscale = COLORSCALES.Viridis ?? [];

/** `#rrggbb` or `rgb(r, g, b)` as [r, g, b]; anything else is grey. */
function parseColor(c: string): [number, number, number] {
  const hex = /^#([0-9a-f]{6})$/i.exec(c.trim())?.[1];
  if (hex !== undefined) {
    const n = parseInt(hex, 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const r = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/i.exec(c.trim());
  if (r) return [Number(r[1]), Number(r[2]), Number(r[3])];
  return [128, 128, 128];
}

/** A trace's colorscale: its own stops, a name (`_r` reverses it), or Viridis. */
export function resolveColorscale(cs: string | Colorscale | undefined): Colorscale {
  if (Array.isArray(cs) && cs.length >= 2) return cs;
  if (typeof cs === "string") {
    const reversed = cs.endsWith("_r");
    const base = COLORSCALES[reversed ? cs.slice(0, -2) : cs];
    if (base) return reversed ? base.map(([p, c]): [number, string] => [1 - p, c]).reverse() : base;
  }
  return VIRIDIS;
}

/** Colour at t ∈ [0, 1] of a colorscale, as `rgb(r,g,b)`. */
export function colorAt(scale: Colorscale, t: number): string {
  const first = scale[0];
  if (first === undefined) throw new Error("colorAt(): the colorscale has no stops");
  const x = Math.min(1, Math.max(0, t));
  // the segment scale[i]..scale[i + 1] that holds x (the first or last one beyond the stops)
  let i = 0;
  while (i < scale.length - 2) {
    const next = scale[i + 1];
    if (next === undefined || x <= next[0]) break;
    i++;
  }
  const [p0, c0] = scale[i] ?? first;
  const [p1, c1] = scale[i + 1] ?? scale[i] ?? first;
  const f = p1 > p0 ? (x - p0) / (p1 - p0) : 0;
  const [ar, ag, ab] = parseColor(c0);
  const [br, bg, bb] = parseColor(c1);
  const mix = (a: number, b: number) => Math.round(a + (b - a) * f);
  return `rgb(${mix(ar, br)},${mix(ag, bg)},${mix(ab, bb)})`;
}

/** Perceived brightness of an `rgb(...)` or `#rrggbb` colour in [0, 1] (to pick black or white text on it). */
export function luminance(rgb: string): number {
  const [r, g, b] = parseColor(rgb);
  return (0.299 * r + 0.587 * g + 0.114 * b) / 255;
}
