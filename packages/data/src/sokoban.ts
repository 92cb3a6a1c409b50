/**
 * A small Sokoban for planning from an image (LMM-R1, Peng et al. 2025, sec. 4: Sokoban from the first frame).
 *
 *   const { levels } = sokobanDataset({ seed: 0, n: 100, split: "train" });   // 4 × 4 rooms, one box
 *   levels[0].optimal                       // the length of a shortest solution (breadth-first search)
 *   simulateSokoban(levels[0], ["up", "right"]).solved
 *   const x = await renderSokoban(levels);  // [B, 3, 32, 32] in [0, 1]: one 8-px cell per ViT patch
 *
 * Levels are made the way Boxoban and gym-sokoban make theirs (mpSchrader/gym-sokoban `room_utils.py`,
 * `reverse_playing`): start from a solved room — every box on its target — and play backwards: the player walks,
 * and when walking away from a box it may pull it along. Every move played backwards can be undone forwards, so
 * every level is solvable; a breadth-first search over (player, boxes) then finds a shortest solution, whose length
 * is the level's `optimal`. Rooms are small (4 × 4 cells by default, the grid's edge a wall, a few inner walls).
 *
 * The rules (step, simulate) and the reward of a plan live in @vlab/rewards (sokoban.ts), which the reward and this
 * file share. Drawing follows shapes world: a dark background, inner walls as blue squares filling their cell,
 * targets as small green diamonds, boxes as yellow squares, the player as a red circle.
 */
import type { Rng } from "@vlab/core";
import {
  SOKOBAN_ACTIONS,
  sokobanNeighbour,
  sokobanSolved,
  sokobanStart,
  sokobanStep,
  type SokobanAction,
  type SokobanLevel,
  type SokobanState,
} from "@vlab/rewards";
import { pick } from "./pick.js";
import { renderScenes } from "./render.js";
import { streamRng } from "./shapes.js";
import { DEFAULT_BACKGROUND, makeObject, type Scene } from "./world.js";

export { simulateSokoban, sokobanStep, parseSokobanActions } from "@vlab/rewards";
export type { SokobanAction, SokobanLevel, SokobanState } from "@vlab/rewards";

export interface SokobanOptions {
  /** Room width in cells (default 4). */
  width?: number;
  /** Room height in cells (default: the width). */
  height?: number;
  /** Boxes (and targets) per level (default 1). */
  boxes?: number;
  /** Inner walls, an inclusive range drawn uniformly (default [0, 2]). */
  walls?: readonly [number, number];
  /** Moves played backwards from the solved room (default 3 × the number of cells). */
  reverseMoves?: number;
  /** Probability that a backward move away from a box pulls it (default 0.6). */
  pull?: number;
  /** Keep only levels whose shortest solution has this many moves, inclusive (default [2, 8]). */
  optimal?: readonly [number, number];
}

/** A level with its shortest solution. */
export interface SokobanPuzzle extends SokobanLevel {
  optimal: number;
  /** One shortest solution. */
  solution: SokobanAction[];
}

const OPPOSITE: Readonly<Record<SokobanAction, SokobanAction>> = {
  up: "down",
  down: "up",
  left: "right",
  right: "left",
};

const stateKey = (s: SokobanState) => `${s.player}:${s.boxes.join(",")}`;

/** A string that names a level (walls, targets, boxes, player): equal levels have equal keys. */
export function sokobanKey(level: SokobanLevel): string {
  const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b).join(",");
  const cells = [level.walls, level.targets, level.boxes].map(sorted).join("|");
  return `${level.width}x${level.height}|${cells}|${level.player}`;
}

/**
 * A shortest solution of `level` by breadth-first search over (player, boxes), or null when there is none within
 * `maxStates` states (default 200,000; a 4 × 4 room with one box has at most 256).
 */
export function solveSokoban(level: SokobanLevel, maxStates = 200_000): SokobanAction[] | null {
  const start = sokobanStart(level);
  if (sokobanSolved(level, start)) return [];
  const parent = new Map<string, { from: string; action: SokobanAction } | null>([[stateKey(start), null]]);
  let frontier: SokobanState[] = [start];
  while (frontier.length > 0 && parent.size < maxStates) {
    const next: SokobanState[] = [];
    for (const s of frontier) {
      for (const action of SOKOBAN_ACTIONS) {
        const r = sokobanStep(level, s, action);
        const key = stateKey(r.state);
        if (!r.valid || parent.has(key)) continue;
        parent.set(key, { from: stateKey(s), action });
        if (sokobanSolved(level, r.state)) return backtrack(parent, key);
        next.push(r.state);
      }
    }
    frontier = next;
  }
  return null;
}

