/**
 * Colours for the static SVG and the image overlays: plotly.js's named colorscales (copied from plotly.js 3's
 * `src/components/colorscale/scales.js`, so a name means the same colours in both renderings) and the colour at a
 * point of a scale, interpolated in RGB as plotly.js does.
 *
 * Orientation is plotly's: a scale runs from its stop at 0 (the lowest z) to its stop at 1 (the highest z). Several
 * of plotly's sequential scales start DARK (Blues, Greens, Greys, YlGnBu, YlOrRd: dark at 0, light at 1), unlike
 * matplotlib's and ColorBrewer's of the same name; `reversescale: true` flips a scale as plotly's `flipScale` does
 * (stop p with colour c becomes 1 - p with c). plotly.js knows no `_r` suffix (an unknown name falls back to its
 * default), so vlab turns `"Blues_r"` into `"Blues"` with `reversescale` toggled before plotly sees it.
 */

export type Colorscale = Array<[number, string]>;

/** plotly.js's named colorscales, exactly (names are case-sensitive there too). */
export const PLOTLY_COLORSCALES: Readonly<Record<string, Colorscale>> = {
  Greys: [
    [0, "rgb(0,0,0)"],
    [1, "rgb(255,255,255)"],
  ],
  YlGnBu: [
    [0, "rgb(8,29,88)"],
    [0.125, "rgb(37,52,148)"],
    [0.25, "rgb(34,94,168)"],
    [0.375, "rgb(29,145,192)"],
    [0.5, "rgb(65,182,196)"],
    [0.625, "rgb(127,205,187)"],
    [0.75, "rgb(199,233,180)"],
    [0.875, "rgb(237,248,217)"],
    [1, "rgb(255,255,217)"],
  ],
  Greens: [
    [0, "rgb(0,68,27)"],
    [0.125, "rgb(0,109,44)"],
    [0.25, "rgb(35,139,69)"],
    [0.375, "rgb(65,171,93)"],
    [0.5, "rgb(116,196,118)"],
    [0.625, "rgb(161,217,155)"],
    [0.75, "rgb(199,233,192)"],
    [0.875, "rgb(229,245,224)"],
    [1, "rgb(247,252,245)"],
  ],
  YlOrRd: [
    [0, "rgb(128,0,38)"],
    [0.125, "rgb(189,0,38)"],
    [0.25, "rgb(227,26,28)"],
    [0.375, "rgb(252,78,42)"],
    [0.5, "rgb(253,141,60)"],
    [0.625, "rgb(254,178,76)"],
    [0.75, "rgb(254,217,118)"],
    [0.875, "rgb(255,237,160)"],
    [1, "rgb(255,255,204)"],
  ],
  Bluered: [
    [0, "rgb(0,0,255)"],
    [1, "rgb(255,0,0)"],
  ],
  RdBu: [
    [0, "rgb(5,10,172)"],
    [0.35, "rgb(106,137,247)"],
    [0.5, "rgb(190,190,190)"],
    [0.6, "rgb(220,170,132)"],
    [0.7, "rgb(230,145,90)"],
    [1, "rgb(178,10,28)"],
  ],
  Reds: [
    [0, "rgb(220,220,220)"],
    [0.2, "rgb(245,195,157)"],
    [0.4, "rgb(245,160,105)"],
    [1, "rgb(178,10,28)"],
  ],
  Blues: [
    [0, "rgb(5,10,172)"],
    [0.35, "rgb(40,60,190)"],
    [0.5, "rgb(70,100,245)"],
    [0.6, "rgb(90,120,245)"],
    [0.7, "rgb(106,137,247)"],
    [1, "rgb(220,220,220)"],
  ],
  Picnic: [
    [0, "rgb(0,0,255)"],
    [0.1, "rgb(51,153,255)"],
    [0.2, "rgb(102,204,255)"],
    [0.3, "rgb(153,204,255)"],
    [0.4, "rgb(204,204,255)"],
    [0.5, "rgb(255,255,255)"],
    [0.6, "rgb(255,204,255)"],
    [0.7, "rgb(255,153,255)"],
    [0.8, "rgb(255,102,204)"],
    [0.9, "rgb(255,102,102)"],
    [1, "rgb(255,0,0)"],
  ],
  Rainbow: [
    [0, "rgb(150,0,90)"],
    [0.125, "rgb(0,0,200)"],
    [0.25, "rgb(0,25,255)"],
    [0.375, "rgb(0,152,255)"],
    [0.5, "rgb(44,255,150)"],
    [0.625, "rgb(151,255,0)"],
    [0.75, "rgb(255,234,0)"],
    [0.875, "rgb(255,111,0)"],
    [1, "rgb(255,0,0)"],
  ],
  Portland: [
    [0, "rgb(12,51,131)"],
    [0.25, "rgb(10,136,186)"],
    [0.5, "rgb(242,211,56)"],
    [0.75, "rgb(242,143,56)"],
    [1, "rgb(217,30,30)"],
  ],
  Jet: [
    [0, "rgb(0,0,131)"],
    [0.125, "rgb(0,60,170)"],
    [0.375, "rgb(5,255,255)"],
    [0.625, "rgb(255,255,0)"],
    [0.875, "rgb(250,0,0)"],
    [1, "rgb(128,0,0)"],
  ],
  Hot: [
    [0, "rgb(0,0,0)"],
    [0.3, "rgb(230,0,0)"],
    [0.6, "rgb(255,210,0)"],
    [1, "rgb(255,255,255)"],
  ],
  Blackbody: [
    [0, "rgb(0,0,0)"],
    [0.2, "rgb(230,0,0)"],
    [0.4, "rgb(230,210,0)"],
    [0.7, "rgb(255,255,255)"],
    [1, "rgb(160,200,255)"],
  ],
  Earth: [
    [0, "rgb(0,0,130)"],
    [0.1, "rgb(0,180,180)"],
    [0.2, "rgb(40,210,40)"],
    [0.4, "rgb(230,230,50)"],
    [0.6, "rgb(120,70,20)"],
    [1, "rgb(255,255,255)"],
  ],
  Electric: [
    [0, "rgb(0,0,0)"],
    [0.15, "rgb(30,0,100)"],
    [0.4, "rgb(120,0,100)"],
    [0.6, "rgb(160,90,0)"],
    [0.8, "rgb(230,200,0)"],
    [1, "rgb(255,250,220)"],
  ],
  Viridis: [
    [0, "#440154"],
    [0.062745, "#48186a"],
    [0.12549, "#472d7b"],
    [0.188235, "#424086"],
    [0.25098, "#3b528b"],
    [0.313725, "#33638d"],
    [0.376471, "#2c728e"],
    [0.439216, "#26828e"],
    [0.501961, "#21918c"],
    [0.564706, "#1fa088"],
    [0.627451, "#28ae80"],
    [0.690196, "#3fbc73"],
    [0.752941, "#5ec962"],
    [0.815686, "#84d44b"],
    [0.878431, "#addc30"],
    [0.941176, "#d8e219"],
    [1, "#fde725"],
  ],
  Cividis: [
    [0, "rgb(0,32,76)"],
    [0.058824, "rgb(0,42,102)"],
    [0.117647, "rgb(0,52,110)"],
    [0.176471, "rgb(39,63,108)"],
    [0.235294, "rgb(60,74,107)"],
    [0.294118, "rgb(76,85,107)"],
    [0.352941, "rgb(91,95,109)"],
    [0.411765, "rgb(104,106,112)"],
    [0.470588, "rgb(117,117,117)"],
    [0.529412, "rgb(131,129,120)"],
    [0.588235, "rgb(146,140,120)"],
    [0.647059, "rgb(161,152,118)"],
    [0.705882, "rgb(176,165,114)"],
    [0.764706, "rgb(192,177,109)"],
    [0.823529, "rgb(209,191,102)"],
    [0.882353, "rgb(225,204,92)"],
    [0.941176, "rgb(243,219,79)"],
    [1, "rgb(255,233,69)"],
  ],
};

