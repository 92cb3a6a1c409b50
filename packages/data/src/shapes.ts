/**
 * Shapes world: the vocabulary (shapes, colours, sizes) and the scenes built from it.
 *
 * A scene is a handful of filled shapes on a plain background. Everything about it is plain data, so a scene is
 * its own label: captions, questions, counts and boxes are all computed from it (captions.ts, questions.ts), and
 * render.ts turns it into pixels.
 *
 *   const scene = sampleScene(new Rng(0), { width: 32, objects: [1, 3] });
 *   // { width: 32, height: 32, background: [24, 24, 24],
 *   //   objects: [{ shape: "circle", color: "red", size: "large", x: 12.3, y: 20.1, r: 5.44,
 *   //     box: [6.86, 14.66, 17.74, 25.54] }, ...] }
 *
 * Geometry. Every shape is drawn around its centre `(x, y)` with a radius `r` that is a fixed fraction of the
 * image's shorter side per size name (`SIZES`), so a 16-px and a 64-px world look alike. `box` is the tight
 * bounding box of what is drawn, `[x0, y0, x1, y1]` in pixels (x to the right, y down, the image spans
 * `[0, width] × [0, height]`).
 *
 * Placement is rejection sampling: a centre is drawn uniformly where the whole box fits inside the image (with a
 * 1-px margin), and is rejected when its box comes closer than `gap` pixels to an already placed box (boxes at
 * least `gap` apart horizontally or vertically). So by default shapes never overlap, no box contains another
 * shape's pixels, and the centre of every box shows its shape's colour. Same seed, same scene:
 * all randomness comes from the `Rng` passed in (core's sfc32), never from `Math.random`.
 *
 * Feasibility is checked up front, when the options are resolved (once per configuration): a configuration whose
 * objects cannot always be placed (a shape too big for the image at some size, or more objects than fit at the
 * smallest size) is refused with an error naming it and saying what would fit. Scenes of an accepted configuration
 * never fail: when random tries miss, shelf layouts place the objects (see `sampleScene`).
 */
import { Rng } from "@vlab/core";
import { pick } from "./pick.js";

/** The shapes, in a fixed order (class indices follow it). */
export const SHAPES = ["circle", "square", "triangle", "star", "hexagon", "diamond"] as const;
export type ShapeName = (typeof SHAPES)[number];

export type RGB = readonly [number, number, number];

/** The colours, with the RGB each is drawn in (saturated, far apart, all readable on the dark default background). */
export const COLORS = {
  red: [220, 40, 40],
  green: [40, 170, 70],
  blue: [40, 90, 230],
  yellow: [240, 210, 40],
  purple: [150, 60, 200],
  orange: [245, 135, 30],
} as const satisfies Record<string, RGB>;
export type ColorName = keyof typeof COLORS;
/** The colour names, in a fixed order (class indices follow it). */
export const COLOR_NAMES = Object.keys(COLORS) as ColorName[];

/** Radius of each size as a fraction of the image's shorter side (small: 3.2 px, large: 5.4 px at 32 px). */
export const SIZES = { small: 0.1, large: 0.17 } as const;
export type SizeName = keyof typeof SIZES;
export const SIZE_NAMES = Object.keys(SIZES) as SizeName[];

/** A bounding box `[x0, y0, x1, y1]` in pixels. */
export type Box = [number, number, number, number];

/** One drawn shape. */
export interface ShapeObject {
  shape: ShapeName;
  color: ColorName;
  size: SizeName;
  /** Centre in pixels. */
  x: number;
  y: number;
  /** Radius of the shape in pixels (the circle's radius; see `outline` for the others). */
  r: number;
  /** Tight bounding box of the drawn shape, in pixels. */
  box: Box;
}

export interface Scene {
  objects: ShapeObject[];
  width: number;
  height: number;
  background: RGB;
}

/** A colour–shape combination, the unit of the compositional split. */
export interface Pair {
  color: ColorName;
  shape: ShapeName;
}

/** "red circle": how a pair is named in captions and class names. */
export function pairName(p: Pair): string {
  return `${p.color} ${p.shape}`;
}

/** Every colour–shape pair, colours outer, shapes inner (the class order of `label: "pair"`). */
export function allPairs(colors: readonly ColorName[] = COLOR_NAMES, shapes: readonly ShapeName[] = SHAPES): Pair[] {
  return colors.flatMap((color) => shapes.map((shape) => ({ color, shape })));
}

export const DEFAULT_BACKGROUND: RGB = [24, 24, 24];

