/**
 * Hugging Face export of Qwen2-VL (exportQwen2VlHf) and of any vlab checkpoint (exportCheckpointHf, what
 * `vlab export hf` runs): the config keys old and new transformers read, the preprocessor and tokenizer files, the
 * round trip (identical logits, one file and sharded), the documented names and shapes read by PyTorch (skipped,
 * saying so, without /usr/bin/python3 and torch), and refusals of bad checkpoints naming the tensor or the file.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, saveCheckpoint, saveSafetensors, tf } from "@vlab/core";
import { buildChatTokenizer, CausalLM, loadLlm, saveLlm } from "@vlab/llm";
import { saveTokenizer } from "@vlab/tokenizers";
import {
  exportCheckpointHf,
  exportQwen2VlHf,
  loadQwen2Vl,
  Qwen2VL,
  saveQwen2Vl,
  type Qwen2VlVision,
} from "../src/index.js";

const PY = "/usr/bin/python3";
const HAS_TORCH = fs.existsSync(PY) && spawnSync(PY, ["-c", "import torch"]).status === 0;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const REFERENCE = path.join(HERE, "..", "..", "llm", "test", "fixtures", "hf_reference.py");

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-vlm-export-"));
beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// ChatML specials first: <pad> 0, <|im_start|> 1, <|im_end|> 2, <|image_pad|> 3, <|vision_start|> 4, <|vision_end|> 5
const tok = buildChatTokenizer(["how many shapes are there?", "three", "you are a helpful assistant."]);
const text = {
  vocabSize: 40,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 1,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  ropeTheta: 1e6,
  mropeSection: [2, 1, 1],
  imageTokenId: tok.imageTokenId,
  initializerRange: 0.3,
};
const vlm = (seed: number) =>
  new Qwen2VL({
    text,
    vision: { depth: 2, embedDim: 16, numHeads: 2, seed },
    visionStartTokenId: tok.tokenizer.tokenToId("<|vision_start|>"),
    videoTokenId: 39,
  });
const vision: Qwen2VlVision = {
  pixelValues: Float32Array.from({ length: 4 * 1176 }, (_, i) => Math.sin(i)),
  gridThw: [[1, 2, 2]],
};
const ids = [[1, 8, 4, 3, 5, 9, 2]];
const json = (d: string, f: string) => JSON.parse(fs.readFileSync(path.join(d, f), "utf8")) as Record<string, unknown>;
const gap = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Forward passes of two models on the test input: the largest difference. */
function logitGap(a: Qwen2VL | CausalLM, b: Qwen2VL | CausalLM): number | undefined {
  const run = (m: Qwen2VL | CausalLM) => (m instanceof Qwen2VL ? m.forward(ids, vision) : m.forward(ids));
  const [x, y] = [run(a), run(b)];
  const d = gap(x, y);
  tf.dispose([x, y]);
  return d;
}

