/**
 * What R1-Zero papers measure in a model's completions during RL, as plain functions on text and numbers:
 *
 * - Self-reflection phrases. DeepSeek-R1 (DeepSeek-AI 2025, sec. 2.2.4, "aha moment") and VisualThinker-R1-Zero
 *   (Zhou et al. 2025, arXiv 2503.05132, sec. 4) point to completions that re-examine their own reasoning ("wait",
 *   "let me check", "re-examine"). `countReflections` counts, for each phrase, how many completions contain it and
 *   how often it occurs, matched case-insensitively on whole words, with any spacing between words and around
 *   hyphens (a word-level tokenizer decodes "re-examine" as "re - examine").
 * - Response length against accuracy. VisualThinker reports that response length grows during RL as accuracy does;
 *   `pearson` gives the sample correlation r = Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²) of two series (NaN when either is
 *   constant or shorter than 2: no correlation can be measured then).
 */

/** Phrases read as self-reflection (DeepSeek-R1's and VisualThinker-R1-Zero's examples, and their near variants). */
export const REFLECTION_PHRASES: readonly string[] = [
  "wait",
  "let me check",
  "let me verify",
  "re-examine",
  "recheck",
  "double-check",
  "check again",
  "however",
  "on second thought",
  "actually",
  "hmm",
  "aha",
];

export interface ReflectionCount {
  phrase: string;
  /** Completions that contain the phrase at least once. */
  completions: number;
  /** Occurrences over all completions. */
  occurrences: number;
}

export interface ReflectionReport {
  byPhrase: ReflectionCount[];
  /** Completions that contain at least one of the phrases. */
  withAny: number;
  /** Completions looked at. */
  total: number;
  /** withAny / total (0 when there are none). */
  rate: number;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A whole-word, case-insensitive pattern for a phrase, any spacing between its words and around its hyphens. */
export function phrasePattern(phrase: string): RegExp {
  const words = phrase.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new RangeError("phrasePattern: an empty phrase");
  const body = words.map((w) => w.split("-").map(escape).join("\\s*-\\s*")).join("\\s+");
  return new RegExp(`(?<![\\p{L}\\p{N}_])${body}(?![\\p{L}\\p{N}_])`, "giu");
}

/** How often each phrase appears in the completions (see the file comment). */
export function countReflections(
  completions: readonly string[],
  phrases: readonly string[] = REFLECTION_PHRASES,
): ReflectionReport {
  const patterns = phrases.map((p) => [p, phrasePattern(p)] as const);
  const byPhrase = patterns.map(([phrase]) => ({ phrase, completions: 0, occurrences: 0 }));
  let withAny = 0;
  for (const c of completions) {
    if (typeof c !== "string") throw new TypeError(`countReflections: completions must be strings, got ${typeof c}`);
    let any = false;
    patterns.forEach(([, re], k) => {
      const n = Array.from(c.matchAll(re)).length;
      const row = byPhrase[k];
      if (n > 0 && row) {
        row.completions++;
        row.occurrences += n;
        any = true;
      }
    });
    if (any) withAny++;
  }
  const total = completions.length;
  return { byPhrase, withAny, total, rate: total > 0 ? withAny / total : 0 };
}

/** Pearson's sample correlation of two equally long series (NaN when either is constant or shorter than 2). */
export function pearson(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new RangeError(`pearson: the series differ in length (${x.length} and ${y.length})`);
  const bad = [...x, ...y].findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new RangeError(`pearson: value ${bad} of the concatenated series is not a finite number`);
  const n = x.length;
  if (n < 2) return NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] ?? 0) - mx,
      dy = (y[i] ?? 0) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}
