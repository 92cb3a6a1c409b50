import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "@vlab/core";
import { leftPad, llmConfigFromHf, llmConfigToHf, positionsFromMask, sftLoss } from "../src/index.js";
import { maxDiff, randomIds, tinyModel } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

describe("CausalLM structure", () => {
  it("has Hugging Face's parameter names and shapes (Qwen2: q/k/v biases, no o_proj bias)", () => {
    const m = tinyModel();
    const shapes = Object.fromEntries(m.namedParameters().map(([n, v]) => [n, v.shape]));
    // embed + 2 layers × (q, k, v weight and bias, o, gate, up, down, 2 norms = 12) + norm + lm_head
    expect(Object.keys(shapes)).toHaveLength(1 + 2 * 12 + 1 + 1);
    expect(shapes["model.embed_tokens.weight"]).toEqual([50, 32]);
    expect(shapes["model.layers.0.self_attn.q_proj.weight"]).toEqual([32, 32]); // 4 heads × 8
    expect(shapes["model.layers.0.self_attn.q_proj.bias"]).toEqual([32]);
    expect(shapes["model.layers.1.self_attn.k_proj.weight"]).toEqual([16, 32]); // 2 kv heads × 8
    expect(shapes["model.layers.1.self_attn.v_proj.bias"]).toEqual([16]);
    expect(shapes["model.layers.0.self_attn.o_proj.weight"]).toEqual([32, 32]);
    expect(shapes["model.layers.0.self_attn.o_proj.bias"]).toBeUndefined();
    expect(shapes["model.layers.0.mlp.gate_proj.weight"]).toEqual([64, 32]);
    expect(shapes["model.layers.0.mlp.up_proj.weight"]).toEqual([64, 32]);
    expect(shapes["model.layers.0.mlp.down_proj.weight"]).toEqual([32, 64]);
    expect(shapes["model.layers.0.input_layernorm.weight"]).toEqual([32]);
    expect(shapes["model.layers.0.post_attention_layernorm.weight"]).toEqual([32]);
    expect(shapes["model.norm.weight"]).toEqual([32]);
    expect(shapes["lm_head.weight"]).toEqual([50, 32]);
    m.dispose();
  });

  it("Llama has no biases; a tied model has no lm_head and its logits use embed_tokens", () => {
    const llama = tinyModel({ modelType: "llama", tieWordEmbeddings: true });
    const names = llama.namedParameters().map(([n]) => n);
    expect(names.filter((n) => n.endsWith(".bias"))).toEqual([]);
    expect(names).not.toContain("lm_head.weight");
    const ids = [[3, 4, 5]];
    const h = llama.hiddenStates(ids);
    const logits = llama.forward(ids);
    const manual = tf.tidy(() => tf.einsum("btd,vd->btv", h, llama.model.embed_tokens.weight));
    expect(maxDiff(logits, manual)).toBeLessThan(1e-5);
    tf.dispose([h, logits, manual]);
    llama.dispose();
  });

  it("config.json round trip, and Qwen2 vs Llama biases from it", () => {
    const hf = {
      model_type: "qwen2",
      vocab_size: 151936,
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      max_position_embeddings: 32768,
      tie_word_embeddings: true,
      hidden_act: "silu",
      eos_token_id: 151643,
    };
    const cfg = llmConfigFromHf(hf);
    expect(cfg).toMatchObject({
      modelType: "qwen2",
      hiddenSize: 896,
      numKeyValueHeads: 2,
      ropeTheta: 1e6,
      tieWordEmbeddings: true,
      attentionBias: true,
      eosTokenId: 151643,
    });
    expect(llmConfigFromHf({ ...hf, model_type: "llama" }).attentionBias).toBe(false);
    expect(llmConfigFromHf(llmConfigToHf(cfg))).toMatchObject(cfg);
    expect(() => llmConfigFromHf({ ...hf, hidden_act: "gelu" })).toThrow(/hidden_act "gelu"/);
    expect(() => llmConfigFromHf({ ...hf, rope_scaling: { type: "yarn" } })).toThrow(/rope_scaling/);
  });
});

