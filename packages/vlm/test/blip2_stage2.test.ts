import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, Rng, expectNoLeak, initBackend, tf, updateStep } from "@vlab/core";
import { CausalLM, IGNORE_INDEX, sftLoss } from "@vlab/llm";
import {
  BLIP2_TINY,
  Blip2,
  blip2HfName,
  blip2Stage1Loss,
  isStage2Trainable,
  lavisDecay,
  type Blip2Text,
} from "../src/index.js";
import { TINY, maxDiff, tokenizer } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

// The Q-Former of blip2.test.ts (width 64, 4 queries, 12-d image features) before the tiny LM of width 32.
const CONFIG = { ...BLIP2_TINY, numQueryTokens: 4, vocabSize: 30, encoderWidth: 12, bosTokenId: 29, padTokenId: 0 };
const lmConfig = {
  ...TINY,
  vocabSize: tokenizer.vocabSize,
  imageTokenId: tokenizer.imageTokenId,
  padTokenId: tokenizer.padId,
  eosTokenId: tokenizer.eosId,
};
const makeBlip2 = () => new Blip2({ config: CONFIG, rng: new Rng(1), lm: new CausalLM(lmConfig, { rng: new Rng(2) }) });
const features = (B = 2, seed = 5) => tf.randomNormal([B, 5, 12], 0, 1, "float32", seed);
const IMG = tokenizer.imageTokenId;
const snapshot = (m: Blip2) => new Map(m.namedParameters().map(([n, v]) => [n, v.clone()]));
const changedNames = (m: Blip2, before: Map<string, tf.Tensor>) =>
  m
    .namedParameters()
    .filter(([n, v]) => maxDiff(v, before.get(n)!) > 0)
    .map(([n]) => n);

