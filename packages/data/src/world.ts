/**
 * Shapes world vocabulary and geometry: the shapes, colours and sizes, the types of scenes and their options, and how
 * each shape is drawn (its outline and tight box at a centre and radius). Plain data and pure functions, with no
 * randomness; shapes.ts re-exports all of it, next to the sampler (`sampleScene`), and the placement code
 * (scene_layout.ts, scene_fit.ts) builds on it.
 */

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