describe("forward: padding, positions, cache", () => {
  it("positions are cumsum(mask) − 1 with padding at 1", () => {
    expect(
      positionsFromMask([
        [0, 0, 1, 1, 1],
        [1, 1, 1, 1, 1],
      ]),
    ).toEqual([
      [1, 1, 0, 1, 2],
      [0, 1, 2, 3, 4],
    ]);
    expect(positionsFromMask([[0, 1, 1, 1]], 2)).toEqual([[1, 2]]);
  });

  // RoPE only sees position differences, so this checks the mask; the positions themselves are
  // checked by the test above and by the cache test below (decoding must continue at the right position).
  it("a left-padded row gives the same logits at its real tokens as the row alone", () => {
    const m = tinyModel();
    const a = randomIds(1, 7);
    const b = randomIds(2, 3);
    const batch = leftPad([a, b], 0);
    const both = m.forward(batch.ids, { attentionMask: batch.attentionMask }); // [2, 7, 50]
    const alone = m.forward([b]); // [1, 3, 50]
    const real = tf.slice(both, [1, 4, 0], [1, 3, 50]);
    expect(maxDiff(real, alone)).toBeLessThan(1e-4);
    const aAlone = m.forward([a]);
    const aRow = tf.slice(both, [0, 0, 0], [1, 7, 50]);
    expect(maxDiff(aRow, aAlone)).toBeLessThan(1e-4);
    // Without the mask the padding leaks into row b: the test can fail.
    const unmasked = m.forward(batch.ids);
    const leaked = tf.slice(unmasked, [1, 4, 0], [1, 3, 50]);
    expect(maxDiff(leaked, alone)).toBeGreaterThan(1e-3);
    tf.dispose([both, alone, real, aAlone, aRow, unmasked, leaked]);
    m.dispose();
  });

  it("cached decoding gives the logits of an uncached pass over the whole sequence (1e-4), with left padding", () => {
    const m = tinyModel({}, 2);
    const prompts = [randomIds(3, 5), randomIds(4, 2)];
    const batch = leftPad(prompts, 0);
    const cache = m.newCache();
    const stepLogits: tf.Tensor[] = [m.forward(batch.ids, { attentionMask: batch.attentionMask, cache })]; // [2, 5, V]
    const seqs = batch.ids.map((r) => [...r]);
    const mask = batch.attentionMask.map((r) => [...r]);
    for (let step = 0; step < 4; step++) {
      const last = stepLogits[stepLogits.length - 1]!;
      const T = last.shape[1]!;
      // [2, 1]
      const next = tf.tidy(() => tf.argMax(tf.slice(last, [0, T - 1, 0], [-1, 1, -1]), -1).arraySync() as number[][]);
      next.forEach((r, b) => {
        seqs[b]!.push(r[0]!);
        mask[b]!.push(1);
      });
      stepLogits.push(m.forward(next, { cache }));
      expect(cache.length).toBe(5 + step + 1);
    }
    const cached = tf.concat(stepLogits, 1); // [2, 9, V]
    const full = m.forward(seqs, { attentionMask: mask });
    // compare the real tokens only (padded query rows are arbitrary)
    const real = (t: tf.Tensor, b: number, from: number) => tf.slice(t, [b, from, 0], [1, 9 - from, -1]);
    const [c0, f0, c1, f1] = [real(cached, 0, 0), real(full, 0, 0), real(cached, 1, 3), real(full, 1, 3)];
    expect(maxDiff(c0, f0)).toBeLessThan(1e-4);
    expect(maxDiff(c1, f1)).toBeLessThan(1e-4);
    tf.dispose([...stepLogits, cached, full, c0, f0, c1, f1]);
    cache.dispose();
    m.dispose();
  });

  it("leaks no tensors: forward, cached forward, and a training step with variableGrads", () => {
    const m = tinyModel();
    const ids = [randomIds(5, 6), randomIds(6, 6)];
    const labels = ids.map((r) => r.map((x, i) => (i < 2 ? -100 : x)));
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => sftLoss(m.forward(ids), labels), m.trainableParameters());
        expect(Object.keys(grads)).toHaveLength(m.trainableParameters().length);
        tf.dispose(grads);
        return value;
      });
    step().dispose(); // warm-up (kernels, backend state)
    const before = tf.memory().numTensors;
    m.forward(ids).dispose();
    const cache = m.newCache();
    m.forward(ids, { cache }).dispose();
    m.forward([[1], [2]], { cache }).dispose();
    cache.dispose();
    step().dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it("explicit position ids are used as given", () => {
    const m = tinyModel();
    const ids = [[4, 5, 6]];
    const dflt = m.forward(ids);
    const same = m.forward(ids, { positionIds: [[0, 1, 2]] });
    const shifted = m.forward(ids, { positionIds: [[10, 11, 12]] }); // the same differences: same output
    const stretched = m.forward(ids, { positionIds: [[0, 2, 4]] });
    const posTensor = tf.tensor2d([[0, 2, 4]], [1, 3], "int32");
    const fromTensor = m.forward(ids, { positionIds: posTensor });
    expect(maxDiff(stretched, fromTensor)).toBe(0);
    tf.dispose([posTensor, fromTensor]);
    expect(maxDiff(dflt, same)).toBe(0);
    expect(maxDiff(dflt, shifted)).toBeLessThan(1e-4);
    expect(maxDiff(dflt, stretched)).toBeGreaterThan(1e-3);
    tf.dispose([dflt, same, shifted, stretched]);
    m.dispose();
  });

  it("refuses inconsistent inputs", () => {
    const m = tinyModel();
    expect(() => m.forward([[1, 2], [3]])).toThrow(/differ in length/);
    expect(() => m.forward([[1, 2]], { attentionMask: [[1, 1, 1]] })).toThrow(/attentionMask must be \[1, 2\]/);
    expect(() => m.forward(null)).toThrow(/exactly one of ids and inputsEmbeds/);
    m.dispose();
  });
});
