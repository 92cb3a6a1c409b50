/**
 * `\boxed{…}` answers and lmm-r1's accuracy reward (TideDra/lmm-r1, openrlhf/models/remote_rm/math_verifier.py).
 *
 * lmm-r1 scores a response as 0.5 · format + accuracy, where accuracy runs Math-Verify over the whole response:
 *
 *   gold   = parse("$" + answer + "$" unless it starts with "$", LatexExtractionConfig(), first_match)
 *   pred   = parse(response, LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False))
 *   reward = verify(pred, gold)       — and 1.0 if the gold answer does not parse ("skip this example")
 *
 * With `boxed_match_priority=0` the boxed pattern is tried first, and Math-Verify takes the last match of a
 * pattern, so the answer is the last `\boxed{…}` of the response. Math-Verify is not available here; this file
 * approximates it for the answers such datasets hold (plain numbers, fractions, short strings):
 *
 *   answer = the content of the last `\boxed{…}` (braces balanced), else the `<answer>` span
 *   gold   = the label with `$…$` and one `\boxed{…}` unwrapped ("$\boxed{60}$" → "60")
 *   reward = 1 if both are numbers (`3`, `-0.5`, `3/4`, `\frac{3}{4}`) and equal, or equal as strings once
 *            whitespace is removed; else 0
 *
 * Divergences, on purpose: no symbolic equivalence (`\sqrt{4}` is not 2 here); a label that is empty after
 * unwrapping scores 0, not lmm-r1's free 1.0 (a dataset error should show as a zero, not as a reward).
 */
import { extractAnswer, numbersEqual, parseNumber } from "./answer.js";
import { asText, pyStrip, safely } from "./text.js";

const BOXED = "\\boxed{";

/**
 * The content of the last `\boxed{…}` whose braces balance, or null. `\fbox{…}` is not read. One pass with a
 * stack of open braces (a scan from each `\boxed{` to its close would be quadratic on unbalanced text).
 */
export function extractBoxed(text: unknown): string | null {
  const s = asText(text);
  if (s === null) return null;
  const open: number[] = []; // positions of the unclosed `{`
  let best: [number, number] | null = null; // [content start, content end] of the last closed `\boxed{`
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 123 /* { */) open.push(i);
    else if (c === 125 /* } */) {
      const at = open.pop();
      if (at === undefined) continue;
      const start = at + 1;
      if (start >= BOXED.length && s.startsWith(BOXED, start - BOXED.length) && (!best || start > best[0]))
        best = [start, i];
    }
  }
  return best ? s.slice(best[0], best[1]) : null;
}

const WRAPPERS = [
  ["$$", "$$"],
  ["$", "$"],
  ["\\(", "\\)"],
  ["\\[", "\\]"],
] as const;

/**
 * A LaTeX answer reduced to what is compared: outer `$…$` / `\(…\)` / `\[…\]` removed, a whole-string
 * `\boxed{…}` unwrapped, whitespace stripped. `"$\boxed{60}$"` → `"60"`.
 */
export function unwrapLatexAnswer(text: string): string {
  let t = pyStrip(text);
  // A few layers at most ("$\boxed{…}$"); the bound keeps pathological nesting linear.
  for (let layer = 0, changed = true; changed && layer < 8; layer++) {
    changed = false;
    for (const [open, close] of WRAPPERS) {
      if (t.length >= open.length + close.length && t.startsWith(open) && t.endsWith(close)) {
        t = pyStrip(t.slice(open.length, t.length - close.length));
        changed = true;
        break;
      }
    }
    const inner = changed ? null : wholeBoxed(t);
    if (inner !== null) {
      t = pyStrip(inner);
      changed = true;
    }
  }
  return t;
}

/** The content of `t` if the whole of `t` is one `\boxed{…}`, else null. */
function wholeBoxed(t: string): string | null {
  if (!t.startsWith(BOXED) || !t.endsWith("}")) return null;
  let depth = 1;
  for (let i = BOXED.length; i < t.length; i++) {
    const c = t[i];
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i === t.length - 1 ? t.slice(BOXED.length, i) : null;
  }
  return null;
}

const LATEX_FRACTION = /^([+-]?)\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}$/;

/** The number an unwrapped answer denotes (parseNumber's forms, plus `\frac{a}{b}`), or null. */
function latexNumber(t: string): number | null {
  const f = LATEX_FRACTION.exec(t);
  if (f) {
    const a = parseNumber(f[2] ?? "");
    const b = parseNumber(f[3] ?? "");
    if (a === null || b === null || b === 0) return null;
    return (f[1] === "-" ? -1 : 1) * (a / b);
  }
  return parseNumber(t);
}

/**
 * lmm-r1's accuracy, approximated (see the file comment): 1 if the response's last `\boxed{}` (or its `<answer>`
 * span) equals the label, else 0. A non-string or empty label gives 0.
 */
export function boxedAccuracyReward(completion: unknown, label: unknown, options: { relTol?: number } = {}): number {
  return safely(() => {
    const gold = asText(label);
    const raw = extractBoxed(completion) ?? extractAnswer(completion);
    if (gold === null || raw === null) return 0;
    const g = unwrapLatexAnswer(gold);
    const a = unwrapLatexAnswer(raw);
    if (g === "" || a === "") return 0;
    const x = latexNumber(a);
    const y = latexNumber(g);
    if (x !== null && y !== null) return numbersEqual(x, y, options.relTol ?? 1e-9) ? 1 : 0;
    const squash = (s: string) => s.replace(/\s+/g, "");
    return squash(a) === squash(g) ? 1 : 0;
  });
}
