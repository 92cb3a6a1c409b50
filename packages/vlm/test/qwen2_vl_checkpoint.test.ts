/** Qwen2-VL checkpoints: save and reload, refusals with names and shapes, transformers 5's config layout. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, loadSafetensors, saveSafetensors, tf } from "@vlab/core";
import {
  loadQwen2Vl,
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
});
