/**
 * Strips: shapes in one row (a wide image) or one column (a tall one), one shape per square cell — the extreme
 * aspect ratios of Qwen2-VL's native-resolution experiment (notebook 05). A strip of k cells of 28 px is 28 × 28k
 * pixels: at its native size every shape is one merged 28-px token; squashed into a fixed square it is a sliver.
 *
 *   const s = needleStrip(rng, { cells: 8, direction: "row" });   // { scene, shape, answer: "yes" | "no" }
 *   const img = await renderStrip(s.scene);                       // RgbImage, 224 × 28
 *
 * The needle task: "is there a <shape>?" Half the strips hold exactly one shape of the asked kind (at a random
 * cell), the other half none; every other cell holds one of the other shapes. Colours are random and say nothing.
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

export interface NeedleStrip {
  scene: Scene;
  /** The shape asked about. */
  shape: ShapeName;
  /** "yes" when the strip holds it (exactly once), else "no". */
  answer: "yes" | "no";
  /** The cell holding it, or -1. */
  at: number;
}

/** "Is there a <shape>?" on a strip: present (exactly once) or absent, ½ each (see the file comment). */
export function needleStrip(
  rng: Rng,
  opts: StripOptions & { shapes?: readonly ShapeName[] } = { cells: 4 },
): NeedleStrip {
  const shapes = opts.shapes ?? (["circle", "square", "triangle"] as const);
  if (shapes.length < 2) throw new RangeError("needleStrip: needs at least two shapes");
  if (!(Number.isInteger(opts.cells) && opts.cells >= 1))
    throw new RangeError(`needleStrip: cells must be a positive integer, got ${opts.cells}`);
  const shape = pick(rng, shapes);
  const others = shapes.filter((s) => s !== shape);
  const cells = Array.from({ length: opts.cells }, () => pick(rng, others));
  const present = rng.next() < 0.5;
  const at = present ? rng.int(opts.cells) : -1;
  if (present) cells[at] = shape;
  return { scene: stripScene(rng, cells, opts), shape, answer: present ? "yes" : "no", at };
}

/** Renders a scene (a strip or any other) to an `RgbImage` (interleaved 8-bit RGB). */
export async function renderStrip(scene: Scene): Promise<RgbImage> {
  return { data: await renderSceneRgb(scene), width: scene.width, height: scene.height };
}
