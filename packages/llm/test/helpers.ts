import { Rng, tf } from "@vlab/core";
import { CausalLM, type LlmConfig } from "../src/index.js";

/** The tiny model of every test: width 32, 2 layers, 4 query heads sharing 2 kv heads, vocab 50. */
export const TINY: LlmConfig = {
  vocabSize: 50,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  ropeTheta: 10000,
  maxPositionEmbeddings: 64,
  // Larger than HF's 0.02 so that logits are spread out and greedy choices are not near-ties.
  initializerRange: 0.3,
};

export function tinyModel(over: Partial<LlmConfig> = {}, seed = 1): CausalLM {
  return new CausalLM({ ...TINY, ...over }, { rng: new Rng(seed) });
}

export const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

/** Random token ids in [lo, hi). */
export function randomIds(seed: number, n: number, lo = 1, hi = 50): number[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => lo + r.int(hi - lo));
}
