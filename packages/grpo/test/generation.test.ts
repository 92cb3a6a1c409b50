import { Rng, tf } from "@vlab/core";
import type { GenerateOptions } from "@vlab/llm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpoConfig, type GrpoConfig } from "../src/config.js";
import { generateGroups } from "../src/generation.js";
import { repeatInterleave, type Policy } from "../src/policy.js";
import { presets } from "../src/presets.js";
import { GrpoTrainer } from "../src/trainer.js";
import {
  containsTarget,
  imagePrompt,
  prompt,
  testBackend,
  tinyLlava,
  tinyPolicy,
  tokenizer,
  toyBatch,
  type ToySample,
} from "./toy.js";

beforeAll(testBackend);

const G = 4;
const groups = (prompts: number[][]) => prompts.flatMap((p) => Array.from({ length: G }, () => p));
const opts = (o: Partial<GenerateOptions> = {}): GenerateOptions => ({
  maxNewTokens: 5,
  stopIds: tokenizer.stopIds,
  padId: tokenizer.padId,
  ...o,
});

describe("generateGroups: one batched call, or one call per generation", () => {
  it("sequential mode: G calls of B prompts (with each group's image row), completions placed in group order", () => {
    const calls: { prompts: number[][]; image: number[] }[] = [];
    const fake: Pick<Policy, "generate"> = {
      generate: (p, img, o) => {
        const rows = img && "features" in img ? (img.features.arraySync() as number[][]).map((r) => r[0] ?? -1) : [];
        calls.push({ prompts: p.map((r) => [...r]), image: rows });
        // completion k of prompt b in call c: [first prompt id, c + k]
        const n = o.numReturnSequences ?? 1;
        const tokens = p.flatMap((r) => Array.from({ length: n }, (_, k) => [r[0] ?? -1, calls.length - 1 + k]));
        return { tokens, finishReasons: tokens.map(() => "length" as const) };
      },
    };
    const prompts = [[7, 1], [8], [9, 2, 3]];
    const features = tf.tensor2d([[70], [80], [90]]); // one image row per prompt
    const repeated = repeatInterleave(features, G);
    const before = tf.memory().numTensors;
    const out = generateGroups(fake, groups(prompts), { features: repeated }, G, opts(), "sequential");
    expect(tf.memory().numTensors).toBe(before); // the gathered image rows are freed
    expect(calls).toHaveLength(G);
    for (const c of calls) expect(c).toEqual({ prompts, image: [70, 80, 90] });
    expect(out.tokens).toEqual(prompts.flatMap((p) => Array.from({ length: G }, (_, g) => [p[0], g])));
    expect(out.callMs).toHaveLength(G);
    expect(out.callMs.every((ms) => ms >= 0)).toBe(true);
    calls.length = 0;
    // batched: one call with each prompt and its image row once, numReturnSequences G
    const batched = generateGroups(fake, groups(prompts), { features: repeated }, G, opts(), "batched");
    expect(tf.memory().numTensors).toBe(before);
    expect(calls).toEqual([{ prompts, image: [70, 80, 90] }]);
    expect(batched.tokens).toEqual(out.tokens); // the fake's k-th completion is the sequential call k's
    expect(batched.callMs).toHaveLength(1);
    // a policy that ignores numReturnSequences is refused, not misaligned
    const ignores: Pick<Policy, "generate"> = { generate: (p, img) => fake.generate(p, img, {}) };
    expect(() => generateGroups(ignores, groups(prompts), null, G, opts())).toThrow(/3 completions for 3 prompts/);
    // the rows of a group must be one prompt
    const uneven = groups(prompts).map((r, i) => (i === 5 ? [...r, 5] : r));
    expect(() => generateGroups(fake, uneven, null, G, opts())).toThrow(
      /row 5 differs from the first row of its group of 4 \(row 4\)/,
    );
    tf.dispose([features, repeated]);
    expect(() => generateGroups(fake, [[1], [2], [3]], null, 2, opts())).toThrow(/not groups of 2/);
    expect(() => generateGroups(fake, [[1], [2]], null, 2, opts(), "parallel" as never)).toThrow(/unknown mode/);
  });

  it("greedy: sequential equals batched, on a text LM and on a LLaVA with image features", () => {
    const text = tinyPolicy(5);
    const rows = groups(toyBatch(3).prompts);
    const a = generateGroups(text, rows, null, G, opts({ greedy: true }), "batched");
    const b = generateGroups(text, rows, null, G, opts({ greedy: true }), "sequential");
    expect(b.tokens).toEqual(a.tokens);
    expect(b.finishReasons).toEqual(a.finishReasons);
    text.model.dispose();

    const llava = tinyLlava();
    const pixels = tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 3);
    const features = llava.visionFeatures(pixels);
    const image = { features: repeatInterleave(features, G) };
    const imageRows = groups([imagePrompt("red", llava.imageTokens), imagePrompt("blue", llava.imageTokens)]);
    const before = tf.memory().numTensors;
    const c = generateGroups(llava, imageRows, image, G, opts({ greedy: true }), "batched");
    const d = generateGroups(llava, imageRows, image, G, opts({ greedy: true }), "sequential");
    expect(tf.memory().numTensors).toBe(before);
    expect(d.tokens).toEqual(c.tokens);
    // the two images give different greedy completions, so the image rows really reach each call
    expect(c.tokens[0]).not.toEqual(c.tokens[G]);
    tf.dispose([pixels, features, image.features]);
    llava.dispose();
  });

  it("sampling with a fixed seed: both modes give valid completions, the same ones again for the same seed", () => {
    const policy = tinyPolicy(6);
    const rows = groups(toyBatch(2).prompts);
    const stop = new Set(tokenizer.stopIds);
    for (const mode of ["batched", "sequential"] as const) {
      const run = () => generateGroups(policy, rows, null, G, opts({ rng: new Rng(11), temperature: 1 }), mode);
      const out = run();
      expect(run().tokens).toEqual(out.tokens);
      expect(out.tokens).toHaveLength(rows.length);
      out.tokens.forEach((t, i) => {
        expect(t.length).toBeGreaterThan(0);
        expect(t.length).toBeLessThanOrEqual(5);
        expect(t.every((id) => Number.isInteger(id) && id >= 0 && id < tokenizer.vocabSize)).toBe(true);
        expect(t.slice(0, -1).some((id) => stop.has(id))).toBe(false); // nothing after a stop id
        expect(out.finishReasons[i]).toBe(stop.has(t[t.length - 1] ?? -1) ? "stop" : "length");
      });
      // a group's G samples are not all the same (temperature 1 on an untrained model)
      expect(new Set(out.tokens.slice(0, G).map((t) => t.join())).size).toBeGreaterThan(1);
    }
    policy.model.dispose();
  });
});

