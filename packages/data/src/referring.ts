/**
 * Referring expressions in shapes world: phrases that pick out exactly one object of a scene, the text of the
 * referring-expression comprehension (REC) task VLM-R1 trains on RefCOCO.
 *
 *   attributes   "the red circle", "the large shape", "the small blue square"
 *   relation     "the circle left of the blue square", "the shape above the star"
 *   superlative  "the largest triangle", "the leftmost red shape", "the topmost shape"
 *
 * A reference is data (what it says), and `resolveReference` is what it means: the objects of the scene a reader
 * could take it to name. An expression is generated only when that is exactly its target, so every expression is
 * checked against the scene it describes. What a reader could take it to name:
 *   - attributes: the objects with those attributes;
 *   - relation: among the objects with the attributes (the anchor left out), those in the relation to the anchor
 *     (boxes apart along that axis: captions.ts `relations`), plus those whose centre is past the anchor's edge on
 *     that side although their boxes overlap (a reader might count them too, as questions.ts does); the anchor is
 *     named by its shortest unique description, and a relation to an anchor that is not unique names nothing;
 *   - superlative: the extreme object of the group, plus every other one too close to call: a "largest" whose
 *     radius is not 15% above the runner-up's, a "leftmost" whose centre is not left of every other box's left
 *     edge (and likewise for the other sides).
 */
import { relations, type Relation } from "./captions.js";
import { ATTR_SETS, centreBeyond } from "./questions.js";
import type { ColorName, Scene, ShapeName, ShapeObject, SizeName } from "./shapes.js";

/** Attributes an object must have (each optional). */
export interface Description {
  size?: SizeName;
  color?: ColorName;
  shape?: ShapeName;
}

export type Superlative = "largest" | "smallest" | "leftmost" | "rightmost" | "topmost" | "bottommost";
export const SUPERLATIVES: readonly Superlative[] = [
  "largest",
  "smallest",
  "leftmost",
  "rightmost",
  "topmost",
  "bottommost",
];
export type ReferenceKind = "attributes" | "relation" | "superlative";
export const REFERENCE_KINDS: readonly ReferenceKind[] = ["attributes", "relation", "superlative"];

export interface Reference {
  kind: ReferenceKind;
  /** The objects it applies to (for a superlative: the group; for a relation: the ones related). */
  description: Description;
  /** relation: how the target lies relative to the anchor, which its own description names. */
  relation?: { rel: Relation; anchor: Description };
  superlative?: Superlative;
}

/** A checked expression: its text, what it says, and the index of the one object it names. */
export interface ReferringExpression extends Reference {
  text: string;
  target: number;
}

/** How much larger the largest radius must be than the next one (and the smallest smaller) to be unambiguous. */
const SIZE_MARGIN = 1.15;

const ATTRS = ["size", "color", "shape"] as const;

function matches(o: ShapeObject, d: Description): boolean {
  return ATTRS.every((a) => d[a] === undefined || d[a] === o[a]);
}

function describe(o: ShapeObject, attrs: readonly (keyof Description)[]): Description {
  return Object.fromEntries(attrs.map((a) => [a, o[a]])) as Description;
}

/** "the large red circle", "the red shape", "the shape" (a superlative goes between "the" and the attributes). */
export function descriptionText(d: Description, superlative?: Superlative): string {
  return ["the", superlative, d.size, d.color, d.shape ?? "shape"].filter(Boolean).join(" ");
}

/** The text of a reference. */
export function referenceText(r: Reference): string {
  const head = descriptionText(r.description, r.superlative);
  return r.relation ? `${head} ${r.relation.rel} ${descriptionText(r.relation.anchor)}` : head;
}

