/**
 * A rule-based judge for chains of thought about a described scene: R1-Onevision's filter step (Yang et al. 2025,
 * sec. 3.1: a judge keeps the chains that are correct, relevant and consistent; theirs is GPT-4o, this one is code).
 * It reads a completion written in cot_questions.ts's grammar and checks it against the scene's formal description
 * (scene_description.ts) and the question, never against the pixels:
 *
 *   format      R1-V's format rule: `<think>…</think>\s*<answer>…</answer>`, the whole completion (@vlab/rewards)
 *   correct     the `<answer>` span equals the ground truth (@vlab/rewards' accuracy check)
 *   relevant    every sentence of the chain is a step of the grammar, and the counts it states are of what the
 *               question asks about (a chain that counts blue shapes for "how many are not red?" is off the point)
 *   grounded    every object the chain lists exists in the description (no object named more often than it is there)
 *   complete    the chain lists as many objects as the description holds, and its "N shapes in all" says so
 *   counts      each count the chain states ("two are red", "one is a circle") is the description's count
 *   arithmetic  the operation it states is true ("three minus two is one", "two is not more than three")
 *   consistent  the answer is the operation's result (a chain that computes one and answers 2 is inconsistent)
 *
 * A chain is kept when every check passes. "correct" alone is what an answer-only filter checks: a chain can reach
 * the right answer from wrong counts (two errors that cancel), which the consistency checks catch. A check whose
 * sentence is missing fails (a chain that skips the operation has no arithmetic to trust).
 */
import { accuracyReward, extractAnswer, formatReward } from "@vlab/rewards";
import { numberWord } from "./captions.js";
import { countOf, type CotQuestion } from "./cot_questions.js";
import type { DescribedObject } from "./scene_description.js";
import { COLOR_NAMES, SHAPES } from "./world.js";

export const JUDGE_CHECKS = [
  "format",
  "correct",
  "relevant",
  "grounded",
  "complete",
  "counts",
  "arithmetic",
  "consistent",
] as const;
export type JudgeCheck = (typeof JUDGE_CHECKS)[number];

export interface Judgement {
  /** Every check passed. */
  keep: boolean;
  checks: Record<JudgeCheck, boolean>;
  /** The checks that failed, in JUDGE_CHECKS order. */
  failed: JudgeCheck[];
  /** The verdict as text, one clause per failed check (R1-Onevision's records keep the judge's response). */
  response: string;
}

const WORD_VALUE = new Map<string, number>(Array.from({ length: 13 }, (_, n) => [numberWord(n), n]));
/** "three" → 3, "7" → 7, anything else → null. */
function valueOf(word: string): number | null {
  if (/^\d+$/.test(word)) return Number(word);
  return WORD_VALUE.get(word) ?? null;
}

const COLOR = `(${COLOR_NAMES.join("|")})`;
const SHAPE = `(${SHAPES.join("|")})`;
const N = "([a-z]+|\\d+)";
const LIST = /^i see (.+)$/;
const TOTAL = new RegExp(`^${N} shapes? in all$`);
const COLOR_COUNT = new RegExp(`^${N} (?:is|are) ${COLOR}$`);
const SHAPE_COUNT = new RegExp(`^${N} (?:is|are) (?:an? )?${SHAPE}s?$`);
const PLUS_MINUS = new RegExp(`^${N} (plus|minus) ${N} is ${N}$`);
const MORE = new RegExp(`^${N} is (not )?more than ${N}$`);
const ITEM = new RegExp(`^(?:an? )?${COLOR} (shape|${SHAPES.join("|")})$`); // "shape": the colour alone

/** The sentences inside `<think>…</think>` (whitespace normalised), or null when there is no think span. */
export function chainSentences(completion: string): string[] | null {
  const m = /<think>([\s\S]*?)<\/think>/.exec(completion);
  if (!m) return null;
  return (m[1] ?? "")
    .split(".")
    .map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => s !== "");
}

/** The objects of an "i see …" sentence as "red circle" pairs, or null if an item is not "a <colour> <shape>". */
function listedPairs(body: string): string[] | null {
  const items = body.split(/\s*,\s*|\s+and\s+/).map((s) => s.trim()); // decode may glue "," to the word before
  const pairs: string[] = [];
  for (const item of items) {
    const m = ITEM.exec(item);
    if (!m) return null;
    pairs.push(`${m[1]} ${m[2]}`);
  }
  return pairs;
}

