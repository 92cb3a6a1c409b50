/**
 * Tokenizers: Hugging Face `tokenizer.json` files through `@huggingface/tokenizers`, and CLIP's `tokenize`.
 *
 *   const tok = buildWordTokenizer(ds.allCaptions.flat());     // a word-level vocabulary of the generated corpus
 *   saveTokenizer(tok, "out/tokenizer.json");                  // a standard tokenizer.json
 *   const same = loadTokenizer("out/tokenizer.json");           // the code path that loads a user's file too
 *   const ids = tokenize(tok, ["a red circle"], { contextLength: 16 });   // tf.Tensor2D int32 [1, 16]
 *   // [[SOT, a, red, circle, EOT, 0, 0, ...]]
 *
 * The word tokenizer is an ordinary Hugging Face tokenizer.json: a `WordLevel` model, a `Lowercase` normaliser and
 * the `Whitespace` pre-tokeniser (runs of word characters or of punctuation: "left-of?" → "left", "-", "of", "?").
 * Its vocabulary is counted by running the library's own normaliser and pre-tokeniser over the corpus, so building
 * and loading split text identically. (The Rust `tokenizers` library reads the same file.)
 *
 * Ids. With the default specials `["<pad>", "<|startoftext|>", "<|endoftext|>", "<unk>"]` the layout is
 * `<pad>` = 0, `<|startoftext|>` = 1, `<unk>` = 2, the words by descending frequency, and `<|endoftext|>` last.
 * EOT must be the largest id: CLIP's text encoder pools the features at `argmax(tokens)` of each row, which finds
 * EOT only because EOT is the largest id present (49407 in OpenAI's vocabulary) and padding is 0. Any tokenizer
 * used with argmax pooling needs that property; `tok.eotIsLargest` says whether it holds.
 *
 * `tokenize` follows openai/CLIP's `clip.tokenize`: each row is `[SOT] + ids + [EOT]`, zero-padded to
 * `contextLength` (77); a longer text is an error naming it, and with `truncate: true` it is cut to `contextLength`
 * and its last token set to EOT.
 */
import fs from "node:fs";
import path from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { atomicWrite, tf } from "@vlab/core";
import { checkTokenizerModel, quoteText } from "./tokenizer_json.js";

/** CLIP's start-of-text token. */
export const SOT_TOKEN = "<|startoftext|>";
/** CLIP's end-of-text token. */
export const EOT_TOKEN = "<|endoftext|>";
export const DEFAULT_SPECIALS = ["<pad>", SOT_TOKEN, EOT_TOKEN, "<unk>"] as const;

