/** What the Qwen2-VL tests share: a tiny language model, a striped test image, greedy decoding without a cache. */
import { tf } from "@vlab/core";
import type { Qwen2VL, Qwen2VlVision } from "../src/index.js";

/** The tiny language model's config (with an `imageTokenId` of the test's own). */
export const tinyText = {
  vocabSize: 64,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  mropeSection: [2, 1, 1], // head width 8: 4 frequency slots
  initializerRange: 0.3,
};

/** A striped RGB image; `k` changes the stripes, so that its patches (and images of other k) differ. */
export const striped = (width: number, height: number, k: number) => ({
  width,
  height,
  data: Uint8Array.from({ length: width * height * 3 }, (_, i) => ((Math.floor(i / 3) % width) * 7 * k + i) % 256),
});

/** Greedy decoding without a cache: the whole sequence through `forward` each step. */
export function naive(m: Qwen2VL, prompt: number[], vision: Qwen2VlVision | null, n: number): number[] {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const logits = m.forward([seq], vision);
    const id = tf.tidy(
      () => tf.argMax(tf.slice(tf.reshape(logits, [seq.length, -1]), [seq.length - 1, 0], [1, -1]), 1).dataSync()[0]!,
    );
    logits.dispose();
    seq.push(id);
  }
  return seq.slice(prompt.length);
}
