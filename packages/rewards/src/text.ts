/**
 * Text helpers that make JavaScript strings behave like the Python the reward functions were written in.
 *
 * The reference rewards (R1-V, open-r1-multimodal, VisualThinker, VLM-R1, Visual-RFT, lmm-r1) are a
 * handful of Python `re` patterns and `str` methods. Three details differ between Python and JavaScript
 * and change rewards on real completions:
 *
 * - `\s` — Python's (for `str` patterns, and `str.strip()`) is the set `str.isspace()` accepts. It is
 *   JavaScript's `\s` minus U+FEFF (a byte-order mark is not a space in Python) plus U+001C–U+001F and
 *   U+0085 (NEL). `PY_SPACE` below is that set, written out (checked against CPython 3.11).
 * - `\d` — Python's matches every Unicode decimal digit (category Nd: `٣`, `３`, `𝟑`), and `int()`
 *   reads them. JavaScript's `\d` is ASCII only; `\p{Nd}` with the `u` flag is Python's. `pyInt` reads
 *   such digit strings the way `int()` does.
 * - `.` without DOTALL — Python's excludes only `\n`; JavaScript's also excludes `\r`, U+2028 and
 *   U+2029. Code here writes `[^\n]` where Python wrote `.`.
 *
 * Every reward returns 0 instead of throwing. `asText` is the gate: a non-string, or a string longer
 * than `MAX_TEXT_CHARS`, is not a completion.
 */

/**
 * Longest text a reward looks at (about a million characters, far beyond any `max_completion_length`); longer gets
 * reward 0.
 */
export const MAX_TEXT_CHARS = 1 << 20;

/** Python's `\s` (and `str.isspace()`) as the body of a JavaScript character class. */
export const PY_SPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const SPACE_RE = new RegExp(`[${PY_SPACE}]`);

/** `ch.isspace()` in Python, for one UTF-16 code unit (every Python space is in the BMP); false past a string's end. */
export function isPySpace(ch: string | undefined): boolean {
  return ch !== undefined && ch.length === 1 && SPACE_RE.test(ch);
}

/** Python's `s.strip()`: removes Python whitespace from both ends. */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isPySpace(s[a])) a++;
  while (b > a && isPySpace(s[b - 1])) b--;
  return s.slice(a, b);
}

/** The string itself if it is one a reward should read, else null (non-strings, huge strings). */
export function asText(x: unknown): string | null {
  return typeof x === "string" && x.length <= MAX_TEXT_CHARS ? x : null;
}

/** Runs `fn`; any exception, or a non-finite number, becomes `fallback`. */
export function safely(fn: () => number, fallback = 0): number {
  try {
    const v = fn();
    return typeof v === "number" && Number.isFinite(v) ? v : fallback;
  } catch {
    return fallback;
  }
}

/**
 * Python `int()` of a string of Unicode decimal digits (what `\d+` matched), or NaN.
 *
 * Every Unicode Nd character belongs to a run of ten consecutive code points holding 0…9, and such
 * runs start at a multiple of ten from the first one of their block; so a digit's value is its
 * distance from the start of its contiguous Nd block, modulo 10.
 */
export function pyInt(digits: string): number {
  let v = 0;
  let any = false;
  for (const ch of digits) {
    const d = digitValue(ch);
    if (d < 0) return NaN;
    v = v * 10 + d;
    any = true;
  }
  return any ? v : NaN;
}

const ND = /^\p{Nd}$/u;

/** Digit values of the non-ASCII digits met so far: a long run of one script's digits costs one lookup each. */
const digitCache = new Map<string, number>();

function digitValue(ch: string): number {
  if (ch >= "0" && ch <= "9") return ch.charCodeAt(0) - 48;
  const cached = digitCache.get(ch);
  if (cached !== undefined) return cached;
  let v = -1;
  const cp = ch.codePointAt(0);
  if (cp !== undefined && ND.test(ch)) {
    // the offset from the start of its contiguous Nd block, mod 10 (see pyInt)
    let start = cp;
    while (start > 0 && ND.test(String.fromCodePoint(start - 1))) start--;
    v = (cp - start) % 10;
  }
  // at most the ~700 Nd code points, plus whatever non-digits are asked about (bounded below)
  if (digitCache.size < 4096) digitCache.set(ch, v);
  return v;
}

/**
 * `re.search(open + "(.*?)" + close, s)` for literal tags: the group of the leftmost match, or null.
 * Without `dotall` the captured text may not contain `\n` (Python's `.`).
 *
 * Linear time (no backtracking regex): the leftmost `open` whose next `close` comes before the next
 * newline. With DOTALL the first `open` decides (if no `close` follows it, none follows a later one).
 */
export function searchTagged(s: string, open: string, close: string, dotall: boolean): string | null {
  let p = s.indexOf(open);
  let k = -1; // the first `close` at or after the current `from` (kept between turns: it only moves right)
  while (p >= 0) {
    const from = p + open.length;
    if (k < from) k = s.indexOf(close, from);
    if (k < 0) return null;
    if (dotall) return s.slice(from, k);
    const nl = s.indexOf("\n", from);
    if (nl < 0 || nl >= k) return s.slice(from, k);
    // A newline before the close: no match starts at p, nor at any `open` before that newline.
    p = s.indexOf(open, nl + 1);
  }
  return null;
}
