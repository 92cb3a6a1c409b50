/**
 * Multi-step questions about a shapes-world scene, and the chain of thought that answers each one step by step: the
 * data of R1-Onevision's pipeline (notebook 10) at toy scale. Every question needs perception (which objects are
 * there), counting and one operation on the counts, so its answer cannot be read off a single fact:
 *
 *   not   "how many shapes are not red?"              total − n(red)
 *   sum   "how many shapes are red or blue?"           n(red) + n(blue)
 *   more  "are there more red shapes than circles?"    n(red) > n(circle) → yes / no
 *
 * The chain (`cotChain`) writes the steps as short sentences in a fixed grammar, so that a rule-based judge
 * (cot_judge.ts) can check each one against the scene's formal description:
 *
 *   <think> i see a red circle , a blue square and a red triangle . three shapes in all . two are red .
 *   three minus two is one . </think> <answer> 1 </answer>
 *
 * list → total → counts → operation, then the answer in R1-V's tags (DeepSeek-R1's `<think>`/`<answer>` format,
 * which R1-Onevision's RL format rule checks). Numbers inside the chain are words, the answer is digits or yes/no.
 * Every count a question asks about is at least one (only colours and shapes the scene shows), and "more" questions
 * skip equal counts, as instructions.ts's reasoning questions do.
 */
import { numberWord, withArticle } from "./captions.js";
import { pick } from "./pick.js";
import { objectPhrase, type DescribedObject } from "./scene_description.js";
import { COLOR_NAMES, SHAPES, type ColorName, type ShapeName } from "./world.js";
import type { Rng } from "@vlab/core";

export type CotKind = "not" | "sum" | "more";
export const COT_KINDS: readonly CotKind[] = ["not", "sum", "more"];

/** A multi-step question with what it asks about, so a chain and a judge can be derived from it. */
export interface CotQuestion {
  kind: CotKind;
  question: string;
  /** The short ground-truth answer: digits, or "yes" / "no". */
  answer: string;
  /** The colour(s) counted: one for "not" and "more", two for "sum". */
  colors: ColorName[];
  /** The shape counted ("more" only). */
  shape?: ShapeName;
}

/** How many objects of a colour or shape a description holds. */
export function countOf(objects: readonly DescribedObject[], what: { color?: ColorName; shape?: ShapeName }): number {
  return objects.filter((o) => (what.color ?? o.color) === o.color && (what.shape ?? o.shape) === o.shape).length;
}

const present = <T extends string>(names: readonly T[], has: (n: T) => number) => names.filter((n) => has(n) > 0);

/** Every multi-step question the scene supports, in a fixed order (kinds, then colours and shapes by name order). */
export function cotQuestions(
  objects: readonly DescribedObject[],
  kinds: readonly CotKind[] = COT_KINDS,
): CotQuestion[] {
  const colors = present(COLOR_NAMES, (color) => countOf(objects, { color }));
  const shapes = present(SHAPES, (shape) => countOf(objects, { shape }));
  const total = objects.length;
  const out: CotQuestion[] = [];
  if (kinds.includes("not"))
    for (const c of colors) {
      const answer = String(total - countOf(objects, { color: c }));
      out.push({ kind: "not", question: `how many shapes are not ${c}?`, answer, colors: [c] });
    }
  if (kinds.includes("sum"))
    colors.forEach((a, i) =>
      colors.slice(i + 1).forEach((b) => {
        const answer = String(countOf(objects, { color: a }) + countOf(objects, { color: b }));
        out.push({ kind: "sum", question: `how many shapes are ${a} or ${b}?`, answer, colors: [a, b] });
      }),
    );
  if (kinds.includes("more"))
    for (const c of colors)
      for (const s of shapes) {
        const [nc, ns] = [countOf(objects, { color: c }), countOf(objects, { shape: s })];
        if (nc === ns) continue;
        const question = `are there more ${c} shapes than ${s}s?`;
        out.push({ kind: "more", question, answer: nc > ns ? "yes" : "no", colors: [c], shape: s });
      }
  return out;
}

/** One question of a kind drawn uniformly, then one of that kind's questions; undefined when the scene has none. */
export function cotQuestion(
  objects: readonly DescribedObject[],
  rng: Rng,
  kinds: readonly CotKind[] = COT_KINDS,
): CotQuestion | undefined {
  const all = cotQuestions(objects, kinds);
  const supported = kinds.filter((k) => all.some((q) => q.kind === k));
  if (supported.length === 0) return undefined;
  const kind = pick(rng, supported);
  return pick(
    rng,
    all.filter((q) => q.kind === kind),
  );
}

/** "two are red" / "one is a circle": a count sentence of the chain. */
function countSentence(n: number, what: string, isShape: boolean): string {
  const verb = n === 1 ? "is" : "are";
  const noun = isShape ? (n === 1 ? withArticle(what) : `${what}s`) : what;
  return `${numberWord(n)} ${verb} ${noun}`;
}

/** "i see a red circle , a blue square and a red triangle" (the objects in the description's order). */
export function listSentence(objects: readonly DescribedObject[]): string {
  return `i see ${objectPhrase(objects)}`;
}

/** The reasoning sentences of a question's chain (see the file comment), without tags or full stops. */
export function cotSteps(objects: readonly DescribedObject[], q: CotQuestion): string[] {
  const total = objects.length;
  const steps = [listSentence(objects), `${numberWord(total)} shape${total === 1 ? "" : "s"} in all`];
  const n = q.colors.map((color) => countOf(objects, { color }));
  q.colors.forEach((c, i) => steps.push(countSentence(n[i] ?? 0, c, false)));
  const [a = 0, b = 0] = n;
  if (q.kind === "not") steps.push(`${numberWord(total)} minus ${numberWord(a)} is ${numberWord(total - a)}`);
  else if (q.kind === "sum") steps.push(`${numberWord(a)} plus ${numberWord(b)} is ${numberWord(a + b)}`);
  else {
    if (q.shape === undefined) throw new Error(`cotSteps: a "more" question needs a shape (${q.question})`);
    const ns = countOf(objects, { shape: q.shape });
    steps.push(countSentence(ns, q.shape, true));
    steps.push(`${numberWord(a)} is ${a > ns ? "" : "not "}more than ${numberWord(ns)}`);
  }
  return steps;
}

/** The full chain-of-thought completion: `<think> steps . </think> <answer> a </answer>`. */
export function cotChain(objects: readonly DescribedObject[], q: CotQuestion): string {
  return `<think> ${cotSteps(objects, q).join(" . ")} . </think> <answer> ${q.answer} </answer>`;
}

/** The plain completion (no reasoning): `<answer> a </answer>`. */
export function plainAnswer(q: Pick<CotQuestion, "answer">): string {
  return `<answer> ${q.answer} </answer>`;
}
