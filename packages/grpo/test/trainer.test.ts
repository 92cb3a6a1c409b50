import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tf } from "@vlab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOSS_TYPES } from "../src/loss.js";
import { repeatInterleave, textPolicy, type Policy } from "../src/policy.js";
import { presets } from "../src/presets.js";
import { grpoConfig, samplingRng, type GrpoConfig } from "../src/config.js";
import { groupTable, type GrpoMetrics } from "../src/metrics.js";
import { GrpoTrainer } from "../src/trainer.js";
import {
  containsTarget,
  imagePrompt,
  prompt,
  sameWeights,
  snapshot,
  testBackend,
  tinyLlava,
  tinyPolicy,
  tokenizer,
  toyBatch,
  type ToySample,
} from "./toy.js";

beforeAll(testBackend);

/** The toy run's settings: R1-V's (β 0.04, μ 1, grpo aggregation, temperature 1) at toy scale. */
const toyConfig = (over: Partial<GrpoConfig> = {}) =>
  grpoConfig(presets.r1v, { groupSize: 8, maxCompletionLength: 4, lr: 1e-2, seed: 0, ...over });
const target = [{ name: "target", fn: containsTarget }];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("grpoConfig", () => {
  it("maps a preset's fields and applies overrides; epsilonHigh follows epsilon unless the preset differs", () => {
    const c = grpoConfig(presets.r1v);
    expect(c).toMatchObject({
      groupSize: 8,
      beta: 0.04,
      numIterations: 1,
      lossType: "grpo",
      scaleRewards: "group",
      temperature: 1,
      maxCompletionLength: 256,
      lr: 1e-6,
      maskTruncated: false,
      topK: 0,
      topP: 1,
    });
    expect(c.epsilonHigh).toBeUndefined();
    const m = grpoConfig(presets.modern, { epsilon: 0.1, groupSize: 4, epsilonHigh: undefined });
    expect(m).toMatchObject({ beta: 0, lossType: "dapo", epsilon: 0.1, groupSize: 4 });
    expect(m.epsilonHigh).toBeUndefined();
    expect(grpoConfig({ ...presets.modern, epsilonHigh: 0.28 }).epsilonHigh).toBe(0.28);
    const policy = tinyPolicy();
    expect(() => new GrpoTrainer({ policy, tokenizer, rewards: target, config: toyConfig({ groupSize: 1 }) })).toThrow(
      /groupSize/,
    );
    expect(() => new GrpoTrainer({ policy, tokenizer, rewards: [], config: toyConfig() })).toThrow(/reward/);
    expect(
      () => new GrpoTrainer({ policy, tokenizer, rewards: target, config: toyConfig({ lossType: "ppo" as never }) }),
    ).toThrow(/lossType/);
    policy.model.dispose();
  });

  it("derives each step's sampling rng from (seed, step) alone", () => {
    expect(samplingRng(3, 5).next()).toBe(samplingRng(3, 5).next());
    expect(samplingRng(3, 5).next()).not.toBe(samplingRng(3, 6).next());
    expect(samplingRng(3, 5).next()).not.toBe(samplingRng(4, 5).next());
  });
});

