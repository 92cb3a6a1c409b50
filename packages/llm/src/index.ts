/**
 * @vlab/llm — a decoder-only language model of the Llama / Qwen2 family, text only (models that also see images
 * live in @vlab/vlm and reach this one through `inputsEmbeds` and the `embed` hook of generation and scoring).
 *
 * - config.ts      the configuration, and Hugging Face config.json ↔ it
 * - lm.ts          what a forward pass takes, and the interface generation and scoring call the model through
 * - cache.ts       the decoder's KV cache (keys, values and attention mask of earlier positions)
 * - model.ts       CausalLM: embed_tokens, decoder layers (RMSNorm, RoPE grouped-query attention,
 *                  SwiGLU), norm, lm_head or tied embeddings; forward with masks, positions, KV cache
 * - batch.ts       left / right padding of token sequences
 * - generate.ts    batched generation: greedy, temperature, top-k, top-p, seeded; stop ids
 * - native_decode.ts  generate's steps in one native call each (@vlab/backend's decoder), with CausalLM's weights
 * - logprobs.ts    per-token log-probabilities of completions (differentiable, for GRPO)
 * - sft.ts         ChatML label masking (−100 but the answers), right padding with labels, the shifted cross-entropy
 * - nll.ts         held-out mean NLL over the supervised tokens (perplexity, answer NLL), in batches
 * - chat.ts        the ChatML template and a tokenizer that knows its special tokens
 * - checkpoint.ts  Hugging Face safetensors checkpoints by name, with shape checks
 * - hf_export.ts   a model as a Hugging Face folder for other engines (config, sharded weights, tokenizer files)
 * - hf_files.ts    tokenizer_config.json, the chat template in Jinja, generation_config.json
 */
export * from "./config.js";
export * from "./lm.js";
export * from "./cache.js";
export * from "./model.js";
export * from "./batch.js";
export * from "./generate.js";
export * from "./logprobs.js";
export * from "./sft.js";
export * from "./nll.js";
export * from "./chat.js";
export * from "./checkpoint.js";
export * from "./hf_files.js";
export * from "./hf_export.js";
