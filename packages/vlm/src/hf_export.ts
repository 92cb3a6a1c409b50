/**
 * `exportCheckpointHf(checkpoint, dir)`: what `vlab export hf` does. A vlab checkpoint is one of
 *
 *   a model folder      config.json + model.safetensors (or shards with an index), as @vlab/llm's `saveLlm` and
 *                       `saveQwen2Vl` write it (or a Hugging Face download): its `model_type` says which model
 *   a weights file      a training checkpoint of @vlab/core's `saveCheckpoint` (`__metadata__.format`
 *                       "vlab.checkpoint/1": the model's tensors beside `optim.*` moments and, from the GRPO trainer,
 *                       the reference model's `ref.*` copy, both left out here) or a plain safetensors file; either
 *                       holds no config, so the model's config.json is given beside it
 *
 * and its tokenizer.json is found in the folder (or beside the file) unless given. The language models
 * (model_type "qwen2", "llama") go out through @vlab/llm's `exportLlmHf`, Qwen2-VL / Qwen2.5-VL ("qwen2_vl",
 * "qwen2_5_vl") through `exportQwen2VlHf`. Every tensor is checked by name and shape on the way in
 * (`loadLlmWeights`), so a truncated file, a missing tensor or a wrong shape is refused naming it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CHECKPOINT_FORMAT, loadCheckpoint, loadSafetensors, readSafetensorsHeader, tf } from "@vlab/core";
import {
  ChatTokenizer,
  exportLlmHf,
  loadLlm,
  loadLlmWeights,
  QWEN2_VL_TEMPLATE,
  readJson,
  type ChatTemplateOptions,
  type ChatTokenNames,
  type HfExportResult,
} from "@vlab/llm";
import { loadTokenizer } from "@vlab/data"; // @vlab/tokenizers, re-exported
import { Qwen2VL } from "./qwen2_vl.js";
import { loadQwen2Vl, qwen2VlConfigFromHf } from "./qwen2_vl_checkpoint.js";
import { exportQwen2VlHf, type Qwen2VlExportOptions } from "./qwen2_vl_export.js";

export interface ExportCheckpointOptions extends Qwen2VlExportOptions {
  /** The model's config.json (needed for a weights file; default: `<checkpoint>/config.json` of a folder). */
  config?: string;
  /** The tokenizer.json (default: the one in the folder, or beside the weights file). */
  tokenizer?: string;
  /**
   * The chat template's default system message (put first when a chat has none): null for none; default: the
   * model's own (none for a language model, "You are a helpful assistant." for Qwen2-VL). `chatTemplate` overrides.
   */
  systemPrompt?: string | null;
  /** Names of the chat special tokens when they differ from ChatML's defaults. */
  tokenNames?: Partial<ChatTokenNames>;
}

export interface ExportCheckpointResult extends HfExportResult {
  /** "llm" (Qwen2ForCausalLM / LlamaForCausalLM) or "qwen2-vl" (Qwen2VLForConditionalGeneration and 2.5). */
  kind: "llm" | "qwen2-vl";
  /** config.json's model_type. */
  modelType: string;
}

const LLM_TYPES = ["qwen2", "llama"];
const VLM_TYPES = ["qwen2_vl", "qwen2_5_vl"];

type CausalLMOrVl = { kind: "llm"; model: ReturnType<typeof loadLlm>["model"] } | { kind: "qwen2-vl"; model: Qwen2VL };

/** The model tensors of a weights file: a vlab training checkpoint's model part, or every tensor of a plain file. */
function weightsOf(file: string): Record<string, tf.Tensor> {
  if (readSafetensorsHeader(file).metadata?.format !== CHECKPOINT_FORMAT) return loadSafetensors(file);
  const ck = loadCheckpoint(file);
  tf.dispose(ck.optimizerState);
  const out = Object.create(null) as Record<string, tf.Tensor>;
  for (const [k, t] of Object.entries(ck.tensors)) {
    if (k.startsWith("ref."))
      t.dispose(); // the GRPO trainer's frozen reference copy
    else out[k] = t;
  }
  return out;
}