describe("GrpoTrainer on the toy task", () => {
  it("a few dozen GRPO steps clearly raise the reward (contains the asked colour)", async () => {
    const policy = tinyPolicy(1);
    const t = new GrpoTrainer<ToySample>({ policy, tokenizer, rewards: target, config: toyConfig() });
    const { history, stopped } = await t.train({
      steps: 30,
      batch: (s) => toyBatch(2, 2 * s),
      progress: { update: () => {} },
    });
    expect(stopped).toBe("done");
    expect(history).toHaveLength(30);
    const first = mean(history.slice(0, 5).map((m) => m.reward));
    const last = mean(history.slice(-5).map((m) => m.reward));
    expect(first).toBeLessThan(0.3); // ≈ 1 − (1 − 1/V)^4 at a near-uniform init
    expect(last).toBeGreaterThan(first + 0.25);
    // The metrics TRL logs are all there and sane.
    const m = history[history.length - 1]!;
    for (const k of [
      "loss",
      "grad_norm",
      "lr",
      "reward",
      "reward_std",
      "reward_group_std",
      "frac_reward_zero_std",
      "entropy",
      "kl",
      "kl_seq",
      "completions/mean_length",
      "completions/clipped_ratio",
      "clip_ratio/region_mean",
      "rewards/target/mean",
      "rewards/target/std",
      "generate_ms",
      "update_ms",
    ]) {
      expect(Number.isFinite(m[k]), k).toBe(true);
    }
    expect(m["rewards/target/mean"]).toBe(m.reward);
    expect(m.kl!).toBeGreaterThan(0);
    expect(m["clip_ratio/region_mean"]).toBe(0); // μ = 1: ratio 1, nothing clipped
    expect(m["completions/max_length"]).toBeLessThanOrEqual(4);
    // The samples of the last step, by group.
    const g = t.lastGroup!;
    expect(g.step).toBe(29);
    expect(g.completions).toHaveLength(16);
    const rows = groupTable(g, 1);
    expect(rows).toHaveLength(8);
    expect(rows[0]).toMatchObject({
      completion: g.completions[8],
      target: g.rewards.target![8],
      advantage: g.advantages[8],
    });
    t.dispose();
    policy.model.dispose();
  });

  it("μ = 1, β > 0: the logged loss is β·mean KL (open-r1#239), up to each loss type's normalisation", async () => {
    const beta = 0.04;
    for (const lossType of LOSS_TYPES) {
      const policy = tinyPolicy(2);
      const t = new GrpoTrainer<ToySample>({
        policy,
        tokenizer,
        rewards: target,
        config: toyConfig({ lossType, beta, lr: 3e-2 }),
      });
      for (let s = 0; s < 3; s++) {
        const m = await t.step(toyBatch(2, s));
        const g = t.lastGroup!;
        const L = g.completionIds.map((c) => c.length); // the mask's row sums (nothing truncated is masked)
        const A = g.advantages;
        const N = L.length;
        const tokens = L.reduce((a, b) => a + b, 0);
        const lenAdv = L.reduce((a, l, i) => a + l * A[i]!, 0);
        let want: number;
        if (lossType === "grpo")
          want = beta * m.kl_seq!; // −(1/N)·Σ A_i = 0 within each group
        else if (lossType === "dr_grpo") want = (-lenAdv + beta * m.kl! * tokens) / (N * 4);
        else want = -lenAdv / tokens + beta * m.kl!; // bnpo, dapo: token mean
        expect(Math.abs(m.loss - want), `${lossType} step ${s}: loss ${m.loss} vs ${want}`).toBeLessThan(1e-5);
        if (s === 0) expect(m.kl).toBe(0); // π_θ = π_ref before the first update
        if (s === 2) expect(m.kl!).toBeGreaterThan(1e-3); // and the identity is not 0 = 0
      }
      t.dispose();
      policy.model.dispose();
    }
  });

  it("β = 0 never calls the reference policy (β > 0 does)", async () => {
    const calls = { n: 0 };
    const ref: Pick<Policy, "logProbs"> = {
      logProbs: () => {
        calls.n++;
        throw new Error("the reference policy was called");
      },
    };
    const policy = tinyPolicy(3);
    const t = new GrpoTrainer<ToySample>({
      policy,
      tokenizer,
      ref,
      rewards: target,
      config: toyConfig({ beta: 0, numIterations: 2 }),
    });
    const before = tf.memory().numTensors;
    for (let s = 0; s < 2; s++) {
      const m = await t.step(toyBatch(2, s));
      expect(m.kl).toBeUndefined();
      expect(Number.isFinite(m.loss)).toBe(true);
    }
    expect(calls.n).toBe(0);
    t.dispose();
    const t2 = new GrpoTrainer<ToySample>({
      policy,
      tokenizer,
      ref,
      rewards: target,
      config: toyConfig({ beta: 0.04 }),
    });
    const w = snapshot(policy);
    const n0 = tf.memory().numTensors;
    await expect(t2.step(toyBatch(2))).rejects.toThrow(/reference policy was called/);
    expect(calls.n).toBe(1);
    expect(tf.memory().numTensors).toBe(n0); // a failed step frees what it made
    expect(sameWeights(w, snapshot(policy))).toBe(true);
    t2.dispose();
    // only the first optimizer's moments went
    expect(tf.memory().numTensors).toBe(before - 2 * policy.trainableParameters().length);
    policy.model.dispose();
  });

  it("a group whose rewards are all equal gets zero advantages and no policy gradient", async () => {
    type S = ToySample & { constant?: boolean };
    const rewards = [{ name: "r", fn: (c: string, s: S) => (s.constant ? 1 : c.length) }];
    const policy = tinyPolicy(4);
    const t = new GrpoTrainer<S>({ policy, tokenizer, rewards, config: toyConfig({ beta: 0 }) });
    const b = toyBatch(2);
    // Only constant groups: every advantage 0, a gradient of exactly 0, and (at the first step, when AdamW
    // has no momentum yet) the weights do not move.
    const w = snapshot(policy);
    const m0 = await t.step({ prompts: b.prompts, samples: b.samples.map((s) => ({ ...s, constant: true })) });
    expect(t.lastGroup!.advantages).toEqual(new Array(16).fill(0));
    expect(m0.frac_reward_zero_std).toBe(1);
    expect(m0.grad_norm).toBe(0);
    expect(m0.loss === 0).toBe(true); // (−0 counts)
    expect(sameWeights(w, snapshot(policy))).toBe(true);
    // Mixed batch: group 0 constant, group 1 not.
    const m = await t.step({ prompts: b.prompts, samples: [{ ...b.samples[0]!, constant: true }, b.samples[1]!] });
    const A = t.lastGroup!.advantages;
    expect(A.slice(0, 8)).toEqual(new Array(8).fill(0));
    expect(A.slice(8).some((a) => a !== 0)).toBe(true);
    expect(m.frac_reward_zero_std).toBe(0.5);
    expect(m.grad_norm).toBeGreaterThan(0);
    t.dispose();
    policy.model.dispose();
  });

  it(
    "a reward function that throws or returns NaN is reported, not fatal; a completion with no reward gets " +
      "advantage 0",
    async () => {
      const warn = console.warn;
      const warnings: string[] = [];
      console.warn = (msg: string) => warnings.push(msg);
      try {
        const rewards = [
          {
            name: "target",
            fn: (c: string, s: ToySample) => {
              if (s.target === "red") throw new Error("cannot score red");
              return containsTarget(c, s);
            },
          },
          { name: "nan", fn: () => NaN },
          { name: "len", weight: 0.5, fn: (c: string, s: ToySample) => (s.target === "red" ? NaN : c.length / 10) },
        ];
        const policy = tinyPolicy(5);
        const t = new GrpoTrainer<ToySample>({ policy, tokenizer, rewards, config: toyConfig() });
        const m = await t.step(toyBatch(2)); // red, blue
        const g = t.lastGroup!;
        expect(m["rewards/target/errors"]).toBe(8);
        expect(m["rewards/target/nan"]).toBe(8);
        expect(m["rewards/nan/nan"]).toBe(16);
        expect(m["rewards/nan/errors"]).toBe(0);
        expect(Number.isNaN(m["rewards/nan/mean"])).toBe(true);
        expect(g.errors).toHaveLength(8);
        expect(g.errors[0]).toMatchObject({ reward: "target", index: 0, message: "cannot score red" });
        expect(warnings).toHaveLength(1); // once per reward function
        // red's group has no reward at all: NaN total, advantage 0; blue's is the weighted sum of the rest.
        expect(g.reward.slice(0, 8).every(Number.isNaN)).toBe(true);
        expect(g.advantages.slice(0, 8)).toEqual(new Array(8).fill(0));
        g.reward
          .slice(8)
          .forEach((r, j) => expect(r).toBeCloseTo(g.rewards.target![8 + j]! + 0.5 * g.rewards.len![8 + j]!, 12));
        expect(Number.isFinite(m.reward)).toBe(true);
        expect(Number.isFinite(m.loss)).toBe(true);
        expect(t.stepCount).toBe(1);
        t.dispose();
        policy.model.dispose();
      } finally {
        console.warn = warn;
      }
    },
  );

  it("never applies a non-finite update", async () => {
    const inner = tinyPolicy(6);
    let poison = false;
    const policy: Policy = {
      ...inner,
      logProbs: (p, c, img, o) => {
        const r = inner.logProbs(p, c, img, o);
        return poison ? { ...r, logProbs: tf.mul(r.logProbs, NaN) as tf.Tensor2D } : r;
      },
    };
    const t = new GrpoTrainer<ToySample>({ policy, tokenizer, rewards: target, config: toyConfig() });
    await t.step(toyBatch(2));
    poison = true;
    const w = snapshot(policy);
    const before = tf.memory().numTensors;
    await expect(t.step(toyBatch(2, 1))).rejects.toThrow(/loss is NaN at step 1, iteration 0; stopped before applying/);
    expect(sameWeights(w, snapshot(policy))).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(t.stepCount).toBe(1);
    expect(t.history).toHaveLength(1);
    t.dispose();
    inner.model.dispose();
  });

  it(
    "leaks no tensors: a step (the first one too), μ > " + "1 with the reference swap, and train with checkpoints",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "grpo-leak-"));
      try {
        const policy = tinyPolicy(7);
        const t = new GrpoTrainer<ToySample>({
          policy,
          tokenizer,
          rewards: target,
          config: toyConfig({ numIterations: 2, beta: 0.04 }),
        });
        const before = tf.memory().numTensors;
        await t.step(toyBatch(2));
        expect(tf.memory().numTensors).toBe(before);
        await t.step(toyBatch(2, 1));
        expect(tf.memory().numTensors).toBe(before);
        await t.train({
          steps: 4,
          batch: (s) => toyBatch(2, s),
          checkpoint: { path: join(dir, "ck.safetensors"), every: 1 },
          progress: { update: () => {} },
        });
        expect(tf.memory().numTensors).toBe(before);
        expect(t.stepCount).toBe(4);
        t.dispose();
        policy.model.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe("checkpoint and resume", () => {
  const HOOK = Symbol.for("vlab.kernel");
  // wall times, and the tensors held (two trainers are alive here, one in a straight run)
  const timing = new Set([
    "generate_ms",
    "update_ms",
    "ref_ms",
    "step_ms",
    "generate_ms/0",
    "memory/bytes",
    "memory/tensors",
  ]);
  const config = toyConfig({ numIterations: 2, beta: 0.04, lr: (s: number) => 2e-2 * (1 - s / 10), seed: 11 });
  const batch = (s: number) => toyBatch(2, 3 * s);
  const quiet = { update: () => {} };
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "grpo-resume-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    "interrupted after 3 steps and resumed to 6 gives " + "exactly the history and weights of 6 straight steps",
    async () => {
      const path = join(dir, "run.safetensors");
      // Straight.
      const pa = tinyPolicy(8);
      const a = new GrpoTrainer<ToySample>({ policy: pa, tokenizer, rewards: target, config });
      const ra = await a.train({ steps: 6, batch, progress: quiet });
      expect(ra.stopped).toBe("done");

      // Interrupted (as Jupyter's interrupt button: the kernel hook's flag) after the third step.
      const pb = tinyPolicy(8);
      const b = new GrpoTrainer<ToySample>({ policy: pb, tokenizer, rewards: target, config });
      const g = globalThis as Record<symbol, unknown>;
      let rb;
      try {
        rb = await b.train({
          steps: 6,
          batch,
          checkpoint: { path, every: 2 },
          progress: quiet,
          onStep: (_m, step) => {
            if (step === 2) g[HOOK] = { interrupted: true, display: () => {} };
          },
        });
      } finally {
        delete g[HOOK];
      }
      expect(rb.stopped).toBe("interrupted");
      expect(rb.history).toHaveLength(3);

      // Resumed in a fresh process-like setting: a new model with the same init, a new trainer.
      const pc = tinyPolicy(8);
      const c = new GrpoTrainer<ToySample>({ policy: pc, tokenizer, rewards: target, config });
      const rc = await c.train({ steps: 6, batch, checkpoint: { path, every: 2 }, resume: true, progress: quiet });
      expect(rc.stopped).toBe("done");
      expect(rc.history).toHaveLength(6);
      const strip = (h: GrpoMetrics[]) =>
        h.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !timing.has(k))));
      const ha = strip(ra.history);
      const hc = strip(rc.history);
      ha.forEach((m, i) => {
        expect(Object.keys(hc[i]!).sort()).toEqual(Object.keys(m).sort());
        for (const [k, v] of Object.entries(m))
          expect(Math.abs((hc[i]![k] as number) - (v as number)), `step ${i} ${k}`).toBeLessThan(1e-6);
      });
      expect(sameWeights(snapshot(pa), snapshot(pc))).toBe(true);
      // The run moved: losses differ from step to step and the weights from their init.
      expect(new Set(ha.map((m) => m.loss)).size).toBeGreaterThan(1);
      const init = tinyPolicy(8);
      expect(sameWeights(snapshot(pa), snapshot(init))).toBe(false);
      init.model.dispose();

      // A checkpoint made with another seed is refused.
      const pd = tinyPolicy(8);
      const d = new GrpoTrainer<ToySample>({ policy: pd, tokenizer, rewards: target, config: { ...config, seed: 12 } });
      await expect(
        d.train({ steps: 6, batch, checkpoint: { path, every: 2 }, resume: true, progress: quiet }),
      ).rejects.toThrow(/seed 11/);
      for (const x of [a, b, c, d]) x.dispose();
      for (const p of [pa, pb, pc, pd]) p.model.dispose();
    },
  );
});

