/**
 * The tokenizer and generation files of a Hugging Face model folder, for a vlab chat model:
 *
 *   tokenizer.json           the tokenizer itself (vlab's word-level tokenizer or a user's BPE, as loaded)
 *   tokenizer_config.json    tokenizer_class, eos / pad / unk tokens, model_max_length and the chat template
 *   chat_template.jinja      the same template (transformers ≥ 4.5x saves it beside; older versions read the
 *                            tokenizer_config.json key)
 *   generation_config.json   token ids only: vLLM's `generation_config="auto"` turns any sampling field it finds into
 *                            default sampling parameters (vllm-project/vllm PR #11164)
 *
 * The chat template is `applyChatTemplate` (chat.ts) written in Jinja, so that transformers' `apply_chat_template`
 * renders the same text as vlab did in training: ChatML turns, an optional default system message put first when
 * the first message is not a system one (Qwen2's "You are a helpful assistant."), and each image as one placeholder
 * between the vision markers, which Qwen2-VL's processor then expands to the image's token count
 * (transformers `processing_qwen2_vl.py`). It is written with `{%-`/`{{-` on every tag, so transformers' Jinja
 * settings (`trim_blocks`, `lstrip_blocks`) leave no stray whitespace, and every literal is a Jinja string
 * (`'\n'` is a newline there), as Qwen2's own template does.
 *
 * The ids follow Qwen2-Instruct's files: `eos_token` is `<|im_end|>` (an answer ends there), generation stops at
 * `[<|im_end|>, <|endoftext|>]`, and `bos_token_id` is `<|endoftext|>`'s id (the tokenizer adds no BOS).
 */
import { IMAGE_PAD, IM_END, IM_START, type ChatTemplateOptions, type ChatTokenizer } from "./chat.js";

/** A Jinja string literal: backslashes, quotes and newlines escaped (Jinja reads Python's escapes). */
export function jinjaString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n").replace(/\r/g, "\\r")}'`;
}

/** `applyChatTemplate(messages, opts)` as a Jinja chat template (see the file comment). */
export function chatTemplateJinja(opts: ChatTemplateOptions = {}): string {
  const q = jinjaString;
  const image = (opts.visionStart ?? "") + (opts.imageToken ?? IMAGE_PAD) + (opts.visionEnd ?? "");
  const lines: string[] = [];
  if (opts.defaultSystemPrompt !== undefined) {
    lines.push(
      "{%- if messages[0]['role'] != 'system' %}",
      `{{- ${q(`${IM_START}system\n${opts.defaultSystemPrompt}${IM_END}\n`)} }}`,
      "{%- endif %}",
    );
  }
  lines.push(
    "{%- for message in messages %}",
    `{{- ${q(IM_START)} + message['role'] + ${q("\n")} }}`,
    "{%- if message['content'] is string %}",
    "{{- message['content'] }}",
    "{%- else %}",
    "{%- for part in message['content'] %}",
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part %}",
    `{{- ${q(image)} }}`,
    "{%- elif 'text' in part %}",
    "{{- part['text'] }}",
    "{%- endif %}",
    "{%- endfor %}",
    "{%- endif %}",
    `{{- ${q(`${IM_END}\n`)} }}`,
    "{%- endfor %}",
    "{%- if add_generation_prompt %}",
    `{{- ${q(`${IM_START}assistant\n`)} }}`,
    "{%- endif %}",
  );
  return lines.join("\n") + "\n";
}

/** `<|endoftext|>` of Qwen2's released vocabulary: its tokenizer.json is then Qwen2's, and named as such. */
const QWEN2_ENDOFTEXT_ID = 151643;

export interface HfTokenizerFiles {
  "tokenizer.json": unknown;
  "tokenizer_config.json": Record<string, unknown>;
  "chat_template.jinja": string;
  "generation_config.json": Record<string, unknown>;
}

/** The token ids a config.json carries for a chat tokenizer (see the file comment). */
export function hfTokenIds(tok: ChatTokenizer): { bos_token_id: number; eos_token_id: number; pad_token_id: number } {
  return { bos_token_id: tok.eosId, eos_token_id: tok.imEndId, pad_token_id: tok.padId };
}

/**
 * The tokenizer and generation files for `tok` with the chat template of `chat` (see the file comment);
 * `modelMaxLength` is the model's `max_position_embeddings`.
 */
export function hfTokenizerFiles(
  tok: ChatTokenizer,
  chat: ChatTemplateOptions,
  modelMaxLength: number,
): HfTokenizerFiles {
  const name = (id: number) => {
    const t = tok.tokenizer.idToToken(id);
    if (t === undefined) throw new Error(`hfTokenizerFiles: ${tok.tokenizer.source} has no token of id ${id}`);
    return t;
  };
  const template = chatTemplateJinja({ imageToken: name(tok.imageTokenId), ...chat });
  const unk = tok.tokenizer.json.model.unk_token;
  return {
    "tokenizer.json": tok.tokenizer.json,
    "tokenizer_config.json": {
      tokenizer_class: tok.eosId === QWEN2_ENDOFTEXT_ID ? "Qwen2Tokenizer" : "PreTrainedTokenizerFast",
      bos_token: null,
      eos_token: name(tok.imEndId),
      pad_token: name(tok.padId),
      unk_token: typeof unk === "string" ? unk : null,
      model_max_length: modelMaxLength,
      clean_up_tokenization_spaces: false,
      split_special_tokens: false,
      chat_template: template,
    },
    "chat_template.jinja": template,
    "generation_config.json": {
      bos_token_id: tok.eosId,
      eos_token_id: [...new Set([tok.imEndId, tok.eosId])],
      pad_token_id: tok.padId,
    },
  };
}