/** The model of a checkpoint, checked tensor by tensor (see the file comment); the caller disposes it. */
function loadModel(checkpoint: string, configFile: string): { model: CausalLMOrVl; modelType: string } {
  const json = readJson(configFile, "vlab export hf");
  const modelType = typeof json.model_type === "string" ? json.model_type : "qwen2";
  const known = [...LLM_TYPES, ...VLM_TYPES];
  if (!known.includes(modelType))
    throw new Error(`vlab export hf: ${configFile} has model_type "${modelType}"; vlab exports ${known.join(", ")}`);
  const isDir = fs.statSync(checkpoint).isDirectory();
  if (LLM_TYPES.includes(modelType) && isDir)
    return { model: { kind: "llm", model: loadLlm(checkpoint).model }, modelType };
  if (LLM_TYPES.includes(modelType)) {
    const weights = weightsOf(checkpoint);
    try {
      return {
        model: { kind: "llm", model: loadLlm({ config: json, weights }, { source: checkpoint }).model },
        modelType,
      };
    } finally {
      tf.dispose(weights); // loadLlm copies given tensors into the model and leaves them to the caller
    }
  }
  if (isDir) return { model: { kind: "qwen2-vl", model: loadQwen2Vl(checkpoint).model }, modelType };
  const tensors = weightsOf(checkpoint);
  const model = new Qwen2VL(qwen2VlConfigFromHf(json));
  try {
    loadLlmWeights(model, tensors, { source: checkpoint });
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(tensors);
  }
  return { model: { kind: "qwen2-vl", model }, modelType };
}

/** Exports a vlab checkpoint (see the file comment) as a Hugging Face folder `dir`. */
export function exportCheckpointHf(
  checkpoint: string,
  dir: string,
  opts: ExportCheckpointOptions = {},
): ExportCheckpointResult {
  if (!fs.existsSync(checkpoint)) throw new Error(`vlab export hf: no such checkpoint: ${checkpoint}`);
  const isDir = fs.statSync(checkpoint).isDirectory();
  const home = isDir ? checkpoint : path.dirname(checkpoint);
  if (isDir && opts.config !== undefined)
    throw new Error(`vlab export hf: --config is for a weights file; the folder ${checkpoint} has its own config.json`);
  const configFile = opts.config ?? (isDir ? path.join(checkpoint, "config.json") : undefined);
  if (configFile === undefined || !fs.existsSync(configFile))
    throw new Error(
      isDir
        ? `vlab export hf: ${checkpoint} has no config.json (a vlab model folder is what saveLlm / saveQwen2Vl write)`
        : `vlab export hf: ${checkpoint} is a weights file and holds no config: give the model's config.json ` +
            "with --config",
    );
  const tokFile = opts.tokenizer ?? path.join(home, "tokenizer.json");
  if (!fs.existsSync(tokFile))
    throw new Error(
      `vlab export hf: no tokenizer at ${tokFile}: give the tokenizer.json the model was trained with ` +
        "(--tokenizer; @vlab/tokenizers saveTokenizer writes one)",
    );
  if (path.resolve(dir) === path.resolve(home) && isDir)
    throw new Error(`vlab export hf: write the export to another folder than the checkpoint ${checkpoint}`);
  const tokenizer = ChatTokenizer.fromTokenizer(loadTokenizer(tokFile), opts.tokenNames);
  const { model: m, modelType } = loadModel(checkpoint, configFile);
  const chat = (own: ChatTemplateOptions): ChatTemplateOptions =>
    opts.chatTemplate ??
    (opts.systemPrompt === undefined ? own : { ...own, defaultSystemPrompt: opts.systemPrompt ?? undefined });
  try {
    const result =
      m.kind === "llm"
        ? exportLlmHf(m.model, tokenizer, dir, { ...opts, chatTemplate: chat({}) })
        : exportQwen2VlHf(m.model, tokenizer, dir, { ...opts, chatTemplate: chat(QWEN2_VL_TEMPLATE) });
    return { ...result, kind: m.kind, modelType };
  } finally {
    m.model.dispose();
  }
}