/** A tokenizer.json as a plain object (the fields this package writes; a user's file may have more). */
export interface TokenizerJson {
  version?: string;
  truncation?: unknown;
  padding?: unknown;
  added_tokens: {
    id: number;
    content: string;
    single_word?: boolean;
    lstrip?: boolean;
    rstrip?: boolean;
    normalized?: boolean;
    special?: boolean;
  }[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: { type?: string; vocab?: unknown; unk_token?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface TokenizerSpecials {
  /** Start-of-text token (default `<|startoftext|>`, else the config's `bos_token`). */
  sot?: string;
  /** End-of-text token (default `<|endoftext|>`, else the config's `eos_token`). */
  eot?: string;
}

/** A loaded tokenizer: the library object plus what `tokenize` needs. */
export class TextTokenizer {
  /** The `@huggingface/tokenizers` object, for anything not wrapped here. */
  readonly hf: HfTokenizer;
  readonly sotId: number | undefined;
  readonly eotId: number | undefined;
  /** Largest id + 1. */
  readonly vocabSize: number;

  constructor(
    /** The tokenizer.json content. */
    readonly json: TokenizerJson,
    /** The tokenizer_config.json content (may be empty). */
    readonly config: Record<string, unknown> = {},
    specials: TokenizerSpecials = {},
    /** Where it came from, for error messages. */
    readonly source = "tokenizer",
  ) {
    this.hf = new HfTokenizer(json, config);
    const vocab = this.hf.get_vocab(true);
    let max = -1;
    for (const id of vocab.values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    const find = (...names: (string | undefined)[]) => {
      for (const n of names) if (n !== undefined && this.hf.token_to_id(n) !== undefined) return this.hf.token_to_id(n);
      return undefined;
    };
    const str = (v: unknown) =>
      typeof v === "string"
        ? v
        : v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string"
          ? (v as { content: string }).content
          : undefined;
    this.sotId = specials.sot !== undefined ? find(specials.sot) : find(SOT_TOKEN, str(config.bos_token));
    this.eotId = specials.eot !== undefined ? find(specials.eot) : find(EOT_TOKEN, str(config.eos_token));
    if (specials.sot !== undefined && this.sotId === undefined)
      throw new Error(`${source}: start token "${specials.sot}" is not in the vocabulary`);
    if (specials.eot !== undefined && this.eotId === undefined)
      throw new Error(`${source}: end token "${specials.eot}" is not in the vocabulary`);
  }

  /** True when EOT has the largest id in the vocabulary, so `argmax` over a row of ids finds it (CLIP's pooling). */
  get eotIsLargest(): boolean {
    return this.eotId === this.vocabSize - 1;
  }

  /** Token ids of a text, without start / end tokens. */
  encode(text: string): number[] {
    const { ids, tokens }: { ids: (number | undefined)[]; tokens: string[] } = this.hf.encode(text, {
      add_special_tokens: false,
    });
    const bad = ids.findIndex((id) => id === undefined);
    if (bad >= 0)
      throw new Error(
        `${this.source}: token ${quoteText(tokens[bad] ?? "")} of ${quoteText(text)} has no id ` +
          "and the tokenizer has no unknown token",
      );
    return ids as number[];
  }

  /** The tokens of a text (strings), without start / end tokens. */
  tokens(text: string): string[] {
    return this.hf.tokenize(text, { add_special_tokens: false });
  }

  /** Ids → text. Special tokens (padding, SOT, EOT) are dropped unless `skipSpecial` is false. */
  decode(ids: ArrayLike<number>, { skipSpecial = true }: { skipSpecial?: boolean } = {}): string {
    const list = Array.from(ids);
    if (list.length === 0) return "";
    return this.hf.decode(list, { skip_special_tokens: skipSpecial });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }
}

export interface WordTokenizerOptions {
  /** Special tokens (default `["<pad>", "<|startoftext|>", "<|endoftext|>", "<unk>"]`), `unk` and `eot` among them. */
  specials?: readonly string[];
  /** Lowercase text before splitting (default true). */
  lowercase?: boolean;
  /** The unknown-word token, one of `specials` (default "<unk>"). */
  unk?: string;
  /** The end-of-text token, one of `specials`; it gets the largest id (default "<|endoftext|>"). */
  eot?: string;
  /** Words seen fewer times than this become `unk` (default 1: keep every word). */
  minFrequency?: number;
  /**
   * Tokens kept whole although the pre-tokeniser would split them (`<think>`, `</answer>`), and kept by `decode`
   * (unlike the specials): Hugging Face's added tokens with `special: false`. They take the ids after the specials.
   */
  addedTokens?: readonly string[];
}

/** The tokenizer.json skeleton shared by the vocabulary count and the final tokenizer. */
function wordLevelJson(
  vocab: Record<string, number>,
  specials: readonly string[],
  ids: Map<string, number>,
  lowercase: boolean,
  unk: string,
  added: readonly string[] = [],
): TokenizerJson {
  const idOf = (content: string): number => {
    const id = ids.get(content);
    if (id === undefined)
      throw new Error(`buildWordTokenizer: no id was given to the token ${JSON.stringify(content)}`);
    return id;
  };
  const entry = (content: string, special: boolean) => ({
    id: idOf(content),
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...specials.map((c) => entry(c, true)), ...added.map((c) => entry(c, false))],
    normalizer: lowercase ? { type: "Lowercase" } : null,
    pre_tokenizer: { type: "Whitespace" },
    post_processor: null,
    decoder: null,
    model: { type: "WordLevel", vocab, unk_token: unk },
  };
}

/**
 * Builds a word-level tokenizer from a corpus (see the file comment for the id layout). Deterministic: words with
 * equal counts are ordered alphabetically.
 */
export function buildWordTokenizer(corpus: readonly string[], opts: WordTokenizerOptions = {}): TextTokenizer {
  const specials = [...(opts.specials ?? DEFAULT_SPECIALS)];
  const lowercase = opts.lowercase ?? true;
  const unk = opts.unk ?? "<unk>";
  const eot = opts.eot ?? EOT_TOKEN;
  const minFrequency = opts.minFrequency ?? 1;
  const added = [...(opts.addedTokens ?? [])];
  if (new Set([...specials, ...added]).size !== specials.length + added.length)
    throw new RangeError(
      `buildWordTokenizer: duplicate special or added tokens in ${JSON.stringify([...specials, ...added])}`,
    );
  for (const [what, t] of [
    ["unk", unk],
    ["eot", eot],
  ] as const) {
    if (!specials.includes(t))
      throw new RangeError(
        `buildWordTokenizer: the ${what} token "${t}" must be one of the specials ${JSON.stringify(specials)}`,
      );
  }
  // 1. Split the corpus with the library's own normaliser and pre-tokeniser (specials kept whole, then dropped).
  const pre = specials.filter((s) => s !== eot);
  const bootIds = new Map([...specials, ...added].map((s, i) => [s, i]));
  const boot = new HfTokenizer(
    wordLevelJson(Object.fromEntries(bootIds), specials, bootIds, lowercase, unk, added),
    {},
  );
  const freq = new Map<string, number>();
  for (const text of corpus) {
    for (const t of boot.tokenize(text, { add_special_tokens: false })) {
      if (!bootIds.has(t)) freq.set(t, (freq.get(t) ?? 0) + 1);
    }
  }
  // 2. Ids: the specials but EOT, the added tokens, the words (most frequent first), EOT last.
  const words = [...freq.entries()]
    .filter(([, c]) => c >= minFrequency)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const ids = new Map<string, number>();
  for (const s of [...pre, ...added]) ids.set(s, ids.size);
  for (const [w] of words) ids.set(w, ids.size);
  ids.set(eot, ids.size);
  const json = wordLevelJson(Object.fromEntries(ids), specials, ids, lowercase, unk, added);
  return new TextTokenizer(json, { unk_token: unk }, { eot }, "word tokenizer");
}

/** Writes `tokenizer.json` (to `file`, or into it when it is a folder or has no .json extension); returns the path. */
export function saveTokenizer(tokenizer: TextTokenizer, file: string): string {
  const isDir = (fs.existsSync(file) && fs.statSync(file).isDirectory()) || !/\.json$/i.test(file);
  const out = isDir ? path.join(file, "tokenizer.json") : file;
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  atomicWrite(out, JSON.stringify(tokenizer.json, null, 2) + "\n");
  return out;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`loadTokenizer: ${source} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** The tokenizer.json model types this loader accepts (what @huggingface/tokenizers implements). */
const MODEL_TYPES = ["BPE", "WordPiece", "WordLevel", "Unigram"];

export interface LoadTokenizerOptions extends TokenizerSpecials {
  /** tokenizer_config.json content; by default read from next to a tokenizer.json file when there is one. */
  config?: Record<string, unknown>;
}

/**
 * Loads a Hugging Face tokenizer: a path to a `tokenizer.json` (or to a folder holding one), its JSON text, or
 * the parsed object. Errors name the file and what is wrong with it.
 */
export function loadTokenizer(src: string | object, opts: LoadTokenizerOptions = {}): TextTokenizer {
  let json: unknown;
  let source = "tokenizer JSON";
  let config = opts.config;
  if (typeof src === "string" && src.trimStart().startsWith("{")) {
    json = parseJson(src, "the tokenizer text");
  } else if (typeof src === "string") {
    let file = src;
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "tokenizer.json");
    if (!fs.existsSync(file)) throw new Error(`loadTokenizer: no such file: ${file}`);
    source = file;
    json = parseJson(fs.readFileSync(file, "utf8"), file);
    const cfgFile = path.join(path.dirname(file), "tokenizer_config.json");
    if (config === undefined && fs.existsSync(cfgFile)) {
      const cfg = parseJson(fs.readFileSync(cfgFile, "utf8"), cfgFile);
      if (cfg && typeof cfg === "object" && !Array.isArray(cfg)) config = cfg as Record<string, unknown>;
    }
  } else if (src && typeof src === "object" && !Array.isArray(src)) {
    json = src;
  } else {
    throw new TypeError(
      `loadTokenizer: expected a path, JSON text or an object, got ${Object.prototype.toString.call(src)}`,
    );
  }
  if (!json || typeof json !== "object" || Array.isArray(json))
    throw new Error(`loadTokenizer: ${source} is not a tokenizer.json (not a JSON object)`);
  const j = json as Partial<TokenizerJson>;
  if (!j.model || typeof j.model !== "object" || (j.model.vocab === undefined && j.model.type === undefined)) {
    throw new Error(
      `loadTokenizer: ${source} is not a tokenizer.json (no "model" with a "vocab"); ` +
        "expected a Hugging Face tokenizers file",
    );
  }
  const type = j.model.type;
  if (type !== undefined && !MODEL_TYPES.includes(type)) {
    throw new Error(`loadTokenizer: ${source} has a model of type "${type}"; supported: ${MODEL_TYPES.join(", ")}`);
  }
  if (!j.model.vocab || typeof j.model.vocab !== "object")
    throw new Error(`loadTokenizer: ${source} has no vocabulary ("model.vocab" is missing or not an object)`);
  // The library wants every top-level key present; files written by other tools may leave some out.
  const full: TokenizerJson = {
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...j,
    model: j.model,
  };
  const cfg: Record<string, unknown> = { ...(config ?? {}) };
  // A WordLevel model takes its unknown token from the config in tokenizers.js; from the model in the Rust library.
  if (cfg.unk_token === undefined && typeof full.model.unk_token === "string") cfg.unk_token = full.model.unk_token;
  try {
    checkTokenizerModel(full.model); // ids and merges that tokenizers.js would take without a word
    return new TextTokenizer(full, cfg, opts, source);
  } catch (e) {
    throw new Error(`loadTokenizer: ${source} could not be loaded (${(e as Error).message})`, { cause: e });
  }
}

export interface TokenizeOptions {
  /** Row length (default 77, CLIP's). */
  contextLength?: number;
  /** Cut texts that do not fit, ending them with EOT, instead of throwing (default false). */
  truncate?: boolean;
}

/** `tokenize` as plain numbers: `[B, contextLength]` int32, row-major. */
export function tokenizeIds(
  tokenizer: TextTokenizer,
  texts: string | readonly string[],
  opts: TokenizeOptions = {},
): Int32Array {
  const list = typeof texts === "string" ? [texts] : texts;
  const ctx = opts.contextLength ?? 77;
  if (!Number.isInteger(ctx) || ctx < 2)
    throw new RangeError(`tokenize: contextLength must be an integer >= 2, got ${ctx}`);
  const { sotId: sot, eotId: eot } = tokenizer;
  if (sot === undefined || eot === undefined) {
    const missing = sot === undefined ? `start token (${SOT_TOKEN})` : `end token (${EOT_TOKEN})`;
    throw new Error(`tokenize: ${tokenizer.source} has no ${missing}; pass { sot, eot } to loadTokenizer`);
  }
  const out = new Int32Array(list.length * ctx); // zero padding
  list.forEach((text, b) => {
    const row = [sot, ...tokenizer.encode(text), eot];
    if (row.length > ctx) {
      if (!opts.truncate) {
        throw new RangeError(
          `tokenize: input ${quoteText(text)} is ${row.length} tokens long with start and end tokens, ` +
            `too long for context length ${ctx} (pass { truncate: true } to cut it)`,
        );
      }
      row.length = ctx;
      row[ctx - 1] = eot;
    }
    out.set(row, b * ctx);
  });
  return out;
}

/**
 * CLIP's `tokenize`: `[SOT] + ids + [EOT]` per text, zero-padded to `contextLength` → tensor `[B, contextLength]`
 * int32 (the caller disposes it). Throws for a text that does not fit unless `truncate` is set.
 */
export function tokenize(
  tokenizer: TextTokenizer,
  texts: string | readonly string[],
  opts: TokenizeOptions = {},
): tf.Tensor2D {
  const ids = tokenizeIds(tokenizer, texts, opts);
  const b = typeof texts === "string" ? 1 : texts.length;
  return tf.tensor2d(ids, [b, opts.contextLength ?? 77], "int32");
}
