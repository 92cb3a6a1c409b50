import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import sharp from "sharp";
import { toMimeBundle } from "../src/display.js";
import { setPlotlyInlining, setPlotlyMode, resetPlotly } from "../src/html.js";
import { livePlot } from "../src/live_plot.js";
import { barPlot, figure, heatmap, linePlot, saveFigure, scatter } from "../src/plot.js";
import { niceTicks } from "../src/scales.js";
import { figureSvg } from "../src/svg.js";
import type { Figure, Trace } from "../src/figure.js";
import { checkXml, installFakeKernel } from "./helpers.js";

/** The plotly JSON of the figures below, as far as the tests read it. */
type PlotlyJson = {
  data: Trace[];
  layout: { title: { text: string }; xaxis: { title: { text: string } }; yaxis: { autorange?: unknown } };
};

const MIMES = ["application/vnd.plotly.v1+json", "image/svg+xml", "text/html", "text/plain"];

async function rasterises(svgText: string) {
  const m = await sharp(Buffer.from(svgText)).metadata(); // librsvg is a strict XML parser
  expect(m.format).toBe("svg");
  return m;
}

describe("figure bundles", () => {
  it("linePlot carries plotly JSON, html, svg and text", async () => {
    const fig = linePlot({
      y: { train: [3, 2, 1.5, 1.2], eval: [3.1, 2.4, 2] },
      title: "loss",
      xLabel: "step",
      yLabel: "loss",
    });
    const b = toMimeBundle(fig);
    expect(Object.keys(b).sort()).toEqual(MIMES);
    const json = b["application/vnd.plotly.v1+json"] as PlotlyJson;
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(json.data).toHaveLength(2);
    expect(json.data[0]).toMatchObject({ type: "scatter", mode: "lines", name: "train", y: [3, 2, 1.5, 1.2] });
    expect(json.layout.title.text).toBe("loss");
    expect(json.layout.xaxis.title.text).toBe("step");
    expect(b["text/plain"]).toBe(
      'Figure "loss" (x: step, y: loss)\n  line "train": 4 points, x 0..3, y 1.2..3, last 1.2\n  line "eval": 3 ' +
        "points, x 0..2, y 2..3.1, last 2",
    );
    const svgText = b["image/svg+xml"] as string;
    expect(checkXml(svgText)).toBe("svg");
    expect(svgText.match(/<polyline/g)).toHaveLength(2);
    expect(svgText).toContain(">train</text>"); // legend
    expect(svgText).toContain(">step</text>");
    const m = await rasterises(svgText);
    expect([m.width, m.height]).toEqual([640, 400]);
  });

  it("the html calls Plotly.newPlot, guards on window.Plotly, and keeps the SVG as a no-script fallback", () => {
    setPlotlyInlining("never");
    const html = toMimeBundle(linePlot({ y: [1, 2, 3], title: "</script><b>" }))["text/html"] as string;
    setPlotlyMode(undefined);
    expect(html).toContain("Plotly.newPlot");
    expect(html).toContain("if (window.Plotly)");
    expect(html).toContain("data:image/svg+xml;base64,");
    // user text cannot end the script element early
    const script = html.slice(html.indexOf("<script"));
    expect(script.match(/<\/script>/g)).toHaveLength(1);
  });

  it("inlines plotly.js once per process", () => {
    resetPlotly();
    const first = toMimeBundle(linePlot({ y: [1, 2] }))["text/html"] as string;
    const second = toMimeBundle(linePlot({ y: [1, 2] }))["text/html"] as string;
    expect(first.length).toBeGreaterThan(1_000_000);
    expect(first).toContain("window.Plotly = Plotly");
    expect(first).toMatch(
      /^<script type="text\/javascript">if \(!window.Plotly\) \{ \(function \(define, module, exports, require\)/,
    );
    expect(second.length).toBeLessThan(20_000);
    // every script is valid JavaScript (compiled, not run)
    for (const html of [first, second]) {
      const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
      expect(scripts.length).toBe(html === first ? 2 : 1);
      for (const code of scripts) new vm.Script(code);
    }
    expect(second).not.toContain("window.Plotly = Plotly");
    resetPlotly();
    expect((toMimeBundle(linePlot({ y: [1] }))["text/html"] as string).length).toBeGreaterThan(1_000_000);
    setPlotlyInlining("always");
    expect((toMimeBundle(linePlot({ y: [1] }))["text/html"] as string).length).toBeGreaterThan(1_000_000);
    setPlotlyMode(undefined);
  });

  it("scatter draws markers and a legend, no lines", async () => {
    const s = figureSvg(scatter({ x: { a: [1, 2, 3], b: [1, 2] }, y: { a: [1, 4, 9], b: [0, -1] }, title: "pts" }));
    checkXml(s);
    expect(s).not.toContain("<polyline");
    expect(s.match(/<circle/g)!.length).toBeGreaterThanOrEqual(5 + 2); // points + legend swatches
    await rasterises(s);
  });

  it("heatmap draws one rect per cell and a colour bar", async () => {
    const z = [
      [0, 1, 2],
      [3, 4, 5],
    ];
    const fig = heatmap(z, { title: "attn", x: ["a", "b", "c"], y: ["r0", "r1"], showValues: true });
    const s = figureSvg(fig);
    checkXml(s);
    expect(s).toContain("linearGradient");
    // 6 cells + background + clip rect + colour bar
    expect(s.match(/<rect/g)!.length).toBe(6 + 3);
    expect(s).toContain(">r0</text>");
    const json = toMimeBundle(fig)["application/vnd.plotly.v1+json"] as PlotlyJson;
    expect(json.data[0]).toMatchObject({ type: "heatmap", z, colorscale: "Viridis" });
    expect(json.layout.yaxis.autorange).toBe("reversed");
    await rasterises(s);
  });

  it("barPlot draws grouped bars and a legend", async () => {
    const fig = barPlot({ x: ["x", "y", "z"], y: { ours: [1, 2, 3], paper: [2, 2, 2] } });
    const s = figureSvg(fig);
    checkXml(s);
    // 6 bars + 2 legend swatches + background + clip
    expect(s.match(/<rect/g)!.length).toBe(6 + 2 + 2);
    expect(fig.layout.barmode).toBe("group");
    expect(toMimeBundle(fig)["text/plain"]).toContain('bar "ours": x=1, y=2, z=3');
    await rasterises(s);
  });

  it("handles log axes, NaN gaps, a single point and escaping", async () => {
    const s = figureSvg(linePlot({ y: [1, 10, NaN, 100, 1000], logY: true, title: 'a < b & "c"' }));
    checkXml(s);
    expect(s.match(/<polyline/g)).toHaveLength(2); // split at the NaN
    expect(s).toContain("a &lt; b &amp; &quot;c&quot;");
    expect(s).toContain(">1000</text>");
    checkXml(figureSvg(linePlot({ y: [5] })));
    checkXml(figureSvg(linePlot({ y: [] })));
    checkXml(figureSvg({ data: [] }));
    await rasterises(s);
  });

  it("figure() wraps raw plotly JSON", () => {
    const f = figure({ data: [{ x: [1, 2], y: [3, 4], type: "scatter", mode: "markers" }], layout: { title: "t" } });
    expect(JSON.parse(JSON.stringify(f))).toEqual({
      data: [{ x: [1, 2], y: [3, 4], type: "scatter", mode: "markers" }],
      layout: { title: "t" },
    });
    expect(String(f)).toContain('Figure "t"');
    expect(() => figure({} as Figure)).toThrow(/expected \{ data/);
  });

  it("niceTicks picks round steps", () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 199)).toEqual([0, 50, 100, 150]);
  });
});

