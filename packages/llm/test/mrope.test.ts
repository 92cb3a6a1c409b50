/**
 * M-RoPE in the language model (Qwen2-VL): three position ids per token, and generation / scoring that continue
 * after an image at the prompt's largest id + 1. The "image" here is four placeholder tokens on a 2 × 2 grid whose
 * ids @vlab/rope's getRopeIndex gives; the embeddings stay plain token embeddings (the vision side is @vlab/vlm's).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "@vlab/core";
import { getRopeIndex } from "@vlab/rope";
import type { CausalLM } from "../src/index.js";
import { maxDiff, tinyModel } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const [VS, PAD] = [48, 49]; // vision start, image pad
const ids = { visionStartTokenId: VS, imageTokenId: PAD, videoTokenId: 47 };
/** M-RoPE ids of padded rows: each row's images (4 pads after a vision start) on a 1 × 4 × 4 patch grid. */
const positions = (rows: readonly (readonly number[])[], mask: readonly (readonly number[])[]) => {
  const images = rows.reduce((n, r, b) => n + r.filter((t, j) => t === VS && mask[b]![j]).length, 0);
  const imageGridThw = Array.from({ length: images }, () => [1, 4, 4]);
  return getRopeIndex(rows, { ...ids, attentionMask: mask, imageGridThw }).positionIds;
};
const mrope = () => tinyModel({ mropeSection: [2, 1, 1] }, 3); // head width 8: 4 frequency slots

/** Greedy decoding without a cache: the whole sequence each step, its M-RoPE ids recomputed. */
function naive(m: CausalLM, prompt: number[], n: number): number[] {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const mask = [seq.map(() => 1)];
    const logits = m.forward([seq], { logitsToKeep: 1, mropePositionIds: positions([seq], mask) });
    const id = tf.tidy(() => tf.argMax(tf.reshape(logits, [-1])).dataSync()[0]!);
    logits.dispose();
    seq.push(id);
  }
  return seq.slice(prompt.length);
}

describe("M-RoPE in CausalLM", () => {
  it("equal t, h, w ids are exactly 1-D RoPE; an image's grid ids change the output", () => {
    const m = mrope();
    const row = [3, VS, PAD, PAD, PAD, PAD, 7, 9];
    const flat = row.map((_, j) => j);
    const a = m.forward([row], { positionIds: [flat] });
    const b = m.forward([row], { mropePositionIds: [[flat], [flat], [flat]] });
    expect(maxDiff(a, b)).toBe(0);
    const c = m.forward([row], { mropePositionIds: positions([row], [row.map(() => 1)]) });
    expect(maxDiff(a, c)).toBeGreaterThan(1e-3);
    tf.dispose([a, b, c]);
    const plainModel = tinyModel();
    expect(() => plainModel.forward([row], { mropePositionIds: [[flat], [flat], [flat]] })).toThrow(/mropeSection/);
    plainModel.dispose();
    expect(() => m.forward([row], { mropePositionIds: [[flat], [flat]] })).toThrow(/must be \[3, 1, 8\]/);
    expect(() => tinyModel({ mropeSection: [2, 2, 2] })).toThrow(/summing to headDim \/ 2 = 4/);
    m.dispose();
  });

  it("generate after an image: cached (native and tfjs steps) = uncached; batched and left-padded = alone", () => {
    const m = mrope();
    const prompts = [
      [3, VS, PAD, PAD, PAD, PAD, 7],
      [5, 6, 8, VS, PAD, PAD, PAD, PAD, 11, 12],
      [4, 9],
    ];
    const alone = prompts.map((p) => naive(m, p, 6));
    for (const fastDecode of [true, false]) {
      const opts = { maxNewTokens: 6, greedy: true, stopIds: [], mropePositions: positions, fastDecode };
      expect(m.generate(prompts, opts).tokens).toEqual(alone);
    }
    // without the ids the model decodes differently: the positions matter
    const plain = m.generate(prompts.slice(0, 1), { maxNewTokens: 6, greedy: true, stopIds: [] });
    expect(plain.tokens[0]).not.toEqual(alone[0]);
    m.dispose();
  });

  it("logProbs with the same ids scores each generated token as generation saw it", () => {
    const m = mrope();
    const prompts = [
      [3, VS, PAD, PAD, PAD, PAD, 7],
      [4, 9],
    ];
    const { tokens } = m.generate(prompts, { maxNewTokens: 5, greedy: true, stopIds: [], mropePositions: positions });
    const r = m.logProbs(prompts, tokens, { mropePositions: positions });
    const lp = r.logProbs.arraySync();
    tokens.forEach((row, b) =>
      row.forEach((t, i) => {
        const seq = [...prompts[b]!, ...row.slice(0, i)];
        const logits = m.forward([seq], { logitsToKeep: 1, mropePositionIds: positions([seq], [seq.map(() => 1)]) });
        const ref = tf.tidy(() => tf.logSoftmax(tf.reshape(logits, [-1])).dataSync()[t]!);
        logits.dispose();
        expect(lp[b]![i]).toBeCloseTo(ref, 4);
      }),
    );
    tf.dispose([r.logProbs, r.mask]);
    m.dispose();
  });
});
