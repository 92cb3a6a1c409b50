/**
 * The RL data of R1-Onevision's GRPO trainer (their VLM-R1 fork, src/open-r1-multimodal/src/open_r1/grpo_jsonl.py),
 * one record a line:
 *
 *   {"id": 1, "image": "scenes/1.png",
 *    "conversations": [{"from": "human", "value": "<image>How many circles?"}, {"from": "gpt", "value": "3"}],
 *    "accu_reward_method": "mcq"}
 *
 *   id                  a string or a number
 *   image               the image's path (grpo_jsonl.py opens it as given; here, relative to the image root)
 *   conversations       at least a "human" turn (the question, with one `<image>`) then a "gpt" turn (the answer)
 *   accu_reward_method  optional: "mcq" (multiple choice: the letter is extracted and compared) or "default"
 *                       (math_verify, then exact match for answers with a digit, else a fuzzy ratio); grpo_jsonl.py
 *                       takes every value but "mcq" as the default, so anything else is an error here
 *
 * What grpo_jsonl.py's `main` and `make_conversation_from_jsonl` derive from a record (`rlExample`):
 *
 *   problem   = conversations[0].value with every "<image>" removed (nothing else: no strip)
 *   solution  = "<answer> " + conversations[1].value without "<answer>"/"</answer>", stripped + " </answer>"
 *   prompt    = problem + "  Output the thinking process in <think> </think> and final answer in <answer> </answer>
 *               tags."   (two spaces before "Output")
 *   method    = the record's accu_reward_method, else the script's `--reward_method` (default "default")
 */
import { checkRoles, countImageTokens, FieldFault, needObjects, needPath, needStringOrNumber } from "./check.js";
import type { FormatSpec, JsonObject } from "./check.js";

export type AccuRewardMethod = "mcq" | "default";

export interface R1OnevisionRlTurn {
  from: "human" | "gpt";
  value: string;
}

export interface R1OnevisionRlRecord {
  id: string | number;
  image: string;
  conversations: R1OnevisionRlTurn[];
  accu_reward_method?: AccuRewardMethod;
  [extra: string]: unknown;
}

/** The instruction grpo_jsonl.py appends to every problem (its two leading spaces included). */
export const R1_ONEVISION_RL_SUFFIX =
  "  Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.";

const ROLES = [["human"], ["gpt"]] as const;

function validateRl(row: JsonObject): R1OnevisionRlRecord {
  needStringOrNumber(row, "id");
  needPath(row, "image");
  const turns = needObjects(row, "conversations");
  checkRoles(turns, "conversations", "from", "value", (i) => ROLES[i % 2] ?? []);
  if (turns.length < 2)
    throw new FieldFault("invalid-value", "conversations", "needs the question and the answer (2 turns), has 1");
  if (Object.hasOwn(row, "accu_reward_method")) {
    const m = row.accu_reward_method;
    if (typeof m !== "string")
      throw new FieldFault("wrong-type", "accu_reward_method", `expected a string, got ${JSON.stringify(m)}`);
    if (m !== "mcq" && m !== "default")
      throw new FieldFault(
        "invalid-value",
        "accu_reward_method",
        `is ${JSON.stringify(m)}: give "mcq" or "default" (grpo_jsonl.py would silently use the default for it)`,
      );
  }
  return row as R1OnevisionRlRecord;
}

export const r1OnevisionRlFormat: FormatSpec<R1OnevisionRlRecord> = {
  container: "jsonl",
  validate: validateRl,
  images: (rec) => [rec.image],
  imageTokens: (rec) => rec.conversations.reduce((n, t) => n + countImageTokens(t.value), 0),
  textField: "conversations",
  imageField: () => "image",
};

/** A record as grpo_jsonl.py hands it to the trainer (see the file comment). */
export interface R1OnevisionRlExample {
  imagePath: string;
  problem: string;
  solution: string;
  accuRewardMethod: AccuRewardMethod;
  /** The user turn's text: `problem` + R1_ONEVISION_RL_SUFFIX (the image goes before it). */
  prompt: string;
}

/** What grpo_jsonl.py derives from `rec`; `rewardMethod` is its `--reward_method` for records without one. */
export function rlExample(rec: R1OnevisionRlRecord, rewardMethod: AccuRewardMethod = "default"): R1OnevisionRlExample {
  const [question, answer] = rec.conversations;
  if (question === undefined || answer === undefined)
    throw new Error(`rlExample: record ${JSON.stringify(rec.id)} needs a question and an answer turn`);
  const problem = question.value.split("<image>").join("");
  // Python's str.strip() and trim() remove the same whitespace but for U+001C–U+001F (Python) and U+FEFF (trim).
  const bare = answer.value.split("<answer>").join("").split("</answer>").join("").trim();
  return {
    imagePath: rec.image,
    problem,
    solution: `<answer> ${bare} </answer>`,
    accuRewardMethod: rec.accu_reward_method ?? rewardMethod,
    prompt: problem + R1_ONEVISION_RL_SUFFIX,
  };
}
