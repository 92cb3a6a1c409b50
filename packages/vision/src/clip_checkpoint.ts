/**
 * Real CLIP checkpoints: openai/CLIP's state dict (`ViT-B-32.pt` converted to safetensors) and
 * Hugging Face `CLIPModel`'s (`openai/clip-vit-base-patch32/model.safetensors`), detected by their
 * key names, with the configuration inferred from tensor shapes as openai's `build_model` does:
 *
 *   vision_width   = visual.conv1.weight.shape[0]          patch = visual.conv1.weight.shape[-1]
 *   vision_layers  = #keys "visual.….attn.in_proj_weight"   grid  = round(√(visual.positional_embedding.shape[0] − 1))
 *   image_resolution = patch · grid                         vision_heads = vision_width / 64
 *   embed_dim      = text_projection.shape[1]               context_length = positional_embedding.shape[0]
 *   vocab_size     = token_embedding.weight.shape[0]        transformer_width = ln_final.weight.shape[0]
 *   transformer_layers = #distinct N in "transformer.resblocks.N.…"    transformer_heads = width / 64
 *
 * Hugging Face → openai (transformers' convert_clip_original_pytorch_to_hf.py, read backwards):
 *
 *   vision_model.embeddings.patch_embedding.weight      visual.conv1.weight
 *   vision_model.embeddings.class_embedding             visual.class_embedding
 *   vision_model.embeddings.position_embedding.weight   visual.positional_embedding
 *   vision_model.pre_layrnorm.*  (sic)                  visual.ln_pre.*
 *   vision_model.post_layernorm.*                       visual.ln_post.*
 *   visual_projection.weight [embed, w]                 visual.proj = its TRANSPOSE [w, embed]
 *   text_model.embeddings.token_embedding.weight        token_embedding.weight
 *   text_model.embeddings.position_embedding.weight     positional_embedding
 *   text_model.final_layer_norm.*                       ln_final.*
 *   text_projection.weight [embed, w]                   text_projection = its TRANSPOSE [w, embed]
 *   logit_scale                                         logit_scale
 *   {vision,text}_model.encoder.layers.{i}.             {visual.,}transformer.resblocks.{i}.
 *     self_attn.{q,k,v}_proj.{weight,bias}                attn.in_proj_{weight,bias} = concat(q, k, v) on axis 0
 *     self_attn.out_proj.*                                attn.out_proj.*
 *     layer_norm1.* / layer_norm2.*                       ln_1.* / ln_2.*
 *     mlp.fc1.* / mlp.fc2.*                               mlp.c_fc.* / mlp.c_proj.*
 *   *.embeddings.position_ids (a buffer)                ignored
 *
 * openai → vlab parameter names: see `CLIP_NAME_MAP` in clip.ts. JIT archives' scalars
 * `input_resolution`, `context_length`, `vocab_size` are ignored, as `build_model` deletes them.
 * A missing or misshapen tensor is refused with its name and both shapes; unexpected keys are
 * listed (an error unless `strict: false`).
 */
import { loadSafetensors, tf } from "@vlab/core";
import { Clip, type ClipConfig } from "./clip.js";
import { defaultHeads } from "./vit.js";

export type ClipLayout = "openai" | "huggingface";

export interface LoadClipOptions {
  /** Unexpected keys are an error (default true); with false they are skipped and returned. */
  strict?: boolean;
  /** Heads cannot be read from shapes: default width / 64 (openai's rule) for both towers. */
  visionHeads?: number;
  transformerHeads?: number;
  /** Default "quick_gelu" (every openai model; Hugging Face's `hidden_act` says which). */
  activation?: string;
  /** Pool text at the first occurrence of this id (Hugging Face's `eos_token_id`) instead of argmax. */
  eotTokenId?: number;
}

export interface LoadedClip {
  clip: Clip;
  layout: ClipLayout;
  config: ClipConfig;
  /** Keys that match nothing (only when `strict: false`). */
  unexpectedKeys: string[];
  /** Keys skipped on purpose (JIT scalars, position_ids buffers). */
  ignoredKeys: string[];
}

const JIT_SCALARS = new Set(["input_resolution", "context_length", "vocab_size"]);

const shapeStr = (s: readonly number[]) => `[${s.join(", ")}]`;