describe("saveFigure", () => {
  it("writes svg, png, json and html", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-fig-"));
    const fig = linePlot({ y: [1, 3, 2], title: "saved" });
    const svgFile = await saveFigure(fig, path.join(dir, "a.svg"));
    expect(fs.readFileSync(svgFile, "utf8")).toMatch(/^<svg /);
    const png = fs.readFileSync(await saveFigure(fig, path.join(dir, "sub/a.png")));
    const m = await sharp(png).metadata();
    expect([m.format, m.width, m.height]).toEqual(["png", 1280, 800]);
    expect(JSON.parse(fs.readFileSync(await saveFigure(fig, path.join(dir, "a.json")), "utf8")).data[0].y).toEqual([
      1, 3, 2,
    ]);
    expect(fs.readFileSync(await fig.save(path.join(dir, "a.html")), "utf8")).toContain("window.Plotly = Plotly");
    await expect(saveFigure(fig, path.join(dir, "a.gif"))).rejects.toThrow(/unsupported extension/);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("livePlot", () => {
  afterEach(() => {
    Reflect.deleteProperty(globalThis, Symbol.for("vlab.kernel"));
  });

  it("updates one display in place, throttled, and ends with the full figure", () => {
    const kernel = installFakeKernel();
    const lp = livePlot({ title: "loss", throttleMs: 60_000 });
    lp.push({ train: 3 });
    lp.push({ train: 2 }); // throttled
    lp.push({ train: 1, eval: 1.5 }); // throttled
    lp.done();
    expect(kernel.sent).toHaveLength(2);
    const [first, last] = kernel.sent;
    expect(first!.opts.update).toBeUndefined();
    expect(Object.keys(first!.bundle).sort()).toEqual(["image/svg+xml", "text/plain"]);
    expect(last!.opts).toEqual({ displayId: first!.opts.displayId, update: true });
    expect(Object.keys(last!.bundle).sort()).toEqual(MIMES);
    expect(lp.y).toEqual({ train: [3, 2, 1], eval: [1.5] });
    expect(lp.x).toEqual({ train: [0, 1, 2], eval: [2] });
  });
});