export interface SceneOptions {
  /** Image width in pixels (default 32). */
  width?: number;
  /** Image height in pixels (default: the width). */
  height?: number;
  /** Number of objects, or an inclusive range `[min, max]` drawn uniformly (default `[1, 3]`). */
  objects?: number | readonly [number, number];
  /** Colours to draw from (default all of `COLORS`). */
  colors?: readonly ColorName[];
  /** Shapes to draw from (default all of `SHAPES`). */
  shapes?: readonly ShapeName[];
  /** Allowed colour–shape pairs (default every combination of `colors` × `shapes`); objects draw a pair uniformly. */
  pairs?: readonly Pair[];
  /** When given, the first object of every scene is drawn from these pairs (the others from `pairs`). */
  requirePairs?: readonly Pair[];
  /** Sizes to draw from (default `["small", "large"]`). */
  sizes?: readonly SizeName[];
  /** Multiplies the radius of each size (default 1): `otherSizes` uses it to draw sizes never seen in training. */
  sizeScale?: Partial<Record<SizeName, number>>;
  /** No two objects share a colour–shape pair, so "the red circle" always names one object (default true). */
  uniquePairs?: boolean;
  /** Minimum distance in pixels between the boxes of two objects; negative values allow overlap (default 1). */
  gap?: number;
  /** Background colour (default `[24, 24, 24]`, near black). */
  background?: RGB;
}

/** Scene options with every default filled in. */
export type ResolvedSceneOptions = Required<Omit<SceneOptions, "requirePairs" | "objects">> & {
  objects: readonly [number, number];
  requirePairs?: readonly Pair[];
};

/**
 * Checks and fills in the options, once per data set rather than once per scene. It also refuses, up front and
 * naming the configuration and what would fit, one whose scenes cannot always be placed: a shape at a size that does
 * not fit in the image, or more objects than fit at the smallest size (see `scenePlan`). A configuration it accepts
 * gives a scene for every seed.
 */
export function resolveSceneOptions(opts: SceneOptions = {}): ResolvedSceneOptions {
  const width = opts.width ?? 32;
  const height = opts.height ?? width;
  for (const [name, v] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (!Number.isInteger(v) || v < 8 || v > 4096)
      throw new RangeError(`scene ${name} must be an integer in [8, 4096], got ${v}`);
  }
  const objects =
    typeof opts.objects === "number" ? ([opts.objects, opts.objects] as const) : (opts.objects ?? ([1, 3] as const));
  if (!Number.isInteger(objects[0]) || !Number.isInteger(objects[1]) || objects[0] < 1 || objects[1] < objects[0]) {
    throw new RangeError(
      `objects must be a positive integer or a range [min, max] with 1 <= min <= max, got ` +
        `${JSON.stringify(opts.objects)}`,
    );
  }
  const colors = opts.colors ?? COLOR_NAMES;
  const shapes = opts.shapes ?? SHAPES;
  for (const c of colors)
    if (!(c in COLORS)) throw new RangeError(`unknown colour "${c}"; the colours are ${COLOR_NAMES.join(", ")}`);
  for (const s of shapes)
    if (!SHAPES.includes(s)) throw new RangeError(`unknown shape "${s}"; the shapes are ${SHAPES.join(", ")}`);
  const pairs = opts.pairs ?? allPairs(colors, shapes);
  if (pairs.length === 0) throw new RangeError("no colour–shape pairs to draw from");
  const sizes = opts.sizes ?? SIZE_NAMES;
  for (const s of sizes)
    if (!(s in SIZES)) throw new RangeError(`unknown size "${s}"; the sizes are ${SIZE_NAMES.join(", ")}`);
  if (sizes.length === 0) throw new RangeError("no sizes to draw from");
  const uniquePairs = opts.uniquePairs ?? true;
  if (uniquePairs && objects[1] > pairs.length) {
    throw new RangeError(
      `${objects[1]} objects with unique colour–shape pairs need at least that many pairs, but only ${pairs.length} ` +
        `are allowed`,
    );
  }
  const sizeScale = opts.sizeScale ?? {};
  for (const [s, f] of Object.entries(sizeScale))
    if (f !== undefined && !(Number.isFinite(f) && f > 0))
      throw new RangeError(`sizeScale.${s} must be a positive number, got ${f}`);
  const gap = opts.gap ?? 1;
  if (!Number.isFinite(gap)) throw new RangeError(`gap must be a finite number of pixels, got ${gap}`);
  const o: ResolvedSceneOptions = {
    width,
    height,
    objects,
    colors,
    shapes,
    pairs,
    requirePairs: opts.requirePairs,
    sizes,
    sizeScale,
    uniquePairs,
    gap,
    background: opts.background ?? DEFAULT_BACKGROUND,
  };
  scenePlan(o); // refuses, naming the configuration, one whose scenes cannot always be placed (see scenePlan)
  return o;
}

