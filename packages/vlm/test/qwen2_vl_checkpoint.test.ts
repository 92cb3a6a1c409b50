/**
 * Qwen2-VL checkpoints: save and reload, refusals with names and shapes, transformers 5's config layout, and the tensor
 * names of transformers ≥ 4.52 (model.visual.*, model.language_model.*).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, loadSafetensors, saveSafetensors, tf } from "@vlab/core";
import {
  loadQwen2Vl,
  qwen2VlCheckpointLayout,
  qwen2VlConfigFromHf,
  qwen2VlConfigToHf,
  Qwen2VL,
  saveQwen2Vl,
  type Qwen2VlVision,
} from "../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-qwen2vl-"));
beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const text = {
  vocabSize: 64,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 1,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  ropeTheta: 1e6,
  mropeSection: [2, 1, 1],
  imageTokenId: 63,
  initializerRange: 0.3,
};
const vision: Qwen2VlVision = {
  pixelValues: Float32Array.from({ length: 4 * 1176 }, (_, i) => Math.sin(i)),
  gridThw: [[1, 2, 2]],
};
const ids = [[5, 61, 63, 62, 9]];

describe("Qwen2-VL checkpoints", () => {
  for (const variant of ["qwen2-vl", "qwen2.5-vl"] as const) {
    it(`${variant}: saved and reloaded, the same logits exactly`, () => {
      const m = new Qwen2VL({
        text,
        vision: { variant, depth: 2, embedDim: 16, numHeads: 2, seed: 3 },
        visionStartTokenId: 61,
      });
      const out = path.join(dir, variant);
      saveQwen2Vl(m, out);
      const json = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8"));
      expect(json.model_type).toBe(variant === "qwen2-vl" ? "qwen2_vl" : "qwen2_5_vl");
      expect(json.rope_scaling).toEqual({ type: "mrope", mrope_section: [2, 1, 1] });
      const { model } = loadQwen2Vl(out);
      expect({ ...model.config.vision, seed: 3 }).toEqual(m.config.vision); // the init seed is not a checkpoint's
      const [a, b] = [m.forward(ids, vision), model.forward(ids, vision)];
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBe(0);
      tf.dispose([a, b]);
      m.dispose();
      model.dispose();
    });
  }

  it("refuses a missing tensor and a wrong shape with the name and both shapes; nothing is loaded", () => {
    const m = new Qwen2VL({ text, vision: { depth: 1, embedDim: 16, numHeads: 2 } });
    const out = path.join(dir, "broken");
    saveQwen2Vl(m, out);
    const file = path.join(out, "model.safetensors");
    const tensors = loadSafetensors(file);
    const qkv = tensors["visual.blocks.0.attn.qkv.weight"]!;
    tensors["visual.blocks.0.attn.qkv.weight"] = tf.zeros([48, 8]);
    qkv.dispose();
    tensors["model.norm.weight"]!.dispose();
    delete tensors["model.norm.weight"];
    saveSafetensors(file, tensors);
    tf.dispose(tensors);
    expect(() => loadQwen2Vl(out)).toThrow(
      /missing tensor "model\.norm\.weight" \(the model expects \[32\]\).*tensor "visual\.blocks\.0\.attn\.qkv\.weight" has shape \[48, 8\] in the checkpoint, the model expects \[48, 16\]/,
    );
    m.dispose();
  });

  it("reads transformers 5's layout (text_config, rope_parameters with θ and mrope_section) and refuses others", () => {
    const m = new Qwen2VL({ text, vision: { depth: 1, embedDim: 16, numHeads: 2 } });
    const json = qwen2VlConfigToHf(m);
    const { vision_config, rope_scaling, rope_theta, image_token_id, model_type, architectures, ...textFields } = json;
    const v5 = {
      model_type,
      architectures,
      image_token_id,
      vision_config,
      text_config: {
        ...textFields,
        rope_parameters: { rope_type: "default", rope_theta: 1e6, mrope_section: [2, 1, 1] },
      },
    };
    void rope_scaling;
    void rope_theta;
    const cfg = qwen2VlConfigFromHf(v5);
    expect(cfg.text.ropeTheta).toBe(1e6);
    expect(cfg.text.mropeSection).toEqual([2, 1, 1]);
    expect(() => qwen2VlConfigFromHf({ ...json, model_type: "llava" })).toThrow(/model_type "llava" is not Qwen2-VL's/);
    expect(() => qwen2VlConfigFromHf({ ...json, rope_scaling: null })).toThrow(/no mrope_section/);
    expect(() => qwen2VlConfigFromHf({ ...json, use_sliding_window: true })).toThrow(/use_sliding_window/);
    m.dispose();
  });

  it("loads a checkpoint with transformers ≥ 4.52's tensor names to the same logits; saves them on request", () => {
    const m = new Qwen2VL({
      text,
      vision: { variant: "qwen2.5-vl", depth: 2, embedDim: 16, numHeads: 2, seed: 5 },
      visionStartTokenId: 61,
    });
    const out = path.join(dir, "nested");
    saveQwen2Vl(m, out);
    // transformers' Qwen2VLForConditionalGeneration._checkpoint_conversion_mapping, applied to the original names
    const file = path.join(out, "model.safetensors");
    const original = loadSafetensors(file);
    const toNested = (k: string) =>
      k.replace(/^visual/, "model.visual").replace(/^model(?!\.(language_model|visual))/, "model.language_model");
    const nested = Object.fromEntries(Object.entries(original).map(([k, t]) => [toNested(k), t]));
    const names = Object.keys(nested).sort();
    expect(names).toContain("model.visual.blocks.1.attn.qkv.weight");
    expect(names).toContain("model.language_model.layers.0.self_attn.q_proj.weight");
    expect(names).toContain("lm_head.weight");
    expect(names.every((k) => /^(model\.visual|model\.language_model|lm_head)\./.test(k))).toBe(true);
    nested["model.language_model.extra.weight"] = tf.zeros([2]); // a tensor the model has no place for
    saveSafetensors(file, nested);
    tf.dispose([...Object.values(original), nested["model.language_model.extra.weight"]!]);

    expect(() => loadQwen2Vl(out)).toThrow(/unexpected tensor "model\.extra\.weight"/); // read as model.*
    const { model, layout, unexpectedKeys } = loadQwen2Vl(out, { strict: false });
    expect(layout).toBe("nested");
    expect(unexpectedKeys).toEqual(["model.language_model.extra.weight"]); // named as the checkpoint names it
    const [a, b] = [m.forward(ids, vision), model.forward(ids, vision)];
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBe(0);
    tf.dispose([a, b]);
    model.dispose();

    // saveQwen2Vl's own "nested" layout writes exactly those names, and the default writes the original ones.
    const again = path.join(dir, "nested-saved");
    saveQwen2Vl(m, again, { layout: "nested" });
    const written = loadSafetensors(path.join(again, "model.safetensors"));
    expect(Object.keys(written).sort()).toEqual(names);
    expect(qwen2VlCheckpointLayout(Object.keys(written))).toBe("nested");
    tf.dispose(written);
    expect(qwen2VlCheckpointLayout(Object.keys(m.stateDict()))).toBe("original");
    m.dispose();
  });

  it("refuses a mix of the two layouts, or names of neither, naming the tensors; shape errors say the layout", () => {
    const m = new Qwen2VL({ text, vision: { depth: 1, embedDim: 16, numHeads: 2 } });
    const out = path.join(dir, "mixed");
    saveQwen2Vl(m, out, { layout: "nested" });
    const file = path.join(out, "model.safetensors");
    const nested = loadSafetensors(file);
    const rename = (from: string, to: string) => {
      const t = nested[from]!;
      delete nested[from];
      nested[to] = t;
    };
    rename("model.language_model.norm.weight", "model.norm.weight"); // one tensor under its original name
    saveSafetensors(file, nested);
    expect(() => loadQwen2Vl(out)).toThrow(
      /tensor "model\.norm\.weight" has the original names .* but "model\.language_model\.[^"]+" has transformers ≥ 4\.52's/,
    );
    // vLLM's internal names are neither layout
    const vllm = Object.fromEntries(
      Object.entries(nested).map(([k, t]) => [k.replace(/^model\./, "language_model."), t]),
    );
    saveSafetensors(file, vllm);
    expect(() => loadQwen2Vl(out)).toThrow(
      /tensor "language_model\.[^"]+" and the rest named in neither Hugging Face layout/,
    );
    // a nested checkpoint with a wrong shape: the model's name, both shapes, and how the names were read
    rename("model.norm.weight", "model.language_model.norm.weight");
    nested["model.language_model.norm.weight"]!.dispose();
    nested["model.language_model.norm.weight"] = tf.zeros([31]);
    saveSafetensors(file, nested);
    expect(() => loadQwen2Vl(out)).toThrow(
      /model\.language_model\.\* as model\.\*\)\): tensor "model\.norm\.weight" has shape \[31\] in the checkpoint, the model expects \[32\]/,
    );
    tf.dispose(nested);
    expect(() => saveQwen2Vl(m, out, { layout: "flat" as "nested" })).toThrow(/layout must be "original" or "nested"/);
    m.dispose();
  });

  it("keeps Qwen2.5-VL's tokens_per_second; a config.json without it means transformers' default, 4", () => {
    const m = new Qwen2VL({
      text,
      vision: { variant: "qwen2.5-vl", depth: 1, embedDim: 16, numHeads: 2 },
      tokensPerSecond: 25,
    });
    const json = qwen2VlConfigToHf(m);
    const vc = json.vision_config as Record<string, unknown>;
    expect(vc.tokens_per_second).toBe(25);
    expect(qwen2VlConfigFromHf(json).tokensPerSecond).toBe(25);
    const { tokens_per_second: _t, ...without } = vc;
    expect(qwen2VlConfigFromHf({ ...json, vision_config: without }).tokensPerSecond).toBe(4);
    m.dispose();
    const q2 = new Qwen2VL({ text, vision: { depth: 1, embedDim: 16, numHeads: 2 } });
    expect((qwen2VlConfigToHf(q2).vision_config as Record<string, unknown>).tokens_per_second).toBeUndefined();
    expect(new Qwen2VL({ ...qwen2VlConfigFromHf(qwen2VlConfigToHf(q2)) }).tokensPerSecond).toBe(2);
    q2.dispose();
  });
});
