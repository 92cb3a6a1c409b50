/**
 * @vlab/llm — a decoder-only language model of the Llama / Qwen2 family.
 *
 * - config.ts      the configuration, and Hugging Face config.json ↔ it
 * - model.ts       CausalLM: embed_tokens, decoder layers (RMSNorm, RoPE grouped-query attention,
 *                  SwiGLU), norm, lm_head or tied embeddings; forward with masks, positions, KV cache
 * - batch.ts       left / right padding of token sequences
 * - generate.ts    batched generation: greedy, temperature, top-k, top-p, seeded; stop ids
 * - logprobs.ts    per-token log-probabilities of completions (differentiable, for GRPO)
 * - multimodal.ts  image features spliced in at the placeholder tokens
 * - sft.ts         ChatML label masking (−100 but the answers) and the shifted cross-entropy
 * - chat.ts        the ChatML template and a tokenizer that knows its special tokens
 * - checkpoint.ts  Hugging Face safetensors checkpoints by name, with shape checks
 * - llava.ts       LLaVA: the projector, the vision tower's features spliced in, the two training stages
 */
export * from "./config.js";
export * from "./model.js";
export * from "./batch.js";
export * from "./generate.js";
export * from "./logprobs.js";
export * from "./multimodal.js";
export * from "./sft.js";
export * from "./chat.js";
export * from "./checkpoint.js";
export * from "./llava.js";
