import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, loadSafetensors, readSafetensorsHeader, saveSafetensors, tf } from "@vlab/core";
import { loadLlm, loadLlmWeights, saveLlm } from "../src/index.js";
import { maxDiff, tinyModel } from "./helpers.js";

let dir: string;
beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-llm-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const ids = [[3, 14, 15, 9, 2, 6]];

describe("Hugging Face checkpoints", () => {
  it("round trip: config.json + model.safetensors with HF names, same logits after loading", () => {
    const m = tinyModel({ eosTokenId: 2 }, 11);
    const out = path.join(dir, "qwen2-tiny");
    saveLlm(m, out);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8"));
    expect(cfg).toMatchObject({
      model_type: "qwen2",
      architectures: ["Qwen2ForCausalLM"],
      hidden_size: 32,
      num_key_value_heads: 2,
      tie_word_embeddings: false,
      eos_token_id: 2,
    });
    const keys = Object.keys(readSafetensorsHeader(path.join(out, "model.safetensors")).tensors);
    expect(keys).toContain("model.layers.1.self_attn.k_proj.bias");
    expect(keys).toContain("lm_head.weight");
    expect(keys).toHaveLength(m.namedParameters().length);

    const { model: back, ignoredKeys } = loadLlm(out);
    expect(ignoredKeys).toEqual([]);
    expect(back.config).toEqual(m.config);
    const [a, b] = [m.forward(ids), back.forward(ids)];
    expect(maxDiff(a, b)).toBe(0);
    tf.dispose([a, b]);
    back.dispose();
    m.dispose();
  });

  it("tied Llama: no lm_head written; an lm_head or rotary inv_freq in a checkpoint is skipped", () => {
    const m = tinyModel({ modelType: "llama", tieWordEmbeddings: true }, 12);
    const out = path.join(dir, "llama-tied");
    saveLlm(m, out, { dtype: "BF16" });
    const keys = Object.keys(readSafetensorsHeader(path.join(out, "model.safetensors")).tensors);
    expect(keys).not.toContain("lm_head.weight");
    const tensors = loadSafetensors(path.join(out, "model.safetensors"));
    tensors["lm_head.weight"] = tf.zeros([50, 32]);
    tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = tf.zeros([4]);
    const config = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8"));
    const { model: back, ignoredKeys } = loadLlm({ config, weights: tensors });
    expect(ignoredKeys.sort()).toEqual(["lm_head.weight", "model.layers.0.self_attn.rotary_emb.inv_freq"]);
    // BF16 keeps 8 bits of mantissa: logits agree to a few 1e-2
    const [a, b] = [m.forward(ids), back.forward(ids)];
    expect(maxDiff(a, b)).toBeLessThan(0.1);
    tf.dispose([a, b, ...Object.values(tensors)]);
    back.dispose();
    m.dispose();
  });

  it("refuses a missing or misshapen tensor, naming it and the shapes; loads nothing", () => {
    const m = tinyModel({}, 13);
    const file = path.join(dir, "broken.safetensors");
    const sd = { ...m.stateDict() };
    delete sd["model.norm.weight"];
    const wrong = tf.zeros([64, 16]);
    sd["model.layers.0.mlp.up_proj.weight"] = wrong;
    saveSafetensors(file, sd);
    const config = {
      model_type: "qwen2",
      vocab_size: 50,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
    };
    const before = tf.memory().numTensors;
    expect(() => loadLlm({ config, weights: file })).toThrow(
      /missing tensor "model\.norm\.weight" \(the model expects \[32\]\).*tensor "model\.layers\.0\.mlp\.up_proj\.weight" has shape \[64, 16\] in the checkpoint, the model expects \[64, 32\]/,
    );
    expect(tf.memory().numTensors).toBe(before); // the half-built model and the file's tensors were freed
    // unexpected names: an error, or skipped and listed with strict: false
    const extra = { ...m.stateDict(), "model.layers.9.mlp.up_proj.weight": wrong };
    const target = tinyModel({}, 14);
    expect(() => loadLlmWeights(target, extra)).toThrow(/unexpected tensor "model\.layers\.9\.mlp\.up_proj\.weight"/);
    expect(loadLlmWeights(target, extra, { strict: false }).unexpectedKeys).toEqual([
      "model.layers.9.mlp.up_proj.weight",
    ]);
    const [a, b] = [m.forward(ids), target.forward(ids)];
    expect(maxDiff(a, b)).toBe(0);
    tf.dispose([a, b, wrong]);
    target.dispose();
    m.dispose();
  });
});
