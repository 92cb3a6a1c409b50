import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeak, initBackend, tf } from "@vlab/core";
import { gatherLogProbs, sftLoss } from "../src/index.js";
import { maxDiff, randomIds, tinyModel } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

describe("logProbs", () => {
  it(
    "equals log_softmax of the full forward pass of each sequence alone, at the positions that predict the " +
      "completion",
    () => {
      const m = tinyModel({}, 5);
      const prompts = [randomIds(40, 3), randomIds(41, 5)];
      const completions = [randomIds(42, 4), randomIds(43, 2)];
      const { logProbs, mask } = m.logProbs(prompts, completions);
      expect(logProbs.shape).toEqual([2, 4]);
      expect(mask.arraySync()).toEqual([
        [1, 1, 1, 1],
        [1, 1, 0, 0],
      ]);
      const got = logProbs.arraySync();
      prompts.forEach((p, b) => {
        const c = completions[b]!;
        const lsm = tf.tidy(() => tf.logSoftmax(m.forward([[...p, ...c]]), -1).arraySync()[0]!); // [P + C, V]
        // token c[j] sits at index P + j; the logits that predict it are at P + j − 1
        c.forEach((tok, j) => expect(Math.abs(got[b]![j]! - lsm[p.length + j - 1]![tok]!)).toBeLessThan(1e-4));
        for (let j = c.length; j < 4; j++) expect(Math.abs(got[b]![j]!)).toBe(0); // padding (may be −0)
      });
      // temperature divides the logits first
      const hot = m.logProbs(prompts.slice(0, 1), completions.slice(0, 1), { temperature: 2 });
      const p = prompts[0]!;
      const c = completions[0]!;
      const hotLogits = tf.tidy(() => tf.logSoftmax(tf.div(m.forward([[...p, ...c]]), 2), -1));
      const lsm2 = (hotLogits.arraySync() as number[][][])[0]!;
      hotLogits.dispose();
      hot.logProbs
        .arraySync()[0]!
        .forEach((v, j) => expect(Math.abs(v - lsm2[p.length + j - 1]![c[j]!]!)).toBeLessThan(1e-4));
      tf.dispose([logProbs, mask, hot.logProbs, hot.mask]);
      m.dispose();
    },
  );

  it("gives each predicted distribution's entropy on request, 0 at padding", () => {
    const m = tinyModel({}, 7);
    const prompts = [randomIds(50, 3), randomIds(51, 4)];
    const completions = [randomIds(52, 3), randomIds(53, 1)];
    const r = m.logProbs(prompts, completions, { entropy: true });
    const got = r.entropy!.arraySync();
    prompts.forEach((p, b) => {
      const c = completions[b]!;
      const probs = tf.tidy(() => tf.softmax(m.forward([[...p, ...c]]), -1).arraySync()[0]!); // [P + C, V]
      c.forEach((_, j) => {
        const row = probs[p.length + j - 1]!;
        const h = -row.reduce((s, q) => s + (q > 0 ? q * Math.log(q) : 0), 0);
        expect(Math.abs(got[b]![j]! - h)).toBeLessThan(1e-4);
      });
    });
    expect(got[1]!.slice(1)).toEqual([0, 0]);
    expect(m.logProbs(prompts, completions).entropy).toBeUndefined();
    tf.dispose([r.logProbs, r.mask, r.entropy!]);
    m.dispose();
  });

  it("embeds prompt + completion through an embed hook, told the prompt's width", () => {
    const m = tinyModel({}, 5);
    const prompts = [randomIds(60, 3), randomIds(61, 1)];
    const completions = [randomIds(62, 2), randomIds(63, 4)];
    let seen: { width: number; promptLength: number } | undefined;
    const viaHook = m.logProbs(prompts, completions, {
      embed: (ids, promptLength) => {
        seen = { width: ids[0]?.length ?? 0, promptLength };
        return m.embed(ids);
      },
    });
    expect(seen).toEqual({ width: 3 + 4, promptLength: 3 });
    const plain = m.logProbs(prompts, completions);
    expect(maxDiff(viaHook.logProbs, plain.logProbs)).toBe(0);
    tf.dispose([viaHook.logProbs, viaHook.mask, plain.logProbs, plain.mask]);
    m.dispose();
  });

  it("is differentiable and leaks nothing", async () => {
    const m = tinyModel({}, 6);
    const prompts = [randomIds(44, 4), randomIds(45, 2)];
    const completions = [randomIds(46, 3), randomIds(47, 5)];
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const { logProbs, mask } = m.logProbs(prompts, completions);
          return tf.div(tf.sum(logProbs), tf.sum(mask)) as tf.Scalar;
        }, m.trainableParameters());
        const norms = Object.values(grads).map((g) => tf.norm(g).dataSync()[0]!);
        expect(norms.every(Number.isFinite)).toBe(true);
        expect(Math.max(...norms)).toBeGreaterThan(0);
        tf.dispose(grads);
        return value;
      });
    step().dispose();
    await expectNoLeak(() => step().dispose(), "logProbs training step");
    m.dispose();
  });
});

describe("sftLoss", () => {
  it("a hand-worked case: shifted by one, mean over labels != -100", () => {
    // V = 2, T = 3. logits[t] predicts label[t + 1].
    //   t = 0: [0, ln 3]  → p = [1/4, 3/4];  label[1] = 1  → CE = −ln(3/4) = ln(4/3)
    //   t = 1: [0, 0]     → p = [1/2, 1/2];  label[2] = 0  → CE = ln 2
    //   t = 2: [9, 0]     predicts nothing (no label[3])
    const logits = tf.tensor3d([
      [
        [0, Math.log(3)],
        [0, 0],
        [9, 0],
      ],
    ]);
    const a = sftLoss(logits, [[-100, 1, 0]]);
    expect(a.dataSync()[0]).toBeCloseTo((Math.log(4 / 3) + Math.log(2)) / 2, 6); // 0.49041
    const b = sftLoss(logits, [[-100, 1, -100]]);
    expect(b.dataSync()[0]).toBeCloseTo(Math.log(4 / 3), 6); // 0.28768
    const none = sftLoss(logits, [[-100, -100, -100]]);
    expect(none.dataSync()[0]).toBe(0);
    expect(() => sftLoss(logits, [[0, 5, 0]])).toThrow(/label 5 at \[0, 1\]/);
    tf.dispose([logits, a, b, none]);
  });

  it("gatherLogProbs picks log_softmax at the targets", () => {
    const logits = tf.tensor2d([
      [0, Math.log(3)],
      [Math.log(4), 0],
    ]);
    const lp = gatherLogProbs(logits, [1, 1]);
    const v = lp.dataSync();
    expect(v[0]).toBeCloseTo(Math.log(3 / 4), 6);
    expect(v[1]).toBeCloseTo(Math.log(1 / 5), 6);
    tf.dispose([logits, lp]);
  });
});
