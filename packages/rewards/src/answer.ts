/**
 * Reading the answer out of a completion: the `<answer>` span, and numbers in it.
 *
 * vlab's checker (the default accuracy reward) reads only what the model put in `<answer> … </answer>`
 * and compares numbers as numbers ("3", " 3 ", "3.0", "3e0" are all 3). R1-V instead runs Math-Verify
 * over the *whole* completion, reasoning included; `mathVerifyNumber` approximates what that finds
 * for plain numbers, so the R1-V mode of `accuracyReward` can reproduce its false positives.
 */
import { PY_SPACE, asText, pyStrip, searchTagged } from "./text.js";

/**
 * The content of the first `<answer> … </answer>` (may span lines), stripped of whitespace;
 * null if there is none (or the input is not a string).
 *
 *   extractAnswer("<think>…</think><answer> 3 </answer>")   // "3"
 */
export function extractAnswer(completion: unknown): string | null {
  try {
    const s = asText(completion);
    if (s === null) return null;
    const a = searchTagged(s, "<answer>", "</answer>", true);
    return a === null ? null : pyStrip(a);
  } catch {
    return null;
  }
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const GROUPED = /^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;
const FRACTION = new RegExp(`^([+-]?\\d+)[${PY_SPACE}]*/[${PY_SPACE}]*(\\d+)$`);

/**
 * The number a whole answer string denotes, or null: an integer or decimal (optionally signed, with
 * an exponent: "3", "-0.5", "3.", ".5", "1e3"), a comma-grouped integer ("1,234.5"), or a fraction of
 * integers ("3/4"). Surrounding whitespace is ignored; anything else (units, words, LaTeX) is not a
 * number. Non-finite values are null.
 */
export function parseNumber(text: unknown): number | null {
  if (typeof text !== "string" || text.length > 1000) return null;
  const t = pyStrip(text);
  let v = NaN;
  if (DECIMAL.test(t)) v = Number(t);
  else if (GROUPED.test(t)) v = Number(t.replaceAll(",", ""));
  else {
    const f = FRACTION.exec(t);
    if (f) v = Number(f[1]) / Number(f[2]);
  }
  return Number.isFinite(v) ? v : null;
}

/** Equal as numbers: identical, or within a relative tolerance (default 1e-9) of the larger magnitude. */
export function numbersEqual(a: number, b: number, relTol = 1e-9): boolean {
  return a === b || Math.abs(a - b) <= relTol * Math.max(Math.abs(a), Math.abs(b));
}

// Math-Verify 0.5.2's plain-number patterns (ExprExtractionConfig), simplified: a number must follow
// the start of the text, a space or "=" (optionally "**" and a currency sign); "answer" followed
// within 50 characters on one line by such a number is preferred; the rightmost match wins.
const NUM = "(-?\\d+(?:\\.\\d+)?|\\.\\d+)";
const ANCHOR = `(?:^|[${PY_SPACE}]|=)(?:\\*\\*)?[$€£¥₹]?`;
const ANSWER_WORD_NUMBER = new RegExp(`answer[^\\n]{0,50}?${ANCHOR}${NUM}(?![${PY_SPACE}]*=)`, "gi");
const BARE_NUMBER = new RegExp(`${ANCHOR}${NUM}`, "g");

/**
 * The number Math-Verify's `parse` would take from free text, approximately (plain numbers only):
 * the rightmost number after the word "answer" (within 50 characters, same line), else the rightmost
 * number that follows the start of the text, whitespace or "=". A number glued to a tag, as the 4 in
 * `<answer>4</answer>`, does not count, which is how R1-V's false positive arises.
 *
 * Not modelled: LaTeX (`$…$`, `\boxed{}`), expressions ("1/2"), percentages, thousands separators,
 * decimal commas, and sympy's comparison rules. Use it to reproduce R1-V, not as a math checker.
 */
export function mathVerifyNumber(text: unknown): number | null {
  const s = asText(text);
  if (s === null) return null;
  for (const re of [ANSWER_WORD_NUMBER, BARE_NUMBER]) {
    let last: string | undefined;
    for (const m of s.matchAll(re)) last = m[1];
    if (last !== undefined) {
      const v = Number(last);
      return Number.isFinite(v) ? v : null;
    }
  }
  return null;
}
