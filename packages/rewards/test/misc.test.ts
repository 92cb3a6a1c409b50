import { describe, expect, it } from "vitest";
import { accuracyReward } from "../src/accuracy.js";
import { combineRewards, weightedSum } from "../src/combine.js";
import { formatReward } from "../src/format.js";
import { lengthReward } from "../src/length.js";

describe("lengthReward (VisualThinker)", () => {
  it("0.001 per unit of length, code points by default", () => {
    expect(lengthReward("abcd")).toBeCloseTo(0.004, 15);
    expect(lengthReward("😀é")).toBeCloseTo(0.002, 15); // a surrogate pair is one code point
    expect(lengthReward("")).toBe(0);
  });

  it("a tokenizer's count, another scale, a cap", () => {
    const words = (s: string) => s.split(" ").length;
    expect(lengthReward("one two three", { count: words })).toBeCloseTo(0.003, 15);
    expect(lengthReward("abcd", { scale: 0.5 })).toBe(2);
    expect(lengthReward("abcd", { scale: 0.5, max: 1 })).toBe(1);
    expect(lengthReward("abcd", { count: () => -3 })).toBe(0);
    expect(lengthReward("abcd", { count: () => NaN })).toBe(0);
    expect(lengthReward(1234)).toBe(0);
  });
});

describe("combineRewards", () => {
  type Ex = { solution: string };
  it("R1-V: accuracy + format, unweighted (r ∈ {0, 1, 2})", () => {
    const r1v = combineRewards<Ex>([
      { name: "accuracy", fn: (c, ex) => accuracyReward(c, ex.solution, { mode: "r1v" }) },
      { name: "format", fn: (c) => formatReward(c) },
    ]);
    const ex = { solution: "<answer> 3 </answer>" };
    expect(r1v("<think>I count 3 objects.</think><answer>3</answer>", ex)).toEqual({
      total: 2,
      parts: { accuracy: 1, format: 1 },
    });
    expect(r1v("<think>I see 3 cubes</think><answer>4</answer>", ex).total).toBe(2); // the false positive, in full
    expect(r1v("<answer>4</answer>", ex)).toEqual({ total: 0, parts: { accuracy: 0, format: 0 } });
    expect(r1v(42, ex)).toEqual({ total: 0, parts: { accuracy: 0, format: 0 } });
  });

  it("lmm-r1: 0.5·format + accuracy, with its no-space format", () => {
    const lmm = combineRewards<Ex>([
      { name: "format", fn: (c) => formatReward(c, { variant: "lmm-r1" }), weight: 0.5 },
      { name: "accuracy", fn: (c, ex) => accuracyReward(c, ex.solution) },
    ]);
    const ex = { solution: "3" };
    expect(lmm("<think>x</think><answer>3</answer>", ex).total).toBe(1.5);
    expect(lmm("<think>x</think> <answer>3</answer>", ex).total).toBe(1); // a space between the blocks: format 0
  });

  it("missing terms (null, NaN, a throw) are left out; none present gives NaN, as TRL", () => {
    const f = combineRewards<null>([
      { name: "a", fn: () => 1, weight: 2 },
      { name: "b", fn: () => null },
      {
        name: "c",
        fn: () => {
          throw new Error("x");
        },
      },
      { name: "d", fn: () => NaN },
    ]);
    expect(f("text", null)).toEqual({ total: 2, parts: { a: 1, b: null, c: null, d: null } });
    expect(combineRewards<null>([{ name: "b", fn: () => null }])("text", null).total).toBeNaN();
  });

  it("weightedSum: Σ w·v over the finite values", () => {
    expect(weightedSum([1, null, 2], [0.5, 3, 2])).toBe(4.5); // 0.5·1 + 2·2
    expect(weightedSum([1, 2])).toBe(3);
    expect(weightedSum([null, undefined, NaN])).toBeNaN();
  });
});
