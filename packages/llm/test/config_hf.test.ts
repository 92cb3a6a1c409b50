import { describe, expect, it } from "vitest";
import { llmConfigFromHf, llmConfigToHf } from "../src/index.js";

// Qwen2-0.5B's config.json as transformers 4 writes it (trimmed to what the reader looks at).
const qwen2 = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  vocab_size: 151936,
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  hidden_act: "silu",
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  rope_scaling: null,
  max_position_embeddings: 32768,
  sliding_window: 32768,
  max_window_layers: 21,
  use_sliding_window: false,
  tie_word_embeddings: true,
  eos_token_id: 151643,
};

// The same model as transformers >= 5 writes it: θ only inside rope_parameters.
const { rope_theta: _theta, rope_scaling: _scaling, ...qwen2NoRope } = qwen2;
const qwen2V5 = {
  ...qwen2NoRope,
  rope_parameters: { rope_theta: 1000000.0, rope_type: "default" },
  layer_types: Array(24).fill("full_attention"),
};

describe("llmConfigFromHf: RoPE and attention options", () => {
  it("reads θ from rope_parameters (transformers >= 5)", () => {
    const cfg = llmConfigFromHf(qwen2V5);
    expect(cfg.ropeTheta).toBe(1e6);
    expect(cfg).toEqual(llmConfigFromHf(qwen2));
    // Both spellings present and equal is fine; llmConfigToHf keeps writing top-level rope_theta.
    expect(llmConfigFromHf({ ...qwen2V5, rope_theta: 1e6 }).ropeTheta).toBe(1e6);
    expect(llmConfigToHf(cfg).rope_theta).toBe(1e6);
    // No θ anywhere: the old default.
    expect(llmConfigFromHf({ ...qwen2NoRope, rope_parameters: { rope_type: "default" } }).ropeTheta).toBe(10000);
  });

  it("refuses conflicting θ values, naming both", () => {
    expect(() => llmConfigFromHf({ ...qwen2V5, rope_theta: 10000 })).toThrow(
      /^config\.json: rope_theta 10000 and rope_parameters\.rope_theta 1000000 disagree/,
    );
  });

  it("refuses RoPE types other than default", () => {
    const yarn = { rope_type: "yarn", factor: 4.0, original_max_position_embeddings: 32768, rope_theta: 1e6 };
    expect(() => llmConfigFromHf({ ...qwen2NoRope, rope_parameters: yarn })).toThrow(
      /^config\.json: rope_parameters\.rope_type "yarn" is not supported/,
    );
    expect(() =>
      llmConfigFromHf({
        ...qwen2,
        model_type: "llama",
        rope_scaling: { rope_type: "llama3", factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0 },
      }),
    ).toThrow(/rope_scaling\.rope_type "llama3"/);
    expect(() => llmConfigFromHf({ ...qwen2, rope_scaling: { type: "linear", factor: 2.0 } })).toThrow(
      /rope_scaling\.type "linear"/,
    );
  });

  it("refuses Qwen2-VL's M-RoPE, pointing at the Qwen2-VL model", () => {
    const rope_scaling = { type: "mrope", mrope_section: [16, 24, 24] };
    expect(() => llmConfigFromHf({ ...qwen2, rope_scaling })).toThrow(
      /rope_scaling\.type "mrope".*M-RoPE belongs to the Qwen2-VL model, not the text LM config reader/,
    );
    // transformers >= 5 spelling: default type plus mrope_section.
    const rope_parameters = { rope_type: "default", mrope_section: [16, 24, 24], rope_theta: 1e6 };
    expect(() => llmConfigFromHf({ ...qwen2NoRope, rope_parameters })).toThrow(/mrope_section.*M-RoPE/);
  });

  it("accepts rope_scaling that means no scaling, refuses scaling options", () => {
    expect(llmConfigFromHf({ ...qwen2, rope_scaling: { rope_type: "default" } }).ropeTheta).toBe(1e6);
    expect(llmConfigFromHf({ ...qwen2, rope_scaling: { type: "default" } }).ropeTheta).toBe(1e6);
    expect(() => llmConfigFromHf({ ...qwen2, rope_scaling: { rope_type: "default", factor: 2.0 } })).toThrow(
      /^config\.json: rope_scaling\.factor 2 is not supported/,
    );
  });

  it("refuses sliding-window attention", () => {
    expect(llmConfigFromHf({ ...qwen2, use_sliding_window: false }).numHiddenLayers).toBe(24);
    expect(() => llmConfigFromHf({ ...qwen2, use_sliding_window: true })).toThrow(
      /^config\.json: use_sliding_window true is not supported/,
    );
    const layer_types = [...Array(21).fill("full_attention"), ...Array(3).fill("sliding_attention")];
    expect(() => llmConfigFromHf({ ...qwen2V5, layer_types })).toThrow(/layer_types entry "sliding_attention"/);
  });

  it("refuses partial rotary embeddings", () => {
    expect(llmConfigFromHf({ ...qwen2, partial_rotary_factor: 1.0 }).ropeTheta).toBe(1e6);
    expect(() => llmConfigFromHf({ ...qwen2, partial_rotary_factor: 0.5 })).toThrow(
      /^config\.json: partial_rotary_factor 0\.5 is not supported/,
    );
    const rope_parameters = { rope_type: "default", rope_theta: 1e6, partial_rotary_factor: 0.5 };
    expect(() => llmConfigFromHf({ ...qwen2NoRope, rope_parameters })).toThrow(
      /rope_parameters\.partial_rotary_factor 0\.5/,
    );
  });
});
