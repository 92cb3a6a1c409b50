/**
 * R1-Onevision's RL accuracy reward (Fancy-MLLM/R1-Onevision, its VLM-R1 fork:
 * src/open-r1-multimodal/src/open_r1/grpo_jsonl.py, `default_accuracy_reward` and `mcq_reward`). The script strips
 * the record's answer of its tags and passes the solution as `"<answer> A </answer>"`; then, per completion:
 *
 *   (a) if verify(parse(content), parse(sol)) > 0: 1              # Math-Verify on the WHOLE completion
 *   (b) gt  = re.search(r'<answer>(.*?)</answer>', sol) → group(1).strip(), or sol.strip()
 *       ans = re.search(r'<answer>(.*?)</answer>', content, re.DOTALL) → group(1).strip(), or content.strip()
 *       if re.search(r'\d', gt):                        1 if ans == gt else 0       # numbers: exact string
 *       elif re.search(r'Answer:\s*([A-D])', sol, re.I): 1 if extract_choice(ans) == that letter else 0
 *       else:                                           Levenshtein.ratio(ans.lower(), gt.rstrip('.').lower())
 *
 * so a text answer earns partial credit in [0, 1] by edit similarity. Math-Verify is approximated by
 * `mathVerifyNumber` (answer.ts, plain numbers only), as in R1-V's mode of `accuracyReward`; it shares R1-V's false
 * positive (a number in the reasoning that equals the solution scores 1). `accu_reward_method: "mcq"` selects
 * `mcq_reward` instead: the letter after "Answer:" in the solution (or the whole solution) against
 * `extract_choice` of the answer span.
 */
import { mathVerifyNumber, numbersEqual } from "./answer.js";
import { asText, pyStrip, safely, searchTagged } from "./text.js";

/**
 * python-Levenshtein's `ratio(a, b)`: (|a| + |b| − d) / (|a| + |b|) with d the edit distance where a substitution
 * costs 2 — the same as 2·LCS(a, b) / (|a| + |b|); 1 for two empty strings. Compared by UTF-16 code unit.
 */
export function levenshteinRatio(a: string, b: string): number {
  const total = a.length + b.length;
  if (total === 0) return 1;
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++)
      row[j] = a[i - 1] === b[j - 1] ? (prev[j - 1] ?? 0) + 1 : Math.max(prev[j] ?? 0, row[j - 1] ?? 0);
    prev = row;
  }
  return (2 * (prev[b.length] ?? 0)) / total;
}

const CHOICE_KEYWORDS = ["答案", "选择", "正确", "是", "对", "answer", "correct", "choose", "select", "right"].concat([
  "认为",
  "应该",
  "觉得",
  "think",
  "believe",
  "should",
]);

/**
 * R1-Onevision's `extract_choice`: the letters A–D standing alone in the upper-cased text; one → it, several →
 * the best scored (+1 per keyword within 20 characters of its first occurrence, +2 if that lies in the last 30% of
 * the text, +1 if punctuation follows it; ties go to the first letter found), none → null.
 */
export function extractChoice(text: string): string | null {
  const t = text.toUpperCase().replace(/\s+/g, " ");
  const choices = [...t.matchAll(/(?<![A-Z])([A-D])(?![A-Z])/g)].map((m) => m[1] ?? "");
  if (choices.length === 0) return null;
  if (choices.length === 1) return choices[0] ?? null;
  const scores = new Map<string, number>(choices.map((c) => [c, 0]));
  for (const c of choices) {
    const pos = t.indexOf(c);
    const context = t.slice(Math.max(0, pos - 20), Math.min(t.length, pos + 20));
    let s = scores.get(c) ?? 0;
    for (const k of CHOICE_KEYWORDS) if (context.includes(k.toUpperCase())) s += 1;
    if (pos > t.length * 0.7) s += 2;
    if (pos < t.length - 1 && "。.!！,，".includes(t[pos + 1] ?? "\0")) s += 1;
    scores.set(c, s);
  }
  let best: string | null = null,
    bestScore = -Infinity;
  for (const [c, s] of scores) if (s > bestScore) [best, bestScore] = [c, s];
  return best;
}

export interface OnevisionAccuracyOptions {
  /** The record's `accu_reward_method`: "mcq" for `mcq_reward`, anything else (default) the default reward. */
  method?: string;
}

/** R1-Onevision's accuracy reward of one completion against its solution (see the file comment); in [0, 1]. */
export function onevisionAccuracyReward(
  completion: unknown,
  solution: unknown,
  options: OnevisionAccuracyOptions = {},
): number {
  return safely(() => {
    const content = asText(completion);
    const sol = asText(solution);
    if (content === null || sol === null) return 0;
    const span = searchTagged(content, "<answer>", "</answer>", true);
    const answer = span !== null ? pyStrip(span) : pyStrip(content);
    if (options.method === "mcq") {
      const letter = /Answer:\s*([A-Z])/i.exec(sol);
      const truth = letter ? (letter[1] ?? "").toUpperCase() : pyStrip(sol);
      const choice = extractChoice(answer);
      return choice !== null && choice === truth ? 1 : 0;
    }
    const c = mathVerifyNumber(content);
    const g = mathVerifyNumber(sol);
    if (c !== null && g !== null && numbersEqual(c, g)) return 1;
    const truthSpan = searchTagged(sol, "<answer>", "</answer>", false);
    const truth = truthSpan !== null ? pyStrip(truthSpan) : pyStrip(sol);
    if (/\d/.test(truth)) return answer === truth ? 1 : 0;
    const letter = /Answer:\s*([A-D])/i.exec(sol);
    if (letter) {
      const choice = extractChoice(answer);
      return choice !== null && choice === (letter[1] ?? "").toUpperCase() ? 1 : 0;
    }
    return levenshteinRatio(answer.toLowerCase(), truth.replace(/\.+$/, "").toLowerCase());
  });
}
