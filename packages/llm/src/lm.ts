/**
 * What a forward pass of the decoder takes (token ids or embeddings, attention mask, positions, cache) and the
 * interface through which generation (generate.ts) and scoring (logprobs.ts) call the model. `CausalLM` (model.ts)
 * implements it; generate.ts and logprobs.ts depend on this interface only, so that model.ts can offer
 * `model.generate(...)` and `model.logProbs(...)` without the files importing one another.
 */
import type { KvCacheType, NativeDecoder, tf } from "@vlab/core";
import type { PositionIds } from "@vlab/rope";
import type { DecoderCache } from "./cache.js";
import type { ResolvedLlmConfig } from "./config.js";

/** M-RoPE position ids [3][B][T]: the t, h and w id of every token. */
export type MropePositionIds = readonly (readonly (readonly number[])[])[];

/**
 * M-RoPE position ids [3][B][T] of left-padded ids [B][T] with their mask (a vision-language model's: Qwen2-VL puts
 * each image on its grid, @vlab/vlm). generate and logProbs call it for the prompt (and completion) they pad.
 */
export type MropePositions = (
  ids: readonly (readonly number[])[],
  attentionMask: readonly (readonly number[])[],
) => MropePositionIds;

/** Token ids [B, T]: nested arrays or an int tensor. */
export type TokenIds = readonly (readonly number[])[] | tf.Tensor;

/** An attention mask [B, T] (1 = token, 0 = padding): nested arrays or a tensor (read back to the CPU). */
export type AttentionMaskInput = readonly (readonly number[])[] | tf.Tensor;

export interface ForwardOptions {
  /**
   * 1 = token, 0 = padding. Without a cache: [B, T]. With a cache: either the new tokens' part [B, T]
   * (the cache remembers the rest) or the whole mask [B, past + T], as Hugging Face's generate passes it.
   * Default: all ones for the new tokens.
   */
  attentionMask?: AttentionMaskInput;
  /** Position ids [B, T] of the new tokens; default cumsum(mask) − 1 over the whole mask (padding → 1). */
  positionIds?: PositionIds;
  /**
   * M-RoPE position ids [3][B][T] (t, h, w) of the new tokens, for a model with `mropeSection` (Qwen2-VL; @vlab/rope's
   * `getRopeIndex` makes them). Takes the place of `positionIds`.
   */
  mropePositionIds?: MropePositionIds;
  /** Keys, values and mask of earlier tokens; updated in place with the new ones. */
  cache?: DecoderCache;
  /** [B, T, D] embeddings to use instead of looking up `ids` (a vision-language model's input: see EmbedIds). */
  inputsEmbeds?: tf.Tensor;
  /** Compute logits for the last n positions only (Hugging Face's `logits_to_keep`); default all. */
  logitsToKeep?: number;
}

/**
 * Input embeddings [B, T, D] of padded ids [B, T] whose first `promptLength` columns are the prompt. Without one,
 * generation and scoring look the ids up in the token embedding table; a vision-language model passes one that puts
 * image features at the placeholder tokens of the prompt (LLaVA in @vlab/vlm).
 */
export type EmbedIds = (ids: readonly (readonly number[])[], promptLength: number) => tf.Tensor3D;

/** The decoder as generation and scoring use it (see the file comment). */
export interface LanguageModel {
  readonly config: ResolvedLlmConfig;
  /** An empty cache for this model's layers. */
  newCache(): DecoderCache;
  /** The final hidden states [B, T, D] (after the last norm). */
  hiddenStates(ids: TokenIds | null, opts?: ForwardOptions): tf.Tensor3D;
  /** Hidden states [B, T, D] → logits [B, T, V]. */
  logitsFromHidden(h: tf.Tensor): tf.Tensor3D;
  /** Logits [B, T, V] (or the last `logitsToKeep` positions). */
  forward(ids: TokenIds | null, opts?: ForwardOptions): tf.Tensor3D;
  /**
   * Optional: a native decoder computing what `forward` computes for one new column per row, holding the current
   * weights (native_decode.ts), or null where there is none. generate uses it for its steps after the prefill, with
   * each row's position given (1-D, or M-RoPE's equal axes). A model whose layer differs must not offer CausalLM's.
   * `kvCache` "float16" keeps its key/value caches in half precision (generate's option of that name).
   */
  nativeDecoder?(batch: number, capacity: number, opts?: { kvCache?: KvCacheType }): NativeDecoder | null;
}
