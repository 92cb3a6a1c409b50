/**
 * The plotly figure and its SVG fallback must say the same thing: the colours at the ends of a heatmap's scale
 * (checked against the colorscales of the INSTALLED plotly.js, read from its bundle, and its reversescale rule),
 * numeric axes with short tick labels, whole-number cell text, square cells for square matrices.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import sharp from "sharp";
import { heatmap, figure } from "../src/plot.js";
import { figureSvg } from "../src/svg.js";
import { figureJson, type Trace } from "../src/figure.js";
import { luminance } from "../src/colors.js";
import { checkXml } from "./helpers.js";

type Stops = Array<[number, string]>;

/** plotly.js's own named colorscales, cut out of the installed bundle (`{Greys:[[0,"rgb(0,0,0)"],...`). */
function plotlyScales(): Record<string, Stops> {
  const file = createRequire(import.meta.url).resolve("plotly.js-dist-min");
  const src = fs.readFileSync(file, "utf8");
  const start = src.indexOf('{Greys:[[0,"rgb(0,0,0)"]');
  expect(start).toBeGreaterThan(0);
  let depth = 0;
  let end = start;
  for (; end < src.length; end++) {
    if (src[end] === "{") depth++;
    else if (src[end] === "}" && --depth === 0) break;
  }
  const quoted = src.slice(start, end + 1).replace(/([{,])([A-Za-z]+):/g, '$1"$2":');
  return JSON.parse(quoted.replace(/([[,])\.(\d)/g, "$10.$2")) as Record<string, Stops>;
}

/** The colour plotly.js gives z = zmin (end 0) or z = zmax (end 1) of a trace: its stops, flipped by reversescale. */
function plotlyEnd(trace: Trace, end: 0 | 1): string {
  const scales = plotlyScales();
  const name = trace.colorscale;
  expect(typeof name).toBe("string");
  const stops = scales[name as string];
  expect(stops, `plotly.js knows no colorscale "${String(name)}"`).toBeDefined();
  const flipped = trace.reversescale === true;
  const stop = (end === 1) !== flipped ? stops![stops!.length - 1]! : stops![0]!;
  return normalise(stop[1]);
}

function normalise(c: string): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(c)?.[1];
  if (hex) {
    const n = parseInt(hex, 16);
    return `rgb(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255})`;
  }
  return c.replace(/\s+/g, "");
}

interface Cell {
  x: number;
  y: number;
  w: number;
  h: number;
  fill: string;
}

/** The heatmap cells of an SVG, in row-major order (the only rects filled with `rgb(...)`). */
function cells(svg: string): Cell[] {
  const re = /<rect x="([\d.-]+)" y="([\d.-]+)" width="([\d.]+)" height="([\d.]+)" fill="(rgb\([^"]+\))"\/>/g;
  return [...svg.matchAll(re)].map((m) => ({ x: +m[1]!, y: +m[2]!, w: +m[3]!, h: +m[4]!, fill: m[5]! }));
}

