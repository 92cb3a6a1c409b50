/**
 * Format rewards: 1 if a completion has the `<think> … </think> <answer> … </answer>` shape, else 0.
 *
 * Every R1-style project rewards this shape, and each spells it differently. The differences are
 * small in the regex and large in training (R1-V's first release gave 0 to any `<think>` holding a
 * newline, and its published checkpoint stopped thinking altogether). The variants, exactly as the
 * Python sources call them:
 *
 * | variant            | Python                                                                              |
 * |--------------------|-------------------------------------------------------------------------------------|
 * | `r1v` (default)    | `re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", c, re.DOTALL)` (R1-V HEAD) |
 * | `r1v-original`     | `re.match(r"<think>.*?</think>\s*<answer>.*?</answer>", c)` (R1-V first release; also
 *   open-r1-multimodal HEAD) |
 * | `open-r1-mm-first` | `re.match(r"^<think>.*?</think><answer>.*?</answer>$", c)`
 *   (open-r1-multimodal's first commit) |
 * | `lenient`          | `re.search(r"<think>.*?</think>\s*<answer>.*?</answer>", c, re.DOTALL)` (the shape anywhere) |
 * | `lmm-r1`           | `re.match(r"^<think>(?:(?!</think>).)*</think><answer>(?:(?!</answer>).)*</answer>\Z", c,
 *   re.DOTALL)` and exactly one `<think>` and one `<answer>` |
 * | `vlm-r1-rec`       |
 *   `re.search(r"<think>.*?</think>\s*<answer>.*?\{.*\[\d+,\s*\d+,\s*\d+,\s*\d+\].*\}.*?</answer>", c, re.DOTALL)` |
 *
 * Python semantics that matter: `re.match` anchors at the start only (text after `</answer>` is
 * fine), `re.fullmatch` at both ends; without DOTALL `.` stops at `\n` (but `\s*` still crosses
 * newlines); Python's `$` also matches just before a final `\n`; `\s` and `\d` are Python's (see text.ts).
 *
 * Why not JavaScript regexes: backtracking makes these patterns quadratic (measured: 0.4 s for the
 * R1-V pattern on a 200k-character string of `</think><answer>` repeats) and the VLM-R1 one
 * catastrophic (79 s on 10k characters). A reward must not hang a training run, so each pattern is
 * decided by a linear scan that finds the same answer: a match exists iff some `</think>` (after the
 * `<think>`) is followed by optional whitespace and `<answer>`, and the rest fits the tail. The tests
 * check the scans against the regexes, and against CPython where one is installed.
 */
import { PY_SPACE, asText, isPySpace, safely } from "./text.js";

export type FormatVariant = "r1v" | "r1v-original" | "open-r1-mm-first" | "lenient" | "lmm-r1" | "vlm-r1-rec";

export interface FormatOptions {
  /** Which project's format check (default "r1v": R1-V HEAD, full match with DOTALL). */
  variant?: FormatVariant;
  /**
   * The prompt already ends in `<think>` (VisualThinker's base-model prompt), so check
   * `"<think>" + completion`, as VisualThinker does. Default false.
   */
  thinkPrefilled?: boolean;
}

