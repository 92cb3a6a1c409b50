// β = 0 without a reference model: what it saves (the reference weights, the reference pass), and the KL to the start
// policy measured for logging only when asked (logKl), without changing training.
import { tf } from "@vlab/core";
import { beforeAll, describe, expect, it } from "vitest";
import { grpoConfig, type GrpoConfig } from "../src/config.js";
import { presets } from "../src/presets.js";
import { tensorCost } from "../src/reference.js";
import { GrpoTrainer } from "../src/trainer.js";
import { containsTarget, snapshot, testBackend, tinyPolicy, tokenizer, toyBatch, type ToySample } from "./toy.js";

beforeAll(testBackend);

const toyConfig = (over: Partial<GrpoConfig> = {}) =>
  grpoConfig(presets.r1v, { groupSize: 4, maxCompletionLength: 4, lr: 3e-2, seed: 0, ...over });
const target = [{ name: "target", fn: containsTarget }];

describe("what the reference model costs, and what β = 0 saves", () => {
  it("referenceCost: a float32 copy of every trainable weight with β ≠ 0 or logKl; nothing with β = 0", () => {
    const policy = tinyPolicy(1);
    const trainable = policy.trainableParameters();
    const params = trainable.reduce((n, v) => n + v.size, 0);
    const make = (over: Partial<GrpoConfig>) =>
      new GrpoTrainer<ToySample>({ policy, tokenizer, rewards: target, config: toyConfig(over) });
    const withRef = make({ beta: 0.04 });
    expect(withRef.referenceCost()).toEqual({
      tensors: trainable.length,
      parameters: params,
      bytes: 4 * params,
      trainable: { tensors: trainable.length, parameters: params, bytes: 4 * params },
    });
    withRef.dispose();
    const none = make({ beta: 0 });
    expect(none.referenceCost()).toMatchObject({ tensors: 0, parameters: 0, bytes: 0 });
    none.dispose();
    const logged = make({ beta: 0, logKl: true });
    expect(logged.referenceCost()).toMatchObject({ tensors: trainable.length, parameters: params });
    logged.dispose();
    expect(tensorCost([tf.zeros([2, 3]), tf.zeros([5], "bool")].map((t) => tf.keep(t)))).toEqual({
      tensors: 2,
      parameters: 11,
      bytes: 6 * 4 + 5,
    });
    policy.model.dispose();
  });

  it("per step: β ≠ 0 holds the reference weights (memory/bytes), spends ref_ms; β = 0 neither", async () => {
    const policy = tinyPolicy(2);
    const step = async (beta: number) => {
      const t = new GrpoTrainer<ToySample>({ policy, tokenizer, rewards: target, config: toyConfig({ beta }) });
      const m = await t.step(toyBatch(2));
      const cost = t.referenceCost();
      t.dispose();
      return { m, cost };
    };
    const w = await step(0.04);
    const wo = await step(0);
    expect(w.m.ref_ms).toBeGreaterThan(0);
    expect(wo.m.ref_ms).toBe(0);
    expect(wo.m.kl).toBeUndefined();
    // the difference is the reference weights (plus the reference log-probs, a few hundred bytes)
    const saved = w.m["memory/bytes"] - wo.m["memory/bytes"];
    expect(saved).toBeGreaterThanOrEqual(w.cost.bytes);
    expect(saved).toBeLessThan(w.cost.bytes + 4096);
    expect(w.m["memory/tensors"] - wo.m["memory/tensors"]).toBeGreaterThanOrEqual(w.cost.tensors);
    policy.model.dispose();
  });

  it("logKl with β = 0: the KL to the start is logged (0 at step 0, > 0 later), training unchanged", async () => {
    const run = async (logKl: boolean) => {
      const policy = tinyPolicy(4);
      const t = new GrpoTrainer<ToySample>({
        policy,
        tokenizer,
        rewards: target,
        config: toyConfig({ beta: 0, logKl }),
      });
      const history = [];
      for (let s = 0; s < 6; s++) history.push(await t.step(toyBatch(2, 2 * s)));
      const weights = snapshot(policy);
      t.dispose();
      policy.model.dispose();
      return { history, weights };
    };
    const plain = await run(false);
    const logged = await run(true);
    expect(plain.history.every((m) => m.kl === undefined && m.kl_seq === undefined)).toBe(true);
    const kl = logged.history.map((m) => m.kl as number);
    expect(kl[0]).toBeCloseTo(0, 6); // π_θ = π_start before the first update
    expect(Math.max(...kl.slice(1))).toBeGreaterThan(1e-4); // and it drifts (lr 3e-2)
    expect(logged.history.every((m) => Number.isFinite(m.kl_seq) && m.ref_ms > 0)).toBe(true);
    // the KL is only logged: losses, samples and final weights are those of the run without it
    expect(logged.history.map((m) => m.loss)).toEqual(plain.history.map((m) => m.loss));
    expect(logged.history.map((m) => m.reward)).toEqual(plain.history.map((m) => m.reward));
    expect(logged.weights).toEqual(plain.weights);
  });
});
