import { tf } from "@vlab/core";
import { IGNORE_INDEX } from "@vlab/llm";
import type { Llava } from "@vlab/vlm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Policy } from "../src/policy.js";
import { answerIds, greedyCompletions, sftAnswerLoss, sftBaseline, sftBatchIndices, sftExample } from "../src/sft.js";
import { COLOURS, imagePrompt, prompt, testBackend, tinyLlava, tinyPolicy, tokenizer } from "./toy.js";

beforeAll(testBackend);

// The toy task's ground truth: "say red" → "red circle", and so on.
const prompts = COLOURS.map(prompt);
const answers = COLOURS.map((c) => `${c} circle`);
const lossOf = (policy: Policy, withForward = true) => {
  const p: Policy = withForward ? policy : { ...policy, forward: undefined };
  const l = sftAnswerLoss(p, tokenizer, prompts, answers);
  const v = l.dataSync()[0]!;
  l.dispose();
  return v;
};

describe("SFT baseline", () => {
  it("supervises the answer tokens and the stop token only", () => {
    const p = prompts[0]!;
    const { ids, labels } = sftExample(tokenizer, p, "red circle");
    const target = [...tokenizer.encode("red circle"), tokenizer.imEndId];
    expect(answerIds(tokenizer, "red circle")).toEqual(target);
    expect(ids).toEqual([...p, ...target]);
    expect(labels).toEqual([...new Array(p.length).fill(IGNORE_INDEX), ...target]);
  });

  it("sftLoss on the logits and the logProbs fallback give the same answer loss", () => {
    const policy = tinyPolicy(1);
    const a = lossOf(policy, true);
    const b = lossOf(policy, false);
    expect(Math.abs(a - b)).toBeLessThan(1e-5);
    expect(Math.abs(a - Math.log(tokenizer.vocabSize))).toBeLessThan(0.2); // near-uniform init: ≈ ln V
    policy.model.dispose();
  });

  it("batches are epochs of seeded shuffles", () => {
    const cache = new Map<number, number[]>();
    const epoch0 = [...sftBatchIndices(4, 2, 3, 0, cache), ...sftBatchIndices(4, 2, 3, 1, cache)];
    expect([...epoch0].sort()).toEqual([0, 1, 2, 3]);
    expect(sftBatchIndices(4, 2, 3, 1)).toEqual(epoch0.slice(2)); // stateless in (seed, step)
    expect(sftBatchIndices(4, 3, 3, 1)).toHaveLength(3); // a batch may straddle two epochs
  });

  it("lowers the answer loss and makes greedy decoding give the answers, without leaking tensors", async () => {
    const policy = tinyPolicy(2);
    const before = lossOf(policy);
    const n0 = tf.memory().numTensors;
    const r = await sftBaseline({
      policy,
      tokenizer,
      prompts,
      answers,
      steps: 80,
      batchSize: 4,
      lr: 1e-2,
      seed: 0,
      progress: { update: () => {} },
    });
    expect(tf.memory().numTensors).toBe(n0);
    expect(r.stopped).toBe("done");
    expect(r.history).toHaveLength(80);
    const after = lossOf(policy);
    expect(after).toBeLessThan(0.02 * before);
    const out = greedyCompletions(policy, tokenizer, prompts, { maxNewTokens: 5 });
    expect(out.tokens).toEqual(answers.map((a) => answerIds(tokenizer, a)));
    expect(out.texts).toEqual(answers);
    policy.model.dispose();
  });

  it("evaluates along the run: after every evalEvery steps and the last, on the weights of that step", async () => {
    const policy = tinyPolicy(2);
    const r = await sftBaseline({
      policy,
      tokenizer,
      prompts,
      answers,
      steps: 50,
      batchSize: 4,
      lr: 1e-2,
      seed: 0,
      evalEvery: 20,
      evalFn: () => ({ loss: lossOf(policy) }),
      progress: { update: () => {} },
    });
    expect(r.evals.map((e) => e.step)).toEqual([19, 39, 49]); // 0-based step after which it ran
    const losses = r.evals.map((e) => e.loss ?? NaN);
    expect(losses[0]).toBeGreaterThan(losses[2] ?? Infinity); // the weights moved between evaluations
    expect(losses[2]).toBeCloseTo(lossOf(policy), 6); // the last one is the final model
    policy.model.dispose();
  });

  it("trains a Llava policy on image features (sftLoss with the image, same value as the logProbs path)", async () => {
    const llava = tinyLlava();
    const pixels = tf.randomNormal([4, 3, 16, 16], 0, 1, "float32", 5);
    const features = llava.visionFeatures(pixels);
    const ps = COLOURS.map((c) => imagePrompt(c, llava.imageTokens));
    const image = { features };
    const a = sftAnswerLoss(llava, tokenizer, ps, answers, image);
    const b = sftAnswerLoss({ ...bindPolicy(llava), forward: undefined }, tokenizer, ps, answers, image);
    expect(Math.abs(a.dataSync()[0]! - b.dataSync()[0]!)).toBeLessThan(1e-5);
    const vision = llava.vision_tower.parameters().map((v) => v.dataSync().slice());
    const n0 = tf.memory().numTensors;
    const r = await sftBaseline({
      policy: llava,
      tokenizer,
      prompts: ps,
      answers,
      features,
      steps: 3,
      batchSize: 2,
      lr: 1e-2,
      seed: 0,
      progress: { update: () => {} },
    });
    expect(tf.memory().numTensors).toBe(n0);
    expect(r.history.every((h) => Number.isFinite(h.loss))).toBe(true);
    expect(llava.vision_tower.parameters().every((v, i) => v.dataSync().every((x, j) => x === vision[i]![j]))).toBe(
      true,
    );
    await expect(
      sftBaseline({
        policy: llava,
        tokenizer,
        prompts: ps,
        answers,
        features: tf.slice(features, 0, 2),
        steps: 1,
        batchSize: 2,
        lr: 1e-2,
        seed: 0,
      }),
    ).rejects.toThrow(/leading dimension 2/);
    tf.dispose([a, b, pixels, features]);
    llava.dispose();
  });
});

/** A Llava's methods as a plain object (to drop one of them). */
function bindPolicy(m: Llava): Policy {
  return {
    generate: (p, i, o) => m.generate(p, i, o),
    logProbs: (p, c, i, o) => m.logProbs(p, c, i, o),
    forward: (ids, i, o) => m.forward(ids, i, o),
    trainableParameters: () => m.trainableParameters(),
    namedParameters: () => m.namedParameters(),
    stateDict: () => m.stateDict(),
    loadStateDict: (t, o) => m.loadStateDict(t, o),
  };
}