/** The Python each variant reproduces, for display (e.g. in the R1-V notebook). */
export const FORMAT_VARIANTS: Readonly<Record<FormatVariant, { python: string; source: string }>> = {
  r1v: {
    python: 're.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", content, re.DOTALL)',
    source: "Deep-Agent/R1-V grpo.py, since 9cd640a (2025-02-07, issue #19)",
  },
  "r1v-original": {
    python: 're.match(r"<think>.*?</think>\\s*<answer>.*?</answer>", content)',
    source: "Deep-Agent/R1-V first release 033f53c; EvolvingLMMs-Lab/open-r1-multimodal HEAD 232b7ba",
  },
  "open-r1-mm-first": {
    python: 're.match(r"^<think>.*?</think><answer>.*?</answer>$", content)',
    source: "EvolvingLMMs-Lab/open-r1-multimodal first commit c26e521",
  },
  lenient: {
    python: 're.search(r"<think>.*?</think>\\s*<answer>.*?</answer>", content, re.DOTALL)',
    source: "vlab: the R1-V shape anywhere in the text (VLM-R1's search semantics without its JSON box)",
  },
  "lmm-r1": {
    python:
      're.match(r"^<think>(?:(?!</think>).)*</think><answer>(?:(?!</answer>).)*</answer>\\Z", content, re.DOTALL) ' +
      "and one <think> and one <answer>",
    source: "TideDra/lmm-r1 openrlhf/models/remote_rm/math_verifier.py",
  },
  "vlm-r1-rec": {
    python:
      're.search(r"<think>.*?</think>\\s*<answer>.*?\\{.*\\[\\d+,\\s*\\d+,\\s*\\d+,\\s*\\d+\\].*\\}.*?</answer>", ' +
      "content, re.DOTALL)",
    source: "om-ai-lab/VLM-R1 grpo_rec.py (REC format reward)",
  },
};

/** 1 if `completion` has the variant's think/answer format, else 0 (also for non-strings and huge strings). */
export function formatReward(completion: unknown, options: FormatOptions = {}): number {
  return safely(() => {
    let s = asText(completion);
    if (s === null) return 0;
    if (options.thinkPrefilled) s = "<think>" + s;
    return matchesFormat(s, options.variant ?? "r1v") ? 1 : 0;
  });
}

