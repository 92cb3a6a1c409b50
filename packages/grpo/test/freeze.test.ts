/**
 * The freeze options (VisualThinker-R1-Zero's --freeze_vision / --freeze_llm): which parameters a trainer step
 * changes with each flag, really frozen and as VisualThinker's no-op (`faithfulFreeze`); the name rule on LLaVA,
 * Qwen2-VL and a text LM; checkpoints; errors.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng, tf } from "@vlab/core";
import { CausalLM } from "@vlab/llm";
import { Llava, Qwen2VL } from "@vlab/vlm";
import { VisionTransformer } from "@vlab/vision";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpoConfig, type GrpoConfig } from "../src/config.js";
import { freezePlan, parameterPart } from "../src/freeze.js";
import { presets } from "../src/presets.js";
import { textPolicy } from "../src/policy.js";
import { GrpoTrainer } from "../src/trainer.js";
import { imagePrompt, testBackend, tinyLm, tinyPolicy, tokenizer, type ToySample } from "./toy.js";

beforeAll(testBackend);

/** A tiny LLaVA with every part trainable (VisualThinker fine-tunes the whole Qwen2-VL), fed pixels. */
function openLlava(): Llava {
  const vision = new VisionTransformer({ imageSize: 16, patchSize: 8, width: 24, layers: 2, heads: 2, outputDim: 0 });
  return new Llava({ vision, lm: tinyLm(2, 0.3), rng: new Rng(4) }).stage(2).unfreeze();
}

/** A reward that almost surely differs within a group, so every step has a policy gradient. */
const lengthReward = [{ name: "chars", fn: (c: string) => c.length / 10 }];
const cfg = (over: Partial<GrpoConfig> = {}) =>
  grpoConfig(presets.r1v, { groupSize: 4, maxCompletionLength: 3, lr: 1e-2, seed: 0, ...over });
const quiet = { update: () => {} };

function batch(llava: Llava, s: number) {
  const colours = ["red", "blue", "green", "yellow"];
  const a = colours[(2 * s) % 4] ?? "red";
  const b = colours[(2 * s + 1) % 4] ?? "blue";
  return {
    prompts: [imagePrompt(a, llava.imageTokens), imagePrompt(b, llava.imageTokens)],
    samples: [{ target: a }, { target: b }],
    pixels: tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 100 + s),
  };
}

const values = (m: Llava) => new Map(m.namedParameters().map(([n, v]) => [n, v.dataSync().slice()]));

/** Names of the parameters one step of a trainer with `over` changed, by part. */
async function changedAfterStep(over: Partial<GrpoConfig>) {
  const llava = openLlava();
  const t = new GrpoTrainer<ToySample>({ policy: llava, tokenizer, rewards: lengthReward, config: cfg(over) });
  const before = values(llava);
  const m = await t.train({ steps: 1, batch: (s) => batch(llava, s), progress: quiet });
  expect(m.history[0]?.reward_std).toBeGreaterThan(0); // the step had something to learn
  const after = values(llava);
  const changed = new Set([...before].filter(([n, v]) => after.get(n)?.some((x, j) => x !== v[j])).map(([n]) => n));
  const names = [...before.keys()];
  const optimizerNames = t.optimizer.params.map(([n]) => n);
  const frozen = [...t.frozen];
  t.dispose();
  llava.dispose();
  const of = (part: string, pred: (n: string) => boolean = () => true) =>
    names.filter((n) => parameterPart(n) === part && pred(n));
  return { changed, of, optimizerNames, frozen };
}

