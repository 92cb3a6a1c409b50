import { Rng, initBackend } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { COLORS } from "../src/shapes.js";
import { countStrip, renderStrip, stripScene, stripSize } from "../src/strips.js";

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

  it("counts 0 … maxCount shapes of one kind, uniformly, in the cells it says", () => {
    const rng = new Rng(2);
    const all = Array.from({ length: 600 }, () => countStrip(rng, { cells: 1 + rng.int(16) }));
    for (const c of all) {
      const cells = c.scene.objects.map((o) => o.shape);
      expect(cells.filter((s) => s === "circle").length).toBe(c.count);
      expect(c.at.map((i) => cells[i])).toEqual(Array<string>(c.count).fill("circle"));
      expect(c.count).toBeLessThanOrEqual(Math.min(3, cells.length));
    }
    const big = all.filter((c) => c.scene.objects.length >= 3); // all four counts possible
    for (const k of [0, 1, 2, 3]) {
      const share = big.filter((c) => c.count === k).length / big.length;
      expect(share).toBeGreaterThan(0.18);
      expect(share).toBeLessThan(0.32);
    }
    const positions = all.flatMap((c) => c.at.map((i) => i / c.scene.objects.length));
    expect(positions.filter((p) => p >= 0.5).length / positions.length).toBeGreaterThan(0.4); // not all at the start
    const sq = countStrip(rng, { cells: 5, shape: "square", maxCount: 5, others: ["square", "triangle"] });
    expect(sq.scene.objects.filter((o) => o.shape === "square").length).toBe(sq.count);
    expect(sq.scene.objects.every((o) => o.shape !== "circle")).toBe(true);
    expect(() => countStrip(rng, { cells: 0 })).toThrow(/cells/);
    expect(() => countStrip(rng, { cells: 3, shape: "circle", others: ["circle"] })).toThrow(/other than circle/);
    expect(() => countStrip(rng, { cells: 3, maxCount: -1 })).toThrow(/maxCount/);
  });

  it("is deterministic in the generator and renders to an RgbImage of the strip's size", async () => {
    const a = countStrip(new Rng(3), { cells: 6, direction: "column" });
    const b = countStrip(new Rng(3), { cells: 6, direction: "column" });
    expect(a).toEqual(b);
    const img = await renderStrip(a.scene);
    expect([img.width, img.height, img.data.length]).toEqual([28, 168, 28 * 168 * 3]);
    const o = a.scene.objects[2]!;
    const i = (Math.round(o.y) * 28 + Math.round(o.x)) * 3;
    expect([img.data[i], img.data[i + 1], img.data[i + 2]]).toEqual([...COLORS[o.color]]);
  });
});
