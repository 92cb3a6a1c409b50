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
 * builds all three.
 */
import { Rng } from "@vlab/core";
import { CausalLM, type ChatTokenizer } from "@vlab/llm";
import { Clip } from "@vlab/vision";
import { Llava } from "./llava.js";

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

/**
 * The notebooks' language model for a chat tokenizer (vocabulary, padding, end and image placeholder ids) and a
 * width. Its initial weights come from `rng`, by default core's global generator (see `setSeed`).
 */
export function tinyLm(tokenizer: ChatTokenizer, width: number, rng?: Rng): CausalLM {
  return new CausalLM(
    {
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
    },
    { rng },
  );
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
