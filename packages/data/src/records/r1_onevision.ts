/**
 * The R1-Onevision reasoning record (Fancy-MLLM/R1-Onevision; Yang et al. 2025, arXiv:2503.10615): a formal
 * description of the image, a chain of thought a reasoning model wrote from it, and the judge's verdict on the chain;
 * one record a line:
 *
 *   {"id": "geo-17", "image": "scenes/17.png", "gt": "3", "data_source": "shapes",
 *    "conversations": [{"from": "human", "value": "<image>How many circles are left of the square?"},
 *                      {"from": "assistant", "value": "<think>…</think>\n<answer>3</answer>"}],
 *    "filter": true, "judge_response": "The chain ends in 3, the ground truth; every object it names exists."}
 *
 *   id              a string or a number
 *   image           the image's path, relative to the image root
 *   gt              the ground truth (a string or a number)
 *   data_source     where the question comes from (R1-Onevision's per-source folders: ai2d, Geometry3K, …)
 *   conversations   "human", "assistant", alternating, starting with "human": the question (one `<image>` for the
 *                   image) and the chain of thought
 *   filter          optional: the judge's verdict, true/false or its word for it ("yes", "no")
 *   judge_response  optional: what the judge wrote
 *
 * The public dataset card is empty, so the column types above (the field names are the project's) are what vlab
 * writes and checks, not a copy of a published schema; `filter` and `judge_response` are optional so that a record
 * can be written before it is judged. Other fields are kept.
 */
import { checkRoles, countImageTokens, FieldFault, needObjects, needPath, needString } from "./check.js";
import { needStringOrNumber, optString } from "./check.js";
import type { FormatSpec, JsonObject } from "./check.js";

export interface R1OnevisionTurn {
  from: "human" | "assistant";
  value: string;
}

export interface R1OnevisionRecord {
  id: string | number;
  image: string;
  gt: string | number;
  data_source: string;
  conversations: R1OnevisionTurn[];
  filter?: boolean | string;
  judge_response?: string;
  [extra: string]: unknown;
}

const ROLES = [["human"], ["assistant"]] as const;

function validateR1Onevision(row: JsonObject): R1OnevisionRecord {
  needStringOrNumber(row, "id");
  needPath(row, "image");
  needStringOrNumber(row, "gt");
  needString(row, "data_source");
  const turns = needObjects(row, "conversations");
  checkRoles(turns, "conversations", "from", "value", (i) => ROLES[i % 2] ?? []);
  if (Object.hasOwn(row, "filter")) {
    const f = row.filter;
    if (typeof f !== "boolean" && typeof f !== "string")
      throw new FieldFault("wrong-type", "filter", `expected a boolean or a string, got ${JSON.stringify(f)}`);
  }
  optString(row, "judge_response");
  return row as R1OnevisionRecord;
}

export const r1OnevisionFormat: FormatSpec<R1OnevisionRecord> = {
  container: "jsonl",
  validate: validateR1Onevision,
  images: (rec) => [rec.image],
  imageTokens: (rec) => rec.conversations.reduce((n, t) => n + countImageTokens(t.value), 0),
  textField: "conversations",
  imageField: () => "image",
};