describe("parameter parts by name", () => {
  it("LLaVA: vision_tower / language_model.model / the rest (projector, lm_head)", () => {
    const llava = openLlava();
    const parts = new Map(llava.namedParameters().map(([n]) => [n, parameterPart(n)]));
    expect([...parts].filter(([n]) => n.startsWith("vision_tower.")).length).toBeGreaterThan(0);
    expect(parts.get("language_model.model.embed_tokens.weight")).toBe("llm");
    expect(parts.get("language_model.model.layers.0.mlp.gate_proj.weight")).toBe("llm");
    expect(parts.get("language_model.lm_head.weight")).toBe("other");
    expect(parts.get("multi_modal_projector.linear_1.weight")).toBe("other");
    // Every name lands in a part by one of the three prefixes.
    for (const [n, p] of parts) {
      const expected = n.startsWith("vision_tower.")
        ? "vision"
        : n.startsWith("language_model.model.")
          ? "llm"
          : "other";
      expect(p, n).toBe(expected);
    }
    llava.dispose();
  });

  it("Qwen2-VL: visual (tower and merger) / model / lm_head, as VisualThinker's model.visual and model.model", () => {
    const m = new Qwen2VL({
      text: { vocabSize: 64, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 4,
        numKeyValueHeads: 2, mropeSection: [2, 1, 1], imageTokenId: 63 }, // prettier-ignore
      vision: { depth: 1, embedDim: 16, numHeads: 2, windowSize: 56 },
      visionStartTokenId: 61,
    });
    const named = m.namedParameters();
    const part = (n: string) => parameterPart(n);
    expect(part("visual.patch_embed.proj.weight")).toBe("vision");
    expect(part("visual.merger.mlp.2.weight")).toBe("vision");
    expect(part("model.layers.0.self_attn.q_proj.weight")).toBe("llm");
    expect(part("lm_head.weight")).toBe("other");
    const plan = freezePlan(named, { freezeVision: true });
    expect(plan.frozen).toEqual(named.filter(([n]) => n.startsWith("visual.")).map(([n]) => n));
    expect(plan.frozen.length).toBeGreaterThan(0);
    const llm = freezePlan(named, { freezeLlm: true });
    expect(llm.trainable.map(([n]) => n)).toEqual(
      named.filter(([n]) => n.startsWith("visual.") || n.startsWith("lm_head.")).map(([n]) => n),
    );
    // Both: only the untied lm_head is left.
    expect(freezePlan(named, { freezeVision: true, freezeLlm: true }).trainable.map(([n]) => n)).toEqual([
      "lm_head.weight",
    ]);
    // Faithful: nothing frozen; the elif looks at freeze_vision only.
    const f = freezePlan(named, { freezeVision: true, freezeLlm: true, faithfulFreeze: true });
    expect(f.frozen).toEqual([]);
    expect(f.trainable).toHaveLength(named.length);
    expect(f.considered).toBe("vision");
    expect(freezePlan(named, { freezeLlm: true, faithfulFreeze: true }).considered).toBe("llm");
    m.dispose();
  });
});

describe("GrpoTrainer with freeze options (one step on a fully trainable tiny LLaVA fed pixels)", () => {
  it("no options: vision, projector, LM body and head all change", async () => {
    const r = await changedAfterStep({});
    expect(r.frozen).toEqual([]);
    expect(r.of("vision").some((n) => r.changed.has(n))).toBe(true);
    expect(r.of("llm").some((n) => r.changed.has(n))).toBe(true);
    expect(r.of("other").some((n) => r.changed.has(n))).toBe(true);
  }, 60_000);

  it("freezeVision: no vision parameter changes nor sits in the optimizer; LM body and projector change", async () => {
    const r = await changedAfterStep({ freezeVision: true });
    const vision = r.of("vision");
    expect(vision.length).toBeGreaterThan(0);
    expect(vision.filter((n) => r.changed.has(n))).toEqual([]);
    expect(r.frozen).toEqual(vision);
    expect(r.optimizerNames.filter((n) => parameterPart(n) === "vision")).toEqual([]);
    expect(r.of("llm").some((n) => r.changed.has(n))).toBe(true);
    expect(r.changed.has("multi_modal_projector.linear_1.weight")).toBe(true);
    expect(r.changed.has("language_model.lm_head.weight")).toBe(true);
  }, 60_000);

  it("freezeLlm: no LM-body parameter changes; vision, projector and lm_head do", async () => {
    const r = await changedAfterStep({ freezeLlm: true });
    expect(r.of("llm").filter((n) => r.changed.has(n))).toEqual([]);
    expect(r.frozen).toEqual(r.of("llm"));
    expect(r.of("vision").some((n) => r.changed.has(n))).toBe(true);
    expect(r.changed.has("multi_modal_projector.linear_1.weight")).toBe(true);
    expect(r.changed.has("language_model.lm_head.weight")).toBe(true);
  }, 60_000);

  it("faithfulFreeze (VisualThinker's no-op): with freezeVision, vision parameters DO change", async () => {
    const r = await changedAfterStep({ freezeVision: true, faithfulFreeze: true });
    expect(r.frozen).toEqual([]);
    expect(r.of("vision").some((n) => r.changed.has(n))).toBe(true);
    expect(r.optimizerNames.filter((n) => parameterPart(n) === "vision")).toEqual(r.of("vision"));
    const l = await changedAfterStep({ freezeLlm: true, faithfulFreeze: true });
    expect(l.of("llm").some((n) => l.changed.has(n))).toBe(true);
  }, 60_000);
});

