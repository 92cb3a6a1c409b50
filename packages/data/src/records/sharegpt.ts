/**
 * ShareGPT `messages` JSONL with images, as LLaMA-Factory reads it (hiyouga/LLaMA-Factory,
 * src/llamafactory/data/converter.py `SharegptDatasetConverter`) under R1-Onevision's `dataset_info.json` entry
 * `{"formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"}, "tags": {"role_tag": "role",
 * "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}`; one record a line:
 *
 *   {"messages": [{"role": "user", "content": "<image>How many circles?"},
 *                 {"role": "assistant", "content": "<think>…</think>\n<answer>3</answer>"}],
 *    "images": ["scenes/000001.png"]}
 *
 *   messages  an optional first "system" message (LLaMA-Factory's default `system_tag`), then turns that alternate
 *             "user" (or "observation") and "assistant" (or "function_call"), an even number of them: the converter
 *             drops a record with a turn out of place ("Invalid role tag") or an odd count ("Invalid message
 *             count"); here it is an error, since a silently dropped record is data lost
 *   images    optional: paths, relative to LLaMA-Factory's `media_dir` (the image root here)
 *
 * LLaMA-Factory's `mm_plugin` raises "The number of images does not match the number of <image> tokens" when the
 * `<image>` placeholders of all messages do not number `images.length`; so does this reader. Other fields (an `id`)
 * are kept.
 */
import { checkRoles, countImageTokens, FieldFault, needObjects, needStrings } from "./check.js";
import type { FormatSpec, JsonObject } from "./check.js";

export type SharegptRole = "system" | "user" | "assistant" | "observation" | "function_call";

export interface SharegptMessage {
  role: SharegptRole;
  content: string;
}

export interface SharegptRecord {
  messages: SharegptMessage[];
  images?: string[];
  [extra: string]: unknown;
}

const USER_TURN = ["user", "observation"] as const;
const ASSISTANT_TURN = ["assistant", "function_call"] as const;

function validateSharegpt(row: JsonObject): SharegptRecord {
  const messages = needObjects(row, "messages");
  const system = messages[0]?.role === "system" ? 1 : 0;
  checkRoles(messages, "messages", "role", "content", (i) =>
    i < system ? ["system"] : (i - system) % 2 === 0 ? USER_TURN : ASSISTANT_TURN,
  );
  const turns = messages.length - system;
  if (turns === 0 || turns % 2 !== 0)
    throw new FieldFault(
      "invalid-value",
      "messages",
      `holds ${turns} turns after any system message; LLaMA-Factory needs an even, non-zero number (user, assistant…)`,
    );
  if (Object.hasOwn(row, "images")) needStrings(row, "images");
  return row as SharegptRecord;
}

export const sharegptFormat: FormatSpec<SharegptRecord> = {
  container: "jsonl",
  validate: validateSharegpt,
  images: (rec) => rec.images ?? [],
  imageTokens: (rec) => rec.messages.reduce((n, m) => n + countImageTokens(m.content), 0),
  textField: "messages",
  imageField: (_rec, i) => `images[${i}]`,
};