function backtrack(parent: Map<string, { from: string; action: SokobanAction } | null>, end: string) {
  const path: SokobanAction[] = [];
  for (let p = parent.get(end); p; p = parent.get(p.from)) path.push(p.action);
  return path.reverse();
}

/** Cells of the room reachable from `from` without crossing a wall (flood fill). */
function reachable(level: Pick<SokobanLevel, "width" | "height" | "walls">, from: number): Set<number> {
  const seen = new Set([from]);
  const todo = [from];
  for (let c = todo.pop(); c !== undefined; c = todo.pop()) {
    for (const a of SOKOBAN_ACTIONS) {
      const n = sokobanNeighbour(level, c, a);
      if (n >= 0 && !level.walls.includes(n) && !seen.has(n)) {
        seen.add(n);
        todo.push(n);
      }
    }
  }
  return seen;
}

/** The room (walls, targets, the player) before reverse play, with every floor cell connected; null if not. */
function solvedRoom(rng: Rng, w: number, h: number, nBoxes: number, nWalls: number): SokobanLevel | null {
  const cells = rng.shuffle(Array.from({ length: w * h }, (_, i) => i));
  const walls = cells.slice(0, nWalls);
  const floor = cells.slice(nWalls);
  if (floor.length < nBoxes + 2) return null;
  const room = { width: w, height: h, walls };
  const [first] = floor;
  if (first === undefined || reachable(room, first).size !== floor.length) return null;
  const targets = floor.slice(0, nBoxes);
  return { ...room, targets, boxes: targets, player: pick(rng, floor.slice(nBoxes)) };
}

/** Plays `moves` moves backwards from the solved room: walk, and pull a box behind the player with probability p. */
function reversePlay(rng: Rng, level: SokobanLevel, moves: number, p: number): SokobanState {
  let { player, boxes } = sokobanStart(level);
  const free = (c: number) => c >= 0 && !level.walls.includes(c) && !boxes.includes(c);
  for (let m = 0; m < moves; m++) {
    const action = pick(rng, SOKOBAN_ACTIONS);
    const to = sokobanNeighbour(level, player, action);
    if (!free(to)) continue;
    const behind = sokobanNeighbour(level, player, OPPOSITE[action]);
    const k = boxes.indexOf(behind);
    if (k >= 0 && rng.next() < p) boxes = boxes.map((b, i) => (i === k ? player : b)).sort((a, b) => a - b);
    player = to;
  }
  return { player, boxes };
}

function checkOptions(o: SokobanOptions) {
  const w = o.width ?? 4;
  const h = o.height ?? w;
  const boxes = o.boxes ?? 1;
  const walls = o.walls ?? [0, 2];
  const optimal = o.optimal ?? [2, 8];
  const bad = (what: string) => {
    throw new RangeError(`sokoban: ${what}`);
  };
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 2 || h < 2 || w * h > 400)
    bad(`width and height must be integers ≥ 2 with at most 400 cells, got ${w} × ${h}`);
  if (!Number.isInteger(boxes) || boxes < 1) bad(`boxes must be a positive integer, got ${boxes}`);
  if (!(Number.isInteger(walls[0]) && Number.isInteger(walls[1]) && 0 <= walls[0] && walls[0] <= walls[1]))
    bad(`walls must be a range [min, max] of integers with 0 ≤ min ≤ max, got ${JSON.stringify(walls)}`);
  if (w * h - walls[1] < boxes + 2) bad(`a ${w} × ${h} room with ${walls[1]} walls has no room for ${boxes} boxes`);
  if (!(optimal[0] >= 1 && optimal[1] >= optimal[0]))
    bad(`optimal must be a range [min, max] with 1 ≤ min ≤ max, got ${JSON.stringify(optimal)}`);
  const pull = o.pull ?? 0.6;
  if (!(pull > 0 && pull <= 1)) bad(`pull must be in (0, 1], got ${pull}`);
  return { w, h, boxes, walls, optimal, pull, reverseMoves: o.reverseMoves ?? 3 * w * h };
}

/**
 * One level drawn by reverse play (see the file comment), with a shortest solution. Tries again until the
 * shortest solution's length lies in `optimal`; throws after 10,000 tries, naming the options.
 */