/** Whether `s` passes the variant's check (the boolean behind `formatReward`). */
export function matchesFormat(s: string, variant: FormatVariant = "r1v"): boolean {
  switch (variant) {
    case "r1v":
      return thinkThenAnswer(s, { dotall: true, space: true, anywhere: false, end: "end" });
    case "r1v-original":
      return thinkThenAnswer(s, { dotall: false, space: true, anywhere: false, end: "any" });
    case "open-r1-mm-first":
      return thinkThenAnswer(s, { dotall: false, space: false, anywhere: false, end: "py$" });
    case "lenient":
      return thinkThenAnswer(s, { dotall: true, space: true, anywhere: true, end: "any" });
    case "lmm-r1":
      return lmmR1Format(s);
    case "vlm-r1-rec":
      return vlmR1RecFormat(s);
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The scans
// ---------------------------------------------------------------------------------------------

interface Shape {
  /** re.DOTALL: `.` matches `\n`. */
  dotall: boolean;
  /** `\s*` allowed between `</think>` and `<answer>`. */
  space: boolean;
  /** re.search (the match may start anywhere) rather than re.match / re.fullmatch. Only used with dotall. */
  anywhere: boolean;
  /** Where the match must end: "end" (fullmatch), "py$" (Python `$`: the end, or before a final "\n"), "any". */
  end: "end" | "py$" | "any";
}

const THINK = "<think>";
const THINK_END = "</think>";
const ANSWER = "<answer>";
const ANSWER_END = "</answer>";

/** `indexOf(needle, from)` for non-decreasing `from`, remembering the last hit so a scan stays linear. */
function finder(s: string, needle: string): (from: number) => number {
  let lastFrom = Infinity;
  let at = -1;
  return (from) => {
    if (!(from >= lastFrom && (at === -1 || at >= from))) at = s.indexOf(needle, from);
    lastFrom = from;
    return at;
  };
}

/** `<think>.*?</think>\s*<answer>.*?</answer>` with the given anchoring. */
function thinkThenAnswer(s: string, shape: Shape): boolean {
  const n = s.length;
  // With DOTALL a later `<think>` can only do worse than the first one, so one start suffices.
  const p = shape.anywhere ? s.indexOf(THINK) : s.startsWith(THINK) ? 0 : -1;
  if (p < 0) return false;
  const bodyFrom = p + THINK.length;
  // Without DOTALL the think body cannot cross a newline, so `</think>` must start before the first one.
  const firstNl = shape.dotall ? -1 : s.indexOf("\n", bodyFrom);
  const thinkLimit = firstNl < 0 ? n : firstNl;
  const nextClose = finder(s, ANSWER_END);
  const nextNl = finder(s, "\n");
  const newlineFree = (a: number, b: number) => {
    if (shape.dotall) return true;
    const nl = nextNl(a);
    return nl < 0 || nl >= b;
  };
  for (let i = s.indexOf(THINK_END, bodyFrom); i >= 0 && i < thinkLimit; i = s.indexOf(THINK_END, i + 1)) {
    let j = i + THINK_END.length;
    if (shape.space) while (j < n && isPySpace(s[j])) j++; // `<` is not a space: only the longest run can work
    if (!s.startsWith(ANSWER, j)) continue;
    const y = j + ANSWER.length; // the answer body starts here
    if (shape.end === "any") {
      const k = nextClose(y);
      if (k < 0) return false; // no `</answer>` after this one, so none after any later candidate
      if (newlineFree(y, k)) return true;
    } else {
      const ends = shape.end === "end" ? [n] : s.endsWith("\n") ? [n, n - 1] : [n];
      for (const e of ends) {
        const k = e - ANSWER_END.length;
        if (k >= y && s.startsWith(ANSWER_END, k) && newlineFree(y, k)) return true;
      }
    }
  }
  return false;
}

/** lmm-r1: no text between the blocks, no second `</think>` / `</answer>` inside them, one of each opening tag. */
function lmmR1Format(s: string): boolean {
  if (!s.startsWith(THINK)) return false;
  // The tempered `(?:(?!</think>).)*` stops at the first `</think>`, so that is the only candidate.
  const i = s.indexOf(THINK_END, THINK.length);
  if (i < 0) return false;
  const a = i + THINK_END.length;
  if (!s.startsWith(ANSWER, a)) return false;
  const k = s.indexOf(ANSWER_END, a + ANSWER.length);
  if (k < 0 || k !== s.length - ANSWER_END.length) return false; // `\Z`: the first `</answer>` ends the text
  return count(s, THINK) === 1 && count(s, ANSWER) === 1;
}

function count(s: string, needle: string): number {
  let c = 0;
  for (let i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + needle.length)) c++;
  return c;
}

/**
 * Python `\[\d+,\s*\d+,\s*\d+,\s*\d+\]` (Unicode digits and spaces); linear because the text it matches holds no `[`.
 */
const REC_BOX = new RegExp(`\\[\\p{Nd}+,[${PY_SPACE}]*\\p{Nd}+,[${PY_SPACE}]*\\p{Nd}+,[${PY_SPACE}]*\\p{Nd}+\\]`, "gu");

/**
 * VLM-R1 REC: think/answer (searched, DOTALL), then somewhere after `<answer>`: `{`, a box of four
 * integers, `}`, `</answer>`, in that order. Every gap is a DOTALL `.*`, so the earliest candidate
 * of each piece is the best one: the first `</think>\s*<answer>`, then the first `{` after it, the
 * first box after that (boxes cannot overlap: a box contains no `[`), the first `}` after the box,
 * the first `</answer>` after that `}`.
 */
function vlmR1RecFormat(s: string): boolean {
  const p = s.indexOf(THINK);
  if (p < 0) return false;
  const n = s.length;
  let y = -1;
  for (let i = s.indexOf(THINK_END, p + THINK.length); i >= 0; i = s.indexOf(THINK_END, i + 1)) {
    let j = i + THINK_END.length;
    while (j < n && isPySpace(s[j])) j++;
    if (s.startsWith(ANSWER, j)) {
      y = j + ANSWER.length;
      break;
    }
  }
  if (y < 0) return false;
  const brace = s.indexOf("{", y);
  if (brace < 0) return false;
  REC_BOX.lastIndex = brace + 1;
  const box = REC_BOX.exec(s);
  if (!box) return false;
  const close = s.indexOf("}", box.index + box[0].length);
  return close >= 0 && s.indexOf(ANSWER_END, close + 1) >= 0;
}