describe("vision-language policy", () => {
  it("repeatInterleave keeps a prompt's image with its group", () => {
    const x = tf.tensor3d([[[1, 2]], [[3, 4]]]); // [2, 1, 2]
    const r = repeatInterleave(x, 3);
    expect(r.arraySync()).toEqual([[[1, 2]], [[1, 2]], [[1, 2]], [[3, 4]], [[3, 4]], [[3, 4]]]);
    tf.dispose([x, r]);
  });

  it(
    "trains llm.Llava as it is, sampling each group's image once, " + "without leaks; the vision tower stays frozen",
    async () => {
      const llava = tinyLlava();
      const pixels = tf.randomNormal([4, 3, 16, 16], 0, 1, "float32", 7);
      const features = llava.visionFeatures(pixels); // [4, 4, 24]: cached, the tower is frozen
      const withImage = (colour: string) => imagePrompt(colour, llava.imageTokens);
      // A spy around Llava that records the image rows the trainer passes.
      const seen: number[][][][] = [];
      const policy: Policy = {
        generate: (p, img, o) => {
          if (img && "features" in img) seen.push(img.features.arraySync() as number[][][]);
          return llava.generate(p, img, o);
        },
        logProbs: (p, c, img, o) => llava.logProbs(p, c, img, o),
        trainableParameters: () => llava.trainableParameters(),
        namedParameters: () => llava.namedParameters(),
        stateDict: () => llava.stateDict(),
        loadStateDict: (t, o) => llava.loadStateDict(t, o),
      };
      const vision = llava.vision_tower.parameters().map((v) => v.dataSync().slice());
      const proj = llava.multi_modal_projector.parameters().map((v) => v.dataSync().slice());
      const t = new GrpoTrainer<ToySample>({
        policy,
        tokenizer,
        rewards: target,
        config: toyConfig({ groupSize: 3, maxCompletionLength: 3 }),
      });
      const before = tf.memory().numTensors;
      const colours = ["red", "blue", "green", "yellow"];
      const { history } = await t.train({
        steps: 2,
        progress: { update: () => {} },
        // Features gathered per step: created inside the step's scope, freed with it.
        batch: (s) => ({
          prompts: [withImage(colours[2 * s]!), withImage(colours[2 * s + 1]!)],
          samples: [{ target: colours[2 * s]! }, { target: colours[2 * s + 1]! }],
          features: tf.gather(features, [2 * s, 2 * s + 1]),
        }),
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(history.every((m) => Number.isFinite(m.loss) && Number.isFinite(m.kl!))).toBe(true);
      const all = features.arraySync() as number[][][];
      expect(seen).toHaveLength(2);
      expect(seen[1]).toEqual([all[2], all[3]]); // each group's image once (numReturnSequences: 3)
      expect(llava.vision_tower.parameters().every((v, i) => v.dataSync().every((x, j) => x === vision[i]![j]))).toBe(
        true,
      );
      expect(
        llava.multi_modal_projector.parameters().some((v, i) => v.dataSync().some((x, j) => x !== proj[i]![j])),
      ).toBe(true);
      // Also as a plain Policy (compile-time: Llava has every method).
      const asPolicy: Policy = llava;
      expect(typeof asPolicy.logProbs).toBe("function");
      t.dispose();
      tf.dispose([pixels, features]);
      llava.dispose();
    },
  );

  it("textPolicy ignores the image and forwards to the CausalLM", () => {
    const policy = tinyPolicy(9);
    const p = [prompt("red")];
    const a = policy.generate(p, null, { greedy: true, maxNewTokens: 3 });
    const z = tf.zeros([1, 1, 1]);
    const b = textPolicy(policy.model).generate(p, { features: z }, { greedy: true, maxNewTokens: 3 });
    expect(b.tokens).toEqual(a.tokens);
    z.dispose();
    expect(policy.namedParameters().length).toBe(policy.model.namedParameters().length);
    policy.model.dispose();
  });
});
