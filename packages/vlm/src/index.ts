/**
 * @vlab/vlm — models that join vision and language, one file per model as in Hugging Face transformers.
 *
 * - llava.ts     LLaVA: the projector, the vision tower's features spliced in, the two training stages, its data
 *                formats (ChatML messages from its conversations, the stage-1 `plain` template, Vicuna `v1` and its
 *                labels)
 * - splice.ts    image features put in place of the placeholder tokens of the text (LLaVA, Qwen2-VL)
 * - features.ts  cached vision features: rows by index, batched generation over them
 * - tiny.ts      the tiny CLIP + LM + LLaVA the notebooks build
 * - qwen2_vl_processor.ts   Qwen2-VL's processor: native-resolution resize, block-major patches, pad expansion, chat
 */
export * from "./splice.js";
export * from "./llava.js";
export * from "./features.js";
export * from "./tiny.js";
export * from "./qwen2_vl_processor.js";
