/**
 * Questions, answers, counts and boxes for shapes-world scenes: the supervision for VQA-style notebooks
 * (BLIP-2, LLaVA, Qwen2-VL) and the verifiable rewards of R1-V.
 *
 *   counts(scene)            // { total: 3, byColor: { red: 1, ... }, byShape: { circle: 2, ... }, bySize, byPair }
 *   questions(scene, rng)    // [{ kind: "color", question: "what color is the circle?", answer: "red",
 *   //    choices: [...] }, ...]
 *   boxes(scene)             // [{ label: "red circle", box: [x0, y0, x1, y1] }, ...]
 *
 * Question kinds (each generated only when its answer is unambiguous in the scene):
 *   color     "what color is the circle?"                        → "red"
 *   shape     "what shape is the red one?"                       → "circle"
 *   size      "is the red circle small or large?"                → "large"
 *   count     "how many shapes are there?" / "how many red shapes are there?" / "how many circles are there?" → "2"
 *   exists    "is there a blue square?"                          → "yes" | "no" (drawn half and half)
 *   relation  "is the red circle left of the blue square?"       → "yes" | "no";
 *             "what is left of the blue square?"                 → "red circle" (only when exactly one object is,
 *                                                                   and no other has its centre past that edge)
 *   box       "where is the red circle?"                         → "[3,4,14,15]" (integer pixels, outward-rounded)
 *
 * Objects are named by the shortest description that picks out exactly one of them and does not give the answer
 * away: "the circle" when there is one circle, else "the large circle", "the red circle", ...
 */
import type { Rng } from "@vlab/core";
import { describeObject, relations, withArticle, type Relation } from "./captions.js";
import { pick } from "./pick.js";
import {
  COLOR_NAMES,
  SHAPES,
  SIZE_NAMES,
  pairName,
  type Box,
  type ColorName,
  type Scene,
  type ShapeName,
  type ShapeObject,
  type SizeName,
} from "./shapes.js";

export type QuestionKind = "color" | "shape" | "size" | "count" | "exists" | "relation" | "box";
export const QUESTION_KINDS: readonly QuestionKind[] = ["color", "shape", "size", "count", "exists", "relation", "box"];

export interface QA {
  kind: QuestionKind;
  question: string;
  answer: string;
  /** The answers a classifier would choose among (for "box": empty, the answer is free-form). */
  choices: string[];
}

export interface Counts {
  total: number;
  byColor: Record<ColorName, number>;
  byShape: Record<ShapeName, number>;
  bySize: Record<SizeName, number>;
  /** Keyed by "red circle"; only pairs present in the scene. */
  byPair: Record<string, number>;
}

export function counts(scene: Scene): Counts {
  const byColor = Object.fromEntries(COLOR_NAMES.map((c) => [c, 0])) as Record<ColorName, number>;
  const byShape = Object.fromEntries(SHAPES.map((s) => [s, 0])) as Record<ShapeName, number>;
  const bySize = Object.fromEntries(SIZE_NAMES.map((s) => [s, 0])) as Record<SizeName, number>;
  const byPair: Record<string, number> = {};
  for (const o of scene.objects) {
    byColor[o.color]++;
    byShape[o.shape]++;
    bySize[o.size]++;
    byPair[pairName(o)] = (byPair[pairName(o)] ?? 0) + 1;
  }
  return { total: scene.objects.length, byColor, byShape, bySize, byPair };
}

/** Each object's label ("red circle") and box. */
export function boxes(scene: Scene): { label: string; box: Box }[] {
  return scene.objects.map((o) => ({ label: describeObject(o), box: [...o.box] as Box }));
}

/** A box rounded outward to whole pixels and clipped to the image: `[floor x0, floor y0, ceil x1, ceil y1]`. */
export function pixelBox(box: Box, width: number, height: number): Box {
  return [
    Math.max(0, Math.floor(box[0])),
    Math.max(0, Math.floor(box[1])),
    Math.min(width, Math.ceil(box[2])),
    Math.min(height, Math.ceil(box[3])),
  ];
}

