/**
 * The model's response, cut out of what an RL engine sends a reward server.
 *
 * OpenRLHF (openrlhf/utils/agent.py, `SingleTurnAgentExecutor`, v0.11) posts `query` =
 * `tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)`: the whole chat-templated
 * conversation, special tokens included, and beside it `prompts`, the templated prompt. lmm-r1
 * (openrlhf/models/remote_rm/math_verifier.py, `get_response_from_query`) cuts at the assistant header
 * of its `--prompt-template` and deletes the end-of-sequence strings. The response is found by the first
 * rule that applies:
 *
 *   1. prefix  — `query` starts with a non-empty `prompt`: the rest of `query` (OpenRLHF's
 *                examples/python/math_reward_func.py does this);
 *   2. header  — `query` holds an assistant header (ChatML `<|im_start|>assistant\n` first, then Llama 3,
 *                Gemma, Phi, DeepSeek, and the plain `Assistant: ` of lmm-r1's "base" template): the text
 *                after the k-th header, k being how many the prompt holds (the prompt ends with the
 *                header of the turn to generate), or after the last one when the prompt has none. For a
 *                one-turn prompt that is lmm-r1's first-header cut; for a chat with earlier assistant
 *                turns it is still the new turn. A VLM's query lands here: it holds the expanded
 *                `<|image_pad|>` run its prompt lacks, so rule 1 fails;
 *   3. whole   — otherwise the whole query (verl and TRL hand over the response alone, and the Python
 *                shim sends it with an empty prompt).
 *
 * Then every end-of-sequence and padding token string (`<|im_end|>`, `<|endoftext|>`, …) is deleted, as
 * lmm-r1 does and as `skip_special_tokens=True` decoding (verl, TRL) leaves the text. Whitespace is kept:
 * a reward that wants it stripped (lmm-r1's) strips it itself.
 */

export type ExtractionRule = "prefix" | "header" | "whole";

/** Assistant headers, tried in this order; the first one the query holds decides. */
export const ASSISTANT_HEADERS: readonly string[] = [
  "<|im_start|>assistant\n", // ChatML: Qwen2 / Qwen2-VL, lmm-r1's "chatml"
  "<|start_header_id|>assistant<|end_header_id|>\n\n", // Llama 3
  "<start_of_turn>model\n", // Gemma (lmm-r1's "gemma3")
  "<|assistant|>\n", // Phi-3 / Phi-4
  "<｜Assistant｜>", // DeepSeek-R1 distills (lmm-r1's "qwen1")
  "Assistant: ", // lmm-r1's "base"
];

/** End-of-sequence and padding token strings deleted from the response. */
export const END_MARKERS: readonly string[] = [
  "<|im_end|>",
  "<|endoftext|>",
  "<｜end▁of▁sentence｜>",
  "<end_of_turn>",
  "<|end|>",
  "<|eot_id|>",
  "<|end_of_text|>",
  "<|eos|>",
  "</s>",
  "<pad>",
  "<|pad|>",
];

export interface Extracted {
  response: string;
  rule: ExtractionRule;
}

/** The response inside `query` (see the file comment); `prompt` may be null, empty or absent. */
export function extractResponse(query: string, prompt?: string | null): Extracted {
  let response: string | null = null;
  let rule: ExtractionRule = "whole";
  if (typeof prompt === "string" && prompt !== "" && query.startsWith(prompt)) {
    response = query.slice(prompt.length);
    rule = "prefix";
  } else {
    for (const header of ASSISTANT_HEADERS) {
      const at = headerEnd(query, header, typeof prompt === "string" ? countOf(prompt, header) : 0);
      if (at >= 0) {
        response = query.slice(at);
        rule = "header";
        break;
      }
    }
  }
  return { response: deleteMarkers(response ?? query), rule };
}

/** Where the text after the k-th `header` of `s` starts (after the last one if k is 0 or too large); -1 if none. */
function headerEnd(s: string, header: string, k: number): number {
  let at = -1;
  let seen = 0;
  for (let i = s.indexOf(header); i >= 0; i = s.indexOf(header, i + header.length)) {
    at = i + header.length;
    if (++seen === k) break;
  }
  return at;
}

function countOf(s: string, needle: string): number {
  let n = 0;
  for (let i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + needle.length)) n++;
  return n;
}

function deleteMarkers(s: string): string {
  let out = s;
  for (const m of END_MARKERS) if (out.includes(m)) out = out.replaceAll(m, "");
  return out;
}
