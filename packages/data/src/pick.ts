/**
 * One item drawn uniformly from a list by a seeded generator (Python's `random.choice`). Internal to
 * @vlab/data: the scene sampler, captions and instruction data draw with it.
 */
import type { Rng } from "@vlab/core";

/** `items[rng.int(items.length)]`; an empty list is an error (Rng.int refuses n = 0). */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[rng.int(items.length)];
  if (item === undefined) throw new RangeError(`pick: the list of ${items.length} has a hole`);
  return item;
}
