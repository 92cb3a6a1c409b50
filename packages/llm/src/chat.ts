/**
 * ChatML, the chat format of Qwen2 (and Qwen2-VL: the `chat_template` of Hugging Face transformers'
 * tests/models/qwen2_vl/test_processor_qwen2_vl.py):
 *
 *   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
 *   <|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe.<|im_end|>\n
 *   <|im_start|>assistant\n                                   ← the generation prompt
 *
 * `applyChatTemplate` renders messages to that text; `ChatTokenizer` tokenises it with a Hugging Face
 * tokenizer (@huggingface/tokenizers, through @vlab/tokenizers) that knows the special tokens — a word-level
 * one built from a corpus for the tiny models here (`buildChatTokenizer`), or a real `tokenizer.json`
 * (`ChatTokenizer.fromTokenizer(loadTokenizer(...))`). Specials are split out of the text before
 * the word splitting, so `<|im_start|>user` is two tokens. (The word tokenizer drops whitespace,
 * so the `\n`s vanish from its ids; a BPE tokenizer keeps them as tokens.)
 */
import { buildWordTokenizer, type TextTokenizer, type WordTokenizerOptions } from "@vlab/tokenizers";
import { buildLabels } from "./sft.js";

export const IM_START = "<|im_start|>";
export const IM_END = "<|im_end|>";
export const IMAGE_PAD = "<|image_pad|>";
export const VISION_START = "<|vision_start|>";
export const VISION_END = "<|vision_end|>";
export const ENDOFTEXT = "<|endoftext|>";
export const PAD = "<pad>";

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image"; /** placeholders for this image (default: the template's imageTokens) */ tokens?: number };

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string | readonly ContentPart[];
}

export interface ChatTemplateOptions {
  /** End with `<|im_start|>assistant\n`, the prompt for the model's answer (default false). */
  addGenerationPrompt?: boolean;
  /**
   * A system message put first when the first message is not one (Qwen2's template: "You are a helpful assistant.");
   * default none.
   */
  defaultSystemPrompt?: string;
  /** The image placeholder token (default `<|image_pad|>`). */
  imageToken?: string;
  /** Placeholders per image, one per image feature row (default 1, as the template before the processor expands it). */
  imageTokens?: number;
  /** Tokens around each image's placeholders (Qwen2-VL: `<|vision_start|>`, `<|vision_end|>`); default none. */
  visionStart?: string;
  visionEnd?: string;
}

/** Qwen2-VL's template (its `chat_template`, see the file comment): default system prompt, vision markers. */
export const QWEN2_VL_TEMPLATE: ChatTemplateOptions = {
  defaultSystemPrompt: "You are a helpful assistant.",
  visionStart: VISION_START,
  visionEnd: VISION_END,
};

/** Renders messages as ChatML text (see the file comment). */
export function applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
  const imageToken = opts.imageToken ?? IMAGE_PAD;
  const perImage = opts.imageTokens ?? 1;
  let out = "";
  if (opts.defaultSystemPrompt !== undefined && messages[0]?.role !== "system") {
    out += `${IM_START}system\n${opts.defaultSystemPrompt}${IM_END}\n`;
  }
  for (const m of messages) {
    let content = "";
    if (typeof m.content === "string") content = m.content;
    else {
      for (const part of m.content) {
        if (part.type === "text") content += part.text;
        else if (part.type === "image") {
          const n = part.tokens ?? perImage;
          if (!Number.isInteger(n) || n < 1)
            throw new RangeError(
              `applyChatTemplate: an image needs a positive integer number of placeholders, got ${n}`,
            );
          content += (opts.visionStart ?? "") + imageToken.repeat(n) + (opts.visionEnd ?? "");
        } else throw new Error(`applyChatTemplate: unknown content part ${JSON.stringify(part)}`);
      }
    }
    out += `${IM_START}${m.role}\n${content}${IM_END}\n`;
  }
  if (opts.addGenerationPrompt) out += `${IM_START}assistant\n`;
  return out;
}

/** The special tokens a ChatTokenizer needs, by their text. */
export interface ChatTokenNames {
  imStart: string;
  imEnd: string;
  imagePad: string;
  /** Padding (left padding in generation); word tokenizer `<pad>`, Qwen2 `<|endoftext|>`. */
  pad: string;
  /** End of text; generation stops at it and at `<|im_end|>`. */
  eos: string;
}

