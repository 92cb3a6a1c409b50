/**
 * Length reward, as VisualThinker-R1-Zero defines it:
 *
 *   length_reward = len(tokenizer(completion).input_ids) * 0.001        (linear, unbounded)
 *
 * Its paper reports that this "naive length reward [is] ineffective": the model pads its reasoning.
 * This package has no tokenizer, so by default it counts Unicode code points; pass `count` (e.g.
 * `(s) => tokenizer.encode(s).length`) for VisualThinker's exact reward. `max` caps the reward
 * (none by default, as in the source). Range: [0, ∞), or [0, max].
 */
import { asText, safely } from "./text.js";

export interface LengthRewardOptions {
  /** Length of a completion (default: Unicode code points). Negative or non-finite counts give 0. */
  count?: (completion: string) => number;
  /** Reward per unit of length (default 0.001, VisualThinker's). */
  scale?: number;
  /** Upper bound of the reward (default: none). */
  max?: number;
}

/** `scale · count(completion)`, at least 0 and at most `max`; 0 for non-strings. */
export function lengthReward(completion: unknown, options: LengthRewardOptions = {}): number {
  return safely(() => {
    const s = asText(completion);
    if (s === null) return 0;
    const n = options.count ? options.count(s) : codePoints(s);
    if (!(Number.isFinite(n) && n >= 0)) return 0;
    const r = n * (options.scale ?? 0.001);
    if (!(r >= 0)) return 0;
    return options.max !== undefined ? Math.min(r, Math.max(0, options.max)) : r;
  });
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++; // a surrogate pair is one code point
    }
    n++;
  }
  return n;
}