/** "openai" if the keys look like openai/CLIP's, "huggingface" if like `CLIPModel`'s; otherwise an error. */
export function detectClipLayout(keys: readonly string[]): ClipLayout {
  if (keys.some((k) => k.startsWith("visual.attnpool."))) {
    throw new Error("CLIP checkpoint: this is a ResNet CLIP (visual.attnpool.*); only the ViT models are supported");
  }
  if (keys.some((k) => k.startsWith("vision_model.") || k.startsWith("text_model."))) return "huggingface";
  if (keys.some((k) => k.startsWith("visual.") || k.startsWith("transformer.resblocks."))) return "openai";
  const sample = keys.slice(0, 5).join(", ");
  throw new Error(
    `CLIP checkpoint: found neither openai/CLIP keys (visual.conv1.weight, ...) nor Hugging Face CLIPModel keys ` +
      `(vision_model.embeddings.patch_embedding.weight, ...); first keys: ${sample || "(none)"}`,
  );
}

/** One HF name (without tower prefix) → openai name, for everything but q/k/v. */
type HfTower = "vision_model" | "text_model";
const HF_EMBEDDINGS: Record<HfTower, Record<string, string>> = {
  vision_model: {
    "embeddings.patch_embedding.weight": "conv1.weight",
    "embeddings.class_embedding": "class_embedding",
    "embeddings.position_embedding.weight": "positional_embedding",
    "pre_layrnorm.weight": "ln_pre.weight",
    "pre_layrnorm.bias": "ln_pre.bias",
    "post_layernorm.weight": "ln_post.weight",
    "post_layernorm.bias": "ln_post.bias",
  },
  text_model: {
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "embeddings.position_embedding.weight": "positional_embedding",
    "final_layer_norm.weight": "ln_final.weight",
    "final_layer_norm.bias": "ln_final.bias",
  },
};
const HF_LAYER: Record<string, string> = {
  "self_attn.out_proj.weight": "attn.out_proj.weight",
  "self_attn.out_proj.bias": "attn.out_proj.bias",
  "layer_norm1.weight": "ln_1.weight",
  "layer_norm1.bias": "ln_1.bias",
  "layer_norm2.weight": "ln_2.weight",
  "layer_norm2.bias": "ln_2.bias",
  "mlp.fc1.weight": "mlp.c_fc.weight",
  "mlp.fc1.bias": "mlp.c_fc.bias",
  "mlp.fc2.weight": "mlp.c_proj.weight",
  "mlp.fc2.bias": "mlp.c_proj.bias",
};

export interface ConvertedStateDict {
  /** Tensors under openai's names (some are the inputs themselves, some new: see `created`). */
  tensors: Record<string, tf.Tensor>;
  /** Tensors made by the conversion (fused q/k/v, transposes): dispose them when done. */
  created: tf.Tensor[];
  /** openai name → the Hugging Face name(s) it came from (for error messages). */
  sources: Record<string, string>;
  unexpectedKeys: string[];
  ignoredKeys: string[];
}

/**
 * Renames a Hugging Face `CLIPModel` state dict to openai/CLIP's layout: q/k/v fused, projections
 * transposed. Inputs are not disposed. A q/k/v triple with a member missing is an error.
 */
