import { Rng, initBackend } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { COLORS } from "../src/shapes.js";
import { needleStrip, renderStrip, stripScene, stripSize } from "../src/strips.js";

beforeAll(async () => {
  await initBackend("cpu");
});

describe("strips", () => {
  it("lays one shape per cell along a row or a column", () => {
    expect(stripSize(5)).toEqual([140, 28]);
    expect(stripSize(3, "column", 20)).toEqual([20, 60]);
    const rng = new Rng(1);
    for (const direction of ["row", "column"] as const) {
      const s = stripScene(rng, ["circle", "square", "triangle", "circle"], { direction });
      expect([s.width, s.height]).toEqual(direction === "row" ? [112, 28] : [28, 112]);
      s.objects.forEach((o, i) => {
        const along = direction === "row" ? o.x : o.y;
        expect(Math.floor(along / 28)).toBe(i); // the i-th shape sits in the i-th cell
        const [x0, y0, x1, y1] = o.box;
        expect(x0 >= 0 && y0 >= 0 && x1 <= s.width && y1 <= s.height).toBe(true);
      });
      expect(s.objects.map((o) => o.shape)).toEqual(["circle", "square", "triangle", "circle"]);
    }
  });

  it("asks about a shape present exactly once or absent, about half the time each", () => {
    const rng = new Rng(2);
    const all = Array.from({ length: 400 }, () => needleStrip(rng, { cells: 1 + rng.int(16) }));
    const yes = all.filter((n) => n.answer === "yes");
    expect(yes.length / all.length).toBeGreaterThan(0.4);
    expect(yes.length / all.length).toBeLessThan(0.6);
    for (const n of all) {
      const count = n.scene.objects.filter((o) => o.shape === n.shape).length;
      expect(count).toBe(n.answer === "yes" ? 1 : 0);
      if (n.answer === "yes") expect(n.scene.objects[n.at]!.shape).toBe(n.shape);
    }
    expect(() => needleStrip(rng, { cells: 0 })).toThrow(/cells/);
  });

  it("is deterministic in the generator and renders to an RgbImage of the strip's size", async () => {
    const a = needleStrip(new Rng(3), { cells: 6, direction: "column" });
    const b = needleStrip(new Rng(3), { cells: 6, direction: "column" });
    expect(a).toEqual(b);
    const img = await renderStrip(a.scene);
    expect([img.width, img.height, img.data.length]).toEqual([28, 168, 28 * 168 * 3]);
    const o = a.scene.objects[2]!;
    const i = (Math.round(o.y) * 28 + Math.round(o.x)) * 3;
    expect([img.data[i], img.data[i + 1], img.data[i + 2]]).toEqual([...COLORS[o.color]]);
  });
});
