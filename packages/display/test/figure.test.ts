import { describe, expect, it } from "vitest";
import { colorAt, luminance, resolveColorscale } from "../src/colors.js";
import { paletteColor, PALETTE, traceMode, traceType } from "../src/figure.js";
import { figureText } from "../src/figure_text.js";
import { categoryScale, extent, linearScale, pad } from "../src/scales.js";

describe("the figure model", () => {
  it("cycles plotly's palette and refuses a position that is not a series index", () => {
    expect(paletteColor(0)).toBe(PALETTE[0]);
    expect(paletteColor(PALETTE.length + 2)).toBe(PALETTE[2]);
    expect(() => paletteColor(-1)).toThrow(/not a series index/);
    expect(() => paletteColor(0.5)).toThrow(/not a series index/);
  });

  it("reads trace kinds and plotly's default mode", () => {
    expect(traceType({ type: "pie" as "bar" })).toBe("other");
    expect(traceType({})).toBe("scatter");
    expect(traceMode({ y: [1, 2] })).toBe("lines+markers");
    expect(traceMode({ y: Array.from({ length: 20 }, (_, i) => i) })).toBe("lines");
  });

  it("summarises each trace in text", () => {
    const text = figureText({
      data: [
        { type: "scatter", name: "loss", y: [3, 2, 1] },
        { type: "bar", x: ["a", "b"], y: [1, 2] },
        { type: "heatmap", z: [[0, 1]] },
      ],
      layout: { title: "t", xaxis: { title: "step" }, yaxis: { type: "log" } },
    });
    expect(text.split("\n")).toEqual([
      'Figure "t" (x: step, log y)',
      '  line "loss": 3 points, x 0..2, y 1..3, last 1',
      "  bar: a=1, b=2",
      "  heatmap: 1x2, z 0..1",
    ]);
  });
});

describe("colours", () => {
  it("interpolates a colorscale and clamps outside [0, 1]", () => {
    const grey = resolveColorscale("Greys");
    expect(colorAt(grey, 0)).toBe("rgb(0,0,0)");
    expect(colorAt(grey, 0.5)).toBe("rgb(128,128,128)");
    expect(colorAt(grey, 2)).toBe("rgb(255,255,255)");
    expect(colorAt(resolveColorscale("Greys_r"), 0)).toBe("rgb(255,255,255)");
    expect(resolveColorscale("no such scale")).toBe(resolveColorscale(undefined));
    expect(() => colorAt([], 0.5)).toThrow(/no stops/);
    expect(luminance("#ffffff")).toBe(1);
  });
});

describe("scales", () => {
  it("maps data to pixels with ticks, pads ranges and finds extents", () => {
    const s = linearScale(0, 10, 100, 200);
    expect(s.map(5)).toBe(150);
    expect(s.ticks.map((t) => t.label)).toEqual(["0", "2", "4", "6", "8", "10"]);
    const c = categoryScale(["a", "b"], 0, 100);
    expect([c.map("a"), c.map("b"), c.band]).toEqual([25, 75, 50]);
    expect(extent([NaN, 3, -1, Infinity], false)).toEqual([-1, 3]);
    expect(extent([-1, 0], true)).toBeUndefined();
    expect(pad([2, 2], 0.1)).toEqual([1.8, 2.2]);
  });
});
