import { Rng } from "@vlab/core";
import { describe, expect, it } from "vitest";
import { makeScene } from "../src/shapes.js";
import { CORNERS, describeScene, reasoningDataset, reasoningProblem, REASONING_KINDS } from "../src/text_reasoning.js";

// 2 red triangles, 1 blue square, 1 red circle
const scene = makeScene([
  { shape: "triangle", color: "red", x: 6, y: 6 },
  { shape: "square", color: "blue", x: 20, y: 6 },
  { shape: "triangle", color: "red", x: 6, y: 22 },
  { shape: "circle", color: "red", x: 22, y: 22 },
]);

describe("text reasoning problems", () => {
  it("describes a scene by colour–shape groups", () => {
    expect(describeScene(scene)).toBe("there are 2 red triangles, 1 blue square and 1 red circle.");
    expect(describeScene(makeScene([{ shape: "star", color: "yellow", x: 16, y: 16 }]))).toBe(
      "there is 1 yellow star.",
    );
  });

  it("answers computed by hand for each kind", () => {
    const rng = new Rng(0);
    const count = reasoningProblem(scene, "count", rng);
    expect([count.question, count.answer]).toEqual(["how many shapes are there?", "4"]);
    const corners = reasoningProblem(scene, "corners", rng);
    expect(corners.answer).toBe("10"); // 2 · 3 + 4 + 0
    expect(corners.steps).toBe(
      "2 triangles have 6 corners. 1 square has 4 corners. 1 circle has 0 corners. 6 + 4 + 0 = 10.",
    );
    expect(corners.text).toBe(`${describeScene(scene)} how many corners do the shapes have?`);
    const byName: Record<string, number> = { "red shapes": 3, "blue shapes": 1, triangles: 2, squares: 1, circles: 1 };
    for (let i = 0; i < 30; i++) {
      const a = reasoningProblem(scene, "attribute", rng);
      const name = /^how many (.+) are there\?$/.exec(a.question)?.[1] ?? "";
      expect(a.answer).toBe(String(byName[name]));
      const m = reasoningProblem(scene, "more", rng);
      const [, hi = "", lo = ""] = /^how many more (.+) than (.+) are there\?$/.exec(m.question) ?? [];
      expect(byName[hi]! >= byName[lo]!).toBe(true); // the larger count is asked first
      expect(m.answer).toBe(String(byName[hi]! - byName[lo]!));
      const added = reasoningProblem(scene, "added", rng);
      const k = Number(/^if (\d) more/.exec(added.question)?.[1]);
      expect(added.answer).toBe(String(4 + k));
    }
  });

  it("datasets are seeded, draw every kind, and every answer is a non-negative integer", () => {
    const a = reasoningDataset({ seed: 2, n: 300 });
    expect(reasoningDataset({ seed: 2, n: 300 }).problems).toEqual(a.problems);
    expect(reasoningDataset({ seed: 2, n: 300, split: "test" }).problems).not.toEqual(a.problems);
    expect(new Set(a.problems.map((p) => p.kind))).toEqual(new Set(REASONING_KINDS));
    for (const [i, p] of a.problems.entries()) {
      expect(p.answer).toMatch(/^\d+$/);
      if (p.kind === "corners") {
        const total = a.scenes[i]!.objects.reduce((s, o) => s + CORNERS[o.shape], 0);
        expect(p.answer).toBe(String(total));
      }
      if (p.kind === "count") expect(p.answer).toBe(String(a.scenes[i]!.objects.length));
    }
    const only = reasoningDataset({ seed: 2, n: 20, kinds: ["corners"] });
    expect(only.problems.every((p) => p.kind === "corners")).toBe(true);
  });

  it("refuses bad options", () => {
    expect(() => reasoningDataset({ seed: 0, n: -1 })).toThrow(/n must be/);
    expect(() => reasoningDataset({ seed: 0, n: 1, kinds: [] })).toThrow(/no kinds/);
    expect(() => reasoningDataset({ seed: 0, n: 1, kinds: ["sum" as "count"] })).toThrow(/unknown kind "sum"/);
  });
});
