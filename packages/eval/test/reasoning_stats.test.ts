import { describe, expect, it } from "vitest";
import { countReflections, pearson, phrasePattern, REFLECTION_PHRASES } from "../src/reasoning_stats.js";

describe("countReflections", () => {
  it("counts whole words, case-insensitively, per completion and per occurrence", () => {
    const r = countReflections(
      [
        "Wait , the circle is red . wait , let me check again .",
        "the square awaits . however it is small .",
        "no reflection here",
        "i re - examine the image",
      ],
      ["wait", "let me check", "however", "re-examine"],
    );
    expect(r.byPhrase).toEqual([
      { phrase: "wait", completions: 1, occurrences: 2 }, // "awaits" is not the word "wait"
      { phrase: "let me check", completions: 1, occurrences: 1 },
      { phrase: "however", completions: 1, occurrences: 1 },
      { phrase: "re-examine", completions: 1, occurrences: 1 }, // spaces around the hyphen, as decoded
    ]);
    expect(r.withAny).toBe(3);
    expect(r.total).toBe(4);
    expect(r.rate).toBe(0.75);
  });

  it("reports zero when nothing appears, and on no completions", () => {
    expect(countReflections(["the red circle is left ."]).withAny).toBe(0);
    expect(countReflections([]).rate).toBe(0);
    expect(countReflections([]).byPhrase.length).toBe(REFLECTION_PHRASES.length);
  });

  it("matches phrases across spacing but not inside words", () => {
    expect("let   me\ncheck".match(phrasePattern("let me check"))).toHaveLength(1);
    expect("unhmm hmm".match(phrasePattern("hmm"))).toHaveLength(1);
    expect(() => phrasePattern("  ")).toThrow(/empty phrase/);
  });

  it("refuses a completion that is not a string", () => {
    expect(() => countReflections([3 as unknown as string])).toThrow(/must be strings/);
  });
});

describe("pearson", () => {
  it("matches a hand-computed correlation", () => {
    // x̄ = 2.5, ȳ = 3; Σdxdy = (-1.5)(-2) + (-0.5)(1) + (0.5)(-1) + (1.5)(2) = 5; Σdx² = 5; Σdy² = 10 → 5/√50
    expect(pearson([1, 2, 3, 4], [1, 4, 2, 5])).toBeCloseTo(5 / Math.sqrt(50), 12);
    expect(pearson([1, 2, 3], [6, 4, 2])).toBeCloseTo(-1, 12);
  });

  it("is NaN when a series is constant or too short, and refuses mismatched or non-finite input", () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(pearson([1], [2])).toBeNaN();
    expect(() => pearson([1, 2], [1])).toThrow(/differ in length/);
    expect(() => pearson([1, NaN], [1, 2])).toThrow(/value 1/);
  });
});