/** Judges one completion for a question about the described objects (see the file comment). */
export function judgeChain(objects: readonly DescribedObject[], q: CotQuestion, completion: string): Judgement {
  const sentences = chainSentences(completion) ?? [];
  const notes: Partial<Record<JudgeCheck, string>> = {};
  const fail = (check: JudgeCheck, why: string) => void (notes[check] ??= why);
  let listed: string[] | null = null,
    total: number | null = null,
    result: number | boolean | null = null;
  const asked = new Set<string>(q.colors);
  const countedNames = new Set<string>();
  for (const s of sentences) {
    let m: RegExpExecArray | null;
    if ((m = LIST.exec(s))) {
      listed = listedPairs(m[1] ?? "");
      if (!listed) fail("relevant", `"${s}" lists something that is not a coloured shape`);
    } else if ((m = TOTAL.exec(s))) total = valueOf(m[1] ?? "");
    else if ((m = COLOR_COUNT.exec(s)) || (m = SHAPE_COUNT.exec(s))) {
      const [, n = "", name = ""] = m;
      const isColor = (COLOR_NAMES as readonly string[]).includes(name);
      countedNames.add(name);
      if (!asked.has(name)) fail("relevant", `"${s}" counts ${name}, which the question does not ask about`);
      const truth = isColor
        ? countOf(objects, { color: name as CotQuestion["colors"][number] })
        : countOf(objects, { shape: name as DescribedObject["shape"] });
      if (valueOf(n) !== truth) fail("counts", `"${s}" but the description has ${truth}`);
    } else if ((m = PLUS_MINUS.exec(s))) {
      const [x, y, z] = [valueOf(m[1] ?? ""), valueOf(m[3] ?? ""), valueOf(m[4] ?? "")];
      const op = m[2];
      if (x === null || y === null || z === null) fail("arithmetic", `"${s}" has a number it cannot read`);
      else if ((op === "plus" ? x + y : x - y) !== z) fail("arithmetic", `"${s}" is false`);
      result = z;
    } else if ((m = MORE.exec(s))) {
      const [x, y] = [valueOf(m[1] ?? ""), valueOf(m[3] ?? "")];
      const claimed = m[2] === undefined;
      if (x === null || y === null) fail("arithmetic", `"${s}" has a number it cannot read`);
      else if (x > y !== claimed) fail("arithmetic", `"${s}" is false`);
      result = claimed;
    } else fail("relevant", `"${s}" is not a step of the reasoning`);
  }
  for (const name of asked) if (!countedNames.has(name)) fail("relevant", `it never counts the ${name} shapes`);
  if (sentences.length === 0) fail("relevant", "the chain is empty");
  checkObjects(objects, listed, total, fail);
  checkConclusion(q, completion, result, fail);
  if (formatReward(completion) !== 1) fail("format", "the completion is not <think>…</think> <answer>…</answer>");
  if (accuracyReward(completion, q.answer) !== 1) fail("correct", `the answer is not ${q.answer}`);
  const checks = Object.fromEntries(JUDGE_CHECKS.map((c) => [c, notes[c] === undefined])) as Record<
    JudgeCheck,
    boolean
  >;
  const failed = JUDGE_CHECKS.filter((c) => !checks[c]);
  const response =
    failed.length === 0 ? "keep: every check passed" : `reject: ${failed.map((c) => `${c} (${notes[c]})`).join("; ")}`;
  return { keep: failed.length === 0, checks, failed, response };
}

type Fail = (check: JudgeCheck, why: string) => void;

/** grounded and complete: the listed objects against the description. */
function checkObjects(objects: readonly DescribedObject[], listed: string[] | null, total: number | null, fail: Fail) {
  if (listed === null) {
    fail("grounded", "the chain lists no objects");
    fail("complete", "the chain lists no objects");
    return;
  }
  // A listed "red shape" is matched by colour, a "red circle" by colour and shape.
  const have = new Map<string, number>();
  const add = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);
  for (const o of objects) [o.color, `${o.color} ${o.shape}`].forEach((key) => add(have, key));
  const named = new Map<string, number>();
  for (const p of listed) add(named, p.endsWith(" shape") ? p.slice(0, -" shape".length) : p);
  for (const [p, n] of named) {
    const what = p.includes(" ") ? p : `${p} shape`;
    if (n > (have.get(p) ?? 0)) fail("grounded", `it names ${n} ${what} but the description has ${have.get(p) ?? 0}`);
  }
  if (listed.length !== objects.length)
    fail("complete", `it lists ${listed.length} objects of the description's ${objects.length}`);
  if (total === null) fail("complete", "it never states how many shapes there are in all");
  else if (total !== objects.length) fail("complete", `it says ${total} shapes in all, not ${objects.length}`);
}

/** consistent: the answer span is the result the chain computed. */
function checkConclusion(q: CotQuestion, completion: string, result: number | boolean | null, fail: Fail) {
  const answer = extractAnswer(completion);
  if (result === null) {
    fail("arithmetic", "the chain states no operation");
    return fail("consistent", "the chain computes no result");
  }
  if (answer === null) return fail("consistent", "there is no answer to compare with the chain's result");
  const expected = typeof result === "boolean" ? (result ? "yes" : "no") : String(result);
  if (q.kind === "more" && typeof result !== "boolean") fail("consistent", "a yes/no question answered by a count");
  else if (answer !== expected) fail("consistent", `the chain computes ${expected} but answers ${answer}`);
}
