/**
 * Placement in shelf layouts, the scene sampler's fallbacks when random tries miss: boxes of objects laid out in
 * shelves (columns or rows) gap apart inside the image's 1-px margin, the slack spread at random, and the
 * configuration's own layout (a `ScenePlan`, found by the check in scene_fit.ts) that places any scene the check
 * accepted. Internal to @vlab/data: `sampleScene` (shapes.ts) and the check use it.
 */
import type { Rng } from "@vlab/core";
import { pick } from "./pick.js";
import {
  boxesApart,
  makeObject,
  outline,
  outlineBox,
  pairName,
  radiusOf,
  SIZES,
  type Pair,
  type ResolvedSceneOptions,
  type ShapeName,
  type ShapeObject,
  type SizeName,
} from "./world.js";

export const MARGIN = 1; // pixels kept free along the image border
// Extra distance (px) the shelf layouts keep between boxes: centres and vertices are rounded to 1/1000 px, which moves
// a box edge by at most 0.0015 px, so boxes laid out FIT_SLACK further apart than `gap` stay `gap` apart.
export const FIT_SLACK = 0.01;

/** A shape's box (w × h) at some radius, and the range its centre may take inside the image's margin. */
interface Reach {
  w: number;
  h: number;
  /** Lowest centre coordinates, and how far beyond them the centre may go (negative: the shape does not fit). */
  xMin: number;
  spanX: number;
  yMin: number;
  spanY: number;
}

export function reach(shape: ShapeName, r: number, width: number, height: number): Reach {
  const [ex0, ey0, ex1, ey1] = outlineBox(outline(shape, 0, 0, r)); // the box around a centre at the origin
  const xMin = MARGIN - ex0,
    spanX = width - MARGIN - ex1 - xMin;
  const yMin = MARGIN - ey0,
    spanY = height - MARGIN - ey1 - yMin;
  return { w: ex1 - ex0, h: ey1 - ey0, xMin, spanX, yMin, spanY };
}

/** One object to place: its pair, size and radius, its box and the range its centre may take. */
export interface Piece extends Reach {
  pair: Pair;
  size: SizeName;
  r: number;
}

export function radiusIn(size: SizeName, o: ResolvedSceneOptions): number {
  return radiusOf(size, o.width, o.height) * (o.sizeScale[size] ?? 1);
}

export function piece(pair: Pair, size: SizeName, o: ResolvedSceneOptions): Piece {
  const r = radiusIn(size, o);
  const p = { pair, size, r, ...reach(pair.shape, r, o.width, o.height) };
  if (p.spanX < 0 || p.spanY < 0) {
    // the check refuses such configurations up front, so sampleScene never gets here
    throw new RangeError(
      `a ${size} ${pair.shape} (radius ${r.toFixed(2)} px) does not fit in a ${o.width}x${o.height} image`,
    );
  }
  return p;
}

/**
 * Room that boxes of these lengths take one after another along an axis, each `step` (gap + FIT_SLACK) after the
 * previous one ends, in any order: Σ max(0, l + step) + max min(l, -step), which is Σ l + (k - 1)·step for step ≥ 0.
 * (With step < 0 boxes may overlap by -step; one no longer than -step is apart from any box and takes no room.)
 */
function room(lengths: readonly number[], step: number): number {
  let sum = 0,
    last = -Infinity;
  for (const l of lengths) {
    sum += Math.max(0, l + step);
    last = Math.max(last, Math.min(l, -step));
  }
  return sum + last;
}

/** The room boxes take in exactly this order: the furthest end, max over j of Σ_{i<j} max(0, l_i + step) + l_j. */
function roomInOrder(lengths: readonly number[], step: number): number {
  let start = 0,
    end = 0;
  for (const l of lengths) {
    end = Math.max(end, start + l);
    start += Math.max(0, l + step);
  }
  return end;
}

/** Where boxes of these lengths (in this order) start along an axis of `free` px: apart, the slack spread at random. */
function spread(rng: Rng, lengths: readonly number[], step: number, free: number): number[] {
  const slack = Math.max(0, free - roomInOrder(lengths, step));
  const extra = lengths.map(() => rng.next() * slack).sort((a, b) => a - b);
  let start = 0;
  return lengths.map((l, j) => {
    const at = start + (extra[j] ?? 0);
    start += Math.max(0, l + step);
    return at;
  });
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!]; // eslint-disable-line @typescript-eslint/no-non-null-assertion
  }
  return items;
}

/** A cell of a layout: a box of w × h px that holds one object of one of `shapes`. */
export interface Slot {
  shapes: readonly ShapeName[];
  w: number;
  h: number;
}

/**
 * A shelf layout: `shelves` side by side along one axis (columns along x when `vertical`, else rows along y), each
 * a stack of slots along the other axis. It fits when room(shelf lengths) and every shelf's room(slot lengths)
 * stay within the image's margin, gaps (+ FIT_SLACK) included.
 */
interface Layout {
  vertical: boolean;
  shelves: Slot[][];
}

function axes(vertical: boolean, o: ResolvedSceneOptions) {
  const main = (b: { w: number; h: number }) => (vertical ? b.w : b.h),
    cross = (b: { w: number; h: number }) => (vertical ? b.h : b.w);
  const freeMain = (vertical ? o.width : o.height) - 2 * MARGIN,
    freeCross = (vertical ? o.height : o.width) - 2 * MARGIN;
  return { main, cross, freeMain, freeCross, step: o.gap + FIT_SLACK };
}

