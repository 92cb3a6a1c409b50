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

/** Checks and fills in the options, once per data set rather than once per scene. */
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
  return {
    width,
    height,
    objects,
    colors,
    shapes,
    pairs,
    requirePairs: opts.requirePairs,
    sizes,
    sizeScale: opts.sizeScale ?? {},
    uniquePairs,
    gap: opts.gap ?? 1,
    background: opts.background ?? DEFAULT_BACKGROUND,
  };
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

const PLACE_TRIES = 60; // centre positions tried per object
const SCENE_TRIES = 40; // whole scenes tried before the exhaustive search
const SEARCH_NODES = 200_000; // positions one exhaustive search may test before it gives up on a draw
const SEARCH_DRAWS = 20; // draws of pairs the exhaustive search tries

/** One object to place: its pair, size and radius, and the range its centre may take (inside the 1-px margin). */
interface Piece {
  pair: Pair;
  size: SizeName;
  r: number;
  xMin: number;
  spanX: number;
  yMin: number;
  spanY: number;
}

function piece(pair: Pair, size: SizeName, o: ResolvedSceneOptions): Piece {
  const margin = 1; // pixels kept free along the image border
  const r = radiusOf(size, o.width, o.height) * (o.sizeScale[size] ?? 1);
  const [ex0, ey0, ex1, ey1] = outlineBox(outline(pair.shape, 0, 0, r)); // the box around a centre at the origin
  const xMin = margin - ex0,
    spanX = o.width - margin - ex1 - xMin;
  const yMin = margin - ey0,
    spanY = o.height - margin - ey1 - yMin;
  if (spanX < 0 || spanY < 0) {
    throw new RangeError(
      `a ${size} ${pair.shape} (radius ${r.toFixed(2)} px) does not fit in a ${o.width}x${o.height} image`,
    );
  }
  return { pair, size, r, xMin, spanX, yMin, spanY };
}

/**
 * Places `pieces` by depth-first search over every half-pixel centre (in an order shuffled by `rng`), backtracking
 * when a piece has no free spot: it finds a placement whenever one exists on that grid, so a scene whose objects fit
 * cannot fail by bad luck. Returns undefined when there is none (or after SEARCH_NODES positions).
 */
function searchPlacement(rng: Rng, pieces: Piece[], gap: number): ShapeObject[] | undefined {
  const spots = pieces.map((p) => {
    const xs = Array.from({ length: Math.floor(p.spanX * 2) + 1 }, (_, i) => p.xMin + i / 2);
    const ys = Array.from({ length: Math.floor(p.spanY * 2) + 1 }, (_, i) => p.yMin + i / 2);
    const all = xs.flatMap((x) => ys.map((y) => [x, y] as const));
    for (let i = all.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [all[i], all[j]] = [all[j]!, all[i]!]; // eslint-disable-line @typescript-eslint/no-non-null-assertion
    }
    return all;
  });
  let budget = SEARCH_NODES;
  const placed: ShapeObject[] = [];
  const place = (k: number): boolean => {
    const p = pieces[k];
    if (p === undefined) return true;
    for (const [x, y] of spots[k] ?? []) {
      if (--budget < 0) return false;
      const cand = makeObject(p.pair.shape, p.pair.color, p.size, x, y, p.r);
      if (!placed.every((q) => boxesApart(q.box, cand.box, gap))) continue;
      placed.push(cand);
      if (place(k + 1)) return true;
      placed.pop();
    }
    return false;
  };
  return place(0) ? placed : undefined;
}

/**
 * Samples one scene. Deterministic in `rng`: the same generator state gives the same scene.
 * When the drawn objects do not fit after half the tries (many objects in a small image), the remaining tries draw
 * every object at the smallest allowed size; when those fail too, an exhaustive search places objects at the
 * smallest size wherever they fit, over fresh draws of their pairs. Only a scene whose objects cannot fit at all
 * throws, naming the configuration.
 */
export function sampleScene(rng: Rng, opts: SceneOptions = {}): Scene {
  const o = resolveSceneOptions(opts);
  const [lo, hi] = o.objects;
  const n = lo + rng.int(hi - lo + 1);
  const [smallest] = [...o.sizes].sort((a, b) => SIZES[a] * (o.sizeScale[a] ?? 1) - SIZES[b] * (o.sizeScale[b] ?? 1));
  if (smallest === undefined) throw new RangeError("sampleScene: no sizes to draw objects at");
  // the i-th object's pair: from requirePairs first when given, never a pair already `used` with uniquePairs
  const nextPair = (i: number, used: Set<string>): Pair | undefined => {
    const source = i === 0 && o.requirePairs && o.requirePairs.length > 0 ? o.requirePairs : o.pairs;
    const candidates = o.uniquePairs ? source.filter((p) => !used.has(pairName(p))) : source;
    return candidates.length === 0 ? undefined : pick(rng, candidates);
  };
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
    if (ok) return { objects, width: o.width, height: o.height, background: o.background };
  }
  // Exhaustive search at the smallest size, over fresh draws of pairs (some shapes need more room than others).
  for (let draw = 0; draw < SEARCH_DRAWS; draw++) {
    const used = new Set<string>();
    const pieces: Piece[] = [];
    for (let i = 0; i < n; i++) {
      const pair = nextPair(i, used);
      if (pair === undefined) break;
      used.add(pairName(pair));
      pieces.push(piece(pair, smallest, o));
    }
    const objects = pieces.length === n ? searchPlacement(rng, pieces, o.gap) : undefined;
    if (objects) return { objects, width: o.width, height: o.height, background: o.background };
  }
  throw new RangeError(
    `could not place ${n} objects (sizes ${o.sizes.join(", ")}, gap ${o.gap} px) in a ${o.width}x${o.height} image ` +
      `without overlap, even at the smallest size by exhaustive search: use a larger image, fewer objects, ` +
      `smaller sizes or a negative gap`,
  );
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