/** The specials of `buildChatTokenizer`, in id order (`<|endoftext|>` gets the largest id). */
export const CHAT_SPECIALS = [PAD, IM_START, IM_END, IMAGE_PAD, VISION_START, VISION_END, "<unk>", ENDOFTEXT] as const;

/** A tokenizer plus the ids of the chat special tokens. */
export class ChatTokenizer {
  readonly imStartId: number;
  readonly imEndId: number;
  readonly imageTokenId: number;
  readonly padId: number;
  readonly eosId: number;
  /** Ids of `<|im_start|>assistant\n`: where an answer starts (see buildLabels). */
  readonly assistantHeader: number[];

  constructor(
    /** The @vlab/tokenizers tokenizer (its `hf` field is the @huggingface/tokenizers object). */
    readonly tokenizer: TextTokenizer,
    names: Partial<ChatTokenNames> = {},
  ) {
    const find = (what: string, candidates: string[]) => {
      for (const c of candidates) {
        const id = tokenizer.tokenToId(c);
        if (id !== undefined) return id;
      }
      throw new Error(
        `ChatTokenizer: ${tokenizer.source} has no ${what} token ` +
          `(looked for ${candidates.map((c) => JSON.stringify(c)).join(", ")})`,
      );
    };
    this.imStartId = find("im_start", [names.imStart ?? IM_START]);
    this.imEndId = find("im_end", [names.imEnd ?? IM_END]);
    this.imageTokenId = find("image placeholder", [names.imagePad ?? IMAGE_PAD]);
    this.padId = find("padding", names.pad ? [names.pad] : [PAD, ENDOFTEXT]);
    this.eosId = find("end-of-text", [names.eos ?? ENDOFTEXT]);
    this.assistantHeader = this.encode(`${names.imStart ?? IM_START}assistant\n`);
  }

  /** Wraps a loaded tokenizer (e.g. Qwen2's tokenizer.json through @vlab/tokenizers' loadTokenizer). */
  static fromTokenizer(tokenizer: TextTokenizer, names: Partial<ChatTokenNames> = {}): ChatTokenizer {
    return new ChatTokenizer(tokenizer, names);
  }

  /** Vocabulary size (largest id + 1): the LLM's vocabSize. */
  get vocabSize(): number {
    return this.tokenizer.vocabSize;
  }

  /** Generation stops at `<|im_end|>` (end of the answer) or `<|endoftext|>`. */
  get stopIds(): number[] {
    return [...new Set([this.imEndId, this.eosId])];
  }

  /** Ids of a text; special tokens written in the text become their ids. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  /** Text of ids (special tokens dropped unless `skipSpecial: false`). */
  decode(ids: ArrayLike<number>, opts: { skipSpecial?: boolean } = {}): string {
    return this.tokenizer.decode(ids, opts);
  }

  /** Ids of a chat rendered with `applyChatTemplate`. */
  encodeChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(
      applyChatTemplate(messages, { imageToken: this.tokenizer.idToToken(this.imageTokenId), ...opts }),
    );
  }

  /** SFT labels for chat ids: answers and their `<|im_end|>` supervised, the rest −100 (see buildLabels). */
  labels(ids: readonly number[]): number[] {
    return buildLabels(ids, {
      assistantHeader: this.assistantHeader,
      endId: this.imEndId,
      imageTokenId: this.imageTokenId,
    });
  }
}

/**
 * A word-level chat tokenizer for a corpus (through @vlab/tokenizers' buildWordTokenizer): the specials
 * of CHAT_SPECIALS (`<pad>` = 0, `<|im_start|>` = 1, `<|im_end|>` = 2, `<|image_pad|>` = 3, …),
 * the role names, then the corpus words by frequency, `<|endoftext|>` last.
 */
export function buildChatTokenizer(
  corpus: readonly string[],
  opts: Omit<WordTokenizerOptions, "specials" | "eot" | "unk"> = {},
): ChatTokenizer {
  // (opts.addedTokens, e.g. R1-V's "<think>" "</think>" "<answer>" "</answer>", stay whole and survive decode.)
  const tok = buildWordTokenizer([...corpus, "system user assistant"], {
    ...opts,
    specials: CHAT_SPECIALS,
    eot: ENDOFTEXT,
    unk: "<unk>",
  });
  return new ChatTokenizer(tok);
}