/**
 * Shelf packing (first fit by decreasing shelf-axis length): each box goes on the first shelf with room left, a new
 * shelf otherwise. Returns the layout, or undefined when the shelves take more room than the image has.
 */
export function shelve(boxes: readonly Slot[], vertical: boolean, o: ResolvedSceneOptions): Layout | undefined {
  const { main, cross, freeMain, freeCross, step } = axes(vertical, o);
  const order = [...boxes].sort((a, b) => main(b) - main(a) || cross(b) - cross(a));
  const shelves: Slot[][] = [];
  for (const b of order) {
    const shelf = shelves.find((s) => room([...s.map(cross), cross(b)], step) <= freeCross);
    if (shelf) shelf.push(b);
    else if (cross(b) <= freeCross) shelves.push([b]);
    else return undefined;
  }
  const lengths = shelves.map((s) => Math.max(...s.map(main)));
  return room(lengths, step) <= freeMain ? { vertical, shelves } : undefined;
}

/**
 * Places pieces in a layout's slots (`items`: per shelf, the slots in use and their pieces): shelves and the slots
 * of each in random order, the slack along both axes spread at random, each piece at a random spot in its slot.
 * Returns the objects in the order of `pieces` (the first object stays first: requirePairs draws it).
 */
export function placeShelves(
  rng: Rng,
  items: { slot: Slot; piece: Piece }[][],
  vertical: boolean,
  o: ResolvedSceneOptions,
  pieces: readonly Piece[],
): ShapeObject[] {
  const { main, cross, freeMain, freeCross, step } = axes(vertical, o);
  const shelves = shuffle(
    rng,
    items.filter((s) => s.length > 0),
  );
  const lengths = shelves.map((s) => Math.max(...s.map((it) => main(it.slot))));
  const starts = spread(rng, lengths, step, freeMain);
  const placed = new Map<Piece, ShapeObject>();
  shelves.forEach((shelf, j) => {
    const stack = shuffle(rng, [...shelf]);
    const at = spread(
      rng,
      stack.map((it) => cross(it.slot)),
      step,
      freeCross,
    );
    stack.forEach(({ slot, piece: p }, k) => {
      const along = (starts[j] ?? 0) + rng.next() * Math.max(0, (lengths[j] ?? 0) - main(p));
      const across = (at[k] ?? 0) + rng.next() * Math.max(0, cross(slot) - cross(p));
      const [dx, dy] = vertical ? [along, across] : [across, along]; // box corner, from the margin
      const x = p.xMin + Math.min(p.spanX, Math.max(0, dx)),
        y = p.yMin + Math.min(p.spanY, Math.max(0, dy));
      placed.set(p, makeObject(p.pair.shape, p.pair.color, p.size, x, y, p.r));
    });
  });
  const objects = pieces.flatMap((p) => {
    const obj = placed.get(p);
    return obj ? [obj] : [];
  });
  if (objects.length !== pieces.length)
    throw new Error("sampleScene: a piece without a slot in the shelf layout (a bug)");
  objects.forEach((a, i) => {
    if (!objects.slice(i + 1).every((b) => boxesApart(a.box, b.box, o.gap)))
      throw new Error(`sampleScene: the shelf layout overlapped two objects (a bug): ${JSON.stringify(objects)}`);
  });
  return objects;
}

/**
 * The layout a configuration's scenes fall back to, found by the check: it holds the maximum object count at the
 * smallest size, so `layoutScene` places any scene of the configuration. The first object, when requirePairs is
 * given, goes in `firstSlot` (any slot when undefined) with a pair of `firstPairs`.
 */
export interface ScenePlan extends Layout {
  size: SizeName;
  firstSlot?: Slot;
  firstPairs?: Pair[];
}

/** The smallest size drawn (by radius), the one crowded scenes use; ties go to the first in `sizes`. */
export function smallestSize(o: ResolvedSceneOptions): SizeName {
  const [smallest] = [...o.sizes].sort((a, b) => SIZES[a] * (o.sizeScale[a] ?? 1) - SIZES[b] * (o.sizeScale[b] ?? 1));
  if (smallest === undefined) throw new RangeError("no sizes to draw objects at");
  return smallest;
}

/**
 * The placement that cannot fail: `n` objects (at most the count scenePlan checked) at the smallest size in the
 * configuration's layout: slots chosen at random (the first object's slot first), a pair per slot (of the slot's
 * shapes, never a pair twice with uniquePairs), placed as placeShelves does.
 */
export function layoutScene(rng: Rng, n: number, plan: ScenePlan, o: ResolvedSceneOptions): ShapeObject[] {
  const first = plan.firstSlot;
  const others = shuffle(
    rng,
    plan.shelves.flat().filter((s) => s !== first),
  );
  const chosen = [...(first ? [first] : []), ...others].slice(0, n);
  const used = new Set<string>();
  const pieces = new Map<Slot, Piece>();
  chosen.forEach((slot, i) => {
    const source = i === 0 && plan.firstPairs ? plan.firstPairs : o.pairs;
    const candidates = source.filter((p) => slot.shapes.includes(p.shape) && !(o.uniquePairs && used.has(pairName(p))));
    const pair = pick(rng, candidates);
    used.add(pairName(pair));
    pieces.set(slot, piece(pair, plan.size, o));
  });
  const items = plan.shelves.map((shelf) =>
    shelf.flatMap((slot) => {
      const p = pieces.get(slot);
      return p ? [{ slot, piece: p }] : [];
    }),
  );
  return placeShelves(
    rng,
    items,
    plan.vertical,
    o,
    chosen.flatMap((slot) => pieces.get(slot) ?? []),
  );
}
