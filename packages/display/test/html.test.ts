import vm from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { toMimeBundle } from "../src/display.js";
import { plotlyMode, resetPlotly, setPlotlyMode } from "../src/html.js";
import { heatmap, linePlot } from "../src/plot.js";
import { checkXml } from "./helpers.js";

const saved = process.env.VLAB_NOTEBOOK;
afterEach(() => {
  if (saved === undefined) delete process.env.VLAB_NOTEBOOK;
  else process.env.VLAB_NOTEBOOK = saved;
  setPlotlyMode(undefined);
  resetPlotly();
});

/** Every href / url() in an SVG: all must be internal (#id) or data: URIs, so the picture is self-contained. */
function externalRefs(svg: string): string[] {
  const refs = [...svg.matchAll(/(?:href\s*=\s*"([^"]*)")|(?:url\(([^)]*)\))/g)].map((m) => m[1] ?? m[2] ?? "");
  return refs.filter((r) => !r.startsWith("#") && !r.startsWith("data:"));
}

describe("figures in executed notebooks (vlab run sets VLAB_NOTEBOOK)", () => {
  it("defaults to never inlining plotly.js under vlab run, to once in an interactive kernel", () => {
    delete process.env.VLAB_NOTEBOOK;
    expect(plotlyMode()).toBe("once");
    process.env.VLAB_NOTEBOOK = "notebooks/01-vit.ipynb";
    expect(plotlyMode()).toBe("never");
    setPlotlyMode("always");
    expect(plotlyMode()).toBe("always");
  });

  it("every figure stays light: plotly JSON, a static self-contained SVG in the html, a guarded script", () => {
    process.env.VLAB_NOTEBOOK = "notebooks/00-tour.ipynb";
    resetPlotly();
    const figs = [
      linePlot({ y: { loss: Array.from({ length: 200 }, (_, i) => 1 / (i + 1)) }, title: "loss", logY: true }),
      heatmap(
        [
          [5, 1],
          [0, 7],
        ],
        { x: ["a", "b"], y: ["a", "b"], showValues: true, colorscale: "Blues" },
      ),
    ];
    for (const fig of figs) {
      const b = toMimeBundle(fig);
      expect(Object.keys(b).sort()).toEqual(
        ["application/vnd.plotly.v1+json", "image/svg+xml", "text/html", "text/plain"].sort(),
      );
      const html = b["text/html"] as string;
      expect(html.length).toBeLessThan(60_000); // plotly.js (~4.8 MB) is not in it
      expect(html).not.toContain("window.Plotly = Plotly");
      // the static picture, visible without scripts, is the bundle's SVG
      const uri = /<img alt="[^"]*" src="data:image\/svg\+xml;base64,([^"]+)"\/>/.exec(html)?.[1];
      expect(uri).toBeDefined();
      const svg = Buffer.from(uri!, "base64").toString("utf8");
      expect(svg).toBe(b["image/svg+xml"]);
      expect(checkXml(svg)).toBe("svg");
      expect(externalRefs(svg)).toEqual([]);
      // one script, valid JavaScript, that draws only where window.Plotly exists
      const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
      expect(scripts).toHaveLength(1);
      new vm.Script(scripts[0]!);
      expect(scripts[0]).toContain("if (window.Plotly) { draw(); return; }");
    }
  });
});