describe("freeze: checkpoints, memory and errors", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "grpo-freeze-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a freezeVision run resumed from its checkpoint ends with the weights of a straight run; no leaks", async () => {
    const path = join(dir, "fv.safetensors");
    const config = cfg({ freezeVision: true, beta: 0.04 });
    const a = openLlava();
    const ta = new GrpoTrainer<ToySample>({ policy: a, tokenizer, rewards: lengthReward, config });
    const before = tf.memory().numTensors;
    await ta.train({ steps: 2, batch: (s) => batch(a, s), progress: quiet });
    expect(tf.memory().numTensors).toBe(before);

    const b = openLlava();
    const tb = new GrpoTrainer<ToySample>({ policy: b, tokenizer, rewards: lengthReward, config });
    await tb.train({ steps: 1, batch: (s) => batch(b, s), checkpoint: { path, every: 1 }, progress: quiet });
    const c = openLlava();
    const tc = new GrpoTrainer<ToySample>({ policy: c, tokenizer, rewards: lengthReward, config });
    const rc = await tc.train({
      steps: 2,
      batch: (s) => batch(c, s),
      checkpoint: { path, every: 1 },
      resume: true,
      progress: quiet,
    });
    expect(rc.history).toHaveLength(2);
    const va = values(a);
    const vc = values(c);
    for (const [n, v] of va)
      expect(
        vc.get(n)?.every((x, j) => x === v[j]),
        n,
      ).toBe(true);
    expect(rc.history[1]?.loss).toBeCloseTo(ta.history[1]?.loss ?? NaN, 6);

    // A trainer without the freeze cannot resume it: a clear error, not a silent mismatch.
    const d = openLlava();
    const td = new GrpoTrainer<ToySample>({ policy: d, tokenizer, rewards: lengthReward, config: cfg({ beta: 0.04 }) });
    expect(() => td.restore(path)).toThrow(/freeze options freezeVision, this trainer has none/);
    for (const t of [ta, tb, tc, td]) t.dispose();
    for (const m of [a, b, c, d]) m.dispose();
  }, 120_000);

  it("clear errors: a flag naming a part the policy lacks, a freeze that leaves nothing to train, bad values", () => {
    const text = tinyPolicy(3);
    const mk = (policy: Parameters<typeof textPolicy>[0] | Llava, over: Partial<GrpoConfig>) => () =>
      new GrpoTrainer({
        policy: policy instanceof Llava ? policy : textPolicy(policy),
        tokenizer,
        rewards: lengthReward,
        config: cfg(over),
      });
    expect(mk(text.model, { freezeVision: true })).toThrow(/freezeVision, but the policy has no vision parameters/);
    // A tied LM: the head is the embedding, inside model.* — freezing the body leaves nothing.
    const tied = new CausalLM(
      { ...text.model.config, tieWordEmbeddings: true, mropeSection: undefined },
      { rng: new Rng(1) },
    );
    expect(mk(tied, { freezeLlm: true })).toThrow(/freezeLlm leave nothing to train/);
    expect(mk(tied, { freezeLlm: true, faithfulFreeze: true })).not.toThrow();
    // LLaVA at stage 2 (vision already frozen by the model) with freezeLlm: projector and head remain.
    const staged = new Llava({
      vision: new VisionTransformer({ imageSize: 16, patchSize: 8, width: 24, layers: 1, heads: 2, outputDim: 0 }),
      lm: tinyLm(2),
      rng: new Rng(4),
    }).stage(2);
    const plan = freezePlan(staged.namedParameters(), { freezeVision: true, freezeLlm: true });
    expect(plan.frozen.every((n) => n.startsWith("language_model.model."))).toBe(true); // vision was already frozen
    expect(plan.trainable.map(([n]) => n).sort()).toEqual(
      staged
        .namedParameters()
        .map(([n]) => n)
        .filter((n) => n.startsWith("multi_modal_projector.") || n === "language_model.lm_head.weight")
        .sort(),
    );
    staged.language_model.freeze();
    staged.multi_modal_projector.freeze();
    expect(mk(staged, { freezeVision: true, freezeLlm: true })).toThrow(/leave nothing to train/);
    expect(mk(text.model, { freezeVision: "yes" as never })).toThrow(/freezeVision must be true or false/);
    text.model.dispose();
    tied.dispose();
    staged.dispose();
  });
});
