import { Rng, tf } from "@vlab/core";
import { CausalLM, buildChatTokenizer } from "@vlab/llm";
import { VisionTransformer } from "@vlab/vision";
import { Llava } from "../src/index.js";

// The tiny LM of llm's tests (width 32, 2 layers, GQA 4:2, vocab 50) and its comparison helper, shared.
import { TINY } from "../../llm/test/helpers.js";
export { TINY, maxDiff, tinyModel } from "../../llm/test/helpers.js";

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