const toyConfig = (over: Partial<GrpoConfig> = {}) =>
  grpoConfig(presets.r1v, { groupSize: G, maxCompletionLength: 4, lr: 1e-2, seed: 0, ...over });
const target = [{ name: "target", fn: containsTarget }];
const policies: { model: { dispose(): void } }[] = [];
afterAll(() => policies.forEach((p) => p.model.dispose()));

describe("the trainer's generation option and per-call timing", () => {
  it("sequential: G timed calls per step in the metrics; batched: one; an unknown mode is refused", async () => {
    const policy = tinyPolicy(2);
    policies.push(policy);
    for (const [generation, calls] of [
      ["sequential", G],
      ["batched", 1],
    ] as const) {
      const t = new GrpoTrainer<ToySample>({ policy, tokenizer, rewards: target, config: toyConfig({ generation }) });
      const m = await t.step(toyBatch(2));
      expect(m.generate_calls).toBe(calls);
      const each = Array.from({ length: calls }, (_, k) => m[`generate_ms/${k}`] as number);
      expect(each.every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
      expect(m[`generate_ms/${calls}`]).toBeUndefined();
      expect(each.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(m.generate_ms + 1e-6);
      expect(m.step_ms).toBeGreaterThanOrEqual(m.generate_ms + m.update_ms - 1e-6);
      expect(t.lastGroup?.completions).toHaveLength(2 * G);
      t.dispose();
    }
    expect(
      () =>
        new GrpoTrainer({ policy, tokenizer, rewards: target, config: toyConfig({ generation: "async" as never }) }),
    ).toThrow(/unknown generation "async"/);
    expect(prompt("red").length).toBeGreaterThan(0);
  });
});
