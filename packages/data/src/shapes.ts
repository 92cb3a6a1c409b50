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
 *
 * The parts: world.ts holds the vocabulary, the scene types and each shape's geometry (all re-exported here),
 * scene_fit.ts the up-front check of a configuration, scene_layout.ts the shelf layouts that scenes fall back to;
 * this file resolves options and samples scenes.
 */
import { Rng } from "@vlab/core";
import { pick } from "./pick.js";
import { scenePlan } from "./scene_fit.js";
import { layoutScene, piece, placeShelves, shelve, smallestSize, type Piece } from "./scene_layout.js";
import {
  allPairs,
  boxesApart,
  COLOR_NAMES,
  COLORS,
  DEFAULT_BACKGROUND,
  makeObject,
  pairName,
  SHAPES,
  SIZE_NAMES,
  SIZES,
  type Pair,
  type ResolvedSceneOptions,
  type Scene,
  type SceneOptions,
  type ShapeObject,
} from "./world.js";

export * from "./world.js";

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

const PLACE_TRIES = 60; // centre positions tried per object
const SCENE_TRIES = 40; // whole scenes tried at random before the shelf layouts
const SHELF_DRAWS = 20; // fresh draws of pairs the shelf layout tries before the configuration's own layout

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