type Attr = "size" | "color" | "shape";
/** The attribute sets a description may use, shortest first (referring.ts describes objects with them too). */
export const ATTR_SETS: readonly (readonly Attr[])[] = [
  ["shape"],
  ["color"],
  ["size"],
  ["color", "shape"],
  ["size", "shape"],
  ["size", "color"],
  ["size", "color", "shape"],
];

/**
 * The shortest definite description ("the circle", "the red one", "the large red circle") that matches `o` and no
 * other object of the scene, using none of the `without` attributes; `undefined` when there is none.
 */
export function referringExpression(scene: Scene, o: ShapeObject, without: readonly Attr[] = []): string | undefined {
  for (const attrs of ATTR_SETS) {
    if (attrs.some((a) => without.includes(a))) continue;
    const matches = scene.objects.filter((q) => attrs.every((a) => q[a] === o[a]));
    if (matches.length !== 1) continue;
    const words = [
      attrs.includes("size") ? o.size : "",
      attrs.includes("color") ? o.color : "",
      attrs.includes("shape") ? o.shape : "one",
    ];
    return `the ${words.filter(Boolean).join(" ")}`;
  }
  return undefined;
}

function plural(shape: ShapeName): string {
  return `${shape}s`;
}

function countChoices(n: number): string[] {
  return Array.from({ length: Math.max(6, n) + 1 }, (_, i) => String(i));
}

/** True when a's centre lies past b's box edge on the side `rel` names (left of: a.x < b's left edge, ...). */
export function centreBeyond(a: ShapeObject, b: ShapeObject, rel: Relation): boolean {
  if (rel === "left of") return a.x < b.box[0];
  if (rel === "right of") return a.x > b.box[2];
  if (rel === "above") return a.y < b.box[1];
  return a.y > b.box[3];
}

const OPPOSITE: Record<Relation, Relation> = {
  "left of": "right of",
  "right of": "left of",
  above: "below",
  below: "above",
};