/** Rounds to 1/1000 px so scenes print and serialise cleanly (and the SVG says exactly what the scene says). */
function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** The outline of a shape drawn at centre (x, y) with radius r: a circle or a polygon (vertices in pixels). */
export type Outline =
  { kind: "circle"; cx: number; cy: number; r: number } | { kind: "polygon"; points: [number, number][] };

/** Regular polygon / star vertices; angle 0 points up, vertices go clockwise. */
function radial(x: number, y: number, radii: number[], n: number, start = 0): [number, number][] {
  const pts: [number, number][] = [];
  for (let k = 0; k < n; k++) {
    for (const [j, rad] of radii.entries()) {
      const i = k * radii.length + j; // vertex index
      const a = start + (i * 2 * Math.PI) / (n * radii.length);
      pts.push([round3(x + rad * Math.sin(a)), round3(y - rad * Math.cos(a))]);
    }
  }
  return pts;
}

/**
 * The geometry of each shape at centre (x, y) and radius r, chosen so the shapes look about as big as each other.
 * Every outline's bounding box is centred on (x, y) except the star's (its top point reaches r, its lower points
 * 0.81 r).
 */
export function outline(shape: ShapeName, x: number, y: number, r: number): Outline {
  switch (shape) {
    case "circle":
      return { kind: "circle", cx: x, cy: y, r };
    case "square": {
      const h = 0.8 * r; // half side: a square inscribed in the circle looks small beside the circle
      return {
        kind: "polygon",
        points: [
          [round3(x - h), round3(y - h)],
          [round3(x + h), round3(y - h)],
          [round3(x + h), round3(y + h)],
          [round3(x - h), round3(y + h)],
        ],
      };
    }
    case "triangle": {
      // Equilateral, pointing up, its bounding box centred on (x, y): height 1.5 r, base √3 r.
      const hw = (Math.sqrt(3) / 2) * r;
      return {
        kind: "polygon",
        points: [
          [round3(x), round3(y - 0.75 * r)],
          [round3(x + hw), round3(y + 0.75 * r)],
          [round3(x - hw), round3(y + 0.75 * r)],
        ],
      };
    }
    case "star":
      // five points, a fat centre so it fills at 8 px
      return { kind: "polygon", points: radial(x, y, [r, 0.5 * r], 5) };
    case "hexagon":
      return { kind: "polygon", points: radial(x, y, [0.95 * r], 6, Math.PI / 6) }; // flat top and bottom
    case "diamond": {
      const hw = 0.7 * r;
      return {
        kind: "polygon",
        points: [
          [round3(x), round3(y - r)],
          [round3(x + hw), round3(y)],
          [round3(x), round3(y + r)],
          [round3(x - hw), round3(y)],
        ],
      };
    }
  }
}

/** The tight bounding box of an outline. */
export function outlineBox(o: Outline): Box {
  if (o.kind === "circle") return [round3(o.cx - o.r), round3(o.cy - o.r), round3(o.cx + o.r), round3(o.cy + o.r)];
  let x0 = Infinity,
    y0 = Infinity,
    x1 = -Infinity,
    y1 = -Infinity;
  for (const [px, py] of o.points) {
    x0 = Math.min(x0, px);
    y0 = Math.min(y0, py);
    x1 = Math.max(x1, px);
    y1 = Math.max(y1, py);
  }
  return [x0, y0, x1, y1];
}

/** Radius in pixels of a size in an image of this size (before `sizeScale`). */
export function radiusOf(size: SizeName, width: number, height: number): number {
  return SIZES[size] * Math.min(width, height);
}

/** Builds one object (computing its box) — for hand-made scenes in tests and notebooks. */
export function makeObject(
  shape: ShapeName,
  color: ColorName,
  size: SizeName,
  x: number,
  y: number,
  r: number,
): ShapeObject {
  const rx = round3(x),
    ry = round3(y),
    rr = round3(r);
  return { shape, color, size, x: rx, y: ry, r: rr, box: outlineBox(outline(shape, rx, ry, rr)) };
}

/** Builds a scene from objects given as `{shape, color, size, x, y}` (radius from the size), e.g. for tests. */
export function makeScene(
  objects: { shape: ShapeName; color: ColorName; size?: SizeName; x: number; y: number; r?: number }[],
  opts: { width?: number; height?: number; background?: RGB } = {},
): Scene {
  const width = opts.width ?? 32;
  const height = opts.height ?? width;
  return {
    width,
    height,
    background: opts.background ?? DEFAULT_BACKGROUND,
    objects: objects.map((o) =>
      makeObject(o.shape, o.color, o.size ?? "large", o.x, o.y, o.r ?? radiusOf(o.size ?? "large", width, height)),
    ),
  };
}