/** The tick labels of the axes (the text in the 11px group). */
function tickLabels(svg: string): string[] {
  const group = /<g font-size="11" fill="#444">(.*?)<\/g>/.exec(svg)?.[1] ?? "";
  return [...group.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

const classes = ["circle", "square", "triangle"];
const counts = [
  [83, 2, 0],
  [5, 70, 1],
  [0, 3, 90],
];

describe("plotly and the SVG fallback agree", () => {
  it("confusion matrix with Blues: large counts dark in both, the same end colours, whole-number text", () => {
    const fig = heatmap(counts, { x: classes, y: classes, colorscale: "Blues", showValues: true });
    const json = figureJson(fig);
    const trace = json.data[0]!;
    expect(trace).toMatchObject({ colorscale: "Blues", reversescale: true, texttemplate: "%{text}" });
    expect(trace.text).toEqual([
      ["83", "2", "0"],
      ["5", "70", "1"],
      ["0", "3", "90"],
    ]);
    const svg = figureSvg(fig);
    checkXml(svg);
    const cs = cells(svg);
    expect(cs).toHaveLength(9);
    const [max, min] = [cs[8]!, cs[2]!]; // 90 and 0
    expect(max.fill).toBe(plotlyEnd(trace, 1));
    expect(min.fill).toBe(plotlyEnd(trace, 0));
    expect(luminance(max.fill)).toBeLessThan(luminance(min.fill)); // the diagonal is dark
    expect(svg).toContain(">83</text>");
    expect(svg).not.toMatch(/>\d+\.0<\/text>|>0\.00<\/text>/);
    // square matrix → square cells in both
    expect(json.layout.yaxis).toMatchObject({ scaleanchor: "x", scaleratio: 1 });
    for (const c of cs) expect(Math.abs(c.w - c.h)).toBeLessThan(0.5);
    // row 0 at the top
    expect(cs[0]!.y).toBeLessThan(cs[3]!.y);
  });

  it("RdBu, Viridis and a `_r` name: the SVG's min and max cells are plotly's end colours", () => {
    const z = [
      [-1, 0.25],
      [0.5, 1],
    ];
    for (const colorscale of ["RdBu", "Viridis", "Hot", "Greys"]) {
      const fig = heatmap(z, { colorscale });
      const trace = figureJson(fig).data[0]!;
      const cs = cells(figureSvg(fig));
      expect([cs[0]!.fill, cs[3]!.fill], colorscale).toEqual([plotlyEnd(trace, 0), plotlyEnd(trace, 1)]);
    }
    const raw = figure({ data: [{ type: "heatmap", z, colorscale: "RdBu_r" }] });
    const trace = figureJson(raw).data[0]!;
    expect(trace).toMatchObject({ colorscale: "RdBu", reversescale: true }); // plotly.js knows no "_r"
    const cs = cells(figureSvg(raw));
    expect([cs[0]!.fill, cs[3]!.fill]).toEqual([plotlyEnd(trace, 0), plotlyEnd(trace, 1)]);
    expect(cs[0]!.fill).toBe("rgb(178,10,28)"); // RdBu reversed: red at the minimum
  });

  it("numeric coordinates stay numeric: no category axis, short tick labels, cells centred on them", async () => {
    const G = 60;
    const axis = Array.from({ length: G }, (_, i) => -1.1 + (2.2 * i) / (G - 1));
    const z = axis.map((gy) => axis.map((gx) => 1 / (1 + Math.exp(-4 * (gx + gy)))));
    const fig = heatmap(z, { x: axis, y: axis, colorscale: "RdBu", reverseY: false, title: "P(arm 2)" });
    const json = figureJson(fig);
    expect(json.layout.xaxis?.type).toBeUndefined();
    expect(json.layout.yaxis?.type).toBeUndefined();
    expect(json.data[0]!.x).toEqual(axis); // numbers, never strings
    const svg = figureSvg(fig);
    checkXml(svg);
    const labels = tickLabels(svg);
    expect(labels.length).toBeGreaterThanOrEqual(6);
    for (const l of labels) expect(l).toMatch(/^-?\d+(\.\d{1,2})?$/);
    expect(labels).toContain("0");
    // 3600 cells are one embedded PNG of one pixel per cell (as plotly draws heatmaps), not 3600 rects
    expect(cells(svg)).toHaveLength(0);
    const img =
      /<image x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"[^>]*href="data:image\/png;base64,([^"]+)"/.exec(
        svg,
      );
    expect(img).not.toBeNull();
    expect(Math.abs(+img![3]! - +img![4]!)).toBeLessThan(0.5); // square: the same range on x and y
    expect(svg.length).toBeLessThan(40_000);
    const { data, info } = await sharp(Buffer.from(img![5]!, "base64")).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([G, G]);
    const rgb = (x: number, y: number) => {
      const i = (y * G + x) * info.channels;
      return `rgb(${data[i]},${data[i + 1]},${data[i + 2]})`;
    };
    const trace = json.data[0]!;
    const flat = z.flat();
    const [lo, hi] = [flat.indexOf(Math.min(...flat)), flat.indexOf(Math.max(...flat))];
    // no reverseY: row 0 (y = -1.1) is the bottom row of the picture
    const at = (k: number) => rgb(k % G, G - 1 - Math.floor(k / G));
    expect([at(lo), at(hi)]).toEqual([plotlyEnd(trace, 0), plotlyEnd(trace, 1)]);
  });

  it("long category labels are cut the same way in both (plotly ticktext, SVG tick text)", () => {
    const long = ["a small red circle on the left", "a large blue square on the right"];
    const fig = heatmap(
      [
        [1, 0],
        [0, 1],
      ],
      { x: long, y: ["image 0", "image 1"] },
    );
    const x = figureJson(fig).layout.xaxis!;
    expect(x).toMatchObject({ type: "category", tickmode: "array", tickvals: long });
    const cut = x.ticktext as string[];
    expect(cut).toEqual(["a small red circle on t…", "a large blue square on …"]);
    const labels = tickLabels(figureSvg(fig));
    for (const c of cut) expect(labels).toContain(c);
    expect(figureJson(fig).layout.yaxis?.tickmode).toBeUndefined(); // short labels are left alone
  });

  it("non-square matrices keep free aspect; a matrix without coordinates gets numeric 0..n-1 axes", () => {
    const fig = heatmap([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    expect(figureJson(fig).layout.yaxis?.scaleanchor).toBeUndefined();
    const svg = figureSvg(fig);
    const labels = tickLabels(svg);
    expect(labels).toEqual(expect.arrayContaining(["0", "1", "2", "3"]));
    for (const l of labels) expect(l).toMatch(/^-?\d+(\.\d)?$/);
  });
});
