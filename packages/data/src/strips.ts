/**
 * Strips: shapes in one row (a wide image) or one column (a tall one), one shape per square cell — the extreme
 * aspect ratios of Qwen2-VL's native-resolution experiment (notebook 05). A strip of k cells of 28 px is 28 × 28k
 * pixels: at its native size every shape is one merged 28-px token; squashed into a fixed square it is a sliver.
 *
 *   const s = countStrip(rng, { cells: 8, direction: "row" });   // { scene, shape: "circle", count: 0…3, at }
 *   const img = await renderStrip(s.scene);                      // RgbImage, 224 × 28
 *
 * The counting task: "how many circles?" Every cell must be looked at, so squashing the strip into a fixed square
 * loses exactly what the answer needs. Colours are random and say nothing.
 */
import type { Rng } from "@vlab/core";
import type { RgbImage } from "./image.js";
import { pick } from "./pick.js";
import { renderSceneRgb } from "./render.js";
import { COLOR_NAMES, DEFAULT_BACKGROUND, makeObject, type ColorName, type Scene, type ShapeName } from "./shapes.js";

export type StripDirection = "row" | "column";

export interface StripOptions {
  /** Shapes in the strip (≥ 1). */
  cells: number;
  /** "row": cells left to right (wide); "column": top to bottom (tall). Default "row". */
  direction?: StripDirection;
  /** Side of a cell in pixels (default 28). */
  cell?: number;
  /** Radius as a fraction of the cell side (default 0.36). */
  radius?: number;
  /** Colours drawn from (default all six). */
  colors?: readonly ColorName[];
}

/** Width and height in pixels of a strip of `cells` cells. */
export function stripSize(cells: number, direction: StripDirection = "row", cell = 28): [number, number] {
  return direction === "row" ? [cell * cells, cell] : [cell, cell * cells];
}

/** A strip whose i-th cell holds `shapes[i]` (random colours, centres jittered by up to a tenth of the cell). */
export function stripScene(rng: Rng, shapes: readonly ShapeName[], opts: Omit<StripOptions, "cells">): Scene {
  const { direction = "row", cell = 28, radius = 0.36, colors = COLOR_NAMES } = opts;
  if (shapes.length < 1) throw new RangeError("stripScene: a strip needs at least one cell");
  if (!(cell >= 8 && radius > 0 && radius <= 0.4))
    throw new RangeError(`stripScene: cell ${cell} must be ≥ 8 px and radius ${radius} in (0, 0.4]`);
  const [width, height] = stripSize(shapes.length, direction, cell);
  const jitter = () => (rng.next() - 0.5) * 0.2 * cell;
  const objects = shapes.map((shape, i) => {
    const along = (i + 0.5) * cell + jitter();
    const across = 0.5 * cell + jitter();
    const [x, y] = direction === "row" ? [along, across] : [across, along];
    return makeObject(shape, pick(rng, colors), "large", x, y, radius * cell);
  });
  return { objects, width, height, background: DEFAULT_BACKGROUND };
}

export interface CountStrip {
  scene: Scene;
  /** The shape counted. */
  shape: ShapeName;
  /** How many cells hold it. */
  count: number;
  /** The cells holding it, in order. */
  at: number[];
}

/**
 * "How many <shape>s?" on a strip: the count is uniform over 0 … min(maxCount, cells), the counted shapes sit in
 * random cells and every other cell holds one of the other shapes (see the file comment).
 */
export function countStrip(
  rng: Rng,
  opts: StripOptions & { shape?: ShapeName; others?: readonly ShapeName[]; maxCount?: number } = { cells: 4 },
): CountStrip {
  const { shape = "circle", maxCount = 3 } = opts;
  const others = (opts.others ?? (["circle", "square", "triangle"] as const)).filter((s) => s !== shape);
  if (others.length < 1) throw new RangeError(`countStrip: needs at least one shape other than ${shape}`);
  if (!(Number.isInteger(opts.cells) && opts.cells >= 1))
    throw new RangeError(`countStrip: cells must be a positive integer, got ${opts.cells}`);
  if (!(Number.isInteger(maxCount) && maxCount >= 0))
    throw new RangeError(`countStrip: maxCount must be a non-negative integer, got ${maxCount}`);
  const count = rng.int(Math.min(maxCount, opts.cells) + 1);
  const cells = Array.from({ length: opts.cells }, () => pick(rng, others));
  const free = Array.from({ length: opts.cells }, (_, i) => i);
  const at = Array.from({ length: count })
    .flatMap(() => free.splice(rng.int(free.length), 1)) // cells drawn without replacement
    .sort((a, b) => a - b);
  for (const i of at) cells[i] = shape;
  return { scene: stripScene(rng, cells, opts), shape, count, at };
}

/** Renders a scene (a strip or any other) to an `RgbImage` (interleaved 8-bit RGB). */
export async function renderStrip(scene: Scene): Promise<RgbImage> {
  return { data: await renderSceneRgb(scene), width: scene.width, height: scene.height };
}