/** True when two boxes are at least `gap` pixels apart horizontally or vertically (so they do not overlap). */
export function boxesApart(a: Box, b: Box, gap = 0): boolean {
  return a[2] + gap <= b[0] || b[2] + gap <= a[0] || a[3] + gap <= b[1] || b[3] + gap <= a[1];
}

const MARGIN = 1; // pixels kept free along the image border
const PLACE_TRIES = 60; // centre positions tried per object
const SCENE_TRIES = 40; // whole scenes tried at random before the shelf layouts
const SHELF_DRAWS = 20; // fresh draws of pairs the shelf layout tries before the configuration's own layout
// Extra distance (px) the shelf layouts keep between boxes: centres and vertices are rounded to 1/1000 px, which moves
// a box edge by at most 0.0015 px, so boxes laid out FIT_SLACK further apart than `gap` stay `gap` apart.
const FIT_SLACK = 0.01;
// Most multisets of shapes the check packs one by one (when no common box fits), so a refusal stays instant.
const MULTISET_LIMIT = 2000;

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

function reach(shape: ShapeName, r: number, width: number, height: number): Reach {
  const [ex0, ey0, ex1, ey1] = outlineBox(outline(shape, 0, 0, r)); // the box around a centre at the origin
  const xMin = MARGIN - ex0,
    spanX = width - MARGIN - ex1 - xMin;
  const yMin = MARGIN - ey0,
    spanY = height - MARGIN - ey1 - yMin;
  return { w: ex1 - ex0, h: ey1 - ey0, xMin, spanX, yMin, spanY };
}

/** One object to place: its pair, size and radius, its box and the range its centre may take. */
interface Piece extends Reach {
  pair: Pair;
  size: SizeName;
  r: number;
}

function radiusIn(size: SizeName, o: ResolvedSceneOptions): number {
  return radiusOf(size, o.width, o.height) * (o.sizeScale[size] ?? 1);
}