export function huggingFaceToOpenai(tensors: Record<string, tf.Tensor>): ConvertedStateDict {
  const out: ConvertedStateDict = { tensors: {}, created: [], sources: {}, unexpectedKeys: [], ignoredKeys: [] };
  const qkv = new Map<string, Partial<Record<"q" | "k" | "v", string>>>(); // openai name → HF names of q, k, v
  const put = (name: string, t: tf.Tensor, src: string) => {
    out.tensors[name] = t;
    out.sources[name] = src;
  };
  for (const [key, t] of Object.entries(tensors)) {
    if (key.endsWith("embeddings.position_ids") || JIT_SCALARS.has(key)) {
      out.ignoredKeys.push(key);
      continue;
    }
    if (key === "logit_scale") {
      put("logit_scale", t, key);
      continue;
    }
    if (key === "visual_projection.weight" || key === "text_projection.weight") {
      const t2 = tf.transpose(t);
      out.created.push(t2);
      put(key === "visual_projection.weight" ? "visual.proj" : "text_projection", t2, `${key} (transposed)`);
      continue;
    }
    const tower: HfTower | null = key.startsWith("vision_model.")
      ? "vision_model"
      : key.startsWith("text_model.")
        ? "text_model"
        : null;
    if (tower === null) {
      out.unexpectedKeys.push(key);
      continue;
    }
    const prefix = tower === "vision_model" ? "visual." : "";
    const rest = key.slice(tower.length + 1);
    const direct = HF_EMBEDDINGS[tower][rest];
    const [, layer, param = ""] = /^encoder\.layers\.(\d+)\.(.+)$/.exec(rest) ?? [];
    const renamed = HF_LAYER[param];
    const [, which, kind] = /^self_attn\.([qkv])_proj\.(weight|bias)$/.exec(param) ?? [];
    if (direct) {
      put(prefix + direct, t, key);
    } else if (layer !== undefined && renamed) {
      put(`${prefix}transformer.resblocks.${layer}.${renamed}`, t, key);
    } else if (layer !== undefined && which !== undefined && kind !== undefined) {
      const name = `${prefix}transformer.resblocks.${layer}.attn.in_proj_${kind}`;
      qkv.set(name, { ...qkv.get(name), [which as "q" | "k" | "v"]: key });
    } else {
      out.unexpectedKeys.push(key);
    }
  }
  const tensor = (k: string): tf.Tensor => {
    const t = tensors[k];
    if (!t) throw new Error(`CLIP checkpoint (Hugging Face layout): no tensor "${k}"`);
    return t;
  };
  for (const [name, parts] of qkv) {
    const { q, k, v } = parts;
    if (q === undefined || k === undefined || v === undefined) {
      const missing = (["q", "k", "v"] as const).filter((w) => !parts[w]);
      tf.dispose(out.created);
      const have = q ?? k ?? v ?? name; // at least one of them: that is how the entry was made
      const names = missing.map((w) => have.replace(/[qkv]_proj/, `${w}_proj`));
      throw new Error(
        `CLIP checkpoint (Hugging Face layout): missing tensor ${names.map((n) => `"${n}"`).join(", ")} (needed with ` +
          `"${have}" for ${name})`,
      );
    }
    const fused = tf.concat([tensor(q), tensor(k), tensor(v)], 0); // [3w, w] or [3w]
    out.created.push(fused);
    put(name, fused, `concat(${q}, ${k}, ${v})`);
  }
  return out;
}

/** The Hugging Face name(s) an openai-layout tensor comes from (for messages). */
export function openaiToHuggingFaceName(name: string): string {
  if (name === "visual.proj") return "visual_projection.weight (transposed)";
  if (name === "text_projection") return "text_projection.weight (transposed)";
  if (name === "logit_scale") return name;
  const tower: HfTower = name.startsWith("visual.") ? "vision_model" : "text_model";
  const rest = tower === "vision_model" ? name.slice("visual.".length) : name;
  for (const [hf, oa] of Object.entries(HF_EMBEDDINGS[tower])) if (oa === rest) return `${tower}.${hf}`;
  const [, layer, param] = /^transformer\.resblocks\.(\d+)\.(.+)$/.exec(rest) ?? [];
  if (layer === undefined || param === undefined) return name;
  const [, kind] = /^attn\.in_proj_(weight|bias)$/.exec(param) ?? [];
  if (kind !== undefined) return `${tower}.encoder.layers.${layer}.self_attn.{q,k,v}_proj.${kind}`;
  for (const [hf, oa] of Object.entries(HF_LAYER)) if (oa === param) return `${tower}.encoder.layers.${layer}.${hf}`;
  return name;
}

