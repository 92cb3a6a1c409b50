/**
 * A vlab Qwen2-VL / Qwen2.5-VL as a Hugging Face folder that `Qwen2VLForConditionalGeneration` (and
 * `AutoModelForImageTextToText`, vLLM, TRL, verl) loads, and that `loadQwen2Vl(dir)` reads back:
 *
 *   config.json              qwen2_vl_checkpoint.ts's `qwen2VlConfigToHf` (the released checkpoints' flat layout:
 *                            text fields at the top, `rope_scaling {"type": "mrope", "mrope_section"}`, a
 *                            `vision_config`), plus the keys newer and older transformers read besides:
 *                            `rope_parameters {"rope_type": "default", "mrope_section", "rope_theta"}` (5.x),
 *                            `torch_dtype` / `dtype`, `vision_end_token_id`, the chat tokenizer's bos / eos / pad ids,
 *                            and in `vision_config` both spellings the released file and the class use:
 *                            `in_chans` / `in_channels` and `patch_size` / `spatial_patch_size`
 *                            (`configuration_qwen2_vl.py`, `Qwen2VLVisionConfig`)
 *   model.safetensors        the original tensor names (visual.*, model.*, lm_head.*), which every transformers
 *                            version and vLLM / SGLang read; sharded past the size limit (@vlab/llm hf_export.ts)
 *   preprocessor_config.json Qwen2VLImageProcessor's settings: the pixel budget of smart resize, patch, temporal
 *                            patch and merge sizes, CLIP's mean and std
 *   tokenizer.json, tokenizer_config.json, chat_template.jinja, generation_config.json  (@vlab/llm hf_files.ts), the
 *                            template Qwen2-VL's: "You are a helpful assistant." first, each image as
 *                            `<|vision_start|><|image_pad|><|vision_end|>`
 */
import {
  checkTokenizerFits,
  hfCompatFields,
  hfTokenIds,
  QWEN2_VL_TEMPLATE,
  VISION_END,
  VISION_START,
  writeHfFolder,
  type ChatTokenizer,
  type HfExportOptions,
  type HfExportResult,
} from "@vlab/llm";
import { CLIP_MEAN, CLIP_STD } from "@vlab/data";
import type { Qwen2VL } from "./qwen2_vl.js";
import { qwen2VlConfigToHf } from "./qwen2_vl_checkpoint.js";

export interface Qwen2VlExportOptions extends HfExportOptions {
  /** Smart resize's pixel budget in preprocessor_config.json (defaults 3136 and 12,845,056, the released file's). */
  minPixels?: number;
  maxPixels?: number;
}

/** The preprocessor_config.json of Qwen2VLImageProcessor for this model's patching. */
export function qwen2VlPreprocessorConfig(model: Qwen2VL, opts: Qwen2VlExportOptions = {}): Record<string, unknown> {
  const v = model.config.vision;
  const [minPixels, maxPixels] = [opts.minPixels ?? 3136, opts.maxPixels ?? 12845056];
  if (!(minPixels > 0 && maxPixels >= minPixels))
    throw new RangeError(`qwen2VlPreprocessorConfig: need 0 < minPixels ≤ maxPixels, got ${minPixels}, ${maxPixels}`);
  return {
    min_pixels: minPixels,
    max_pixels: maxPixels,
    size: { shortest_edge: minPixels, longest_edge: maxPixels },
    patch_size: v.patchSize,
    temporal_patch_size: v.temporalPatchSize,
    merge_size: v.spatialMergeSize,
    image_mean: [...CLIP_MEAN],
    image_std: [...CLIP_STD],
    do_resize: true,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    do_convert_rgb: true,
    image_processor_type: "Qwen2VLImageProcessor",
    processor_class: "Qwen2VLProcessor",
  };
}

/** The token id of `text` in the tokenizer, which must equal the model's `want` when the model has one. */
function tokenId(tok: ChatTokenizer, text: string, want?: number): number | undefined {
  const id = tok.tokenizer.tokenToId(text);
  if (want !== undefined && id !== want)
    throw new Error(
      `exportQwen2VlHf: the model's ${text} id is ${want} but the tokenizer (${tok.tokenizer.source}) gives ` +
        `${id === undefined ? "no such token" : id}; export the tokenizer the model was trained with`,
    );
  return id;
}

/** The config.json of the export (see the file comment). */
export function qwen2VlHfConfig(model: Qwen2VL, tok: ChatTokenizer, dtype: HfExportOptions["dtype"] = "F32") {
  const base = qwen2VlConfigToHf(model);
  const text = model.config.text;
  if (tok.imageTokenId !== model.imageTokenId)
    throw new Error(
      `exportQwen2VlHf: the tokenizer's image placeholder is id ${tok.imageTokenId}, the model's ${model.imageTokenId}`,
    );
  tokenId(tok, VISION_START, model.visionStartTokenId);
  const visionEnd = tokenId(tok, VISION_END);
  const vision = base.vision_config as Record<string, unknown>;
  return {
    ...base,
    ...hfCompatFields(text, dtype ?? "F32"),
    rope_parameters: { rope_type: "default", mrope_section: text.mropeSection, rope_theta: text.ropeTheta },
    ...(visionEnd !== undefined && { vision_end_token_id: visionEnd }),
    ...hfTokenIds(tok),
    vision_config: { ...vision, in_channels: vision.in_chans, spatial_patch_size: vision.patch_size },
  };
}

/**
 * Exports a Qwen2VL with its chat tokenizer as a Hugging Face folder (see the file comment); `loadQwen2Vl(dir)`
 * reads it back with the same logits (F32).
 */
export function exportQwen2VlHf(
  model: Qwen2VL,
  tokenizer: ChatTokenizer,
  dir: string,
  opts: Qwen2VlExportOptions = {},
): HfExportResult {
  checkTokenizerFits(tokenizer, model.config.text.vocabSize, "exportQwen2VlHf");
  return writeHfFolder(
    dir,
    {
      config: qwen2VlHfConfig(model, tokenizer, opts.dtype),
      tensors: model.stateDict(),
      tokenizer,
      chatTemplate: opts.chatTemplate ?? QWEN2_VL_TEMPLATE,
      maxLength: model.config.text.maxPositionEmbeddings,
      extra: { "preprocessor_config.json": qwen2VlPreprocessorConfig(model, opts) },
    },
    opts,
  );
}
