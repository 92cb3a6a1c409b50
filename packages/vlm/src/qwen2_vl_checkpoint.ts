/**
 * Qwen2-VL / Qwen2.5-VL checkpoints in Hugging Face's layout: a folder with `config.json` (the Qwen2 text fields,
 * `rope_scaling: {"type": "mrope", "mrope_section": [...]}`, the vision token ids and a `vision_config`) and
 * `model.safetensors`. Loading checks every name and shape (@vlab/llm's `loadLlmWeights`: a missing tensor or a wrong
 * shape is refused with the name and both shapes).
 *
 * Tensor names come in two layouts (`Qwen2VlCheckpointLayout`):
 *
 *   "original"  visual.*          model.*                  lm_head.*   the released checkpoints; transformers < 4.52
 *   "nested"    model.visual.*    model.language_model.*   lm_head.*   transformers ≥ 4.52's module tree
 *
 * transformers 4.52 moved the tower and the decoder under `Qwen2VLModel` and reads the original names through
 * `Qwen2VLForConditionalGeneration._checkpoint_conversion_mapping` (models/qwen2_vl/modeling_qwen2_vl.py):
 * `^visual` → `model.visual`, `^model(?!\.(language_model|visual))` → `model.language_model`; `lm_head` is unchanged.
 * Its `save_pretrained` is meant to map the names back, but in 4.52 that did not happen (huggingface/transformers
 * issue #38489), so fine-tuned checkpoints in the nested layout exist (e.g. hiyouga/LlamaFactory issue #8338).
 * `loadQwen2Vl` reads either, telling them apart by the names, and refuses a mix of the two or names of neither.
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
          tokens_per_second: model.tokensPerSecond,
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
  const visionConfig = qwen2VisionConfigFromHf({ model_type: type, ...(vision as Record<string, unknown>) });
  // Qwen2.5-VL's video clock: a file without tokens_per_second means transformers' class default, 4.
  const tps = (vision as Record<string, unknown>).tokens_per_second;
  return {
    text: llm,
    vision: visionConfig,
    videoTokenId: num("video_token_id"),
    visionStartTokenId: num("vision_start_token_id"),
    tokensPerSecond: typeof tps === "number" ? tps : visionConfig.variant === "qwen2.5-vl" ? 4 : undefined,
  };
}

/** How a checkpoint names its tensors (see the file comment). */
export type Qwen2VlCheckpointLayout = "original" | "nested";

/** nested → original name prefixes (transformers' `_checkpoint_conversion_mapping`, read backwards). */
const NESTED_TO_ORIGINAL: readonly (readonly [string, string])[] = [
  ["model.visual.", "visual."],
  ["model.language_model.", "model."],
];

/** The layout a tensor name belongs to; null for `lm_head.*` (both) and for names of neither. */
function layoutOf(name: string): Qwen2VlCheckpointLayout | null {
  if (NESTED_TO_ORIGINAL.some(([nested]) => name.startsWith(nested))) return "nested";
  if (name.startsWith("visual.") || name.startsWith("model.")) return "original";
  return null;
}

/**
 * The layout of a checkpoint's tensor names. Refuses names of both layouts (naming one of each) and a checkpoint
 * with no name of either (naming one). Names of neither beside a layout's are left to the loader (unexpected).
 */
export function qwen2VlCheckpointLayout(names: readonly string[]): Qwen2VlCheckpointLayout {
  const nested = names.find((n) => layoutOf(n) === "nested");
  const original = names.find((n) => layoutOf(n) === "original");
  if (nested !== undefined && original !== undefined)
    throw new Error(
      `Qwen2-VL checkpoint: tensor "${original}" has the original names (visual.*, model.*) but "${nested}" ` +
        "has transformers ≥ 4.52's (model.visual.*, model.language_model.*); a checkpoint must use one layout",
    );
  if (nested === undefined && original === undefined) {
    const example = names.find((n) => !n.startsWith("lm_head.")) ?? names[0]; // lm_head.* is in both
    const which = example !== undefined ? `tensor "${example}" and the rest` : "the checkpoint is empty:";
    throw new Error(
      `Qwen2-VL checkpoint: ${which} named in neither Hugging Face layout; expected visual.* and model.* ` +
        "(original) or model.visual.* and model.language_model.* (transformers ≥ 4.52)",
    );
  }
  return nested !== undefined ? "nested" : "original";
}

/** One name moved from one layout to the other (lm_head.* and names of neither stay as they are). */
function renameTensor(name: string, from: Qwen2VlCheckpointLayout, to: Qwen2VlCheckpointLayout): string {
  if (from === to || layoutOf(name) !== from) return name;
  for (const [nested, original] of NESTED_TO_ORIGINAL) {
    const [a, b] = from === "nested" ? [nested, original] : [original, nested];
    // the pairs in order: original visual.* before model.*, nested model.visual.* before model.language_model.*
    if (name.startsWith(a)) return b + name.slice(a.length);
  }
  return name;
}

export interface LoadedQwen2Vl extends LoadWeightsResult {
  model: Qwen2VL;
  config: Qwen2VlConfig;
  /** How the checkpoint named its tensors (`unexpectedKeys` and `ignoredKeys` are under those names). */
  layout: Qwen2VlCheckpointLayout;
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
  let model: Qwen2VL | null = null;
  try {
    const layout = qwen2VlCheckpointLayout(Object.keys(tensors));
    // The model's own names are the original ones: a nested checkpoint is read under them, its names kept for errors.
    const named: Record<string, tf.Tensor> = {};
    const asSaved = new Map<string, string>();
    for (const [k, t] of Object.entries(tensors)) {
      const own = renameTensor(k, layout, "original");
      named[own] = t;
      asSaved.set(own, k);
    }
    const source =
      (opts.source ?? label) +
      (layout === "nested"
        ? " (transformers ≥ 4.52 names: model.visual.* read as visual.*, model.language_model.* as model.*)"
        : "");
    model = new Qwen2VL(config);
    const r = loadLlmWeights(model, named, { strict: opts.strict, source });
    const saved = (keys: string[]) => keys.map((k) => asSaved.get(k) ?? k);
    return { model, config, layout, unexpectedKeys: saved(r.unexpectedKeys), ignoredKeys: saved(r.ignoredKeys) };
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * Writes `dir/config.json` and `dir/model.safetensors` (atomically), F32 unless `dtype` says otherwise, with the
 * tensors under the original names unless `layout: "nested"`. The original layout is the default because it is the
 * released checkpoints' and the one every reader takes: transformers before 4.52 knows no other, transformers ≥ 4.52
 * maps it on load and writes it itself when it saves (5's `save_original_format`, on by default), and vLLM and
 * SGLang read it. "nested" writes what transformers 4.52 actually wrote.
 */
export function saveQwen2Vl(
  model: Qwen2VL,
  dir: string,
  opts: { dtype?: "F32" | "F16" | "BF16"; layout?: Qwen2VlCheckpointLayout } = {},
): void {
  const layout = opts.layout ?? "original";
  if (layout !== "original" && layout !== "nested")
    throw new Error(`saveQwen2Vl: layout must be "original" or "nested", got "${String(layout)}"`);
  fs.mkdirSync(dir, { recursive: true });
  atomicWrite(path.join(dir, "config.json"), JSON.stringify(qwen2VlConfigToHf(model), null, 2) + "\n");
  const weights = Object.fromEntries(
    Object.entries(model.stateDict()).map(([k, t]) => [renameTensor(k, "original", layout), t]),
  );
  saveSafetensors(path.join(dir, "model.safetensors"), weights, { format: "pt" }, { dtype: opts.dtype ?? "F32" });
}