/** The configuration `build_model` would infer from an openai-layout state dict. */
export function inferClipConfig(
  tensors: Record<string, tf.Tensor>,
  opts: LoadClipOptions = {},
  describe: (k: string) => string = (k) => `"${k}"`,
): ClipConfig {
  /** Dimension `axis` of tensor `k`, which must have rank `rank`. */
  const need = (k: string, rank: number, why: string, axis: number): number => {
    const t = tensors[k];
    if (!t) throw new Error(`CLIP checkpoint: missing tensor ${describe(k)} (needed to infer the ${why})`);
    const d = t.shape[axis];
    if (t.rank !== rank || d === undefined)
      throw new Error(
        `CLIP checkpoint: tensor ${describe(k)} has shape ${shapeStr(t.shape)}, expected rank ${rank} (for the ${why})`,
      );
    return d;
  };
  const keys = Object.keys(tensors);
  const visionWidth = need("visual.conv1.weight", 4, "vision width and patch size", 0);
  const visionPatchSize = need("visual.conv1.weight", 4, "vision width and patch size", 3);
  const grid = Math.round(Math.sqrt(need("visual.positional_embedding", 2, "image grid", 0) - 1));
  const transformerWidth = need("ln_final.weight", 1, "text width", 0);
  const textLayers = new Set(keys.filter((k) => k.startsWith("transformer.resblocks.")).map((k) => k.split(".")[2]));
  return {
    embedDim: need("text_projection", 2, "embedding size", 1),
    imageResolution: visionPatchSize * grid,
    visionPatchSize,
    visionWidth,
    visionLayers: keys.filter((k) => k.startsWith("visual.") && k.endsWith(".attn.in_proj_weight")).length,
    visionHeads: opts.visionHeads ?? defaultHeads(visionWidth),
    contextLength: need("positional_embedding", 2, "context length", 0),
    vocabSize: need("token_embedding.weight", 2, "vocabulary size", 0),
    transformerWidth,
    transformerLayers: textLayers.size,
    transformerHeads: opts.transformerHeads ?? defaultHeads(transformerWidth),
    activation: opts.activation ?? "quick_gelu",
    ...(opts.eotTokenId !== undefined ? { eotTokenId: opts.eotTokenId } : {}),
  };
}

/** Builds a CLIP from a state dict in either layout (see the file comment). The inputs are copied, not taken over. */
export function loadClipStateDict(tensors: Record<string, tf.Tensor>, opts: LoadClipOptions = {}): LoadedClip {
  const layout = detectClipLayout(Object.keys(tensors));
  let conv: ConvertedStateDict;
  if (layout === "huggingface") {
    conv = huggingFaceToOpenai(tensors);
  } else {
    conv = { tensors: {}, created: [], sources: {}, unexpectedKeys: [], ignoredKeys: [] };
    for (const [k, t] of Object.entries(tensors)) {
      if (JIT_SCALARS.has(k)) conv.ignoredKeys.push(k);
      else conv.tensors[k] = t;
    }
  }
  const label = `CLIP checkpoint (${layout === "openai" ? "openai/CLIP" : "Hugging Face"} layout)`;
  const describe = (k: string) =>
    `"${k}"${conv.sources[k] && conv.sources[k] !== k ? ` (from ${conv.sources[k]})` : ""}`;
  let clip: Clip | undefined;
  try {
    const config = inferClipConfig(conv.tensors, opts, describe);
    clip = new Clip(config);
    const expected = clip.stateDict();
    const problems: string[] = [];
    const known: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(expected)) {
      const t = conv.tensors[k];
      if (!t) {
        const hf = layout === "huggingface" ? ` (Hugging Face: ${openaiToHuggingFaceName(k)})` : "";
        problems.push(`missing tensor "${k}"${hf} (expected shape ${shapeStr(v.shape)})`);
      } else if (!sameShape(t.shape, v.shape))
        problems.push(`tensor ${describe(k)} has shape ${shapeStr(t.shape)}, expected ${shapeStr(v.shape)}`);
      else known[k] = t;
    }
    const unexpected = [
      ...conv.unexpectedKeys,
      ...Object.keys(conv.tensors)
        .filter((k) => !(k in expected))
        .map((k) => conv.sources[k] ?? k),
    ];
    if (unexpected.length && (opts.strict ?? true)) problems.push(`unexpected keys: ${unexpected.join(", ")}`);
    if (problems.length) throw new Error(`${label}: ${problems.join("; ")}`);
    clip.loadStateDict(known);
    return { clip, layout, config, unexpectedKeys: unexpected, ignoredKeys: conv.ignoredKeys };
  } catch (e) {
    clip?.dispose();
    throw e;
  } finally {
    tf.dispose(conv.created);
  }
}

/** `loadClipStateDict` on a safetensors file (the file's tensors are freed once copied). */
export function loadClipSafetensors(file: string, opts: LoadClipOptions = {}): LoadedClip {
  const tensors = loadSafetensors(file);
  try {
    return loadClipStateDict(tensors, opts);
  } finally {
    tf.dispose(tensors);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
