import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "@vlab/core";
import { countImageTokens, embedMultimodal, embedWithImages } from "../src/index.js";
import { maxDiff, tinyModel } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

describe("embedMultimodal: image features in place of the placeholders", () => {
  it("replaces the placeholders in order (row-major over the batch) by feature rows; text rows are embeddings", () => {
    const m = tinyModel({ imageTokenId: 3 });
    const ids = [
      [5, 3, 3, 6],
      [3, 7, 8, 9],
    ];
    const feats = tf.tensor2d(
      Array.from({ length: 3 * 32 }, (_, i) => i / 10),
      [3, 32],
    );
    const out = embedMultimodal(m, ids, feats);
    const plain = m.embed([
      [5, 0, 0, 6],
      [0, 7, 8, 9],
    ]);
    const row = (t: tf.Tensor, b: number, i: number) => tf.slice(t, [b, i, 0], [1, 1, 32]).reshape([1, 32]);
    const f = (k: number) => tf.slice(feats, [k, 0], [1, 32]);
    const pairs: [tf.Tensor, tf.Tensor][] = [
      [row(out, 0, 1), f(0)],
      [row(out, 0, 2), f(1)],
      [row(out, 1, 0), f(2)],
      [row(out, 0, 0), row(plain, 0, 0)],
      [row(out, 1, 3), row(plain, 1, 3)],
    ];
    for (const [a, b] of pairs) expect(maxDiff(a, b)).toBe(0);
    tf.dispose([out, plain, feats, ...pairs.flat()]);
    m.dispose();
  });

  it("refuses a placeholder count that differs from the feature rows, saying both numbers", () => {
    const m = tinyModel({ imageTokenId: 3 });
    const feats = tf.zeros([2, 32]);
    expect(() => embedMultimodal(m, [[3, 3, 5, 3]], feats)).toThrow(
      "embedMultimodal: the ids hold 3 image placeholder tokens (id 3) but the image features have 2 rows",
    );
    expect(() => embedMultimodal(m, [[5, 6]], feats)).toThrow(/hold 0 image placeholder tokens .* have 2 rows/);
    expect(() => embedMultimodal(m, [[3, 3]], tf.zeros([2, 16]))).toThrow(/must be \[N, 32\]/);
    feats.dispose();
    m.dispose();
  });

  it("accepts LLaVA's out-of-vocabulary placeholder (−200); gradients reach the image features", () => {
    const m = tinyModel({ imageTokenId: -200 });
    const feats = tf.variable(tf.randomNormal([2, 32], 0, 1, "float32", 3));
    const ids = [[5, -200, -200, 6]];
    const { grads } = tf.variableGrads(
      () => tf.sum(m.forward(null, { inputsEmbeds: embedMultimodal(m, ids, feats) })) as tf.Scalar,
      [feats],
    );
    expect(tf.tidy(() => tf.norm(grads[feats.name]!).dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([feats, grads]);
    m.dispose();
  });

  it("generate and logProbs take image features through embedWithImages: batched equals each prompt alone", () => {
    const m = tinyModel({ imageTokenId: 3 }, 7);
    const prompts = [
      [5, 3, 3, 6],
      [7, 3, 8],
    ];
    const feats = tf.randomNormal([3, 32], 0, 1, "float32", 4);
    const both = m.generate(prompts, { maxNewTokens: 5, greedy: true, embed: embedWithImages(m, feats) });
    const f0 = tf.slice(feats, [0, 0], [2, 32]);
    const f1 = tf.slice(feats, [2, 0], [1, 32]);
    expect(
      m.generate([prompts[0]!], { maxNewTokens: 5, greedy: true, embed: embedWithImages(m, f0) }).tokens[0],
    ).toEqual(both.tokens[0]);
    expect(
      m.generate([prompts[1]!], { maxNewTokens: 5, greedy: true, embed: embedWithImages(m, f1) }).tokens[0],
    ).toEqual(both.tokens[1]);
    const lp = m.logProbs(prompts, both.tokens, { embed: embedWithImages(m, feats) });
    const lp1 = m.logProbs([prompts[1]!], [both.tokens[1]!], { embed: embedWithImages(m, f1) });
    expect(maxDiff(tf.slice(lp.logProbs, [1, 0], [1, -1]), lp1.logProbs)).toBeLessThan(1e-4);
    // without the features the answer differs (else this test proves nothing about them)
    const noImage = m.generate([[5, 9, 9, 6]], { maxNewTokens: 5, greedy: true });
    expect(noImage.tokens[0]).not.toEqual(both.tokens[0]);
    tf.dispose([feats, f0, f1, lp.logProbs, lp.mask, lp1.logProbs, lp1.mask]);
    m.dispose();
  });
});

describe("countImageTokens", () => {
  it("counts placeholders in one sequence or in rows", () => {
    expect(countImageTokens([3, 5, 3], 3)).toBe(2);
    expect(countImageTokens([[3, 3], [5], [3]], 3)).toBe(3);
    expect(countImageTokens([], 3)).toBe(0);
  });

  it("only the prompt's columns hold placeholders: a generated placeholder id is a plain token", () => {
    const m = tinyModel({ imageTokenId: 3 });
    const feats = tf.randomNormal([1, 32], 0, 1, "float32", 5);
    const out = embedMultimodal(m, [[3, 5, 3]], feats, { promptLength: 2 });
    const plain = m.embed([[0, 5, 3]]);
    expect(maxDiff(tf.slice(out, [0, 2, 0], [1, 1, 32]), tf.slice(plain, [0, 2, 0], [1, 1, 32]))).toBe(0);
    tf.dispose([feats, out, plain]);
    m.dispose();
  });
});
