/**
 * Qwen2-VL / Qwen2.5-VL checkpoints in Hugging Face's layout: a folder with `config.json` (the Qwen2 text fields,
 * `rope_scaling: {"type": "mrope", "mrope_section": [...]}`, the vision token ids and a `vision_config`) and
 * `model.safetensors` under the names of `Qwen2VLForConditionalGeneration` before transformers 4.52 — `visual.*`,
 * `model.*`, `lm_head.weight` — which is how the released checkpoints are stored. Loading checks every name and
 * shape (@vlab/llm's `loadLlmWeights`: a missing tensor or a wrong shape is refused with the name and both shapes).
 *
 * The config reader also takes transformers ≥ 4.52 / 5 files: text fields nested in `text_config`, θ inside
 * `rope_parameters`, and the `mrope_section` there.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { atomicWrite, loadSafetensors, loadSafetensorsSharded, saveSafetensors, tf, type Rng } from "@vlab/core";
import {
  llmConfigFromHf,
  llmConfigToHf,
  loadLlmWeights,
  readJson,
  type LlmConfig,
  type LoadWeightsOptions,
  type LoadWeightsResult,
} from "@vlab/llm";
import { Qwen2VL, type Qwen2VlConfig } from "./qwen2_vl.js";
import { qwen2VisionConfigFromHf } from "./qwen2_vl_vision.js";

const TYPES = { "qwen2-vl": "qwen2_vl", "qwen2.5-vl": "qwen2_5_vl" } as const;
const ARCHITECTURES = {
  "qwen2-vl": "Qwen2VLForConditionalGeneration",
  "qwen2.5-vl": "Qwen2_5_VLForConditionalGeneration",
} as const;

/** The model's config as a Hugging Face config.json object. */
export function qwen2VlConfigToHf(model: Qwen2VL): Record<string, unknown> {
  const { text, vision: v } = model.config;
  const { architectures: _a, model_type: _t, ...textJson } = llmConfigToHf({ ...text, modelType: "qwen2" });
  const common = {
    depth: v.depth,
    num_heads: v.numHeads,
    in_chans: v.inChannels,
    patch_size: v.patchSize,
    spatial_merge_size: v.spatialMergeSize,
    temporal_patch_size: v.temporalPatchSize,
  };
  const visionConfig =
    v.variant === "qwen2-vl"
      ? {
          ...common,
          embed_dim: v.embedDim,
          hidden_size: v.outHiddenSize,
          mlp_ratio: v.mlpRatio,
          hidden_act: v.hiddenAct,
        }
      : {
          ...common,
          hidden_size: v.embedDim,
          out_hidden_size: v.outHiddenSize,
          intermediate_size: v.intermediateSize,
          hidden_act: "silu",
          window_size: v.windowSize,
          fullatt_block_indexes: v.fullattBlockIndexes,
        };
  return {
    architectures: [ARCHITECTURES[v.variant]],
    model_type: TYPES[v.variant],
    ...textJson,
    rope_scaling: { type: "mrope", mrope_section: text.mropeSection },
    image_token_id: model.imageTokenId,
    video_token_id: model.videoTokenId,
    vision_start_token_id: model.visionStartTokenId,
    vision_config: { model_type: TYPES[v.variant], ...visionConfig },
  };
}

/** A parsed Qwen2-VL / Qwen2.5-VL config.json → Qwen2VL's config (refusing what the model does not implement). */
export function qwen2VlConfigFromHf(json: Record<string, unknown>): Qwen2VlConfig {
  const type = json.model_type;
  if (type !== "qwen2_vl" && type !== "qwen2_5_vl")
    throw new Error(`config.json: model_type "${String(type)}" is not Qwen2-VL's ("qwen2_vl" or "qwen2_5_vl")`);
  const text = (typeof json.text_config === "object" && json.text_config ? json.text_config : json) as Record<
    string,
    unknown
  >;
  // M-RoPE lives in rope_scaling (transformers 4) or rope_parameters (5); the text reader sees plain RoPE.
  const rope = (text.rope_parameters ?? text.rope_scaling ?? {}) as Record<string, unknown>;
  const section = rope.mrope_section;
  if (!Array.isArray(section) || section.some((s) => typeof s !== "number"))
    throw new Error(`config.json: no mrope_section in rope_scaling / rope_parameters (${JSON.stringify(rope)})`);
  const kind = rope.rope_type ?? rope.type;
  if (kind !== undefined && kind !== "mrope" && kind !== "default")
    throw new Error(`config.json: rope type ${JSON.stringify(kind)} is not supported (only M-RoPE)`);
  const plain: Record<string, unknown> = { ...text, model_type: "qwen2", rope_scaling: null, rope_parameters: null };
  if (typeof rope.rope_theta === "number") plain.rope_theta = rope.rope_theta;
  delete plain.text_config;
  delete plain.vision_config;
  const num = (k: string) => (typeof json[k] === "number" ? (json[k] as number) : (text[k] as number | undefined));
  const llm: LlmConfig = { ...llmConfigFromHf(plain), mropeSection: section as number[] };
  const imageTokenId = num("image_token_id");
  if (imageTokenId !== undefined) llm.imageTokenId = imageTokenId;
  const vision = json.vision_config;
  if (typeof vision !== "object" || vision === null) throw new Error("config.json: no vision_config");
  return {
    text: llm,
    vision: qwen2VisionConfigFromHf({ model_type: type, ...(vision as Record<string, unknown>) }),
    videoTokenId: num("video_token_id"),
    visionStartTokenId: num("vision_start_token_id"),
  };
}

export interface LoadedQwen2Vl extends LoadWeightsResult {
  model: Qwen2VL;
  config: Qwen2VlConfig;
}

/** A Qwen2VL from a Hugging Face folder (config.json + model.safetensors or a sharded index), every name checked. */
export function loadQwen2Vl(dir: string, opts: LoadWeightsOptions & { rng?: Rng } = {}): LoadedQwen2Vl {
  const config = qwen2VlConfigFromHf(readJson(path.join(dir, "config.json"), "loadQwen2Vl"));
  const single = path.join(dir, "model.safetensors");
  const index = path.join(dir, "model.safetensors.index.json");
  let tensors: Record<string, tf.Tensor>;
  let label: string;
  if (fs.existsSync(single)) [tensors, label] = [loadSafetensors(single), single];
  else if (fs.existsSync(index)) [tensors, label] = [loadSafetensorsSharded(index), index];
  else throw new Error(`loadQwen2Vl: ${dir} has neither model.safetensors nor model.safetensors.index.json`);
  const model = new Qwen2VL(config);
  try {
    return { model, config, ...loadLlmWeights(model, tensors, { strict: opts.strict, source: opts.source ?? label }) };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(tensors);
  }
}

/** Writes `dir/config.json` and `dir/model.safetensors` (atomically), F32 unless `dtype` says otherwise. */
export function saveQwen2Vl(model: Qwen2VL, dir: string, opts: { dtype?: "F32" | "F16" | "BF16" } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  atomicWrite(path.join(dir, "config.json"), JSON.stringify(qwen2VlConfigToHf(model), null, 2) + "\n");
  const weights = model.stateDict();
  saveSafetensors(path.join(dir, "model.safetensors"), weights, { format: "pt" }, { dtype: opts.dtype ?? "F32" });
}
