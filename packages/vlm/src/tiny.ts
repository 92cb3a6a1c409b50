/**
 * The tiny vision-language model of the notebooks (04 LLaVA, 06 R1-V and the ones after them), in one place so that
 * every notebook builds the same one:
 *
 *   vision   a CLIP (Radford et al. 2021) of width 64: ViT of 3 layers on `patchSize` patches, and a text tower of
 *            2 layers that only serves its contrastive pre-training; LLaVA keeps the ViT, frozen
 *   LM       a Qwen2-style decoder of `lmWidth`: 2 layers, 4 query heads sharing 2 key/value heads, SwiGLU of
 *            4 × lmWidth, tied embeddings, 256 positions; vocabulary and special ids from the chat tokenizer
 *   LLaVA    LLaVA-1.5's projector (Linear → GELU → Linear) from the ViT's penultimate layer to the LM
 *
 * `tinyClip` and `tinyLm` build the parts (a notebook may train the LM alone before it sees images); `tinyVlm`
 * builds all three. `tinyQwen2Vl` is the Qwen2-VL-style one: the same LM with M-RoPE, and Qwen2-VL's vision tower
 * (native resolution, 2 × 2 merge) instead of CLIP + projector.
 */
import { Rng } from "@vlab/core";
import { CausalLM, VISION_START, type ChatTokenizer, type LlmConfig } from "@vlab/llm";
import { Clip } from "@vlab/vision";
import { Llava } from "./llava.js";
import { Qwen2VL } from "./qwen2_vl.js";

export interface TinyClipConfig {
  /** Side of the square images, in pixels. */
  imageSize: number;
  /** Side of a ViT patch, in pixels (image tokens per image: (imageSize / patchSize)²). */
  patchSize: number;
  /** Vocabulary of CLIP's text tower (its caption tokenizer's). */
  vocabSize: number;
  /** Longest caption in tokens, start and end included (default 24). */
  contextLength?: number;
}

/** The notebooks' CLIP: width 64 everywhere, 3 vision layers, 2 text layers (see the file comment). */
export function tinyClip(config: TinyClipConfig): Clip {
  return new Clip({
    embedDim: 64,
    imageResolution: config.imageSize,
    visionPatchSize: config.patchSize,
    visionWidth: 64,
    visionLayers: 3,
    contextLength: config.contextLength ?? 24,
    vocabSize: config.vocabSize,
    transformerWidth: 64,
    transformerLayers: 2,
  });
}

/** The config of the notebooks' language model for a chat tokenizer and a width (see the file comment). */
export function tinyLmConfig(tokenizer: ChatTokenizer, width: number): LlmConfig {
  return {
    modelType: "qwen2",
    vocabSize: tokenizer.vocabSize,
    hiddenSize: width,
    intermediateSize: 4 * width,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 256,
    tieWordEmbeddings: true,
    padTokenId: tokenizer.padId,
    eosTokenId: tokenizer.eosId,
    imageTokenId: tokenizer.imageTokenId,
  };
}

/**
 * The notebooks' language model for a chat tokenizer (vocabulary, padding, end and image placeholder ids) and a
 * width. Its initial weights come from `rng`, by default core's global generator (see `setSeed`).
 */
export function tinyLm(tokenizer: ChatTokenizer, width: number, rng?: Rng): CausalLM {
  return new CausalLM(tinyLmConfig(tokenizer, width), { rng });
}

export interface TinyVlmConfig {
  imageSize: number;
  patchSize: number;
  /** Vocabulary of CLIP's text tower. */
  clipVocabSize: number;
  /** The LM's chat tokenizer. */
  tokenizer: ChatTokenizer;
  /** Width of the LM. */
  lmWidth: number;
  /** Seed of the projector's initial weights. */
  seed: number;
}

/** CLIP, LM and LLaVA (see the file comment); the CLIP still needs its pre-training (`vision.pretrainClip`). */
export function tinyVlm(config: TinyVlmConfig): { clip: Clip; lm: CausalLM; llava: Llava } {
  const clip = tinyClip({ imageSize: config.imageSize, patchSize: config.patchSize, vocabSize: config.clipVocabSize });
  const lm = tinyLm(config.tokenizer, config.lmWidth);
  const llava = new Llava({ vision: clip.visual, lm, projector: "mlp2x_gelu", rng: new Rng(config.seed) });
  return { clip, lm, llava };
}

export interface TinyQwen2VlConfig {
  /** The LM's chat tokenizer; it must know `<|vision_start|>`. */
  tokenizer: ChatTokenizer;
  /** Width of the LM (a multiple of 32: M-RoPE splits its head's frequency slots 1/4 : 3/8 : 3/8 like [16, 24, 24]). */
  lmWidth: number;
  /** "qwen2-vl" (default) or "qwen2.5-vl" (RMSNorm, SwiGLU, window attention). */
  variant?: "qwen2-vl" | "qwen2.5-vl";
  /** Width of the vision tower (default 32, 2 heads, 2 blocks). */
  visionWidth?: number;
  /** Patch side in pixels (default 14; images are resized to multiples of 2 · patchSize). */
  patchSize?: number;
  /** Seed of the vision tower's initial weights (the LM's come from core's global generator, as tinyLm's). */
  seed: number;
}

/** The notebooks' Qwen2-VL-style model (see the file comment). */
export function tinyQwen2Vl(config: TinyQwen2VlConfig): Qwen2VL {
  const half = config.lmWidth / 4 / 2; // frequency slots of a head (4 heads)
  const hw = Math.floor((3 * half) / 8);
  const visionStartTokenId = config.tokenizer.tokenizer.tokenToId(VISION_START);
  if (visionStartTokenId === undefined) throw new Error(`tinyQwen2Vl: the tokenizer has no ${VISION_START} token`);
  // Videos: the tokenizer's <|video_pad|> if it has one; else Qwen2-VL's id 151656, outside the vocabulary — a
  // placeholder is never looked up, so prompts built as ids can still hold videos.
  const videoTokenId = config.tokenizer.tokenizer.tokenToId("<|video_pad|>");
  return new Qwen2VL({
    text: { ...tinyLmConfig(config.tokenizer, config.lmWidth), mropeSection: [half - 2 * hw, hw, hw] },
    vision: {
      variant: config.variant ?? "qwen2-vl",
      depth: 2,
      embedDim: config.visionWidth ?? 32,
      numHeads: 2,
      patchSize: config.patchSize ?? 14,
      windowSize: 4 * (config.patchSize ?? 14) * 2,
      seed: config.seed,
    },
    visionStartTokenId,
    videoTokenId,
  });
}
