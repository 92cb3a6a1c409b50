import { describe, expect, it } from "vitest";
import { boxedAccuracyReward, extractBoxed, unwrapLatexAnswer } from "../src/boxed.js";
import { formatReward } from "../src/format.js";
import { prng, randomString } from "./strings.js";

describe("extractBoxed", () => {
  it("the last \\boxed{} whose braces balance, nested braces kept", () => {
    expect(extractBoxed("so \\boxed{3} or rather \\boxed{4}")).toBe("4");
    expect(extractBoxed("\\boxed{\\frac{1}{2}}")).toBe("\\frac{1}{2}");
    expect(extractBoxed("\\boxed{2} then \\boxed{unclosed")).toBe("2"); // the last one never closes
    expect(extractBoxed("\\boxed{\\boxed{7}}")).toBe("7"); // the innermost starts last
    expect(extractBoxed("no box")).toBeNull();
    expect(extractBoxed("\\fbox{3}")).toBeNull();
    expect(extractBoxed(42)).toBeNull();
  });

  it("linear on unbalanced input (a quadratic scan would take minutes)", () => {
    const s = "\\boxed{".repeat(100_000) + "x";
    const t0 = performance.now();
    expect(extractBoxed(s)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("unwrapLatexAnswer", () => {
  it("lmm-r1's labels: $…$, $\\boxed{…}$, \\(…\\)", () => {
    expect(unwrapLatexAnswer("$\\boxed{60}$")).toBe("60");
    expect(unwrapLatexAnswer(" $60$ ")).toBe("60");
    expect(unwrapLatexAnswer("$$\\boxed{ 2\\pi }$$")).toBe("2\\pi");
    expect(unwrapLatexAnswer("\\(x+1\\)")).toBe("x+1");
    expect(unwrapLatexAnswer("\\boxed{1}+\\boxed{2}")).toBe("\\boxed{1}+\\boxed{2}"); // not one box
    expect(unwrapLatexAnswer("60")).toBe("60");
  });
});

describe("boxedAccuracyReward (lmm-r1's accuracy, approximated)", () => {
  const ok = "<think>6 × 10</think><answer>\\boxed{60}</answer>";
  it("the boxed answer against the unwrapped label, numerically", () => {
    expect(boxedAccuracyReward(ok, "$\\boxed{60}$")).toBe(1);
    expect(boxedAccuracyReward(ok, "60")).toBe(1);
    expect(boxedAccuracyReward(ok, "60.0")).toBe(1);
    expect(boxedAccuracyReward(ok, "$61$")).toBe(0);
    expect(boxedAccuracyReward("\\boxed{\\frac{3}{4}}", "0.75")).toBe(1);
    expect(boxedAccuracyReward("\\boxed{-\\dfrac{1}{2}}", "-1/2")).toBe(1);
  });

  it("the last box wins; without a box the <answer> span is read", () => {
    expect(boxedAccuracyReward("first \\boxed{3}, final \\boxed{4}", "4")).toBe(1);
    expect(boxedAccuracyReward("first \\boxed{3}, final \\boxed{4}", "3")).toBe(0);
    expect(boxedAccuracyReward("<answer> 60 </answer>", "$60$")).toBe(1);
    expect(boxedAccuracyReward("the answer is 60", "60")).toBe(0); // no box, no span: nothing read
  });

  it("strings compare without whitespace; empty or non-string labels give 0 (lmm-r1 would give 1)", () => {
    expect(boxedAccuracyReward("\\boxed{x + 1}", "$x+1$")).toBe(1);
    expect(boxedAccuracyReward("\\boxed{x + 1}", "$x+2$")).toBe(0);
    expect(boxedAccuracyReward(ok, "$$")).toBe(0);
    expect(boxedAccuracyReward(ok, "")).toBe(0);
    expect(boxedAccuracyReward(ok, 60)).toBe(0);
    expect(boxedAccuracyReward(null, "60")).toBe(0);
  });

  it("with lmm-r1's format: 0.5 · format + accuracy", () => {
    const total = (c: string, gt: string) => 0.5 * formatReward(c, { variant: "lmm-r1" }) + boxedAccuracyReward(c, gt);
    expect(total(ok, "$\\boxed{60}$")).toBe(1.5);
    expect(total("<think>x</think> <answer>\\boxed{60}</answer>", "60")).toBe(1); // a space: format 0
  });
});

describe("fuzz", () => {
  it("boxedAccuracyReward is 0 or 1 on random text, and extractBoxed never throws", () => {
    const rand = prng(7);
    for (let i = 0; i < 3000; i++) {
      const s = randomString(rand) + (rand() < 0.5 ? "\\boxed{" + randomString(rand, 3) + "}" : "");
      const v = boxedAccuracyReward(s, rand() < 0.5 ? randomString(rand, 2) : "$\\boxed{3}$");
      expect(v === 0 || v === 1).toBe(true);
      expect(() => extractBoxed(s)).not.toThrow();
    }
  });
});
