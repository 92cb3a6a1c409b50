import { describe, expect, it } from "vitest";
import { extractChoice, levenshteinRatio, onevisionAccuracyReward } from "../src/onevision.js";

describe("R1-Onevision's accuracy reward", () => {
  it("python-Levenshtein's ratio", () => {
    expect(levenshteinRatio("kitten", "sitting")).toBeCloseTo(0.6153846153846154, 15); // Levenshtein.ratio
    expect(levenshteinRatio("", "")).toBe(1);
    expect(levenshteinRatio("yes", "no")).toBe(0);
    expect(levenshteinRatio("red", "red")).toBe(1);
    expect(levenshteinRatio("a red circle", "red circle")).toBeCloseTo(20 / 22, 15);
  });
  it("numbers: Math-Verify on the whole completion, then the exact answer string", () => {
    expect(onevisionAccuracyReward("<think> one . </think> <answer> 2 </answer>", "2")).toBe(1);
    expect(onevisionAccuracyReward("<think> x </think> <answer> 3 </answer>", "2")).toBe(0);
    expect(onevisionAccuracyReward("<answer>2.0</answer>", "2")).toBe(0); // glued to the tag, then "2.0" ≠ "2"
    // R1-V's false positive: a 2 in the reasoning, after a space, equals the solution
    expect(onevisionAccuracyReward("<think> 2 shapes </think><answer>3</answer>", "2")).toBe(1);
    expect(onevisionAccuracyReward("no tags, just 2", "2")).toBe(1);
  });
  it("text: the fuzzy ratio of the lower-cased answer and the solution without its final dots", () => {
    expect(onevisionAccuracyReward("<think> t </think> <answer> yes </answer>", "yes")).toBe(1);
    expect(onevisionAccuracyReward("<answer> no </answer>", "yes")).toBe(0);
    expect(onevisionAccuracyReward("<answer>Red Circle</answer>", "a red circle..")).toBeCloseTo(20 / 22, 12);
    expect(onevisionAccuracyReward("<answer>\nyes\n</answer>", "yes")).toBe(1); // DOTALL on the completion
  });
  it("choices: 'Answer: X' in the solution, and the mcq method", () => {
    expect(extractChoice("the answer is b.")).toBe("B");
    expect(extractChoice("A or C? I think C.")).toBe("C");
    expect(extractChoice("none")).toBeNull();
    expect(onevisionAccuracyReward("<answer>C</answer>", "Answer: C")).toBe(1);
    expect(onevisionAccuracyReward("<answer>B</answer>", "Answer: C")).toBe(0);
    expect(onevisionAccuracyReward("<answer>(b)</answer>", "B", { method: "mcq" })).toBe(1);
    expect(onevisionAccuracyReward("<answer>b</answer>", "C", { method: "mcq" })).toBe(0);
  });
  it("garbage in, 0 out", () => {
    expect(onevisionAccuracyReward(null, "2")).toBe(0);
    expect(onevisionAccuracyReward("<answer>2</answer>", 2)).toBe(0);
  });
});
