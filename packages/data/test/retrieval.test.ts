import { describe, expect, it } from "vitest";
import { retrievalTargets } from "../src/retrieval.js";

describe("retrievalTargets", () => {
  it("lists the distinct texts and the right answers both ways", () => {
    const t = retrievalTargets([
      ["a red circle", "a circle that is red"],
      ["a blue square"],
      ["a red circle", "a photo of a red circle"],
    ]);
    expect(t.texts).toEqual(["a red circle", "a circle that is red", "a blue square", "a photo of a red circle"]);
    expect(t.captionsOf).toEqual([[0, 1], [2], [0, 3]]);
    expect(t.imagesOf).toEqual([[0, 2], [0], [1], [2]]);
  });
});