describe("exportQwen2VlHf", () => {
  it("writes Qwen2VLForConditionalGeneration's files with the keys old and new transformers read", () => {
    const m = vlm(1);
    const out = path.join(dir, "qwen2-vl");
    exportQwen2VlHf(m, tok, out);
    expect(fs.readdirSync(out).sort()).toEqual([
      "chat_template.jinja",
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "preprocessor_config.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const cfg = json(out, "config.json");
    expect(cfg).toMatchObject({
      architectures: ["Qwen2VLForConditionalGeneration"],
      model_type: "qwen2_vl",
      rope_theta: 1e6,
      rope_scaling: { type: "mrope", mrope_section: [2, 1, 1] },
      rope_parameters: { rope_type: "default", mrope_section: [2, 1, 1], rope_theta: 1e6 },
      torch_dtype: "float32",
      image_token_id: 3,
      vision_start_token_id: 4,
      vision_end_token_id: 5,
      video_token_id: 39,
      eos_token_id: tok.imEndId,
      vision_config: {
        depth: 2,
        embed_dim: 16,
        hidden_size: 32,
        in_chans: 3,
        in_channels: 3,
        patch_size: 14,
        spatial_patch_size: 14,
        spatial_merge_size: 2,
        temporal_patch_size: 2,
      },
    });
    expect(json(out, "preprocessor_config.json")).toMatchObject({
      min_pixels: 3136,
      max_pixels: 12845056,
      patch_size: 14,
      temporal_patch_size: 2,
      merge_size: 2,
      image_mean: [0.48145466, 0.4578275, 0.40821073],
      image_processor_type: "Qwen2VLImageProcessor",
      processor_class: "Qwen2VLProcessor",
    });
    const template = fs.readFileSync(path.join(out, "chat_template.jinja"), "utf8");
    expect(template).toContain("You are a helpful assistant.");
    expect(template).toContain("<|vision_start|><|image_pad|><|vision_end|>");

    const { model } = loadQwen2Vl(out);
    expect(logitGap(m, model)).toBe(0);
    model.dispose();
    m.dispose();
  });

  it("sharded past the limit: an index, and the same logits after loadQwen2Vl", () => {
    const m = vlm(2);
    const out = path.join(dir, "qwen2-vl-sharded");
    const r = exportQwen2VlHf(m, tok, out, { maxShardSize: "8KB" });
    expect(r.shards).toBeGreaterThan(3);
    const index = json(out, "model.safetensors.index.json") as { weight_map: Record<string, string> };
    expect(Object.keys(index.weight_map).sort()).toEqual(Object.keys(m.stateDict()).sort());
    const { model } = loadQwen2Vl(out);
    expect(logitGap(m, model)).toBe(0);
    model.dispose();
    m.dispose();
  });

  it("refuses a tokenizer whose image or vision-start ids are not the model's", () => {
    const m = new Qwen2VL({ text: { ...text, imageTokenId: 30 }, vision: { depth: 1, embedDim: 16, numHeads: 2 } });
    expect(() => exportQwen2VlHf(m, tok, path.join(dir, "mismatch"))).toThrow(
      "the tokenizer's image placeholder is id 3, the model's 30",
    );
    m.dispose();
  });

  it.skipIf(!HAS_TORCH)(
    `PyTorch reads the documented names and shapes${HAS_TORCH ? "" : " (skipped: /usr/bin/python3 has no torch)"}`,
    () => {
      const m = vlm(3);
      const out = path.join(dir, "qwen2-vl-torch");
      exportQwen2VlHf(m, tok, out, { maxShardSize: "20KB" });
      const r = spawnSync(PY, [REFERENCE, out, "[1]"], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ names: Object.keys(m.stateDict()).length });
      m.dispose();
    },
  );
});

describe("exportCheckpointHf (vlab export hf)", () => {
  it("a language model folder with its tokenizer.json: exported, reloaded with the same logits", () => {
    const m = new CausalLM({ ...text, mropeSection: undefined, imageTokenId: undefined, modelType: "llama" });
    const ck = path.join(dir, "lm-ck");
    saveLlm(m, ck);
    saveTokenizer(tok.tokenizer, ck);
    const out = path.join(dir, "lm-hf");
    const r = exportCheckpointHf(ck, out);
    expect([r.kind, r.modelType, r.shards]).toEqual(["llm", "llama", 1]);
    const { model } = loadLlm(out);
    expect(logitGap(m, model)).toBe(0);
    model.dispose();
    m.dispose();
  });

  it("a training checkpoint file (optimizer moments and GRPO's ref.* left out) with --config: same logits", () => {
    const m = vlm(4);
    const folder = path.join(dir, "vl-config");
    saveQwen2Vl(m, folder);
    const file = path.join(dir, "step-100.safetensors");
    const sd = m.stateDict();
    const ref = Object.fromEntries(Object.entries(sd).map(([k, t]) => [`ref.${k}`, t]));
    saveCheckpoint(file, {
      model: { ...sd, ...ref },
      optimizer: { "model.norm.weight.exp_avg": sd["model.norm.weight"]! },
      step: 100,
    });
    const out = path.join(dir, "vl-from-training");
    const before = tf.memory().numTensors;
    const r = exportCheckpointHf(file, out, {
      config: path.join(folder, "config.json"),
      tokenizer: saveTokenizer(tok.tokenizer, path.join(dir, "tok")),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect([r.kind, r.modelType]).toEqual(["qwen2-vl", "qwen2_vl"]);
    const { model } = loadQwen2Vl(out);
    expect(logitGap(m, model)).toBe(0);
    model.dispose();
    m.dispose();
  });

  it("refuses: no config for a weights file, no tokenizer, a truncated file, a missing tensor, a wrong shape", () => {
    const m = vlm(5);
    const ck = path.join(dir, "bad");
    saveQwen2Vl(m, ck);
    const out = path.join(dir, "bad-out");
    const weights = path.join(ck, "model.safetensors");
    expect(() => exportCheckpointHf(weights, out)).toThrow("is a weights file and holds no config");
    expect(() => exportCheckpointHf(ck, out)).toThrow(`no tokenizer at ${path.join(ck, "tokenizer.json")}`);
    saveTokenizer(tok.tokenizer, ck);
    expect(() => exportCheckpointHf(ck, ck)).toThrow("write the export to another folder");

    const bytes = fs.readFileSync(weights);
    fs.writeFileSync(weights, bytes.subarray(0, bytes.length - 100));
    expect(() => exportCheckpointHf(ck, out)).toThrow(
      /model\.safetensors: file is truncated.*tensor "[^"]+" ends at byte/,
    );

    const sd = { ...m.stateDict() };
    delete sd["visual.merger.ln_q.bias"];
    sd["model.layers.0.mlp.up_proj.weight"] = tf.zeros([48, 32]);
    saveSafetensors(weights, sd, { format: "pt" });
    sd["model.layers.0.mlp.up_proj.weight"].dispose();
    const before = tf.memory().numTensors;
    expect(() => exportCheckpointHf(ck, out)).toThrow(
      /missing tensor "visual\.merger\.ln_q\.bias" \(the model expects \[16\]\).*tensor "model\.layers\.0\.mlp\.up_proj\.weight" has shape \[48, 32\] in the checkpoint, the model expects \[64, 32\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(fs.existsSync(out)).toBe(false); // nothing written

    fs.writeFileSync(path.join(ck, "config.json"), JSON.stringify({ ...json(ck, "config.json"), model_type: "llava" }));
    expect(() => exportCheckpointHf(ck, out)).toThrow('has model_type "llava"; vlab exports qwen2, llama, qwen2_vl');
    m.dispose();
  });
});
