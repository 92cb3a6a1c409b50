/**
 * Batched generation with a KV cache (Hugging Face's `generate` for a decoder-only model):
 *
 *   1. left-pad the prompts (batch.ts); positions = cumsum(mask) − 1
 *   2. prefill: one pass over the prompts fills the cache and gives the logits of the last column
 *   3. repeat: pick one token per row from its logits (greedy, or sampled after temperature,
 *      top-k and top-p), feed the B new tokens as a [B, 1] step; rows that emitted a stop id
 *      are finished (they keep feeding padding, which is never returned)
 *
 * Sampling happens in plain JS on the last-position logits, read outside every tidy scope (reads
 * inside a tidy are slow on wasm), with a seeded `Rng`: the same seed gives the same tokens.
 *
 * The steps after the prefill run in one native call each when the model offers a native decoder (CausalLM does
 * where @vlab/backend's addon is built: native_decode.ts), over caches allocated once; `fastDecode: false` runs
 * them through the tfjs model instead (the reference path the fast one is tested against).
 *
 * Logit processors, in Hugging Face's order:
 *   temperature  logits / T                      (T = 0 or `greedy`: argmax, no sampling)
 *   top-k        keep the k largest logits
 *   top-p        keep the smallest set of most likely tokens whose probability reaches p
 */
import { getRng, Rng, tf, type KvCacheType, type NativeDecoder } from "@vlab/core";
import { leftPad } from "./batch.js";
import type { DecoderCache } from "./cache.js";
import type { EmbedIds, LanguageModel, MropePositionIds, MropePositions } from "./lm.js";

export interface SamplingOptions {
  /** Softmax temperature (default 1); 0 means greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens (default 0: off). */
  topK?: number;
  /** Nucleus sampling: keep the most likely tokens up to cumulative probability p (default 1: off). */
  topP?: number;
  /** Argmax decoding (also implied by temperature 0). Ties go to the lowest id. */
  greedy?: boolean;
}

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most per prompt (default 32). */
  maxNewTokens?: number;
  /** A row finishes after emitting one of these (kept in its output). Default: the config's eosTokenId. */
  stopIds?: readonly number[];
  /** Seed of the sampling rng (default: core's global rng, see `setSeed`). */
  seed?: number;
  /** The sampling rng itself (takes precedence over `seed`). */
  rng?: Rng;
  /** Padding id for the left padding (default: the config's padTokenId). */
  padId?: number;
  /**
   * Embeds the left-padded prompts for the prefill (default: the token embeddings). A vision-language model puts its
   * image features at the placeholders here (see EmbedIds); generated tokens are always plain tokens.
   */
  embed?: EmbedIds;
  /**
   * M-RoPE position ids [3][B][P] of the left-padded prompts (Qwen2-VL: images on their grids, @vlab/vlm). Each row's
   * new tokens then continue at its largest prompt id + 1, equal on all three axes (Hugging Face's `rope_deltas`).
   */
  mropePositions?: MropePositions;
  /**
   * Decoding steps in one native call each where the model offers it (default true); false runs every step through
   * the tfjs model. Both give the same tokens up to float32 rounding inside the products.
   */
  fastDecode?: boolean;
  /**
   * The native steps' key/value caches: "float32" (default: the same numbers as the tfjs steps) or "float16" (IEEE
   * half precision: half the bytes a step reads from them, which bound a large batch's attention; each cached key
   * and value is rounded to 11 significant bits, so logits move by about 1e-3 and a near-tie may pick another token).
   */
  kvCache?: KvCacheType;
  /**
   * Completions per prompt (Hugging Face's `num_return_sequences`, default 1): the result has B·n rows, prompt b's at
   * rows b·n … b·n + n − 1 (a GRPO group's layout). Each prompt goes through the prefill once and its cache is copied
   * to its n rows; Hugging Face expands the inputs first and runs the prefill on all B·n rows, the same numbers at n
   * times the cost. The `embed` and `mropePositions` hooks see the B prompts.
   */
  numReturnSequences?: number;
}

export type FinishReason = "stop" | "length";

export interface GenerateResult {
  /** The new tokens of each prompt (no prompt, no padding), ending with the stop id when one was emitted. */
  tokens: number[][];
  /** "stop": a stop id was emitted; "length": maxNewTokens was reached. */
  finishReasons: FinishReason[];
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i and best are in [0, row.length) */
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return best;
}

