/**
 * @vlab/vlm — models that join vision and language, one file per model as in Hugging Face transformers.
 *
 * - llava.ts     LLaVA: the projector, the vision tower's features spliced in, the two training stages, its data
 *                formats (ChatML messages from its conversations, the stage-1 `plain` template, Vicuna `v1` and its
 *                labels)
 * - splice.ts    image features put in place of the placeholder tokens of the text (LLaVA, Qwen2-VL)
 * - features.ts  cached vision features: rows by index, batched generation over them
 * - tiny.ts      the tiny CLIP + LM + LLaVA the notebooks build
 * - tiny_text.ts the text the notebooks' LM learns from before it sees an image (03, 04)
 * - tiny_eval.ts how the notebooks score generated answers and captions against the scene
 * - qwen2_vl_processor.ts   Qwen2-VL's processor: native-resolution resize, block-major patches, pad expansion, chat
 * - qwen2_vl_vision.ts      Qwen2-VL's / Qwen2.5-VL's vision tower: patch embedding, 2-D RoPE blocks over packed
 *                           images, window attention (2.5), the 2×2 PatchMerger
 * - packed_segments.ts      attention within images / windows as a padded batch (no N × N mask)
 * - qwen2_vl.ts             Qwen2-VL: the tower's tokens spliced into the Qwen2 LM, read with M-RoPE
 * - qwen2_vl_checkpoint.ts  Qwen2-VL / Qwen2.5-VL checkpoints in Hugging Face's layout (config.json, safetensors)
 * - qwen2_vl_export.ts      Qwen2-VL as a complete Hugging Face folder for other engines (tokenizer, preprocessor)
 * - hf_export.ts            `vlab export hf`: a vlab checkpoint (LM or Qwen2-VL) as a Hugging Face folder
 * - blip2_config.ts  BLIP-2's Q-Former configuration (the paper's BERT-base, the notebooks' tiny one)
 * - blip2_bert.ts    the Q-Former's BERT: shared self-attention, cross-attention to the image, query FFNs, LM head
 * - blip2_masks.ts   the masks of ITC, ITM and ITG (LAVIS's get_extended_attention_mask)
 * - blip2.ts         Blip2Qformer: query tokens, ln_vision, the Q-Former, ITC / ITM / ITG heads
 * - blip2_losses.ts  stage 1: ITC with label smoothing, ITM with hard negatives, ITG
 * - blip2_stage2.ts  Blip2: the query outputs as soft prompts of a frozen LM (stage 2), what each stage trains
 * - blip2_retrieval.ts  retrieval: ITC for every pair, ITM re-ranking of the top k (LAVIS compute_sim_matrix)
 */
export * from "./splice.js";
export * from "./llava.js";
export * from "./features.js";
export * from "./tiny.js";
export * from "./tiny_text.js";
export * from "./tiny_eval.js";
export * from "./qwen2_vl_processor.js";
export * from "./packed_segments.js";
export * from "./qwen2_vl_vision.js";
export * from "./qwen2_vl.js";
export * from "./qwen2_vl_checkpoint.js";
export * from "./qwen2_vl_export.js";
export * from "./hf_export.js";
export * from "./blip2_config.js";
export * from "./blip2_bert.js";
export * from "./blip2_masks.js";
export * from "./blip2.js";
export * from "./blip2_losses.js";
export * from "./blip2_stage2.js";
export * from "./blip2_retrieval.js";
