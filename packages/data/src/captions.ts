/**
 * Captions for shapes-world scenes, in several phrasings, the way CLIP's training text varies around a label.
 *
 *   captions(scene)        // every phrasing, in a fixed order
 *   captions(scene, rng)   // the same, shuffled by rng (take [0] for one random caption)
 *   caption(scene, rng)    // one random caption
 *
 * One object:    "a red circle", "a large red circle", "a photo of a red circle", "a photo of a large red circle",
 *                "a picture of a red circle"
 * More objects:  "two shapes: a blue square and a red circle" (objects named left to right),
 *                "a blue square and a red circle", "a photo of a blue square and a red circle",
 *                and one relation per clearly separated pair: "a blue square left of a red circle",
 *                "a red circle right of a blue square", "a green star above a red circle", "... below ...".
 *
 * `{ varied: true }` adds what web text has on top: the shape named before its colour ("a circle that is red",
 * "a circle in red", "a photo of a circle that is red", for one object), and every phrasing also with a full stop
 * ("a photo of a red circle."). CLIP's default prompt "a photo of a {}." then reads like training text.
 *
 * A relation is only stated when it is unambiguous: A is "left of" B when A's box ends before B's box begins
 * (boxes disjoint along x), "above" when A's box ends above B's. Every caption names at least one object of the
 * scene and no object that is not in it, so a caption picks out its scene well enough for contrastive training.
 */
import type { Rng } from "@vlab/core";
import { pick } from "./pick.js";
import type { Scene, ShapeObject } from "./shapes.js";

const NUMBER_WORDS = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
];

/** "two" for 2; digits past twelve. */
export function numberWord(n: number): string {
  return NUMBER_WORDS[n] ?? String(n);
}

/** "a red circle" / "an orange star": the indefinite article English wants before the phrase. */
export function withArticle(phrase: string): string {
  return `${/^[aeiou]/i.test(phrase) ? "an" : "a"} ${phrase}`;
}

/** "red circle", or "large red circle" with `size`. */
export function describeObject(o: ShapeObject, { size = false }: { size?: boolean } = {}): string {
  return size ? `${o.size} ${o.color} ${o.shape}` : `${o.color} ${o.shape}`;
}

/** "a, b and c". */
export function listPhrase(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

export type Relation = "left of" | "right of" | "above" | "below";

/** The unambiguous spatial relations of a to b (boxes disjoint along that axis), possibly none. */
export function relations(a: ShapeObject, b: ShapeObject): Relation[] {
  const out: Relation[] = [];
  if (a.box[2] <= b.box[0]) out.push("left of");
  if (a.box[0] >= b.box[2]) out.push("right of");
  if (a.box[3] <= b.box[1]) out.push("above");
  if (a.box[1] >= b.box[3]) out.push("below");
  return out;
}

/** Objects sorted left to right (by centre x, then y): the order captions name them in. */
export function leftToRight(scene: Scene): ShapeObject[] {
  return [...scene.objects].sort((p, q) => p.x - q.x || p.y - q.y);
}

export interface CaptionOptions {
  /** Also the shape-first word orders and a full-stop copy of every phrasing (see the file comment). */
  varied?: boolean;
}

/**
 * Every caption of the scene. Without `rng` the order is fixed; with it the list is shuffled (the relation
 * captions then also come from a randomly chosen pair rather than the first separated pair).
 */
export function captions(scene: Scene, rng?: Rng, { varied = false }: CaptionOptions = {}): string[] {
  const objs = leftToRight(scene);
  const [first] = objs;
  if (first === undefined) return ["an empty picture", "a photo of nothing"];
  const out: string[] = [];
  if (objs.length === 1) {
    const o = first;
    out.push(
      withArticle(describeObject(o)),
      withArticle(describeObject(o, { size: true })),
      `a photo of ${withArticle(describeObject(o))}`,
      `a photo of ${withArticle(describeObject(o, { size: true }))}`,
      `a picture of ${withArticle(describeObject(o))}`,
    );
    if (varied)
      out.push(
        `${withArticle(o.shape)} that is ${o.color}`,
        `${withArticle(o.shape)} in ${o.color}`,
        `a photo of ${withArticle(o.shape)} that is ${o.color}`,
      );
  } else {
    const list = listPhrase(objs.map((o) => withArticle(describeObject(o))));
    const n = numberWord(objs.length);
    out.push(`${n} shapes: ${list}`, list, `a photo of ${list}`);
    // One relation caption per kind that some pair shows.
    const pairs: [ShapeObject, ShapeObject][] = [];
    for (const a of objs) for (const b of objs) if (a !== b) pairs.push([a, b]);
    if (rng) rng.shuffle(pairs);
    const seen = new Set<Relation>();
    for (const [a, b] of pairs) {
      for (const rel of relations(a, b)) {
        if (seen.has(rel)) continue;
        seen.add(rel);
        out.push(`${withArticle(describeObject(a))} ${rel} ${withArticle(describeObject(b))}`);
      }
    }
  }
  if (varied) out.push(...out.map((c) => `${c}.`));
  return rng ? rng.shuffle(out) : out;
}

/** One caption, chosen by rng among `captions(scene)`. */
export function caption(scene: Scene, rng: Rng, opts: CaptionOptions = {}): string {
  const all = captions(scene, undefined, opts);
  return pick(rng, all);
}
