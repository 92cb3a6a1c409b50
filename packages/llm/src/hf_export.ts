/**
 * A vlab language model as a Hugging Face model folder that transformers, vLLM, TRL, OpenRLHF and verl load
 * (`AutoModelForCausalLM.from_pretrained(dir)`), and that `loadLlm(dir)` reads back:
 *
 *   config.json              Qwen2ForCausalLM / LlamaForCausalLM (config.ts's `llmConfigToHf`), with the keys that
 *                            transformers 4.x and 5.x both read: `rope_theta` at the top (4.x) and `rope_parameters`
 *                            (5.x, MIGRATION_GUIDE_V5.md), `torch_dtype` (4.x) and `dtype` (5.x), and the chat
 *                            tokenizer's bos / eos / pad ids
 *   model.safetensors        the parameters under Hugging Face's names, `__metadata__ {"format": "pt"}` (transformers'
 *                            `load_state_dict` refuses a file without it); past `maxShardSize`, shards
 *                            `model-0000i-of-0000n.safetensors` and `model.safetensors.index.json` (@vlab/core
 *                            safetensors_shards.ts)
 *   tokenizer.json, tokenizer_config.json, chat_template.jinja, generation_config.json   (hf_files.ts)
 *
 * `writeHfFolder` writes any such folder (the Qwen2-VL export of @vlab/vlm uses it with its own config and
 * preprocessor_config.json).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { atomicWrite, saveSafetensorsSharded, type tf } from "@vlab/core";
import type { ChatTemplateOptions, ChatTokenizer } from "./chat.js";
import { llmConfigToHf, type ResolvedLlmConfig } from "./config.js";
import { hfTokenIds, hfTokenizerFiles } from "./hf_files.js";
import type { CausalLM } from "./model.js";

export type HfDtype = "F32" | "F16" | "BF16";

const TORCH_DTYPE: Record<HfDtype, string> = { F32: "float32", F16: "float16", BF16: "bfloat16" };

export interface HfExportOptions {
  /** Storage type of the weights (default "F32": the export reloads with identical logits). */
  dtype?: HfDtype;
  /** Largest weight file in bytes or as "5GB" / "200MiB" (default "5GB", transformers' default); past it, shards. */
  maxShardSize?: number | string;
  /** The chat template's options (chat.ts); default: the model's own (none for a language model). */
  chatTemplate?: ChatTemplateOptions;
}

export interface HfExportResult {
  dir: string;
  /** Every file written, in order. */
  files: string[];
  /** Number of weight files (1: a single model.safetensors). */
  shards: number;
}

/** What a folder holds besides the weights. */
export interface HfFolderContents {
  config: Record<string, unknown>;
  tensors: Record<string, tf.Tensor>;
  tokenizer: ChatTokenizer;
  chatTemplate: ChatTemplateOptions;
  /** The model's `max_position_embeddings` (tokenizer_config's model_max_length). */
  maxLength: number;
  /** More JSON files (e.g. preprocessor_config.json). */
  extra?: Record<string, Record<string, unknown>>;
}

/** Refuses a tokenizer whose ids the model's vocabulary cannot hold. */
export function checkTokenizerFits(tok: ChatTokenizer, vocabSize: number, where: string): void {
  if (tok.vocabSize > vocabSize)
    throw new Error(
      `${where}: the tokenizer (${tok.tokenizer.source}) has ids up to ${tok.vocabSize - 1}, ` +
        `but the model's vocabulary holds ${vocabSize} (vocab_size); export the tokenizer the model was trained with`,
    );
}

/** The config.json fields both transformers 4.x and 5.x read, beside `llmConfigToHf`'s (see the file comment). */
export function hfCompatFields(text: ResolvedLlmConfig, dtype: HfDtype): Record<string, unknown> {
  const out: Record<string, unknown> = {
    rope_parameters: { rope_type: "default", rope_theta: text.ropeTheta },
    torch_dtype: TORCH_DTYPE[dtype],
    dtype: TORCH_DTYPE[dtype],
    attention_dropout: 0.0,
  };
  if (text.modelType === "qwen2") {
    // Qwen2's sliding-window fields (configuration_qwen2.py), off as in the released models.
    Object.assign(out, {
      use_sliding_window: false,
      sliding_window: text.maxPositionEmbeddings,
      max_window_layers: text.numHiddenLayers,
    });
  } else out.mlp_bias = false;
  return out;
}

/** Writes a Hugging Face folder: config, weights (sharded past the limit), tokenizer and generation files. */
export function writeHfFolder(dir: string, contents: HfFolderContents, opts: HfExportOptions = {}): HfExportResult {
  const dtype = opts.dtype ?? "F32";
  if (!(dtype in TORCH_DTYPE)) throw new Error(`export: dtype must be F32, F16 or BF16, got ${String(dtype)}`);
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const writeJson = (name: string, value: unknown) => {
    const file = path.join(dir, name);
    atomicWrite(file, JSON.stringify(value, null, 2) + "\n");
    files.push(file);
  };
  writeJson("config.json", contents.config);
  const saved = saveSafetensorsSharded(dir, contents.tensors, { dtype, maxShardSize: opts.maxShardSize });
  files.push(...saved.files, ...(saved.index ? [saved.index] : []));
  const tokFiles = hfTokenizerFiles(contents.tokenizer, contents.chatTemplate, contents.maxLength);
  writeJson("generation_config.json", tokFiles["generation_config.json"]);
  writeJson("tokenizer.json", tokFiles["tokenizer.json"]);
  writeJson("tokenizer_config.json", tokFiles["tokenizer_config.json"]);
  const jinja = path.join(dir, "chat_template.jinja");
  atomicWrite(jinja, tokFiles["chat_template.jinja"]);
  files.push(jinja);
  for (const [name, value] of Object.entries(contents.extra ?? {})) writeJson(name, value);
  return { dir, files, shards: saved.files.length };
}

/** The config.json of a language model exported with `tok` (see the file comment). */
export function llmHfConfig(model: CausalLM, tok: ChatTokenizer, dtype: HfDtype = "F32"): Record<string, unknown> {
  return { ...llmConfigToHf(model.config), ...hfCompatFields(model.config, dtype), ...hfTokenIds(tok) };
}

/**
 * Exports a CausalLM with its chat tokenizer as a Hugging Face folder (see the file comment); `loadLlm(dir)` reads
 * it back with the same logits (F32).
 */
export function exportLlmHf(
  model: CausalLM,
  tokenizer: ChatTokenizer,
  dir: string,
  opts: HfExportOptions = {},
): HfExportResult {
  checkTokenizerFits(tokenizer, model.config.vocabSize, "exportLlmHf");
  return writeHfFolder(
    dir,
    {
      config: llmHfConfig(model, tokenizer, opts.dtype),
      tensors: model.stateDict(),
      tokenizer,
      chatTemplate: opts.chatTemplate ?? {},
      maxLength: model.config.maxPositionEmbeddings,
    },
    opts,
  );
}