/** All unambiguous questions of one kind (before any random choice). */
export function questionsOfKind(scene: Scene, kind: QuestionKind, rng?: Rng): QA[] {
  const objs = scene.objects;
  const out: QA[] = [];
  switch (kind) {
    case "color":
      for (const o of objs) {
        const ref = referringExpression(scene, o, ["color"]);
        if (ref) out.push({ kind, question: `what color is ${ref}?`, answer: o.color, choices: [...COLOR_NAMES] });
      }
      break;
    case "shape":
      for (const o of objs) {
        const ref = referringExpression(scene, o, ["shape"]);
        if (ref) out.push({ kind, question: `what shape is ${ref}?`, answer: o.shape, choices: [...SHAPES] });
      }
      break;
    case "size":
      for (const o of objs) {
        const ref = referringExpression(scene, o, ["size"]);
        if (ref) out.push({ kind, question: `is ${ref} small or large?`, answer: o.size, choices: [...SIZE_NAMES] });
      }
      break;
    case "count": {
      const c = counts(scene);
      out.push({
        kind,
        question: "how many shapes are there?",
        answer: String(c.total),
        choices: countChoices(c.total),
      });
      // Present colours and shapes, plus one absent of each (so "0" is an answer, but not most answers).
      const colors = COLOR_NAMES.filter((x) => c.byColor[x] > 0);
      const shapes = SHAPES.filter((x) => c.byShape[x] > 0);
      const absentColors = COLOR_NAMES.filter((x) => c.byColor[x] === 0);
      const absentShapes = SHAPES.filter((x) => c.byShape[x] === 0);
      const [firstAbsentColor] = absentColors;
      const [firstAbsentShape] = absentShapes;
      if (firstAbsentColor !== undefined) colors.push(rng ? pick(rng, absentColors) : firstAbsentColor);
      if (firstAbsentShape !== undefined) shapes.push(rng ? pick(rng, absentShapes) : firstAbsentShape);
      for (const color of colors) {
        out.push({
          kind,
          question: `how many ${color} shapes are there?`,
          answer: String(c.byColor[color]),
          choices: countChoices(c.total),
        });
      }
      for (const shape of shapes) {
        out.push({
          kind,
          question: `how many ${plural(shape)} are there?`,
          answer: String(c.byShape[shape]),
          choices: countChoices(c.total),
        });
      }
      break;
    }
    case "exists": {
      const present = new Set(objs.map((o) => pairName(o)));
      const yes: QA[] = [],
        no: QA[] = [];
      for (const color of COLOR_NAMES) {
        for (const shape of SHAPES) {
          const name = `${color} ${shape}`;
          (present.has(name) ? yes : no).push({
            kind,
            question: `is there ${withArticle(name)}?`,
            answer: present.has(name) ? "yes" : "no",
            choices: ["yes", "no"],
          });
        }
      }
      // Half yes, half no: without rng interleave them; with rng the caller's pick is a fair coin over the answer.
      if (rng) return rng.next() < 0.5 && yes.length > 0 ? rng.shuffle(yes) : rng.shuffle(no);
      for (let i = 0; i < Math.max(yes.length, no.length); i++) {
        const y = yes[i];
        const n = no[i];
        if (y) out.push(y);
        if (n) out.push(n);
      }
      break;
    }
    case "relation":
      for (const a of objs) {
        for (const b of objs) {
          if (a === b) continue;
          const ra = referringExpression(scene, a),
            rb = referringExpression(scene, b);
          if (!ra || !rb) continue;
          const rels = relations(a, b);
          for (const rel of ["left of", "right of", "above", "below"] as Relation[]) {
            const answer = rels.includes(rel) ? "yes" : rels.includes(OPPOSITE[rel]) ? "no" : undefined;
            if (answer) out.push({ kind, question: `is ${ra} ${rel} ${rb}?`, answer, choices: ["yes", "no"] });
          }
        }
      }
      for (const b of objs) {
        const rb = referringExpression(scene, b);
        if (!rb) continue;
        for (const rel of ["left of", "right of", "above", "below"] as Relation[]) {
          const hits = objs.filter((a) => a !== b && relations(a, b).includes(rel));
          // Exactly one object in that relation, and no other whose centre is past b's edge on that side although
          // its box overlaps b's (a reader might count it too).
          const maybe = objs.filter((a) => a !== b && !hits.includes(a) && centreBeyond(a, b, rel));
          const [hit] = hits;
          if (hit && hits.length === 1 && maybe.length === 0) {
            out.push({
              kind,
              question: `what is ${rel} ${rb}?`,
              answer: describeObject(hit),
              choices: objs.filter((a) => a !== b).map((a) => describeObject(a)),
            });
          }
        }
      }
      break;
    case "box":
      for (const o of objs) {
        const ref = referringExpression(scene, o);
        if (ref)
          out.push({
            kind,
            question: `where is ${ref}?`,
            answer: JSON.stringify(pixelBox(o.box, scene.width, scene.height)),
            choices: [],
          });
      }
      break;
  }
  return out;
}

export interface QuestionOptions {
  /** Which kinds to ask (default all of `QUESTION_KINDS`). */
  kinds?: readonly QuestionKind[];
  /** Questions per kind, drawn without replacement among the unambiguous ones (default 1). */
  perKind?: number;
}

/** Random questions about the scene, `perKind` of each kind that has an unambiguous question. */
export function questions(scene: Scene, rng: Rng, opts: QuestionOptions = {}): QA[] {
  const perKind = opts.perKind ?? 1;
  const out: QA[] = [];
  for (const kind of opts.kinds ?? QUESTION_KINDS) {
    const all = questionsOfKind(scene, kind, rng);
    const chosen = kind === "exists" ? all : rng.shuffle(all); // "exists" is already shuffled within the answer drawn
    out.push(...chosen.slice(0, perKind));
  }
  return out;
}
