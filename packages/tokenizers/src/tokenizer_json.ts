/**
 * Checks of a tokenizer.json's `model` before `@huggingface/tokenizers` sees it. That library takes a vocabulary id of
 * 0.5, -1 or "0", or a merge "ab" without its space, without a word, and then encodes text into those values; the Rust
 * `tokenizers` library refuses such files. These checks refuse them too, naming the file, the field and the entry:
 *
 * - WordLevel, WordPiece, BPE: `vocab` is an object of token → id, every id a non-negative integer;
 * - Unigram: `vocab` is a list of `[piece, score]` pairs with finite scores;
 * - BPE: `merges` is a list of "left right" strings (exactly one space) or `[left, right]` pairs, and `left`, `right`
 *   and the merged token (`left` + `right` without its `continuing_subword_prefix`, as the Rust BPE builder forms it)
 *   are all in the vocabulary.
 */

/**
 * A text quoted for an error message, cut to its first `max` characters when longer (`"a red ci"…(1048576 chars)`),
 * so that a huge input does not end up in the message whole.
 */
export function quoteText(text: string, max = 80): string {
  if (text.length <= max) return JSON.stringify(text);
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max; // do not split a surrogate pair
  return `${JSON.stringify(text.slice(0, end))}…(${text.length} chars)`;
}

/** A JSON value for a message, cut to 80 characters. */
function quoteValue(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length <= 80 ? s : `${s.slice(0, 80)}…(${s.length} chars)`;
}

/** What a JSON value is, for "… is not an object (it is an array)". */
function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v} (${quoteValue(v)})`;
}

/** Throws the fault; `loadTokenizer` wraps it as `loadTokenizer: <source> could not be loaded (<msg>)`. */
function fail(msg: string): never {
  throw new Error(msg);
}

/** The token → id vocabulary of a WordLevel / WordPiece / BPE model, checked: every id a non-negative integer. */
function idVocab(type: string, vocab: unknown): Map<string, number> {
  if (!vocab || typeof vocab !== "object" || Array.isArray(vocab))
    fail(`model.vocab of a ${type} model must be an object { token: id }, it is ${kind(vocab)}`);
  const ids = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0)
      fail(`model.vocab[${quoteText(token)}] is ${quoteValue(id)}, not a token id (a non-negative integer)`);
    ids.set(token, id);
  }
  return ids;
}

/** A Unigram vocabulary: `[piece, score]` pairs. */
function checkUnigram(vocab: unknown): void {
  if (!Array.isArray(vocab))
    fail(`model.vocab of a Unigram model must be a list of [piece, score] pairs, it is ${kind(vocab)}`);
  vocab.forEach((entry: unknown, i) => {
    const ok =
      Array.isArray(entry) &&
      entry.length === 2 &&
      typeof entry[0] === "string" &&
      typeof entry[1] === "number" &&
      Number.isFinite(entry[1]);
    if (!ok) fail(`model.vocab[${i}] is ${quoteValue(entry)}, not a [piece, score] pair with a finite score`);
  });
}

/** BPE merges: each a "left right" string or a [left, right] pair, whose parts and result are in the vocabulary. */
function checkMerges(model: Record<string, unknown>, vocab: Map<string, number>): void {
  const merges = model.merges;
  if (merges === undefined) fail(`model.merges is missing (a BPE model needs its list of merges)`);
  if (!Array.isArray(merges)) fail(`model.merges must be a list, it is ${kind(merges)}`);
  const prefix = typeof model.continuing_subword_prefix === "string" ? model.continuing_subword_prefix : "";
  merges.forEach((merge: unknown, i) => {
    let pair: string[] | undefined;
    if (typeof merge === "string") {
      pair = merge.split(" ");
      if (pair.length !== 2 || !pair[0] || !pair[1])
        fail(`model.merges[${i}] is ${quoteText(merge)}, not two tokens separated by one space`);
    } else if (Array.isArray(merge) && merge.length === 2 && merge.every((t) => typeof t === "string")) {
      pair = merge as string[];
    } else {
      fail(`model.merges[${i}] is ${quoteValue(merge)}, not a "left right" string or a [left, right] pair`);
    }
    const [left = "", right = ""] = pair;
    const merged = left + right.slice(prefix.length);
    for (const token of [left, right, merged]) {
      if (!vocab.has(token)) {
        const what = token === merged && token !== left && token !== right ? "the merged token " : "";
        fail(`model.merges[${i}] (${quoteValue(merge)}): ${what}${quoteText(token)} is not in the vocabulary`);
      }
    }
  });
}

/** Checks a tokenizer.json model of a known type (see the file comment); throws naming the field and the entry. */
export function checkTokenizerModel(model: Record<string, unknown>): void {
  const type = typeof model.type === "string" ? model.type : inferType(model);
  if (type === "Unigram") return checkUnigram(model.vocab);
  const vocab = idVocab(type, model.vocab);
  if (type === "BPE") checkMerges(model, vocab);
}

/** The model type of a file that does not say (as the Rust library guesses it from the fields present). */
function inferType(model: Record<string, unknown>): string {
  if (Array.isArray(model.vocab)) return "Unigram";
  if ("merges" in model) return "BPE";
  if ("continuing_subword_prefix" in model || "max_input_chars_per_word" in model) return "WordPiece";
  return "WordLevel";
}
