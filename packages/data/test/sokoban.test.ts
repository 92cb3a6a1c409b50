import { Rng, initBackend, tf } from "@vlab/core";
import { simulateSokoban, sokobanStart, sokobanStep, type SokobanLevel } from "@vlab/rewards";
import { beforeAll, describe, expect, it } from "vitest";
import { COLORS } from "../src/shapes.js";
import {
  generateSokobanLevel,
  renderSokoban,
  sokobanDataset,
  sokobanKey,
  sokobanScene,
  sokobanText,
  solveSokoban,
} from "../src/sokoban.js";

beforeAll(async () => {
  await initBackend("cpu");
});

// A 4 × 3 room, by hand:   . P B T     (row 0)
//                          . # . .     (row 1)
//                          . . . .     (row 2)
const corridor: SokobanLevel = { width: 4, height: 3, walls: [5], targets: [3], boxes: [2], player: 1 };

/** Whether any plan of at most `k` moves solves the level: all 4^k plans tried (small k only). */
function solvesWithin(level: SokobanLevel, k: number): boolean {
  const moves = ["up", "down", "left", "right"] as const;
  const plans: (typeof moves)[number][][] = [[]];
  for (let len = 1; len <= k; len++)
    for (const p of plans.filter((q) => q.length === len - 1)) for (const m of moves) plans.push([...p, m]);
  return plans.some((p) => simulateSokoban(level, p).solved);
}

describe("sokoban levels", () => {
  it("a hand-made level: the breadth-first solution is the one push, and the text shows the room", () => {
    expect(solveSokoban(corridor)).toEqual(["right"]);
    expect(sokobanText(corridor)).toBe(["######", "#.PBT#", "#.#..#", "#....#", "######"].join("\n"));
    // pushed onto the target: the box shows as "*"
    const after = sokobanStep(corridor, sokobanStart(corridor), "right").state;
    expect(sokobanText(corridor, after).split("\n")[1]).toBe("#..P*#");
  });

  it("a shortest solution: box in the middle of a 3 × 3 room, target in a corner needs walking around", () => {
    // . . T
    // . B .
    // P . .   push up from below (2 moves to get under, 1 push), then around to push right.
    const level: SokobanLevel = { width: 3, height: 3, walls: [], targets: [2], boxes: [4], player: 6 };
    const s = solveSokoban(level);
    expect(s).not.toBeNull();
    expect(s?.length).toBe(5); // right, up (box to 1), left, up, right (box to 2)
    expect(simulateSokoban(level, s ?? []).solved).toBe(true);
  });

  it("an unsolvable level (box in a corner off target) has no solution", () => {
    const stuck: SokobanLevel = { width: 3, height: 3, walls: [], targets: [4], boxes: [0], player: 8 };
    expect(solveSokoban(stuck)).toBeNull();
  });

  it("every generated level is solvable, unsolved at the start, and its solution is shortest", () => {
    const rng = new Rng(3);
    for (let i = 0; i < 60; i++) {
      const level = generateSokobanLevel(rng, { optimal: [1, 10] });
      expect(simulateSokoban(level, level.solution).solved).toBe(true);
      expect(level.solution.length).toBe(level.optimal);
      expect(simulateSokoban(level, []).solved).toBe(false);
      if (level.optimal <= 5) expect(solvesWithin(level, level.optimal - 1)).toBe(false); // none shorter
      expect(level.boxes.every((b) => !level.walls.includes(b))).toBe(true);
      expect(level.walls.includes(level.player) || level.boxes.includes(level.player)).toBe(false);
    }
  });

  it("datasets are seeded, distinct, within the optimal range, and exclude another split's levels", () => {
    const a = sokobanDataset({ seed: 1, n: 40, optimal: [3, 6] });
    const b = sokobanDataset({ seed: 1, n: 40, optimal: [3, 6] });
    expect(a.levels).toEqual(b.levels);
    expect(new Set(a.levels.map(sokobanKey)).size).toBe(40);
    expect(a.levels.every((l) => l.optimal >= 3 && l.optimal <= 6)).toBe(true);
    const test = sokobanDataset({ seed: 1, n: 40, split: "test", optimal: [3, 6], exclude: a.levels });
    const train = new Set(a.levels.map(sokobanKey));
    expect(test.levels.some((l) => train.has(sokobanKey(l)))).toBe(false);
  });

  it("refuses impossible options, naming them", () => {
    expect(() => sokobanDataset({ seed: 0, n: 1, width: 1 })).toThrow(/width and height/);
    expect(() => sokobanDataset({ seed: 0, n: 1, width: 2, height: 2, walls: [0, 1], boxes: 2 })).toThrow(
      /no room for 2 boxes/,
    );
    expect(() => sokobanDataset({ seed: 0, n: 1, optimal: [5, 2] })).toThrow(/optimal/);
  });
});

describe("sokoban rendering", () => {
  it("one 8-px cell per grid cell: wall blue, box yellow, player red, target green at the cell centres", async () => {
    const scene = sokobanScene(corridor);
    expect([scene.width, scene.height]).toEqual([32, 24]);
    const before = tf.memory().numTensors;
    const x = await renderSokoban([corridor]);
    expect(x.shape).toEqual([1, 3, 24, 32]);
    const px = await x.array();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const at = (cx: number, cy: number) =>
      [0, 1, 2].map((ch) => Math.round(px[0]![ch]![cy * 8 + 4]![cx * 8 + 4]! * 255));
    expect(at(1, 1)).toEqual([...COLORS.blue]); // the wall at cell 5
    expect(at(2, 0)).toEqual([...COLORS.yellow]); // the box
    expect(at(1, 0)).toEqual([...COLORS.red]); // the player
    expect(at(3, 0)).toEqual([...COLORS.green]); // the target
    expect(at(0, 2)).toEqual([24, 24, 24]); // floor: the background
  });
});
