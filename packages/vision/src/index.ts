/**
 * @vlab/vision — images into tokens, and CLIP.
 *
 * - transformer.ts      the pre-LN residual attention block CLIP's two towers share
 * - vit.ts              Vision Transformer: patchify as one matmul, CLS, positions, ln_pre / ln_post, proj
 * - text.ts             causal text transformer pooled at the end-of-text token
 * - clip.ts             the CLIP model: encodeImage / encodeText, learned temperature, training step
 * - clip_loss.ts        the symmetric contrastive loss
 * - zero_shot.ts        zero-shot classification, prompt templates and ensembling
 * - attention_maps.ts   CLS attention maps and attention rollout, as grids for display.heatmap; attention on a box
 * - position_embeddings.ts  similarity of the learned position embeddings across the patch grid
 * - clip_checkpoint.ts  openai/CLIP and Hugging Face CLIPModel state dicts, config inferred from shapes
 */
export * from "./transformer.js";
export * from "./vit.js";
export * from "./text.js";
export * from "./clip.js";
export * from "./clip_loss.js";
export * from "./zero_shot.js";
export * from "./attention_maps.js";
export * from "./position_embeddings.js";
export * from "./clip_checkpoint.js";