export function generateSokobanLevel(rng: Rng, options: SokobanOptions = {}, exclude?: ReadonlySet<string>) {
  const o = checkOptions(options);
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const nWalls = o.walls[0] + rng.int(o.walls[1] - o.walls[0] + 1);
    const room = solvedRoom(rng, o.w, o.h, o.boxes, nWalls);
    if (!room) continue;
    const start = reversePlay(rng, room, o.reverseMoves, o.pull);
    const level: SokobanLevel = { ...room, boxes: start.boxes, player: start.player };
    if (exclude?.has(sokobanKey(level))) continue;
    const solution = solveSokoban(level);
    if (!solution || solution.length < o.optimal[0] || solution.length > o.optimal[1]) continue;
    return { ...level, optimal: solution.length, solution } satisfies SokobanPuzzle;
  }
  throw new Error(`generateSokobanLevel: no level found in 10,000 tries for ${JSON.stringify(options)}`);
}

export interface SokobanDataset {
  seed: number;
  split: string;
  levels: SokobanPuzzle[];
}

/**
 * `n` distinct levels drawn from the stream `(seed, split)` (level i from its own fork of it); `exclude` holds levels
 * (e.g. the training set's) that must not be drawn again.
 */
export function sokobanDataset(
  opts: SokobanOptions & { seed: number; n: number; split?: string; exclude?: readonly SokobanLevel[] },
): SokobanDataset {
  const { seed, n } = opts;
  if (!Number.isFinite(seed)) throw new RangeError(`sokobanDataset: seed must be a number, got ${seed}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`sokobanDataset: n must be an integer ≥ 0, got ${n}`);
  const split = opts.split ?? "train";
  const stream = streamRng(seed, `sokoban/${split}`);
  const seen = new Set((opts.exclude ?? []).map(sokobanKey));
  const levels: SokobanPuzzle[] = [];
  for (let i = 0; i < n; i++) {
    const level = generateSokobanLevel(stream.fork(), opts, seen);
    seen.add(sokobanKey(level));
    levels.push(level);
  }
  return { seed, split, levels };
}

/**
 * The level as text, one row a line, with the edge wall around it: `#` wall, `.` floor, `T` target, `B` box, `*` box
 * on a target, `P` player, `+` player on a target (the usual Sokoban letters, with B/T/P for the reader).
 */
export function sokobanText(level: SokobanLevel, state: SokobanState = sokobanStart(level)): string {
  const edge = "#".repeat(level.width + 2);
  const rows = [edge];
  for (let y = 0; y < level.height; y++) {
    let row = "#";
    for (let x = 0; x < level.width; x++) {
      const c = y * level.width + x;
      const target = level.targets.includes(c);
      if (level.walls.includes(c)) row += "#";
      else if (state.boxes.includes(c)) row += target ? "*" : "B";
      else if (state.player === c) row += target ? "+" : "P";
      else row += target ? "T" : ".";
    }
    rows.push(row + "#");
  }
  rows.push(edge);
  return rows.join("\n");
}

/** The level drawn as a shapes-world scene, `cellSize` pixels a cell (default 8: one cell per 8-px ViT patch). */
export function sokobanScene(level: SokobanLevel, state: SokobanState = sokobanStart(level), cellSize = 8): Scene {
  if (!(Number.isInteger(cellSize) && cellSize >= 4))
    throw new RangeError(`sokobanScene: cellSize must be an integer ≥ 4, got ${cellSize}`);
  const at = (c: number) => [((c % level.width) + 0.5) * cellSize, (Math.floor(c / level.width) + 0.5) * cellSize];
  const draw = (
    cells: readonly number[],
    shape: "square" | "diamond" | "circle",
    color: "blue" | "green" | "yellow" | "red",
    r: number,
  ) =>
    cells.map((c) => {
      const [x = 0, y = 0] = at(c);
      return makeObject(shape, color, "small", x, y, r * cellSize);
    });
  return {
    width: level.width * cellSize,
    height: level.height * cellSize,
    background: DEFAULT_BACKGROUND,
    objects: [
      ...draw(level.walls, "square", "blue", 0.625), // a square's half side is 0.8 r: the whole cell
      ...draw(level.targets, "diamond", "green", 0.3),
      ...draw(state.boxes, "square", "yellow", 0.45),
      ...draw([state.player], "circle", "red", 0.3),
    ],
  };
}

/** The levels' start frames as a tensor [B, 3, H, W] in [0, 1] (all levels one size; the caller disposes it). */
export async function renderSokoban(levels: readonly SokobanLevel[], cellSize = 8) {
  return renderScenes(levels.map((l) => sokobanScene(l, sokobanStart(l), cellSize)));
}
