/**
 * Accuracy reward: 1 if the completion's answer matches the solution, else 0.
 *
 * mode "answer" (default, vlab's checker): read the completion's `<answer>` span (no span → 0) and
 * the solution's (or the whole solution if it has none); if both are numbers compare them as numbers,
 * otherwise as exact strings (after stripping whitespace).
 *
 * mode "r1v" reproduces R1-V's `accuracy_reward` (src/r1-v/src/open_r1/grpo.py):
 *
 *   (a) if verify(parse(content), parse(sol)) > 0: 1     # Math-Verify on the WHOLE completion
 *   (b) else: gt  = re.search(r'<answer>(.*?)</answer>', sol)     → group(1).strip(), or sol.strip()
 *             ans = re.search(r'<answer>(.*?)</answer>', content) → group(1).strip(), or content.strip()
 *             1 if ans == gt
 *
 * Step (a) reads the reasoning too, which gives false positives. For example, with solution
 * `<answer> 3 </answer>`:
 *
 *   "<think>I see 3 cubes</think><answer>4</answer>"   R1-V: 1 (!)   vlab default: 0
 *
 * Math-Verify finds numbers that follow a space, "=" or the start of the text; the 4 is glued to
 * `<answer>`, so the number it reads is the 3 from the reasoning, which equals the solution.
 * Math-Verify is not available here: step (a) uses `mathVerifyNumber`, an approximation for plain
 * numbers (see answer.ts). Step (b) has no DOTALL, so an answer spanning lines never matches there
 * (the regex then falls back to the whole completion, which rarely equals the solution).
 *
 * mode "visualthinker" is R1-V's reward followed by VisualThinker-R1-Zero's multiple-choice fallback:
 * 1 if the last stand-alone letter A–H of the step-(b) answer equals the ground truth.
 */
import { extractAnswer, mathVerifyNumber, numbersEqual, parseNumber } from "./answer.js";
import { extractChoiceLetters } from "./choice.js";
import { asText, pyStrip, safely, searchTagged } from "./text.js";

export type AccuracyMode = "answer" | "r1v" | "visualthinker";

export interface AccuracyOptions {
  /** "answer" (default): compare the `<answer>` spans; "r1v": R1-V's reward; "visualthinker": R1-V's plus letters. */
  mode?: AccuracyMode;
  /** Relative tolerance for numeric equality (default 1e-9). */
  relTol?: number;
}

/** 1 if `completion` answers `solution` correctly under `mode`, else 0 (also for any non-string input). */
export function accuracyReward(completion: unknown, solution: unknown, options: AccuracyOptions = {}): number {
  return safely(() => {
    const content = asText(completion);
    const sol = asText(solution);
    if (content === null || sol === null) return 0;
    const relTol = options.relTol ?? 1e-9;
    switch (options.mode ?? "answer") {
      case "answer":
        return answerMatches(content, sol, relTol) ? 1 : 0;
      case "r1v":
        return r1vAccuracy(content, sol, relTol).correct ? 1 : 0;
      case "visualthinker": {
        const r = r1vAccuracy(content, sol, relTol);
        if (r.correct) return 1;
        const letters = extractChoiceLetters(r.answer); // IndexError on no letters → 0, as in the source
        return letters.length > 0 && letters[letters.length - 1] === r.truth ? 1 : 0;
      }
      default:
        return 0;
    }
  });
}

/** vlab's check: the completion's `<answer>` against the solution, numerically when both are numbers. */
function answerMatches(content: string, sol: string, relTol: number): boolean {
  const ans = extractAnswer(content);
  if (ans === null) return false;
  const truth = extractAnswer(sol) ?? pyStrip(sol);
  if (truth === "") return false; // nothing to check against
  const a = parseNumber(ans);
  const b = parseNumber(truth);
  if (a !== null && b !== null) return numbersEqual(a, b, relTol);
  return ans === truth;
}

/** R1-V's two steps; also returns the step-(b) strings VisualThinker's fallback reuses. */
function r1vAccuracy(
  content: string,
  sol: string,
  relTol: number,
): { correct: boolean; answer: string; truth: string } {
  const truthSpan = searchTagged(sol, "<answer>", "</answer>", false);
  const truth = truthSpan !== null ? pyStrip(truthSpan) : pyStrip(sol);
  const answerSpan = searchTagged(content, "<answer>", "</answer>", false);
  const answer = answerSpan !== null ? pyStrip(answerSpan) : pyStrip(content);
  // (a) "math_verify" over the whole completion and the whole solution.
  const c = mathVerifyNumber(content);
  const g = mathVerifyNumber(sol);
  if (c !== null && g !== null && numbersEqual(c, g, relTol)) return { correct: true, answer, truth };
  // (b) exact match of the (non-DOTALL) <answer> contents.
  return { correct: answer === truth, answer, truth };
}