describe("BLIP-2 stage 2", () => {
  it("adds language_projection (Q-Former → LM width) and the frozen LM; stage 2 trains the path to the LM", () => {
    const m = makeBlip2();
    expect(m.language_projection.weight.shape).toEqual([32, 64]);
    expect(m.stateDict()["language_model.model.embed_tokens.weight"]).toBeDefined();
    const all = m.namedParameters().map(([n]) => n);
    // Stage 1 (the default): every Q-Former part, nothing of the LM nor the projection.
    expect(m.trainableNames()).toEqual(all.filter((n) => !/^language_(model|projection)\./.test(n)));
    m.stage(2);
    const layer0 = (kind: string) =>
      ["query", "key", "value"]
        .flatMap((p) => [`${kind}.self.${p}.weight`, `${kind}.self.${p}.bias`])
        .concat(["dense.weight", "dense.bias", "LayerNorm.weight", "LayerNorm.bias"].map((p) => `${kind}.output.${p}`));
    const queryFfn = ["intermediate_query.dense.weight", "intermediate_query.dense.bias"].concat(
      ["dense.weight", "dense.bias", "LayerNorm.weight", "LayerNorm.bias"].map((p) => `output_query.${p}`),
    );
    const L = (i: number, names: string[]) => names.map((n) => `Qformer.bert.encoder.layer.${i}.${n}`);
    expect(m.trainableNames()).toEqual([
      "query_tokens",
      "ln_vision.weight",
      "ln_vision.bias",
      "Qformer.bert.embeddings.LayerNorm.weight",
      "Qformer.bert.embeddings.LayerNorm.bias",
      ...L(0, [...layer0("attention"), ...layer0("crossattention"), ...queryFfn]),
      ...L(1, [...layer0("attention"), ...queryFfn]),
      "language_projection.weight",
      "language_projection.bias",
    ]);
    expect(isStage2Trainable("Qformer.bert.encoder.layer.1.intermediate.dense.weight")).toBe(false);
    expect(isStage2Trainable("language_model.model.norm.weight")).toBe(false);
    const share = m.numParameters({ trainableOnly: true }) / m.numParameters();
    expect(share).toBeGreaterThan(0);
    expect(share).toBeLessThan(1);
    expect(() => m.stage(3 as never)).toThrow(/1 or 2/);
    m.dispose();
  });

  it("maps names to Hugging Face's Blip2ForConditionalGeneration as its conversion script does", () => {
    expect(blip2HfName("Qformer.bert.encoder.layer.0.attention.self.query.weight")).toBe(
      "qformer.encoder.layer.0.attention.attention.query.weight",
    );
    expect(blip2HfName("Qformer.bert.encoder.layer.0.crossattention.self.key.bias")).toBe(
      "qformer.encoder.layer.0.crossattention.attention.key.bias",
    );
    expect(blip2HfName("Qformer.bert.encoder.layer.3.attention.output.LayerNorm.weight")).toBe(
      "qformer.encoder.layer.3.attention.output.LayerNorm.weight",
    );
    expect(blip2HfName("Qformer.bert.encoder.layer.2.output_query.dense.weight")).toBe(
      "qformer.encoder.layer.2.output_query.dense.weight",
    );
    expect(blip2HfName("Qformer.bert.embeddings.LayerNorm.bias")).toBe("qformer.layernorm.bias");
    expect(blip2HfName("ln_vision.weight")).toBe("vision_model.post_layernorm.weight");
    expect(blip2HfName("query_tokens")).toBe("query_tokens");
    expect(blip2HfName("language_projection.weight")).toBe("language_projection.weight");
    expect(blip2HfName("Qformer.bert.encoder.layer.0.intermediate.dense.weight")).toBeNull(); // text FFN
    expect(blip2HfName("Qformer.cls.predictions.bias")).toBeNull();
    expect(blip2HfName("itm_head.weight")).toBeNull();
  });

  it("decays what LAVIS's optimiser decays: weights of rank ≥ 2 whose names hold no bias, ln or bn", () => {
    const m = makeBlip2();
    const decayed = m
      .namedParameters()
      .filter(([n, v]) => lavisDecay(n, v))
      .map(([n]) => n);
    expect(decayed).toContain("query_tokens"); // [1, N, D]
    expect(decayed).toContain("Qformer.bert.encoder.layer.0.crossattention.self.key.weight");
    expect(decayed).toContain("language_projection.weight");
    expect(decayed).not.toContain("ln_vision.weight"); // "ln" in the name (and rank 1)
    expect(decayed).not.toContain("temp"); // rank 0
    expect(decayed.some((n) => n.endsWith(".bias") || n.includes("LayerNorm"))).toBe(false);
    expect(lavisDecay("ln_vision.weight2d", { rank: 2 })).toBe(false); // the name alone excludes it
    expect(lavisDecay("Qformer.bert.embeddings.word_embeddings.weight", { rank: 2 })).toBe(true);
    m.dispose();
  });

  it("puts N placeholders before the prompt; labels −100 on them, the prompt and the padding", () => {
    const m = makeBlip2();
    const batch = m.stage2Batch(
      [[7], []],
      [
        [5, 6, tokenizer.eosId],
        [8, tokenizer.eosId],
      ],
    );
    expect(batch.ids).toEqual([
      [IMG, IMG, IMG, IMG, 7, 5, 6, tokenizer.eosId],
      [IMG, IMG, IMG, IMG, 8, tokenizer.eosId, tokenizer.padId, tokenizer.padId],
    ]);
    const X = IGNORE_INDEX;
    expect(batch.labels).toEqual([
      [X, X, X, X, X, 5, 6, tokenizer.eosId],
      [X, X, X, X, 8, tokenizer.eosId, X, X],
    ]);
    expect(batch.attentionMask[1]).toEqual([1, 1, 1, 1, 1, 1, 0, 0]);
    expect(() => m.stage2Batch([[1]], [])).toThrow(/1 prompts but 0 texts/);
    m.dispose();
  });

  it("the loss is the LM's on [soft prompts; prompt; text] built by hand, on the text only", () => {
    const m = makeBlip2();
    const f = features();
    const prompts = [[7], []];
    const texts = [[5, 6, tokenizer.eosId], [8]];
    const loss = m.stage2Loss(f, prompts, texts);
    const soft = m.softPrompts(f); // [2, 4, 32]
    expect(soft.shape).toEqual([2, 4, 32]);
    const batch = m.stage2Batch(prompts, texts);
    const textEmb = m.language_model.embed(batch.ids.map((r) => r.slice(4))); // the columns after the placeholders
    const logits = m.language_model.forward(null, {
      inputsEmbeds: tf.concat([soft, textEmb], 1),
      attentionMask: batch.attentionMask,
    });
    const want = sftLoss(logits, batch.labels);
    expect(maxDiff(loss, want)).toBeLessThan(1e-5);
    // The soft prompts matter: other images, another loss.
    const other = features(2, 99);
    const loss2 = m.stage2Loss(other, prompts, texts);
    expect(maxDiff(loss, loss2)).toBeGreaterThan(1e-5);
    tf.dispose([f, loss, soft, textEmb, logits, want, other, loss2]);
    m.dispose();
  });

  for (const stage of [1, 2] as const) {
    it(`a stage-${stage} step changes exactly the parameters that stage trains, without leaks`, async () => {
      const m = makeBlip2().stage(stage);
      const f = features(3);
      const text: Blip2Text = {
        ids: [
          [1, 5, 7],
          [1, 3, 0],
          [1, 4, 6],
        ],
        mask: [
          [1, 1, 1],
          [1, 1, 0],
          [1, 1, 1],
        ],
      };
      const lossFn =
        stage === 1
          ? () => blip2Stage1Loss(m, f, text, new Rng(4))
          : () => m.stage2Loss(f, [[7], [], [9]], [[5, tokenizer.eosId], [6], [8, 5]]);
      const vars = m.trainableParameters();
      const opt = new AdamW(
        m.namedParameters().filter(([, v]) => v.trainable),
        { weightDecay: 0 },
      );
      const before = snapshot(m);
      const step = () => updateStep(lossFn, { vars, optimizer: opt, lr: 1e-3, label: `stage ${stage}`, where: "test" });
      await step();
      expect(changedNames(m, before)).toEqual(m.trainableNames());
      expect(changedNames(m, before).some((n) => n.startsWith("language_model."))).toBe(false);
      tf.dispose([...before.values()]);
      await expectNoLeak(step, `stage-${stage} step`);
      f.dispose();
      m.dispose();
    });
  }

  it("captions through the LM's batched generation: greedy = argmax of full passes, batched = alone, seeded", () => {
    const m = makeBlip2();
    const f = features();
    const prompts = [[7], []];
    const opts = { maxNewTokens: 4, stopIds: [] as number[] };
    const before = tf.memory().numTensors;
    const both = m.generate(f, prompts, opts);
    expect(tf.memory().numTensors).toBe(before);
    expect(both.tokens.map((t) => t.length)).toEqual([4, 4]);
    // One image at a time gives the same tokens.
    prompts.forEach((p, i) => {
      const one = tf.slice(f, [i, 0, 0], [1, -1, -1]);
      expect(m.generate(one, [p], opts).tokens[0]).toEqual(both.tokens[i]);
      one.dispose();
    });
    // Greedy by hand: full forward passes, no cache, argmax of the last column.
    const one = tf.slice(f, [0, 0, 0], [1, -1, -1]);
    const ids = m.promptIds([prompts[0]!])[0]!;
    for (let k = 0; k < 4; k++) {
      const logits = m.forward(one, [ids]);
      const last = tf.tidy(() => tf.argMax(tf.squeeze(tf.slice(logits, [0, ids.length - 1, 0], [1, 1, -1]))));
      ids.push(last.dataSync()[0]!);
      tf.dispose([logits, last]);
    }
    expect(ids.slice(-4)).toEqual(both.tokens[0]);
    const sampled = (seed: number) => m.generate(f, prompts, { ...opts, greedy: false, temperature: 1.5, seed });
    expect(sampled(3).tokens).toEqual(sampled(3).tokens);
    one.dispose();
    f.dispose();
    m.dispose();
  });

  it("scores answers after the soft prompts: logProbs = log-softmax of the forward pass", () => {
    const m = makeBlip2();
    const f = features(1);
    const prompt = [7, 8];
    const answer = [5, 6];
    const before = tf.memory().numTensors;
    const lp = m.logProbs(f, [prompt], [answer]);
    expect(tf.memory().numTensors).toBe(before + 2); // logProbs and mask, returned
    const ids = [...m.promptIds([prompt])[0]!, ...answer];
    const logits = m.forward(f, [ids]);
    const logp = tf.logSoftmax(logits);
    const P = ids.length - answer.length;
    const want = answer.map((a, j) => logp.arraySync()[0]![P - 1 + j]![a]!);
    expect(Array.from(lp.logProbs.dataSync())).toEqual(want.map((v) => expect.closeTo(v, 4)));
    tf.dispose([lp.logProbs, lp.mask, logits, logp, f]);
    m.dispose();
  });

  it("refuses an LM without a placeholder id and image features of the wrong width", () => {
    const lm = new CausalLM({ ...lmConfig, imageTokenId: undefined }, { rng: new Rng(2) });
    expect(() => new Blip2({ config: CONFIG, lm })).toThrow(/imageTokenId/);
    lm.dispose();
    const m = makeBlip2();
    const wrong = tf.zeros([1, 5, 32]);
    expect(() => m.generate(wrong, [[]])).toThrow(/\[B, S, 12\].*got \[1, 5, 32\]/);
    expect(() => m.stage2Loss(wrong, [[]], [[5]])).toThrow(/encoderWidth/);
    wrong.dispose();
    m.dispose();
  });
});
