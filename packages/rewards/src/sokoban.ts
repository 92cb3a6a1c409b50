/**
 * Sokoban's rules and a reward for an answered plan (LMM-R1, Peng et al. 2025, "LMM-R1: Empowering 3B LMMs with
 * Strong Reasoning Abilities Through Two-Stage Rule-Based RL", sec. 4: planning in Sokoban from the first frame).
 *
 * The rules (as gym-sokoban, mpSchrader/gym-sokoban `sokoban_env.py`, `_push` / `_move`): the player moves one cell
 * up, down, left or right. A move into a wall (or off the grid: the grid's edge is a wall) does nothing; a move into
 * a box pushes it one cell further when that cell is free floor, and otherwise does nothing. A level is solved when
 * every box stands on a target; as in gym-sokoban, the episode ends there and later actions are not played.
 *
 * The reward of an answer (plain numbers, each in [0, 1]; the parts are the `sokobanRewardTerms` a GRPO trainer sums):
 *
 *   goal    1 if the plan solves the level, else 0
 *   valid   the share of the played actions that moved the player (a bump into a wall or a blocked box is invalid)
 *   length  optimal / max(optimal, |plan|) when solved, else 0 — the shortest plan scores 1, twice as long 0.5
 *
 * An answer that cannot be read as a plan (see `parseSokobanActions`) scores 0 on every part; nothing here throws.
 * Positions are cell indices `y · width + x`, x to the right and y down (the image's axes).
 */
import type { RewardTerm } from "./combine.js";
import { extractAnswer } from "./answer.js";
import { extractBoxed } from "./boxed.js";
import { asText, safely } from "./text.js";

export const SOKOBAN_ACTIONS = ["up", "down", "left", "right"] as const;
export type SokobanAction = (typeof SOKOBAN_ACTIONS)[number];

/** A level: a grid of floor and walls, the targets, and the start (boxes and player). */
export interface SokobanLevel {
  width: number;
  height: number;
  /** Cells that are walls (the grid's edge is a wall too). */
  walls: readonly number[];
  /** Target cells, one per box. */
  targets: readonly number[];
  /** Box cells at the start. */
  boxes: readonly number[];
  /** The player's cell at the start. */
  player: number;
  /** Length of a shortest solution (moves), if known. */
  optimal?: number;
}

/** Where the player and the boxes are (boxes sorted, so equal states have equal keys). */
export interface SokobanState {
  player: number;
  boxes: readonly number[];
}

/** The result of one action. */
export interface SokobanStep {
  state: SokobanState;
  /** The player moved (a bump into a wall or a blocked box is not a valid move). */
  valid: boolean;
  /** A box moved. */
  pushed: boolean;
}

const DELTA: Readonly<Record<SokobanAction, readonly [number, number]>> = {
  up: [0, -1],
  down: [0, 1],
  left: [-1, 0],
  right: [1, 0],
};

/** The cell next to `cell` in direction `action`, or -1 off the grid. */
export function sokobanNeighbour(level: Pick<SokobanLevel, "width" | "height">, cell: number, action: SokobanAction) {
  const [dx, dy] = DELTA[action];
  const x = (cell % level.width) + dx;
  const y = Math.floor(cell / level.width) + dy;
  return x < 0 || y < 0 || x >= level.width || y >= level.height ? -1 : y * level.width + x;
}

/** The state a level starts in. */
export function sokobanStart(level: SokobanLevel): SokobanState {
  return { player: level.player, boxes: [...level.boxes].sort((a, b) => a - b) };
}

/** True when every box stands on a target. */
export function sokobanSolved(level: SokobanLevel, state: SokobanState): boolean {
  return state.boxes.every((b) => level.targets.includes(b));
}

/** One action from `state` (the state is not changed; an invalid action returns it as it was). */
export function sokobanStep(level: SokobanLevel, state: SokobanState, action: SokobanAction): SokobanStep {
  const blocked = (c: number) => c < 0 || level.walls.includes(c);
  const next = sokobanNeighbour(level, state.player, action);
  if (blocked(next)) return { state, valid: false, pushed: false };
  const k = state.boxes.indexOf(next);
  if (k < 0) return { state: { player: next, boxes: state.boxes }, valid: true, pushed: false };
  const beyond = sokobanNeighbour(level, next, action);
  if (blocked(beyond) || state.boxes.includes(beyond)) return { state, valid: false, pushed: false };
  const boxes = state.boxes.map((b, i) => (i === k ? beyond : b)).sort((a, b) => a - b);
  return { state: { player: next, boxes }, valid: true, pushed: true };
}

