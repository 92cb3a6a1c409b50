import { describe, expect, it } from "vitest";
import {
  alongRun,
  commonIdLevels,
  geometricSteps,
  compareMeans,
  oodAtId,
  spread,
  transferSlope,
  type RunPoint,
} from "../src/transfer.js";

const run = (...pts: [number, number, number][]): RunPoint[] => pts.map(([step, id, ood]) => ({ step, id, ood }));

describe("checkpoints along a run", () => {
  it("evaluates after every k completed steps and after the last, the start first", () => {
    let calls = 0;
    const r = alongRun({
      every: 4,
      steps: 10,
      start: { id: 0.1, ood: 0.05 },
      evaluate: () => ({ id: ++calls, ood: 0 }),
    });
    const recorded = Array.from({ length: 10 }, (_, step) => r.onStep(step)?.step);
    expect(recorded).toEqual([undefined, undefined, undefined, 4, undefined, undefined, undefined, 8, undefined, 10]);
    expect(r.points).toEqual(run([0, 0.1, 0.05], [4, 1, 0], [8, 2, 0], [10, 3, 0]));
    expect(calls).toBe(3);
  });

  it("evaluates at listed steps, e.g. spaced geometrically", () => {
    expect(geometricSteps(100, 5)).toEqual([1, 3, 10, 32, 100]); // 100^(i/4): 1, 3.16, 10, 31.6, 100
    expect(geometricSteps(8, 6)).toEqual([1, 2, 3, 5, 8]); // 8^(i/5): 1, 1.52, 2.30, 3.48, 5.28, 8; 2 once
    expect(geometricSteps(4, 8)).toEqual([1, 2, 3, 4]); // repeats dropped
    expect(geometricSteps(7, 1)).toEqual([7]);
    expect(() => geometricSteps(0, 3)).toThrow(/steps must be/);
    const r = alongRun({ at: [1, 3], steps: 5, evaluate: () => ({ id: 0.5, ood: 0.25 }) });
    const recorded = Array.from({ length: 5 }, (_, step) => r.onStep(step)?.step);
    expect(recorded).toEqual([1, undefined, 3, undefined, 5]);
    expect(() => alongRun({ at: [0], steps: 5, evaluate: () => ({ id: 0, ood: 0 }) })).toThrow(/at holds 0/);
    expect(() => alongRun({ at: [6], steps: 5, evaluate: () => ({ id: 0, ood: 0 }) })).toThrow(/not a completed step/);
  });

  it("refuses a bad schedule, a NaN accuracy and a step that goes back", () => {
    expect(() => alongRun({ every: 0, steps: 5, evaluate: () => ({ id: 0, ood: 0 }) })).toThrow(/every must be/);
    expect(() => alongRun({ every: 1, steps: 2.5, evaluate: () => ({ id: 0, ood: 0 }) })).toThrow(/steps must be/);
    const nan = alongRun({ every: 1, steps: 3, evaluate: () => ({ id: NaN, ood: 0 }) });
    expect(() => nan.onStep(0)).toThrow(/evaluate\(\) after step 0: id and ood must be finite/);
    const r = alongRun({ every: 1, steps: 3, evaluate: () => ({ id: 0, ood: 0 }) });
    r.onStep(1);
    expect(() => r.onStep(0)).toThrow(/step 0 comes after a checkpoint at 2/);
  });
});

describe("matched in-distribution accuracy", () => {
  // ID 0 → 0.4 → 0.8 (OOD 0 → 0.2 → 0.3), then back down to 0.5: a run that peaks and declines.
  const a = run([0, 0, 0], [10, 0.4, 0.2], [20, 0.8, 0.3], [30, 0.5, 0.1]);

  it("interpolates OOD at the first crossing of an ID level", () => {
    expect(oodAtId(a, 0.2)).toBeCloseTo(0.1, 12); // halfway from (0, 0) to (0.4, 0.2)
    expect(oodAtId(a, 0.6)).toBeCloseTo(0.25, 12); // halfway from (0.4, 0.2) to (0.8, 0.3)
    expect(oodAtId(a, 0.4)).toBeCloseTo(0.2, 12); // on a checkpoint
    expect(oodAtId(a, 0.5)).toBeCloseTo(0.225, 12); // the rise, not the later decline through 0.5
    expect(oodAtId(a, 0)).toBe(0); // the start already there
    expect(oodAtId(a, 0.9)).toBeNaN(); // never reached
    expect(() => oodAtId([], 0.1)).toThrow(/no checkpoints/);
    expect(() => oodAtId(run([5, 0, 0], [5, 1, 1]), 0.5)).toThrow(/checkpoint 1 \(step 5\) is not after 5/);
  });

  it("common levels lie strictly inside what every run reaches", () => {
    const b = run([0, 0.1, 0], [10, 0.3, 0.4]);
    expect(commonIdLevels([a, b], 3)).toEqual([0.15, 0.2, 0.25].map((x) => expect.closeTo(x, 12) as number));
    for (const L of commonIdLevels([a, b], 3)) {
      expect(oodAtId(a, L)).not.toBeNaN();
      expect(oodAtId(b, L)).not.toBeNaN();
    }
    expect(commonIdLevels([a, run([0, 0.5, 0], [3, 0.4, 0])], 2)).toEqual([]); // one run never rises above a start
    expect(() => commonIdLevels([], 2)).toThrow(/no runs/);
  });

  it("the transfer slope is the least-squares OOD gain per ID gain through the start", () => {
    // Δid = 0.4, 0.8, 0.5; Δood = 0.2, 0.3, 0.1: Σxy = 0.08 + 0.24 + 0.05 = 0.37, Σxx = 0.16 + 0.64 + 0.25 = 1.05
    expect(transferSlope(a)).toBeCloseTo(0.37 / 1.05, 12);
    expect(transferSlope(run([0, 0.2, 0.1], [5, 0.6, 0.9]))).toBeCloseTo(2, 12); // OOD rises twice as fast
    expect(transferSlope(run([0, 0.2, 0.1], [5, 0.2, 0.9]))).toBeNaN(); // ID never moved
  });
});

describe("spread over seeds", () => {
  it("mean, sample std, standard error and range", () => {
    const s = spread([1, 2, 3, 6]);
    expect(s.mean).toBe(3);
    expect(s.std).toBeCloseTo(Math.sqrt(14 / 3), 12); // (4 + 1 + 0 + 9) / 3
    expect(s.se).toBeCloseTo(Math.sqrt(14 / 3) / 2, 12);
    expect([s.n, s.min, s.max]).toEqual([4, 1, 6]);
    expect(spread([0.4]).std).toBe(0);
    expect(() => spread([])).toThrow(/no values/);
    expect(() => spread([0.1, NaN])).toThrow(/value 1 is NaN/);
  });

  it("a difference of means with Welch's standard error and the two-standard-error lower bound", () => {
    // a: mean 0.5, std 0.1, se² 0.01/3; b: mean 0.3, std √0.08, se² 0.08/2
    const c = compareMeans([0.4, 0.5, 0.6], [0.1, 0.5]);
    const se = Math.sqrt(0.01 / 3 + 0.04);
    expect(c.diff).toBeCloseTo(0.5 - 0.3, 12);
    expect(c.se).toBeCloseTo(se, 12);
    expect(c.low).toBeCloseTo(0.2 - 2 * se, 12);
  });
});
