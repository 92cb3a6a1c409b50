/**
 * Multi-step questions about a shapes-world scene, and the chain of thought that answers each one step by step: the
 * data of R1-Onevision's pipeline (notebook 10) at toy scale. Every question needs perception (which colours are
 * there, how often), counting and one operation on the counts, so its answer cannot be read off a single fact:
 *
 *   not   "how many shapes are not red?"                      total − n(red)
 *   sum   "how many shapes are red or blue?"                  n(red) + n(blue)
 *   more  "are there more red shapes than blue shapes?"       n(red) > n(blue) → yes / no
 *
 * The chain (`cotChain`) writes the steps as short sentences in a fixed grammar, so that a rule-based judge
 * (cot_judge.ts) can check each one against the scene's formal description:
 *
 *   <think> i see a red shape , a blue shape and a red shape . three shapes in all . two are red .
 *   three minus two is one . </think> <answer> 1 </answer>
 *
 * list → total → counts → operation, then the answer in R1-V's tags (DeepSeek-R1's `<think>`/`<answer>` format,
 * which R1-Onevision's RL format rule checks). The list names each object by its colour only ("a red shape"): the
 * questions are about colours, and the notebooks' 2-layer teacher copied colours from a description reliably but not
 * shapes. Numbers inside the chain are words, the answer is digits or yes/no. Every colour a question asks about is in
 * the scene, and "more" questions skip equal counts, as instructions.ts's reasoning questions do.
 */
import { numberWord } from "./captions.js";
import { pick } from "./pick.js";
import { objectPhrase, type DescribedObject } from "./scene_description.js";
import { COLOR_NAMES, type ColorName, type ShapeName } from "./world.js";
import type { Rng } from "@vlab/core";

export type CotKind = "not" | "sum" | "more";
export const COT_KINDS: readonly CotKind[] = ["not", "sum", "more"];

/** A multi-step question with what it asks about, so a chain and a judge can be derived from it. */
export interface CotQuestion {
  kind: CotKind;
  question: string;
  /** The short ground-truth answer: digits, or "yes" / "no". */
  answer: string;
  /** The colours counted: one for "not", two for "sum" and "more" (in the question's order). */
  colors: ColorName[];
}

/** How many objects of a colour or shape a description holds. */
export function countOf(objects: readonly DescribedObject[], what: { color?: ColorName; shape?: ShapeName }): number {
  return objects.filter((o) => (what.color ?? o.color) === o.color && (what.shape ?? o.shape) === o.shape).length;
}

/** Every multi-step question the scene supports, in a fixed order (kinds, then colours by name order). */
export function cotQuestions(
  objects: readonly DescribedObject[],
  kinds: readonly CotKind[] = COT_KINDS,
): CotQuestion[] {
  const n = (color: ColorName) => countOf(objects, { color });
  const colors = COLOR_NAMES.filter((c) => n(c) > 0);
  const pairs = colors.flatMap((a, i) => colors.slice(i + 1).map((b) => [a, b] as const));
  const out: CotQuestion[] = [];
  if (kinds.includes("not"))
    for (const c of colors)
      out.push({
        kind: "not",
        question: `how many shapes are not ${c}?`,
        answer: String(objects.length - n(c)),
        colors: [c],
      });
  if (kinds.includes("sum"))
    for (const [a, b] of pairs)
      out.push({
        kind: "sum",
        question: `how many shapes are ${a} or ${b}?`,
        answer: String(n(a) + n(b)),
        colors: [a, b],
      });
  if (kinds.includes("more"))
    for (const [a, b] of pairs.flatMap(([x, y]) => [[x, y] as const, [y, x] as const])) {
      if (n(a) === n(b)) continue;
      const question = `are there more ${a} shapes than ${b} shapes?`;
      out.push({ kind: "more", question, answer: n(a) > n(b) ? "yes" : "no", colors: [a, b] });
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

/** "i see a red shape , a blue shape and a red shape" (the objects by colour, in the description's order). */
export function listSentence(objects: readonly DescribedObject[]): string {
  return `i see ${objectPhrase(objects.map((o) => ({ color: o.color, shape: "shape" })))}`;
}

/** The reasoning sentences of a question's chain (see the file comment), without tags or full stops. */
export function cotSteps(objects: readonly DescribedObject[], q: CotQuestion): string[] {
  const total = objects.length;
  const steps = [listSentence(objects), `${numberWord(total)} shape${total === 1 ? "" : "s"} in all`];
  const n = q.colors.map((color) => countOf(objects, { color }));
  q.colors.forEach((c, i) => steps.push(`${numberWord(n[i] ?? 0)} ${n[i] === 1 ? "is" : "are"} ${c}`));
  const [a = 0, b = 0] = n;
  if (q.kind === "not") steps.push(`${numberWord(total)} minus ${numberWord(a)} is ${numberWord(total - a)}`);
  else if (q.kind === "sum") steps.push(`${numberWord(a)} plus ${numberWord(b)} is ${numberWord(a + b)}`);
  else steps.push(`${numberWord(a)} is ${a > b ? "" : "not "}more than ${numberWord(b)}`);
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