/**
 * The scales that plotly.js draws dark at 0 and light at 1 although they read as "more is darker" elsewhere
 * (ColorBrewer, matplotlib): vlab's `heatmap()` reverses these by default so that large values are dark.
 */
export const DARK_FIRST_SCALES: ReadonlySet<string> = new Set(["Blues", "Greens", "Greys", "YlGnBu", "YlOrRd"]);

const VIRIDIS: Colorscale = PLOTLY_COLORSCALES.Viridis ?? [];

/** `#rrggbb` or `rgb(r, g, b)` as [r, g, b]; anything else is grey. */
export function parseColor(c: string): [number, number, number] {
  const hex = /^#([0-9a-f]{6})$/i.exec(c.trim())?.[1];
  if (hex !== undefined) {
    const n = parseInt(hex, 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const r = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/i.exec(c.trim());
  if (r) return [Number(r[1]), Number(r[2]), Number(r[3])];
  return [128, 128, 128];
}

/** plotly's `flipScale`: the scale read from 1 to 0. */
export function flipScale(scale: Colorscale): Colorscale {
  return scale.map(([p, c]): [number, string] => [1 - p, c]).reverse();
}

/** Whether stops are a scale plotly.js accepts: at least two, the first at 0, the last at 1, positions rising. */
function isValidStops(cs: Colorscale): boolean {
  const first = cs[0];
  const last = cs[cs.length - 1];
  if (cs.length < 2 || first === undefined || last === undefined || first[0] !== 0 || last[0] !== 1) return false;
  return cs.every(([p], i) => i === 0 || p >= (cs[i - 1]?.[0] ?? 0));
}

/**
 * A colorscale as plotly.js would read it, with vlab's `_r` suffix spelled plotly's way: a known name (`_r` stripped,
 * `reversed` toggled), stops, or undefined (plotly's default applies).
 */
export function plotlyScale(
  cs: string | Colorscale | undefined,
  reversescale = false,
): { colorscale?: string | Colorscale; reversescale: boolean } {
  if (typeof cs === "string") {
    const suffixed = cs.endsWith("_r") && PLOTLY_COLORSCALES[cs.slice(0, -2)] !== undefined;
    const name = suffixed ? cs.slice(0, -2) : cs;
    if (PLOTLY_COLORSCALES[name] !== undefined) return { colorscale: name, reversescale: reversescale !== suffixed };
    return { reversescale };
  }
  if (Array.isArray(cs) && isValidStops(cs)) return { colorscale: cs, reversescale };
  return { reversescale };
}

/**
 * The stops a trace is drawn with, as plotly draws it: its own stops or a plotly name (`_r` flips it), Viridis where
 * it has none, then flipped when `reversescale` is set.
 */
export function resolveColorscale(cs: string | Colorscale | undefined, reversescale = false): Colorscale {
  const p = plotlyScale(cs, reversescale);
  const stops = typeof p.colorscale === "string" ? PLOTLY_COLORSCALES[p.colorscale] : p.colorscale;
  const base = stops ?? VIRIDIS;
  return p.reversescale ? flipScale(base) : base;
}

/** Colour at t ∈ [0, 1] of a colorscale as [r, g, b] (0..255, rounded). */
export function rgbAt(scale: Colorscale, t: number): [number, number, number] {
  const first = scale[0];
  if (first === undefined) throw new Error("colorAt(): the colorscale has no stops");
  const x = Math.min(1, Math.max(0, Number.isNaN(t) ? 0 : t));
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
  return [mix(ar, br), mix(ag, bg), mix(ab, bb)];
}

/** Colour at t ∈ [0, 1] of a colorscale, as `rgb(r,g,b)`. */
export function colorAt(scale: Colorscale, t: number): string {
  const [r, g, b] = rgbAt(scale, t);
  return `rgb(${r},${g},${b})`;
}

/** Perceived brightness of an `rgb(...)` or `#rrggbb` colour in [0, 1] (to pick black or white text on it). */
export function luminance(rgb: string): number {
  const [r, g, b] = parseColor(rgb);
  return (0.299 * r + 0.587 * g + 0.114 * b) / 255;
}