/** What playing a plan did. */
export interface SokobanOutcome {
  /** The state after the played actions. */
  state: SokobanState;
  solved: boolean;
  /** Actions played: all of them, or those up to the one that solved the level (the episode ends there). */
  played: number;
  /** Played actions that moved the player. */
  validMoves: number;
  /** Boxes on targets at the end. */
  boxesOnTargets: number;
}

/** Plays `actions` from the level's start, stopping once it is solved. */
export function simulateSokoban(level: SokobanLevel, actions: readonly SokobanAction[]): SokobanOutcome {
  let state = sokobanStart(level);
  let played = 0,
    validMoves = 0;
  let solved = sokobanSolved(level, state);
  for (const a of actions) {
    if (solved) break;
    const r = sokobanStep(level, state, a);
    state = r.state;
    played++;
    if (r.valid) validMoves++;
    solved = sokobanSolved(level, state);
  }
  const boxesOnTargets = state.boxes.filter((b) => level.targets.includes(b)).length;
  return { state, solved, played, validMoves, boxesOnTargets };
}

const WORDS: Readonly<Record<string, SokobanAction>> = {
  up: "up",
  down: "down",
  left: "left",
  right: "right",
  u: "up",
  d: "down",
  l: "left",
  r: "right",
  "↑": "up",
  "↓": "down",
  "←": "left",
  "→": "right",
};
/** Separators between actions: whitespace, commas, semicolons, "->" and "|". */
const SEPARATOR = /(?:\s|,|;|->|\|)+/u;
/** A run of LURD letters ("uRRd": Sokoban's usual notation), read one letter per move. */
const LURD = /^[udlr]{2,}$/i;
/** Longest plan read (a longer answer is not a plan for a small level). */
export const MAX_SOKOBAN_ACTIONS = 1000;

/**
 * The plan in an answer, or null when it is not one. Read from the `\boxed{}` if there is one, else the `<answer>`
 * span, else the whole text; it must consist of actions only — words (`up right right down`, any case), letters
 * (`U R R D`, `u,r,r,d`), a LURD run (`URRD`) or arrows (`↑ → → ↓`) — with separators between them. Anything else
 * in it (a word that is not an action, a number) makes it no plan; so does an empty answer.
 */
export function parseSokobanActions(text: unknown): SokobanAction[] | null {
  const s = asText(text);
  if (s === null) return null;
  const span = extractBoxed(s) ?? extractAnswer(s) ?? s;
  const tokens = span.split(SEPARATOR).filter((t) => t !== "");
  if (tokens.length === 0) return null;
  const out: SokobanAction[] = [];
  for (const t of tokens) {
    const lower = t.toLowerCase();
    const word = WORDS[lower];
    if (word) out.push(word);
    else if (LURD.test(lower)) {
      for (const ch of lower) {
        const a = WORDS[ch];
        if (!a) return null;
        out.push(a);
      }
    } else return null;
    if (out.length > MAX_SOKOBAN_ACTIONS) return null;
  }
  return out;
}

/** The three parts of an answer's reward (see the file comment), each in [0, 1]. */
export interface SokobanRewardParts {
  goal: number;
  valid: number;
  length: number;
}

/**
 * The reward parts of `completion` as a plan for `level`. The length part needs `level.optimal`; without it the
 * part is 1 for any solving plan. Never throws: unreadable answers and bad levels score 0.
 */
export function sokobanRewardParts(completion: unknown, level: SokobanLevel): SokobanRewardParts {
  const zero = { goal: 0, valid: 0, length: 0 };
  try {
    const actions = parseSokobanActions(completion);
    if (!actions) return zero;
    const o = simulateSokoban(level, actions);
    const goal = o.solved ? 1 : 0;
    const valid = o.played > 0 ? o.validMoves / o.played : 0;
    const best = level.optimal ?? actions.length;
    const length = o.solved && actions.length > 0 ? Math.min(1, best / Math.max(best, actions.length)) : 0;
    return { goal, valid, length };
  } catch {
    return zero;
  }
}

export interface SokobanRewardOptions {
  /** Weight of each part in the sum (default goal 1, valid 0.25, length 0.25). */
  weights?: Partial<SokobanRewardParts>;
}

/**
 * The parts as reward terms for a GRPO trainer, named `goal`, `valid` and `length` (TRL logs `rewards/<name>/mean`).
 * Add a format term beside them (format.ts) for the think/answer shape.
 */
export function sokobanRewardTerms<S extends { level: SokobanLevel }>(
  options: SokobanRewardOptions = {},
): RewardTerm<S>[] {
  const w = { goal: 1, valid: 0.25, length: 0.25, ...options.weights };
  const part = (k: keyof SokobanRewardParts) => (c: string, s: S) => safely(() => sokobanRewardParts(c, s.level)[k]);
  return (["goal", "valid", "length"] as const).map((k) => ({ name: k, fn: part(k), weight: w[k] }));
}
