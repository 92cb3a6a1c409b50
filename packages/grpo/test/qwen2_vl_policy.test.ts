import { setSeed } from "@vlab/core";
import { VISION_END, VISION_START } from "@vlab/llm";
import { expandVisionPads, joinVisionInputs, qwen2VlProcess, tinyQwen2Vl, type Qwen2VlVisionInputs } from "@vlab/vlm";
import { beforeAll, describe, expect, it } from "vitest";
import { grpoConfig } from "../src/config.js";
import { presets } from "../src/presets.js";
import { qwen2VlPolicy } from "../src/qwen2_vl_policy.js";
import { GrpoTrainer } from "../src/trainer.js";
import { COLOURS, testBackend, tf, tokenizer, type ToySample } from "./toy.js";

const PATCH = 4; // 16-px images: a 4 × 4 grid of patches, 2 × 2 = 4 tokens
const image = (v: number) => ({ width: 16, height: 16, data: new Uint8Array(768).map((_, i) => (i * v) % 251) });

let processed: Qwen2VlVisionInputs[];
beforeAll(async () => {
  await testBackend();
  processed = [];
  const opts = { patchSize: PATCH, resize: { minPixels: 64 } };
  for (const v of [3, 7, 11]) processed.push(await qwen2VlProcess([image(v)], opts));
});

function setup() {
  setSeed(5);
  const model = tinyQwen2Vl({ tokenizer, lmWidth: 32, seed: 6, patchSize: PATCH });
  const policy = qwen2VlPolicy(model, processed[0]!.gridThw[0]!);
  const prompts = COLOURS.slice(0, 3).map((c) => {
    const chat = tokenizer.encodeChat(
      [
        {
          role: "user",
          content: [
            { type: "image", tokens: 1 },
            { type: "text", text: `say ${c}` },
          ],
        },
      ],
      { addGenerationPrompt: true, visionStart: VISION_START, visionEnd: VISION_END },
    );
    return expandVisionPads(chat, [processed[0]!.gridThw[0]!], tokenizer.imageTokenId);
  });
  return { model, policy, prompts };
}

describe("qwen2VlPolicy: a Qwen2VL as a GRPO Policy for images of one size", () => {
  it("pixels and features give what the model gives on the joined processor outputs", () => {
    const { model, policy, prompts } = setup();
    const before = tf.memory().numTensors;
    const joined = joinVisionInputs(processed);
    const pixels = policy.stackPixels(processed);
    expect(pixels.shape).toEqual([3, 16, 3 * 2 * PATCH * PATCH]);
    const feats = policy.imageFeatures(pixels);
    expect(feats.shape).toEqual([3, 4, 32]);
    const opts = { maxNewTokens: 4, greedy: true, stopIds: [] };
    const direct = model.generate(prompts, joined, opts).tokens;
    expect(policy.generate(prompts, { pixels }, opts).tokens).toEqual(direct);
    expect(policy.generate(prompts, { features: feats }, opts).tokens).toEqual(direct);
    const completions = direct.map((t) => t.slice(0, 3));
    const a = model.logProbs(prompts, completions, joined, {});
    const b = policy.logProbs(prompts, completions, { pixels }, {});
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(a.logProbs, b.logProbs))).dataSync()[0]!);
    expect(gap).toBeLessThan(1e-5);
    tf.dispose([a.logProbs, a.mask, b.logProbs, b.mask, pixels, feats]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("a wrong shape or grid is a clear error, and nothing leaks", () => {
    const { model, policy, prompts } = setup();
    const before = tf.memory().numTensors;
    const bad = tf.zeros([3, 5, 96]);
    expect(() => policy.generate(prompts, { pixels: bad }, { maxNewTokens: 1 })).toThrow(/pixels must be \[B, 16/);
    expect(() => policy.stackPixels([{ ...processed[0]!, gridThw: [[1, 2, 2]] }])).toThrow(/image 0 has grids/);
    expect(() => qwen2VlPolicy(model, [1, 3, 3])).toThrow(/2 × 2 merges/);
    bad.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("a GRPO step on pixels trains the vision tower with the language model", async () => {
    const { model, policy, prompts } = setup();
    const config = grpoConfig(presets.r1v, { groupSize: 4, maxCompletionLength: 3, lr: 1e-2, seed: 1 });
    const lengthReward = (c: string) => c.length / 10; // differs within a group: a non-zero advantage
    const t = new GrpoTrainer<ToySample>({ policy, tokenizer, config, rewards: [{ name: "len", fn: lengthReward }] });
    const visual = () => model.visual.parameters()[0]!.dataSync().slice();
    const v0 = visual();
    const pixels = policy.stackPixels(processed);
    const m = await t.step({ prompts, samples: prompts.map(() => ({ target: "say" })), pixels });
    expect(m.reward_std).toBeGreaterThan(0);
    expect(Array.from(visual()).some((v, i) => v !== v0[i])).toBe(true);
    pixels.dispose();
    t.dispose();
    model.dispose();
  });
});
