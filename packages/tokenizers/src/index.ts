/**
 * @vlab/tokenizers — text to ids and back, with nothing of images in it (a text-only model needs no image library).
 *
 * - tokenizer.ts  Hugging Face tokenizer.json files through @huggingface/tokenizers, a word-level tokenizer built from
 *                 a corpus, and CLIP's `tokenize` (start and end tokens, zero padding to the context length)
 */
export * from "./tokenizer.js";
