/**
 * A scene's formal description: what R1-Onevision (Yang et al. 2025, "R1-Onevision: Advancing Generalized Multimodal
 * Reasoning through Cross-Modal Formalization", sec. 3.1) writes for each image before any reasoning — captions,
 * object boxes and text turned into a "formal language" a text-only reasoning model can read instead of the pixels.
 * Shapes world knows every object exactly, so the description is the object list with each tight box in pixels:
 *
 *   objects : red circle [3, 4, 10, 11] ; blue square [17, 2, 24, 9]
 *
 * Objects go left to right (as captions name them), boxes are rounded to whole pixels. `parseFormalDescription`
 * reads the text back, so a judge can check a chain against the description alone, as R1-Onevision's judge does.
 */
import { leftToRight } from "./captions.js";
import { COLOR_NAMES, SHAPES, type Box, type ColorName, type Scene, type ShapeName } from "./world.js";

/** One object of a formal description. */
export interface DescribedObject {
  color: ColorName;
  shape: ShapeName;
  /** `[x0, y0, x1, y1]` in whole pixels. */
  box: Box;
}

const PREFIX = "objects :";

/** The described objects of a scene, left to right, boxes rounded to whole pixels. */
export function describedObjects(scene: Scene): DescribedObject[] {
  return leftToRight(scene).map((o) => ({
    color: o.color,
    shape: o.shape,
    box: o.box.map((v) => Math.round(v) || 0) as Box, // || 0: no "-0"
  }));
}

/** "objects : red circle [3, 4, 10, 11] ; blue square [17, 2, 24, 9]" (see the file comment). */
export function formalDescription(scene: Scene): string {
  const items = describedObjects(scene).map((o) => `${o.color} ${o.shape} [${o.box.join(", ")}]`);
  return `${PREFIX} ${items.join(" ; ")}`;
}

const COLOR_SET = new Set<string>(COLOR_NAMES);
const SHAPE_SET = new Set<string>(SHAPES);
const ITEM = /^([a-z]+)\s+([a-z]+)\s*\[\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*\]$/;

/**
 * The objects of a formal description, in order. Spacing is free (a tokenizer's decode may space the punctuation);
 * anything else that is not the form above throws an Error naming the item.
 */
export function parseFormalDescription(text: string): DescribedObject[] {
  const s = text.trim();
  if (!s.startsWith(PREFIX)) throw new Error(`parseFormalDescription: expected "${PREFIX} …", got "${s.slice(0, 40)}"`);
  const body = s.slice(PREFIX.length).trim();
  if (body === "") return [];
  return body.split(";").map((raw, i) => {
    const item = raw.trim();
    const m = ITEM.exec(item);
    if (!m)
      throw new Error(`parseFormalDescription: item ${i + 1} "${item}" is not "<colour> <shape> [x0, y0, x1, y1]"`);
    const [, color = "", shape = "", ...nums] = m;
    if (!COLOR_SET.has(color)) throw new Error(`parseFormalDescription: item ${i + 1} has unknown colour "${color}"`);
    if (!SHAPE_SET.has(shape)) throw new Error(`parseFormalDescription: item ${i + 1} has unknown shape "${shape}"`);
    return { color: color as ColorName, shape: shape as ShapeName, box: nums.map(Number) as Box };
  });
}
