/**
 * Hugging Face Qwen2 / Llama checkpoints: a folder with `config.json` and `model.safetensors` (or
 * shards listed in `model.safetensors.index.json`). Tensor names are the model's own parameter names
 * (model.ts), so loading is a checked copy by name:
 *
 * - every parameter of the model must be in the checkpoint with exactly its shape: a missing tensor
 *   is refused naming it and the shape the model expects; a misshapen one naming both shapes;
 * - `lm_head.weight` of a tied model and the `rotary_emb.inv_freq` buffers of older checkpoints are
 *   skipped (RoPE frequencies are recomputed from rope_theta);
 * - any other extra tensor is an error, or only reported with `strict: false`.
 *
 * F16 / BF16 / F32 tensors all load as float32 (core's safetensors reader). `saveLlm` writes the same
 * layout back (F32 by default), leaving `lm_head.weight` out when the embeddings are tied, as
 * `save_pretrained` does.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  atomicWrite,
  loadSafetensors,
  loadSafetensorsSharded,
  saveSafetensors,
  tf,
  type Module,
  type Rng,
} from "@vlab/core";
import { llmConfigFromHf, llmConfigToHf, type LlmConfig } from "./config.js";
import { CausalLM } from "./model.js";

const shapeStr = (s: readonly number[]) => `[${s.join(", ")}]`;

export interface LoadWeightsOptions {
  /** Extra tensors are an error (default true); with false they are skipped and listed. */
  strict?: boolean;
  /** Where the tensors came from, for error messages. */
  source?: string;
}

export interface LoadWeightsResult {
  /** Tensors the model has no place for (only when `strict: false`). */
  unexpectedKeys: string[];
  /** Tensors skipped on purpose (tied lm_head, rotary inv_freq buffers). */
  ignoredKeys: string[];
}

/**
 * Copies Hugging Face-named tensors into `model` after checking every name and shape (the caller keeps them). The
 * model is a CausalLM or a module around one (@vlab/vlm's Qwen2VL), whose `config.tieWordEmbeddings` says whether a
 * checkpoint's `lm_head.weight` is the embedding's copy.
 */
export function loadLlmWeights(
  model: Module & { config: { tieWordEmbeddings: boolean } },
  tensors: Record<string, tf.Tensor>,
  opts: LoadWeightsOptions = {},
): LoadWeightsResult {
  const strict = opts.strict ?? true;
  const source = opts.source ?? "checkpoint";
  const own = model.stateDict();
  const ignoredKeys: string[] = [];
  const unexpectedKeys: string[] = [];
  const use: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) {
    if (k in own) use[k] = t;
    else if (/(^|\.)rotary_emb\.inv_freq$/.test(k) || (k === "lm_head.weight" && model.config.tieWordEmbeddings))
      ignoredKeys.push(k);
    else unexpectedKeys.push(k);
  }
  const problems: string[] = [];
  const missing = Object.entries(own).filter(([k]) => !(k in use));
  if (missing.length) {
    problems.push(
      `missing tensor${missing.length > 1 ? "s" : ""} ` +
        missing.map(([k, v]) => `"${k}" (the model expects ${shapeStr(v.shape)})`).join(", "),
    );
  }
  for (const [k, v] of Object.entries(own)) {
    const t = use[k];
    if (t && (t.rank !== v.rank || t.shape.some((d, i) => d !== v.shape[i]))) {
      problems.push(
        `tensor "${k}" has shape ${shapeStr(t.shape)} in the checkpoint, the model expects ${shapeStr(v.shape)}`,
      );
    }
  }
  if (strict && unexpectedKeys.length) {
    problems.push(
      `unexpected tensor${unexpectedKeys.length > 1 ? "s" : ""} ${unexpectedKeys.map((k) => `"${k}"`).join(", ")} ` +
        "(pass { strict: false } to skip them)",
    );
  }
  if (problems.length) throw new Error(`loadLlmWeights (${source}): ${problems.join("; ")}. Nothing was loaded.`);
  model.loadStateDict(use, { strict: true });
  return { unexpectedKeys, ignoredKeys };
}

export interface LoadLlmOptions extends LoadWeightsOptions {
  /** Overrides applied to the config read from config.json (e.g. `{ imageTokenId }`). */
  config?: Partial<LlmConfig>;
  rng?: Rng;
}

export interface LoadedLlm extends LoadWeightsResult {
  model: CausalLM;
  config: LlmConfig;
}

/** A parsed JSON file, or an error naming `where` and the file. */
export function readJson(file: string, where = "loadLlm"): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`${where}: cannot read ${file} (${(e as Error).message})`, { cause: e });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${where}: ${file} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/**
 * Builds a model from a Hugging Face folder (`config.json` + `model.safetensors` or a sharded index),
 * or from a parsed config.json with a safetensors path or tensors (not disposed).
 */
export function loadLlm(
  source: string | { config: Record<string, unknown>; weights: string | Record<string, tf.Tensor> },
  opts: LoadLlmOptions = {},
): LoadedLlm {
  let json: Record<string, unknown>;
  let tensors: Record<string, tf.Tensor>;
  let owned = true;
  let label: string;
  if (typeof source === "string") {
    json = readJson(path.join(source, "config.json"));
    const single = path.join(source, "model.safetensors");
    const index = path.join(source, "model.safetensors.index.json");
    if (fs.existsSync(single)) [tensors, label] = [loadSafetensors(single), single];
    else if (fs.existsSync(index)) [tensors, label] = [loadSafetensorsSharded(index), index];
    else throw new Error(`loadLlm: ${source} has neither model.safetensors nor model.safetensors.index.json`);
  } else {
    json = source.config;
    if (typeof source.weights === "string") [tensors, label] = [loadSafetensors(source.weights), source.weights];
    else [tensors, label, owned] = [source.weights, opts.source ?? "tensors", false];
  }
  const config = { ...llmConfigFromHf(json), ...opts.config };
  const model = new CausalLM(config, { rng: opts.rng });
  try {
    const r = loadLlmWeights(model, tensors, { strict: opts.strict, source: opts.source ?? label });
    return { model, config, ...r };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    if (owned) tf.dispose(tensors);
  }
}

/** Writes `dir/config.json` and `dir/model.safetensors` (atomically), loadable here and by transformers. */
export function saveLlm(model: CausalLM, dir: string, opts: { dtype?: "F32" | "F16" | "BF16" } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  atomicWrite(path.join(dir, "config.json"), JSON.stringify(llmConfigToHf(model.config), null, 2) + "\n");
  saveSafetensors(
    path.join(dir, "model.safetensors"),
    model.stateDict(),
    { format: "pt" },
    { dtype: opts.dtype ?? "F32" },
  );
}
