/**
 * Multiple-choice letters, as VisualThinker-R1-Zero reads them ("for RAVEN").
 *
 *   extract_letters(ans) = re.findall(r"(^|\s|\[|\()([A-H])(\s|\]|\)|$)", ans)   → the letters
 *   reward = 1 if extract_letters(student_answer)[-1] == ground_truth
 *
 * A letter counts when it stands alone: after the start, a space, `[` or `(`, and before a space,
 * `]`, `)` or the end. `findall` does not overlap matches, and the space after one letter is
 * consumed by it, so in "A B" only "A" is found ("B" has no unconsumed space before it); "A  B"
 * (two spaces) finds both. The *last* letter found is the answer.
 */
import { extractAnswer } from "./answer.js";
import { PY_SPACE, asText, pyStrip, safely } from "./text.js";

const LETTER = new RegExp(`(^|[${PY_SPACE}]|\\[|\\()([A-H])([${PY_SPACE}]|\\]|\\)|$)`, "g");

/** The stand-alone option letters A–H in `text`, in order, exactly as VisualThinker's `extract_letters` finds them. */
export function extractChoiceLetters(text: unknown): string[] {
  try {
    const s = asText(text);
    if (s === null) return [];
    return Array.from(s.matchAll(LETTER), ([, , letter = ""]) => letter); // group 2 always takes part in a match
  } catch {
    return [];
  }
}

/**
 * 1 if the last stand-alone letter in the completion's `<answer>` equals the solution's letter
 * (the solution's `<answer>` content, or the whole solution, stripped), else 0. No `<answer>` → 0.
 */
export function multipleChoiceReward(completion: unknown, solution: unknown): number {
  return safely(() => {
    const ans = extractAnswer(completion);
    const sol = asText(solution);
    if (ans === null || sol === null) return 0;
    const gt = extractAnswer(sol) ?? pyStrip(sol);
    const letters = extractChoiceLetters(ans);
    return letters.length > 0 && letters[letters.length - 1] === gt ? 1 : 0;
  });
}