/**
 * One token from one row of logits, after temperature, top-k and top-p (see the file comment).
 * `rng.next()` is drawn exactly once per sampled token, so a seed fixes the sequence.
 */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng): number {
  const temperature = opts.temperature ?? 1;
  if (opts.greedy || temperature === 0) return argmax(logits);
  if (!(temperature > 0)) throw new RangeError(`sampleToken: temperature must be >= 0, got ${temperature}`);
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`sampleToken: topP must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(topK) || topK < 0)
    throw new RangeError(`sampleToken: topK must be a non-negative integer (0: off), got ${topK}`);
  const V = logits.length;
  if (topK === 0 && topP === 1) return sampleFull(logits, temperature, rng);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- every index below is a token id in [0, V) taken from
     `order`, or a position in `order`/`probs` (same length) below their length */
  // Candidates, most likely first (a stable sort: ties keep the lower id first).
  let order = Array.from({ length: V }, (_, i) => i);
  if (topK > 0 || topP < 1) order.sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (topK > 0 && topK < V) order = order.slice(0, topK);
  // Softmax over the candidates at this temperature.
  let max = -Infinity;
  for (const i of order) max = Math.max(max, logits[i]! / temperature);
  const probs = order.map((i) => Math.exp(logits[i]! / temperature - max));
  let total = probs.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    // Keep a token while the probability of the tokens before it is still below p (at least one).
    let before = 0;
    let keep = 0;
    while (keep < order.length && (keep === 0 || before < topP * total)) before += probs[keep++]!;
    order = order.slice(0, keep);
    probs.length = keep;
    total = before;
  }
  let u = rng.next() * total;
  for (let k = 0; k < order.length; k++) {
    u -= probs[k]!;
    if (u < 0) return order[k]!;
  }
  return order[order.length - 1]!; // rounding left u ≥ 0: the last candidate
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
}

let scratch = new Float64Array(0);

/**
 * sampleToken without top-k or top-p: the same arithmetic in the same order (so the same token for the same draw),
 * over a reused buffer instead of arrays allocated per token — a GRPO step samples B·G tokens per step.
 */
function sampleFull(logits: ArrayLike<number>, temperature: number, rng: Rng): number {
  const V = logits.length;
  if (scratch.length < V) scratch = new Float64Array(V);
  const probs = scratch;
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < V = logits.length <= probs.length */
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, logits[i]! / temperature);
  let total = 0;
  for (let i = 0; i < V; i++) total += probs[i] = Math.exp(logits[i]! / temperature - max);
  let u = rng.next() * total;
  for (let i = 0; i < V; i++) {
    u -= probs[i]!;
    if (u < 0) return i;
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return V - 1; // rounding left u ≥ 0: the last candidate
}

/** Refuses sampling options that would sample silently wrong (NaN temperature, topK -5 or 1.5, topP 0). */
function checkSampling(where: string, opts: SamplingOptions): void {
  const { temperature = 1, topK = 0, topP = 1 } = opts;
  if (!(Number.isFinite(temperature) && temperature >= 0))
    throw new RangeError(`${where}: temperature must be a finite number >= 0 (0: greedy), got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0)
    throw new RangeError(`${where}: topK must be a non-negative integer (0: off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`${where}: topP must be in (0, 1] (1: off), got ${topP}`);
}

/**
 * Prompt ids must be integers, and in [0, vocabSize) when the token embeddings look them up (with an `embed` hook a
 * placeholder id may lie outside, as LLaVA's -200 does).
 */
function checkPrompts(where: string, prompts: readonly (readonly number[])[], vocabSize: number, embedded: boolean) {
  prompts.forEach((p, i) =>
    p.forEach((id, j) => {
      if (!Number.isInteger(id) || (!embedded && (id < 0 || id >= vocabSize)))
        throw new RangeError(
          `${where}: prompt ${i}, token ${j} is ${id}; token ids are integers` +
            (embedded ? "" : ` in [0, ${vocabSize}) (the vocabulary)`),
        );
    }),
  );
}

const warnedLength = new WeakSet<object>();

/** Row b's largest M-RoPE position id over its real tokens, + 1: where its generated text continues. */
function nextMropePosition(ids: MropePositionIds, b: number, mask: readonly number[]): number {
  let max = -1;
  for (const axis of ids) (axis[b] ?? []).forEach((p, j) => (max = mask[j] ? Math.max(max, p) : max));
  return max + 1;
}

/**
 * The model's native decoder (if it offers one) loaded with the prefill's caches, whose tfjs tensors are then freed;
 * null when there is none.
 */
function startNative(
  model: LanguageModel,
  cache: DecoderCache,
  capacity: number,
  kvCache: KvCacheType | undefined,
  repeats: number,
): NativeDecoder | null {
  const fast = model.nativeDecoder?.(cache.batchSize * repeats, capacity, { kvCache }) ?? null;
  if (!fast) return null;
  const read = (t: tf.Tensor | null): Float32Array => {
    if (!t) throw new Error("generate: the prefill left a layer's cache empty");
    return t.dataSync() as Float32Array;
  };
  try {
    fast.loadPrefix(
      cache.layers.map((l) => read(l.k)),
      cache.layers.map((l) => read(l.v)),
      cache.attentionMask,
      repeats,
    );
  } catch (e) {
    fast.free();
    throw e;
  }
  for (const l of cache.layers) l.dispose();
  return fast;
}

/** The rows [R, V] of `x` each repeated n times (rows a, b → a, a, b, b); x itself when n = 1. */
function repeatRows(x: Float32Array, V: number, n: number): Float32Array {
  if (n === 1) return x;
  const out = new Float32Array(x.length * n);
  for (let r = 0; r < out.length / V; r++)
    out.set(x.subarray(Math.floor(r / n) * V, (Math.floor(r / n) + 1) * V), r * V);
  return out;
}

/** Generates continuations of a batch of prompts; see the file comment and GenerateOptions. */
export function generate(
  model: LanguageModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions = {},
): GenerateResult {
  const maxNewTokens = opts.maxNewTokens ?? 32;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0)
    throw new RangeError(`generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  checkSampling("generate", opts);
  checkPrompts("generate", prompts, model.config.vocabSize, opts.embed !== undefined);
  const longest = Math.max(0, ...prompts.map((p) => p.length));
  const maxPositions = model.config.maxPositionEmbeddings;
  if (maxPositions !== undefined && longest + maxNewTokens > maxPositions && !warnedLength.has(model)) {
    // As transformers does: RoPE extends past it, but the model never saw such positions in training.
    warnedLength.add(model);
    console.warn(
      `generate: prompts of up to ${longest} tokens + maxNewTokens ${maxNewTokens} exceed the model's ` +
        `maxPositionEmbeddings ${maxPositions}; positions past it were never trained`,
    );
  }
  const stop = new Set(opts.stopIds ?? model.config.eosTokenId);
  const padId = opts.padId ?? model.config.padTokenId;
  const rng = opts.rng ?? (opts.seed !== undefined ? new Rng(opts.seed) : getRng());
  const n = opts.numReturnSequences ?? 1;
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`generate: numReturnSequences must be a positive integer, got ${n}`);
  const B = prompts.length * n; // rows decoded; row r continues prompt ⌊r / n⌋
  const tokens: number[][] = Array.from({ length: B }, () => []);
  const finishReasons: FinishReason[] = new Array<FinishReason>(B).fill("length");
  if (B === 0 || maxNewTokens === 0) return { tokens, finishReasons };

  const batch = leftPad(prompts, padId);
  const done = new Array<boolean>(B).fill(false);
  const cache = model.newCache();
  let fast: NativeDecoder | null = null;
  try {
    // Prefill: logits of the last column only.
    const { embed } = opts;
    const mropePositionIds = opts.mropePositions?.(batch.ids, batch.attentionMask); // [3][B][P]
    const prefill = tf.tidy(() => {
      const inputsEmbeds = embed ? embed(batch.ids, batch.width) : undefined;
      return model.forward(inputsEmbeds ? null : batch.ids, {
        attentionMask: batch.attentionMask,
        cache,
        inputsEmbeds,
        logitsToKeep: 1,
        mropePositionIds,
      });
    }); // [B, 1, V]
    const V = prefill.shape[2];
    let data = repeatRows(prefill.dataSync() as Float32Array, V, n); // [B, V], read outside any tidy
    prefill.dispose();
    if (opts.fastDecode !== false && maxNewTokens > 1)
      fast = startNative(model, cache, batch.width + maxNewTokens, opts.kvCache, n);
    if (!fast && maxNewTokens > 1) cache.repeatRows(n);
    // Each row's next position: the count of its tokens so far (cumsum(mask) − 1 of the new column), or with M-RoPE
    // its largest prompt position + 1.
    const seen = Array.from({ length: B }, (_, r) => {
      const p = Math.floor(r / n);
      const mask = batch.attentionMask[p] ?? [];
      return mropePositionIds ? nextMropePosition(mropePositionIds, p, mask) : mask.reduce((a, m) => a + m, 0);
    });
    const step = { tokens: new Int32Array(B), positions: new Int32Array(B), attend: new Uint8Array(B) };
    for (let i = 0; i < maxNewTokens; i++) {
      const next = new Array<number>(B);
      for (const [b, row] of tokens.entries()) {
        if (done[b]) {
          next[b] = padId;
          continue;
        }
        const id = sampleToken(data.subarray(b * V, (b + 1) * V), opts, rng);
        next[b] = id;
        row.push(id);
        if (stop.has(id)) {
          done[b] = true;
          finishReasons[b] = "stop";
        }
      }
      if (done.every(Boolean) || i === maxNewTokens - 1) break;
      // Decode: one new column; finished rows feed padding, masked out (nothing ever attends to it).
      for (let b = 0; b < B; b++) {
        step.tokens[b] = next[b] ?? padId;
        step.attend[b] = done[b] ? 0 : 1;
        const position = seen[b] ?? 0; // the row's next position
        step.positions[b] = done[b] ? 1 : position; // padding's position is 1, as in Hugging Face
        if (!done[b]) seen[b] = position + 1;
      }
      if (fast) {
        data = fast.step(step.tokens, step.positions, step.attend);
      } else {
        const out = model.forward(
          next.map((id) => [id]),
          {
            attentionMask: next.map((_, b) => [done[b] ? 0 : 1]),
            cache,
            positionIds: Array.from(step.positions, (p) => [p]), // text: equal on M-RoPE's three axes
          },
        );
        data = out.dataSync() as Float32Array;
        out.dispose();
      }
    }
  } finally {
    cache.dispose();
    fast?.free();
  }
  return { tokens, finishReasons };
}
