import { describe, expect, it } from "vitest";
import { combineRewards } from "../src/combine.js";
import {
  parseSokobanActions,
  simulateSokoban,
  sokobanRewardParts,
  sokobanRewardTerms,
  sokobanStart,
  sokobanStep,
  type SokobanLevel,
} from "../src/sokoban.js";
import { prng, randomString } from "./strings.js";

// A 4 × 3 room (cells y · 4 + x):   . P B T
//                                   . # . .
//                                   . . . .
// Shortest solution: "right" (1 move, the push).
const level: SokobanLevel = { width: 4, height: 3, walls: [5], targets: [3], boxes: [2], player: 1, optimal: 1 };
const tagged = (a: string) => `<think>push it</think><answer>${a}</answer>`;

describe("sokoban rules", () => {
  it("walks, pushes, and refuses walls, the edge and blocked boxes", () => {
    const s = sokobanStart(level);
    expect(sokobanStep(level, s, "left")).toEqual({ state: { player: 0, boxes: [2] }, valid: true, pushed: false });
    expect(sokobanStep(level, s, "down")).toEqual({ state: s, valid: false, pushed: false }); // wall
    expect(sokobanStep(level, s, "up")).toEqual({ state: s, valid: false, pushed: false }); // the edge
    expect(sokobanStep(level, s, "right")).toEqual({ state: { player: 2, boxes: [3] }, valid: true, pushed: true });
    // the box against the right edge cannot be pushed further
    const pushed = { player: 2, boxes: [3] };
    expect(sokobanStep(level, pushed, "right")).toEqual({ state: pushed, valid: false, pushed: false });
  });

  it("simulation stops at the solve, counts valid moves and boxes on targets", () => {
    expect(simulateSokoban(level, ["right", "left", "left"])).toMatchObject({ solved: true, played: 1, validMoves: 1 });
    expect(simulateSokoban(level, ["down", "left", "up"])).toMatchObject({
      solved: false,
      played: 3,
      validMoves: 1,
      boxesOnTargets: 0,
      state: { player: 0, boxes: [2] },
    });
  });
});

describe("parseSokobanActions", () => {
  it("words, letters, LURD runs and arrows, any case and separator", () => {
    const urrd = ["up", "right", "right", "down"];
    for (const text of ["up right right down", "U R R D", "u,r,r,d", "URRD", "Up, Right -> right | DOWN", "↑ → → ↓"])
      expect(parseSokobanActions(text), text).toEqual(urrd);
    expect(parseSokobanActions(tagged(" up right right down "))).toEqual(urrd);
    expect(parseSokobanActions("<answer>\\boxed{U R}</answer>")).toEqual(["up", "right"]); // \boxed{} first
  });

  it("malformed answers are no plan", () => {
    for (const text of ["", "   ", tagged(""), tagged("up jump"), tagged("up 3"), "go up", "upp", 42, null, {}])
      expect(parseSokobanActions(text), String(text)).toBeNull();
  });
});

describe("sokobanRewardParts", () => {
  it("solved with the shortest plan: 1, 1, 1", () => {
    expect(sokobanRewardParts(tagged("right"), level)).toEqual({ goal: 1, valid: 1, length: 1 });
  });

  it("solved with a longer plan: length optimal / |plan|, invalid bumps lower validity", () => {
    // left, right (back), right (push): 3 moves for an optimal 1
    expect(sokobanRewardParts(tagged("left right right"), level)).toEqual({ goal: 1, valid: 1, length: 1 / 3 });
    // a bump into the wall first: 2 played, 1 valid
    expect(sokobanRewardParts(tagged("down right"), level)).toEqual({ goal: 1, valid: 0.5, length: 0.5 });
    // actions after the solve are not played but the plan is longer than it needed to be
    expect(sokobanRewardParts(tagged("right left"), level)).toEqual({ goal: 1, valid: 1, length: 0.5 });
  });

  it("unsolved: goal and length 0, validity as played", () => {
    expect(sokobanRewardParts(tagged("left down down"), level)).toEqual({ goal: 0, valid: 1, length: 0 });
    expect(sokobanRewardParts(tagged("up up"), level)).toEqual({ goal: 0, valid: 0, length: 0 });
  });

  it("invalid and malformed answers score 0 on every part, and nothing throws", () => {
    expect(sokobanRewardParts(tagged("up jump"), level)).toEqual({ goal: 0, valid: 0, length: 0 });
    expect(sokobanRewardParts(undefined, level)).toEqual({ goal: 0, valid: 0, length: 0 });
    const broken = { width: 4, height: 3 } as unknown as SokobanLevel;
    expect(sokobanRewardParts(tagged("right"), broken)).toEqual({ goal: 0, valid: 0, length: 0 });
    const rand = prng(9);
    for (let i = 0; i < 300; i++) {
      const parts = sokobanRewardParts(randomString(rand, 40), level);
      for (const v of Object.values(parts)) expect(v >= 0 && v <= 1).toBe(true);
    }
  });

  it("as reward terms: goal + 0.25·valid + 0.25·length by default, weights adjustable", () => {
    const r = combineRewards(sokobanRewardTerms<{ level: SokobanLevel }>());
    expect(r(tagged("right"), { level }).total).toBe(1.5);
    expect(r(tagged("down right"), { level }).total).toBeCloseTo(1 + 0.25 * 0.5 + 0.25 * 0.5, 12);
    expect(r("nonsense", { level }).total).toBe(0);
    const goalOnly = combineRewards(sokobanRewardTerms<{ level: SokobanLevel }>({ weights: { valid: 0, length: 0 } }));
    expect(goalOnly(tagged("down right"), { level }).total).toBe(1);
  });
});