/** The indices of the objects a reader could take the reference to name (see the file comment). */
export function resolveReference(scene: Scene, r: Reference): number[] {
  const objs = scene.objects;
  let group = objs.map((_, i) => i).filter((i) => matches(objs[i] as ShapeObject, r.description));
  if (r.relation) {
    const { rel, anchor } = r.relation;
    const anchors = objs.filter((o) => matches(o, anchor));
    const [b] = anchors;
    if (!b || anchors.length !== 1) return [];
    group = group.filter((i) => {
      const a = objs[i] as ShapeObject;
      return a !== b && (relations(a, b).includes(rel) || centreBeyond(a, b, rel));
    });
  }
  if (r.superlative && group.length > 1) group = extreme(objs, group, r.superlative);
  return group;
}

/** The extreme of a group and every other member too close to it to call (see the file comment). */
function extreme(objs: readonly ShapeObject[], group: readonly number[], s: Superlative): number[] {
  const at = (i: number) => objs[i] as ShapeObject;
  // key: larger is "more extreme"; clear(best, other): best is unambiguously more extreme than other
  const rules: Record<
    Superlative,
    { key: (o: ShapeObject) => number; clear: (b: ShapeObject, o: ShapeObject) => boolean }
  > = {
    largest: { key: (o) => o.r, clear: (b, o) => b.r >= SIZE_MARGIN * o.r },
    smallest: { key: (o) => -o.r, clear: (b, o) => o.r >= SIZE_MARGIN * b.r },
    leftmost: { key: (o) => -o.x, clear: (b, o) => b.x < o.box[0] },
    rightmost: { key: (o) => o.x, clear: (b, o) => b.x > o.box[2] },
    topmost: { key: (o) => -o.y, clear: (b, o) => b.y < o.box[1] },
    bottommost: { key: (o) => o.y, clear: (b, o) => b.y > o.box[3] },
  };
  const { key, clear } = rules[s];
  const best = group.reduce((bi, i) => (key(at(i)) > key(at(bi)) ? i : bi));
  return [best, ...group.filter((i) => i !== best && !clear(at(best), at(i)))];
}

/** The shortest description that names only this object, or undefined. */
export function uniqueDescription(scene: Scene, o: ShapeObject): Description | undefined {
  for (const attrs of ATTR_SETS) {
    const d = describe(o, attrs);
    if (scene.objects.filter((q) => matches(q, d)).length === 1) return d;
  }
  return undefined;
}

/**
 * Every checked referring expression of a scene, of the kinds asked (default all): each names exactly one object
 * (`resolveReference` gives exactly its target). Relations and superlatives are kept only where their group has
 * more than one object, so the relation or the superlative does some work.
 */
export function referringExpressions(
  scene: Scene,
  kinds: readonly ReferenceKind[] = REFERENCE_KINDS,
): ReferringExpression[] {
  const objs = scene.objects;
  const out: ReferringExpression[] = [];
  const seen = new Set<string>();
  const keep = (r: Reference, target: number) => {
    const names = resolveReference(scene, r);
    const text = referenceText(r);
    if (names.length === 1 && names[0] === target && !seen.has(text)) {
      seen.add(text);
      out.push({ ...r, text, target });
    }
  };
  const groupSize = (d: Description) => objs.filter((o) => matches(o, d)).length;
  if (kinds.includes("attributes"))
    objs.forEach((o, i) =>
      ATTR_SETS.forEach((attrs) => keep({ kind: "attributes", description: describe(o, attrs) }, i)),
    );
  if (kinds.includes("relation")) {
    for (const b of objs) {
      const anchor = uniqueDescription(scene, b);
      if (!anchor) continue;
      objs.forEach((a, i) => {
        if (a === b) return;
        for (const rel of relations(a, b))
          for (const attrs of [[], ["shape"], ["color"]] as (keyof Description)[][]) {
            const description = describe(a, attrs);
            if (groupSize(description) > 1) keep({ kind: "relation", description, relation: { rel, anchor } }, i);
          }
      });
    }
  }
  if (kinds.includes("superlative")) {
    objs.forEach((o, i) => {
      for (const attrs of [[], ["shape"], ["color"]] as (keyof Description)[][]) {
        const description = describe(o, attrs);
        if (groupSize(description) < 2) continue;
        for (const superlative of SUPERLATIVES) keep({ kind: "superlative", description, superlative }, i);
      }
    });
  }
  return out;
}