function piece(pair: Pair, size: SizeName, o: ResolvedSceneOptions): Piece {
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
interface Slot {
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
function shelve(boxes: readonly Slot[], vertical: boolean, o: ResolvedSceneOptions): Layout | undefined {
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
function placeShelves(
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
interface ScenePlan extends Layout {
  size: SizeName;
  firstSlot?: Slot;
  firstPairs?: Pair[];
}

/** The smallest size drawn (by radius), the one crowded scenes use; ties go to the first in `sizes`. */
function smallestSize(o: ResolvedSceneOptions): SizeName {
  const [smallest] = [...o.sizes].sort((a, b) => SIZES[a] * (o.sizeScale[a] ?? 1) - SIZES[b] * (o.sizeScale[b] ?? 1));
  if (smallest === undefined) throw new RangeError("no sizes to draw objects at");
  return smallest;
}

function uniqueByName(pairs: readonly Pair[]): Pair[] {
  const seen = new Map<string, Pair>();
  for (const p of pairs) if (!seen.has(pairName(p))) seen.set(pairName(p), p);
  return [...seen.values()];
}

/** The drawable shapes: those of `pairs` and `requirePairs`, in SHAPES order. */
function drawableShapes(o: ResolvedSceneOptions): ShapeName[] {
  const used = new Set([...o.pairs, ...(o.requirePairs ?? [])].map((p) => p.shape));
  return SHAPES.filter((s) => used.has(s));
}

/** The required pairs (undefined when none are) and the pairs, each pair once. */
function pairSets(o: ResolvedSceneOptions) {
  const required = o.requirePairs && o.requirePairs.length > 0 ? uniqueByName(o.requirePairs) : undefined;
  return { required, all: uniqueByName(o.pairs) };
}

/**
 * How many boxes of length `len` fit one after another, gap (+ FIT_SLACK) apart, in `free` px: the largest k with
 * k·(len + step) - step ≤ free, i.e. floor((free - len) / (len + step)) + 1; Infinity when len + step ≤ 0.
 */
function slots(free: number, len: number, step: number): number {
  if (len > free) return 0;
  return len + step <= 0 ? Infinity : Math.floor((free - len) / (len + step)) + 1;
}

/**
 * The grid check: for each non-empty subset of the drawable shapes, a grid of cells of their common box (widest ×
 * tallest); its count is the cells, at most the objects its pairs can give (unique pairs, the first from
 * requirePairs). Returns the count and plan of the subset holding `need` objects with the most pairs to draw from,
 * else of the one holding most.
 */
function gridPlan(
  o: ResolvedSceneOptions,
  size: SizeName,
  boxOf: (s: ShapeName) => { w: number; h: number },
  need: number,
  subsets = shapeSubsets(o, need),
) {
  const boxes = new Map(drawableShapes(o).map((s) => [s, boxOf(s)] as const));
  const step = o.gap + FIT_SLACK;
  let best: { count: number; plan: ScenePlan; choices: number } | undefined;
  for (const { subset, choices, drawable, firstPairs } of subsets) {
    const w = Math.max(...subset.map((s) => boxes.get(s)?.w ?? Infinity)),
      h = Math.max(...subset.map((s) => boxes.get(s)?.h ?? Infinity));
    const cols = slots(o.width - 2 * MARGIN, w, step),
      rows = slots(o.height - 2 * MARGIN, h, step);
    const count = Math.min(cols === 0 || rows === 0 ? 0 : cols * rows, drawable);
    const better =
      best === undefined ||
      (count >= need
        ? best.count < need || choices > best.choices
        : best.count < need && (count > best.count || (count === best.count && choices > best.choices)));
    if (!better) continue;
    const k = Math.min(count, need);
    const shelves = Array.from({ length: Math.min(cols, k) }, () =>
      Array.from({ length: Math.min(rows, k) }, (): Slot => ({ shapes: subset, w, h })),
    );
    best = { count, choices, plan: { vertical: true, shelves, size, firstPairs } };
  }
  if (best === undefined) throw new RangeError("no colour–shape pairs to draw from");
  return best;
}

/**
 * Every non-empty subset of the drawable shapes, with how many pairs it has (`choices`), the most objects its pairs
 * can give (`drawable`: distinct pairs with uniquePairs, the first from requirePairs when given) and the required
 * pairs the first object may take so that `need` objects can be drawn.
 */
function shapeSubsets(o: ResolvedSceneOptions, need: number) {
  const shapes = drawableShapes(o);
  const { required, all } = pairSets(o);
  return Array.from({ length: (1 << shapes.length) - 1 }, (_, m) => {
    const subset = shapes.filter((_, i) => ((m + 1) >> i) & 1);
    const pairs = all.filter((p) => subset.includes(p.shape));
    let drawable: number;
    let firstPairs: Pair[] | undefined;
    if (required) {
      const req = required.filter((p) => subset.includes(p.shape));
      const others = (p: Pair) => pairs.filter((q) => pairName(q) !== pairName(p)).length;
      if (o.uniquePairs) {
        drawable = req.length === 0 ? 0 : 1 + Math.max(...req.map(others));
        firstPairs = req.filter((p) => 1 + others(p) >= Math.min(need, drawable));
      } else {
        drawable = req.length === 0 ? 0 : pairs.length > 0 ? Infinity : 1;
        firstPairs = req;
      }
    } else drawable = o.uniquePairs ? pairs.length : pairs.length > 0 ? Infinity : 0;
    return { subset, choices: pairs.length, drawable, firstPairs };
  });
}

/**
 * The multiset check, for small counts where the grid's common box is too coarse (a required circle beside a
 * triangle, say): every multiset of `need` drawable shapes (the first of a required pair's shape, unique pairs
 * respected) is shelf-packed by columns and by rows; returns the plan of the first that fits. Returns null when
 * there are more than MULTISET_LIMIT multisets to try.
 */
function multisetPlan(o: ResolvedSceneOptions, size: SizeName, r: number, need: number): ScenePlan | undefined | null {
  const shapes = drawableShapes(o);
  const boxes = new Map(shapes.map((s) => [s, reach(s, r, o.width, o.height)] as const));
  const area = (s: ShapeName) => (boxes.get(s)?.w ?? Infinity) * (boxes.get(s)?.h ?? Infinity);
  shapes.sort((a, b) => area(a) - area(b)); // the most compact first: they fit most often
  const slotFor = (s: ShapeName): Slot => ({
    shapes: [s],
    w: boxes.get(s)?.w ?? Infinity,
    h: boxes.get(s)?.h ?? Infinity,
  });
  const { required, all } = pairSets(o);
  const names = new Set(all.map(pairName));
  const firsts = required
    ? shapes.flatMap((f) => {
        const pairs = required.filter((p) => p.shape === f);
        return pairs.length > 0 ? [{ shape: f, pairs }] : [];
      })
    : [undefined];
  const rest = need - (required ? 1 : 0);
  const d = shapes.length;
  let combos = 1; // multisets of `rest` over d shapes: C(rest + d - 1, d - 1), per first shape
  for (let i = 1; i < d; i++) combos = (combos * (rest + i)) / i;
  if (combos * firsts.length > MULTISET_LIMIT) return null;
  for (const first of firsts) {
    // how many more objects of each shape the pairs allow (one fewer of the first's shape when it may take one)
    const caps = shapes.map((s) => {
      const n = all.filter((p) => p.shape === s).length;
      if (!o.uniquePairs) return n > 0 ? rest : 0;
      return s === first?.shape && first.pairs.some((p) => names.has(pairName(p))) ? n - 1 : n;
    });
    const counts = new Array<number>(d).fill(0);
    const firstSlot = first ? slotFor(first.shape) : undefined;
    // Boxes gap apart, grown by the gap, do not overlap inside the room grown by the gap: a multiset whose grown
    // boxes cover more than that cannot fit, so it is skipped (and so is any multiset starting with it).
    const step = o.gap + FIT_SLACK;
    const grown = (s: ShapeName) =>
      Math.max(0, (boxes.get(s)?.w ?? 0) + step) * Math.max(0, (boxes.get(s)?.h ?? 0) + step);
    const roomArea = Math.max(0, o.width - 2 * MARGIN + step) * Math.max(0, o.height - 2 * MARGIN + step);
    const least = shapes.map((_, i) => Math.min(...shapes.slice(i).map(grown))); // smallest grown box from shape i on
    const tryCounts = (): ScenePlan | undefined => {
      const slots = shapes.flatMap((s, i) => Array.from({ length: counts[i] ?? 0 }, () => slotFor(s)));
      if (firstSlot) slots.unshift(firstSlot);
      for (const vertical of [true, false]) {
        const layout = shelve(slots, vertical, o);
        if (layout) return { ...layout, size, firstSlot, firstPairs: first?.pairs };
      }
      return undefined;
    };
    const fill = (i: number, left: number, used: number): ScenePlan | undefined => {
      if (used + left * (least[i] ?? 0) > roomArea) return undefined;
      const s = shapes[i];
      if (s === undefined) return left === 0 ? tryCounts() : undefined;
      for (let c = Math.min(left, caps[i] ?? 0); c >= 0; c--) {
        counts[i] = c;
        const plan = fill(i + 1, left - c, used + c * grown(s));
        if (plan) return plan;
      }
      counts[i] = 0;
      return undefined;
    };
    const plan = fill(0, rest, first ? grown(first.shape) : 0);
    if (plan) return plan;
  }
  return undefined;
}

/** The fallback layout for `need` objects at radius r of the smallest size, and the count the check found. */
function findPlan(o: ResolvedSceneOptions, size: SizeName, r: number, need: number) {
  const grid = gridPlan(o, size, (s) => reach(s, r, o.width, o.height), need);
  if (grid.count >= need) return { count: grid.count, plan: grid.plan };
  const multi = multisetPlan(o, size, r, need);
  return { count: multi ? need : grid.count, plan: multi ?? grid.plan };
}

const plans = new Map<string, ScenePlan | { refused: string }>(); // by planKey

/** What decides whether (and how) a configuration's scenes can be placed. */
function planKey(o: ResolvedSceneOptions): string {
  const sizes = o.sizes.map((s) => `${s}*${o.sizeScale[s] ?? 1}`).join(",");
  const names = (ps: readonly Pair[] | undefined) => (ps ?? []).map(pairName).join(",");
  const pairs = `${names(o.pairs)}|${names(o.requirePairs)}`;
  return `${o.width}x${o.height}|${o.objects[1]}|${o.gap}|${sizes}|${o.uniquePairs}|${pairs}`;
}

/**
 * Checks a configuration up front (once per configuration, cached; not per scene) and returns the layout its scenes
 * fall back to. Throws a RangeError naming the configuration when
 *  - a drawable shape at a drawable size does not fit in the image, inside its 1-px margin, on its own (the random
 *    tries draw every size), or
 *  - no layout holds the maximum object count at the smallest size (the size crowded scenes fall back to), saying
 *    how many fit and which sizeScale would fit them all.
 * A layout holds n objects when a grid of cells of a common box (of some subset of the drawable shapes) has n cells
 * and that subset has pairs for n objects (exact for alike objects: n boxes w × h fit gap g apart in a W' × H' room
 * iff floor((W' + g) / (w + g)) · floor((H' + g) / (h + g)) ≥ n), or, for small n, when some drawable multiset of n
 * shapes shelf-packs (exact for two objects: side by side or one above the other). `layoutScene` places every scene
 * of an accepted configuration in its layout, so sampleScene never fails for it.
 */
function scenePlan(o: ResolvedSceneOptions): ScenePlan {
  const key = planKey(o);
  let plan = plans.get(key);
  if (plan === undefined) {
    try {
      plan = computePlan(o);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      plan = { refused: e.message };
    }
    if (plans.size >= 1000) plans.clear();
    plans.set(key, plan);
  }
  if ("refused" in plan) throw new RangeError(plan.refused);
  return plan;
}

const fmt = (v: number) => `${Math.round(v * 100) / 100}`;

function computePlan(o: ResolvedSceneOptions): ScenePlan {
  const image = `a ${o.width}×${o.height} image`;
  const shapes = drawableShapes(o);
  for (const size of o.sizes) {
    const r = radiusIn(size, o);
    const scale = o.sizeScale[size] ?? 1;
    const tooBig = (f: number) =>
      shapes.filter((s) => {
        const b = reach(s, r * (f / scale), o.width, o.height);
        return b.spanX < 0 || b.spanY < 0;
      });
    const too = tooBig(scale);
    const [worst] = too;
    if (worst === undefined) continue;
    const b = reach(worst, r, o.width, o.height);
    const boxes = too.map((s) => reach(s, r, o.width, o.height)); // boxes grow with the radius: try them scaled
    const fitsScaled = (f: number) =>
      boxes.every((x) => (x.w * f) / scale <= o.width - 2 * MARGIN && (x.h * f) / scale <= o.height - 2 * MARGIN);
    const maxScale = largest(scale, fitsScaled, (f) => tooBig(f).length === 0);
    throw new RangeError(
      `scene configuration refused: a ${size} ${worst} (radius ${fmt(r)} px, box ${fmt(b.w)}×${fmt(b.h)} px; ` +
        `size ${size} × ${scale}) does not fit in ${image} inside its ${MARGIN}-px margin` +
        (too.length > 1 ? `, nor a ${size} ${too.slice(1).join(", ")}` : "") +
        `; lower sizeScale.${size} to at most ${maxScale}, or draw no ` +
        `${too.join("/")} at size ${size}`,
    );
  }
  const size = smallestSize(o);
  const r = radiusIn(size, o);
  const hi = o.objects[1];
  const found = findPlan(o, size, r, hi);
  if (found.count >= hi) return found.plan;
  // what would fit: the most objects (grid, then multisets one more at a time), and the largest scale of the
  // smallest size whose grid holds them all (a safe answer: the multiset check may accept a little more)
  let most = found.count;
  while (most + 1 < hi && multisetPlan(o, size, r, most + 1)) most++;
  const scale = o.sizeScale[size] ?? 1;
  const subsets = shapeSubsets(o, hi);
  const boxes = new Map(shapes.map((s) => [s, reach(s, r, o.width, o.height)] as const));
  // each subset's common box now, for the subsets with pairs enough: boxes grow with the radius, so at factor f
  // they are f / scale times as large
  const commons = subsets
    .filter((x) => x.drawable >= hi)
    .map(({ subset }) => ({
      w: Math.max(...subset.map((s) => boxes.get(s)?.w ?? Infinity)),
      h: Math.max(...subset.map((s) => boxes.get(s)?.h ?? Infinity)),
    }));
  const step = o.gap + FIT_SLACK;
  const scaledFits = (f: number) =>
    commons.some(({ w, h }) => {
      const cols = slots(o.width - 2 * MARGIN, (w * f) / scale, step),
        rows = slots(o.height - 2 * MARGIN, (h * f) / scale, step);
      return cols > 0 && rows > 0 && cols * rows >= hi;
    });
  const exactFits = (f: number) =>
    gridPlan(o, size, (s) => reach(s, r * (f / scale), o.width, o.height), hi, subsets).count >= hi;
  const maxScale = exactFits(scale / 1000) ? largest(scale, scaledFits, exactFits) : undefined;
  const [lo] = o.objects;
  const what = `${hi} objects (objects ${lo === hi ? hi : `[${lo}, ${hi}]`}) of radius ≥ ${fmt(r)} px`;
  const lower = [
    `objects to at most ${most}`,
    ...(maxScale === undefined ? [] : [`sizeScale.${size} to at most ${maxScale}`]),
  ];
  if (o.gap > 0) lower.push("the gap");
  throw new RangeError(
    `scene configuration refused: ${what} (size ${size} × ${scale}, the smallest drawn; shapes ` +
      `${shapes.join(", ")}; gap ${o.gap} px) cannot all fit in ${image} inside its ${MARGIN}-px margin: at most ` +
      `${most} can always be placed; lower ${lower.slice(0, -1).join(", ")}` +
      (lower.length > 1 ? ` or ${lower.at(-1)}` : lower[0]),
  );
}

/**
 * The largest factor below `top`, rounded down to 2 decimals, for which `ok` holds (ok is false at `top`): bisection
 * on the cheap `near` (boxes scaled linearly), then steps of 0.01 down until `ok` (boxes drawn at that size) holds.
 */
function largest(top: number, near: (f: number) => boolean, ok: (f: number) => boolean): number {
  let lo = 0,
    hi = top;
  for (let i = 0; i < 16; i++) {
    const mid = (lo + hi) / 2;
    if (near(mid)) lo = mid;
    else hi = mid;
  }
  let f = Math.floor(lo * 100) / 100;
  while (f > 0.01 && !ok(f)) f = Math.round((f - 0.01) * 100) / 100;
  return f;
}

/**
 * The placement that cannot fail: `n` objects (at most the count scenePlan checked) at the smallest size in the
 * configuration's layout: slots chosen at random (the first object's slot first), a pair per slot (of the slot's
 * shapes, never a pair twice with uniquePairs), placed as placeShelves does.
 */
function layoutScene(rng: Rng, n: number, plan: ScenePlan, o: ResolvedSceneOptions): ShapeObject[] {
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

/**
 * Samples one scene. Deterministic in `rng`: the same generator state gives the same scene.
 * Objects are placed by rejection sampling; when the drawn objects do not fit after half the tries (many objects in a
 * small image), the remaining tries draw every object at the smallest allowed size. When those fail too, fresh draws
 * of pairs at the smallest size are shelf-packed, and when none packs, the configuration's own layout (found by the
 * check in `resolveSceneOptions`) places the scene. So a configuration that `resolveSceneOptions` accepts (it refuses
 * those whose objects cannot always fit, naming them) gives a scene for every seed.
 */
export function sampleScene(rng: Rng, opts: SceneOptions = {}): Scene {
  const o = resolveSceneOptions(opts);
  const [lo, hi] = o.objects;
  const n = lo + rng.int(hi - lo + 1);
  const smallest = smallestSize(o);
  // the i-th object's pair: from requirePairs first when given, never a pair already `used` with uniquePairs
  const nextPair = (i: number, used: Set<string>): Pair | undefined => {
    const source = i === 0 && o.requirePairs && o.requirePairs.length > 0 ? o.requirePairs : o.pairs;
    const candidates = o.uniquePairs ? source.filter((p) => !used.has(pairName(p))) : source;
    return candidates.length === 0 ? undefined : pick(rng, candidates);
  };
  const scene = (objects: ShapeObject[]): Scene => ({
    objects,
    width: o.width,
    height: o.height,
    background: o.background,
  });
  for (let attempt = 0; attempt < SCENE_TRIES; attempt++) {
    // A crowded scene that failed half its tries is drawn with every object at the smallest size.
    const crowded = attempt >= SCENE_TRIES / 2;
    const objects: ShapeObject[] = [];
    const used = new Set<string>();
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const pair = nextPair(i, used);
      if (pair === undefined) {
        ok = false;
        break;
      }
      used.add(pairName(pair));
      const p = piece(pair, crowded ? smallest : pick(rng, o.sizes), o);
      let placed: ShapeObject | undefined;
      for (let t = 0; t < PLACE_TRIES && !placed; t++) {
        const cand = makeObject(
          p.pair.shape,
          p.pair.color,
          p.size,
          p.xMin + rng.next() * p.spanX,
          p.yMin + rng.next() * p.spanY,
          p.r,
        );
        if (objects.every((q) => boxesApart(q.box, cand.box, o.gap))) placed = cand;
      }
      if (!placed) ok = false;
      else objects.push(placed);
    }
    if (ok) return scene(objects);
  }
  // Shelf packing of fresh draws of pairs at the smallest size (some draws need more room than others).
  for (let draw = 0; draw < SHELF_DRAWS; draw++) {
    const used = new Set<string>();
    const pieces: Piece[] = [];
    for (let i = 0; i < n; i++) {
      const pair = nextPair(i, used);
      if (pair === undefined) break;
      used.add(pairName(pair));
      pieces.push(piece(pair, smallest, o));
    }
    if (pieces.length < n) continue;
    const slotted = pieces.map((p) => ({ slot: { shapes: [p.pair.shape], w: p.w, h: p.h }, piece: p }));
    const columnsFirst = rng.next() < 0.5;
    for (const vertical of [columnsFirst, !columnsFirst]) {
      const layout = shelve(
        slotted.map((s) => s.slot),
        vertical,
        o,
      );
      if (!layout) continue;
      const items = layout.shelves.map((shelf) => slotted.filter((s) => shelf.includes(s.slot)));
      return scene(placeShelves(rng, items, vertical, o, pieces));
    }
  }
  // The configuration's layout, which holds its maximum object count (checked when the options were resolved).
  return scene(layoutScene(rng, n, scenePlan(o), o));
}

/** 32-bit FNV-1a hash of a string: turns (seed, stream name) into an Rng seed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * An independent random stream for (seed, name): `streamRng(0, "train")` and `streamRng(0, "test")` never share
 * scenes, and each is the same on every run.
 */
export function streamRng(seed: number, name: string): Rng {
  return new Rng(hashString(`${seed}/${name}`));
}
