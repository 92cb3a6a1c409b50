import { afterEach, describe, expect, it } from "vitest";
import { budget, currentBudget } from "../src/budget.js";

const saved = process.env.VLAB_BUDGET;
afterEach(() => {
  if (saved === undefined) delete process.env.VLAB_BUDGET;
  else process.env.VLAB_BUDGET = saved;
});

describe("budget", () => {
  it("defaults to quick", () => {
    delete process.env.VLAB_BUDGET;
    expect(currentBudget()).toBe("quick");
    process.env.VLAB_BUDGET = "";
    expect(currentBudget()).toBe("quick");
    expect(budget({ quick: 1, full: 2 })).toBe(1);
  });

  it("reads VLAB_BUDGET", () => {
    process.env.VLAB_BUDGET = "full";
    expect(currentBudget()).toBe("full");
    expect(budget({ quick: { steps: 10 }, full: { steps: 1000 } })).toEqual({ steps: 1000 });
    process.env.VLAB_BUDGET = " Quick ";
    expect(currentBudget()).toBe("quick");
  });

  it("rejects other values clearly", () => {
    process.env.VLAB_BUDGET = "medium";
    expect(() => currentBudget()).toThrow('VLAB_BUDGET must be "quick" or "full", got "medium"');
    expect(() => budget({ quick: 1, full: 2 })).toThrow(/VLAB_BUDGET/);
    delete process.env.VLAB_BUDGET;
    expect(() => budget({ quick: 1 } as unknown as { quick: number; full: number })).toThrow(
      /budget\(\{ quick: \.\.\., full: \.\.\. \}\)/,
    );
  });
});
