/**
 * The toy task of the trainer tests: a tiny text LM (width 32, 2 layers) and a word tokenizer. The user
 * asks for a colour; the reward is 1 when the completion contains that colour's word.
 */
import { Rng, initBackend, tf } from "@vlab/core";
import { CausalLM, buildChatTokenizer, type ChatTokenizer } from "@vlab/llm";
import { Llava } from "@vlab/vlm";
import { VisionTransformer } from "@vlab/vision";
import { textPolicy, type Policy } from "../src/policy.js";

export async function testBackend(): Promise<void> {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
}

export const COLOURS = ["red", "blue", "green", "yellow"] as const;
export const WORDS = ["say", "a", "colour", "circle", "square", "triangle", "one", "two", "three", ...COLOURS];

export const tokenizer: ChatTokenizer = buildChatTokenizer([WORDS.join(" ")]);

export interface ToySample {
  target: string;
}

/** The prompt ids of "say <colour>", ending with the assistant header. */
export function prompt(colour: string): number[] {
  return tokenizer.encodeChat([{ role: "user", content: `say ${colour}` }], { addGenerationPrompt: true });
}

export function tinyLm(seed = 1, initializerRange = 0.02): CausalLM {
  return new CausalLM(
    {
      vocabSize: tokenizer.vocabSize,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      maxPositionEmbeddings: 64,
      padTokenId: tokenizer.padId,
      eosTokenId: tokenizer.stopIds,
      imageTokenId: tokenizer.imageTokenId,
      initializerRange,
    },
    { rng: new Rng(seed) },
  );
}

/** A tiny LLaVA (16-px images, 8-px patches: 4 image tokens of width 24) at stage 2: the vision tower frozen. */
export function tinyLlava(): Llava {
  return new Llava({
    vision: new VisionTransformer({
      imageSize: 16,
      patchSize: 8,
      width: 24,
      layers: 2,
      heads: 2,
      outputDim: 0,
      seed: 3,
    }),
    lm: tinyLm(2, 0.3),
    rng: new Rng(4),
  }).stage(2);
}

/** The prompt of "say <colour>" after an image. */
export function imagePrompt(colour: string, imageTokens: number): number[] {
  return tokenizer.encodeChat(
    [
      {
        role: "user",
        content: [
          { type: "image", tokens: imageTokens },
          { type: "text", text: `say ${colour}` },
        ],
      },
    ],
    { addGenerationPrompt: true },
  );
}

export function tinyPolicy(seed = 1): Policy & { model: CausalLM } {
  return textPolicy(tinyLm(seed));
}

/** 1 when the completion has the target word. */
export const containsTarget = (completion: string, s: ToySample): number =>
  completion.split(/\s+/).includes(s.target) ? 1 : 0;

/** A batch of `n` prompts, colours in turn from `offset`. */
export function toyBatch(n: number, offset = 0): { prompts: number[][]; samples: ToySample[] } {
  const colours = Array.from({ length: n }, (_, i) => COLOURS[(offset + i) % COLOURS.length]!);
  return { prompts: colours.map(prompt), samples: colours.map((target) => ({ target })) };
}

/** Values of every variable, to compare before / after. */
export function snapshot(policy: Policy): Float32Array[] {
  return policy.trainableParameters().map((v) => v.dataSync().slice() as Float32Array);
}

export function sameWeights(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => x.length === b[i]!.length && x.every((v, j) => v === b[i]![j]));
}

export const disposeAll = (...xs: { dispose(): void }[]) => xs.forEach((x) => x.dispose());
export { tf };
