import { Rng, tf } from "@vlab/core";
import { CausalLM, buildChatTokenizer, type LlmConfig } from "@vlab/llm";
import { VisionTransformer } from "@vlab/vision";
import { Llava } from "../src/index.js";

/** The tiny LM of these tests: width 32, 2 layers, 4 query heads sharing 2 kv heads, vocab 50. */
export const TINY: LlmConfig = {
  vocabSize: 50,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  ropeTheta: 10000,
  maxPositionEmbeddings: 64,
  // Larger than HF's 0.02 so that logits are spread out and greedy choices are not near-ties.
  initializerRange: 0.3,
};

export function tinyModel(over: Partial<LlmConfig> = {}, seed = 1): CausalLM {
  return new CausalLM({ ...TINY, ...over }, { rng: new Rng(seed) });
}

export const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

export const tokenizer = buildChatTokenizer(["a red circle", "a blue square", "what color is the circle ?", "red"]);
// 16×16 images, 8-px patches: 4 image tokens; vision width 24 ≠ LM width 32, so the projector must map them.
export const makeLlava = (projector?: "linear" | "mlp2x_gelu") =>
  new Llava({
    vision: new VisionTransformer({
      imageSize: 16,
      patchSize: 8,
      width: 24,
      layers: 3,
      heads: 2,
      outputDim: 0,
      seed: 3,
    }),
    lm: new CausalLM(
      {
        ...TINY,
        vocabSize: tokenizer.vocabSize,
        imageTokenId: tokenizer.imageTokenId,
        padTokenId: tokenizer.padId,
        eosTokenId: tokenizer.eosId,
      },
      { rng: new Rng(2) },
    ),
    projector,
    rng: new Rng(4),
  });
export const pixels = () => tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 7);
