/**
 * Multimodal input: image features spliced into the token embeddings of a language model — LLaVA's
 * `prepare_inputs_labels_for_multimodal` (haotian-liu/LLaVA, llava/model/llava_arch.py) and Qwen2-VL's
 * `inputs_embeds.masked_scatter(input_ids == image_token_id, image_embeds)` (Hugging Face transformers,
 * models/qwen2_vl/modeling_qwen2_vl.py).
 *
 * The prompt holds one placeholder token per image feature row (`<|image_pad|>` repeated N times,
 * as Qwen2-VL's processor expands it). The placeholders are replaced IN ORDER — row-major over the
 * batch, then the sequence — by the rows of the projected image features [N, D]:
 *
 *   ids     [ a  b  P  P  P  c ]          inputs_embeds = [ E[a] E[b] f0 f1 f2 E[c] ]
 *   feats   [ f0 f1 f2 ]
 *
 * The number of placeholders must equal the number of feature rows; anything else is an error
 * that says both numbers (a silent mismatch would shift every image token).
 *
 * The splice is one gather over [text embeddings; image features], so gradients reach the
 * projector (LLaVA stage 1 trains only that) as well as the embedding table.
 */
import { tf } from "@vlab/core";
import type { CausalLM, EmbedIds, TokenIds } from "@vlab/llm";

function rowsOf(ids: TokenIds): number[][] {
  if (ids instanceof tf.Tensor) {
    if (ids.rank !== 2) throw new Error(`embedMultimodal: ids must be [B, T], got [${ids.shape.join(", ")}]`);
    return ids.arraySync() as number[][];
  }
  return ids.map((r) => Array.from(r));
}

/** How many image placeholder tokens the ids hold. */
export function countImageTokens(
  ids: readonly (readonly number[])[] | readonly number[],
  imageTokenId: number,
): number {
  let n = 0;
  for (const x of ids as readonly (number | readonly number[])[]) {
    if (typeof x === "number") n += x === imageTokenId ? 1 : 0;
    else for (const y of x) n += y === imageTokenId ? 1 : 0;
  }
  return n;
}

export interface EmbedMultimodalOptions {
  /** The placeholder id (default: the model config's `imageTokenId`). */
  imageTokenId?: number;
  /**
   * Only the first `promptLength` columns hold placeholders (default: all). Columns after it are ordinary
   * tokens even when they carry the placeholder id — a completion the model generated, where generation
   * embedded that id as a plain token too.
   */
  promptLength?: number;
}

/**
 * Token embeddings [B, T, D] with the image placeholders replaced, in order, by the rows of
 * `imageEmbeds` ([N, D], or [images, tokens, D], flattened to rows). Placeholder ids need not be in
 * the vocabulary (LLaVA uses −200). Throws when the counts differ.
 */
export function embedMultimodal(
  model: CausalLM,
  ids: TokenIds,
  imageEmbeds: tf.Tensor | null | undefined,
  opts: EmbedMultimodalOptions = {},
): tf.Tensor3D {
  const imageTokenId = opts.imageTokenId ?? model.config.imageTokenId;
  if (imageTokenId === undefined)
    throw new Error("embedMultimodal: no image token id (set config.imageTokenId or pass { imageTokenId })");
  const rows = rowsOf(ids);
  const B = rows.length;
  const T = rows[0]?.length ?? 0; // no rows: T = 0
  if (rows.some((r) => r.length !== T))
    throw new Error("embedMultimodal: rows of ids differ in length (pad them first)");
  const D = model.config.hiddenSize;
  let N = 0;
  if (imageEmbeds) {
    if (imageEmbeds.rank < 2 || imageEmbeds.shape[imageEmbeds.rank - 1] !== D) {
      throw new Error(
        `embedMultimodal: image features must be [N, ${D}] (the LLM width), got [${imageEmbeds.shape.join(", ")}]`,
      );
    }
    N = imageEmbeds.size / D;
  }
  const P = Math.min(opts.promptLength ?? T, T);
  const isImage = (id: number, t: number) => id === imageTokenId && t < P;
  const n = countImageTokens(P === T ? rows : rows.map((r) => r.slice(0, P)), imageTokenId);
  if (n !== N) {
    throw new Error(
      `embedMultimodal: the ids hold ${n} image placeholder token${n === 1 ? "" : "s"} (id ${imageTokenId}) ` +
        `but the image features have ${N} row${N === 1 ? "" : "s"}; ` +
        `each feature row needs exactly one placeholder`,
    );
  }
  // Placeholders look up token 0 (replaced below), so an id outside the vocabulary is harmless.
  const safe = rows.map((r) => r.map((id, t) => (isImage(id, t) ? 0 : id)));
  if (N === 0 || !imageEmbeds) return model.embed(safe);
  const feats = imageEmbeds;
  const index = new Int32Array(B * T);
  let k = 0;
  rows.forEach((r, b) =>
    r.forEach((id, t) => {
      const p = b * T + t;
      index[p] = isImage(id, t) ? B * T + k++ : p; // image row k sits after the B·T text rows
    }),
  );
  return tf.tidy(() => {
    const text = tf.reshape(model.embed(safe), [B * T, D]);
    const table = tf.concat([text, tf.reshape(feats, [N, D])], 0); // [B·T + N, D]
    return tf.reshape(tf.gather(table, tf.tensor1d(index, "int32")), [B, T, D]) as tf.Tensor3D;
  });
}

/**
 * The `embed` hook of @vlab/llm's generation and scoring that splices `imageEmbeds` into the prompt's placeholders
 * (the columns after the prompt are generated tokens: plain tokens, whatever their id).
 */
export function embedWithImages(model: CausalLM, imageEmbeds: tf.Tensor, imageTokenId?: number): EmbedIds {
  return (ids, promptLength) => embedMultimodal(model, ids, imageEmbeds, { imageTokenId, promptLength });
}
