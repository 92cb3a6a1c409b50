/**
 * Chain-of-thought data as R1-Onevision stores it (records/ reads and writes the formats): the steps between a judged
 * chain and the files each project trains on.
 *
 * R1-Onevision (Fancy-MLLM/R1-Onevision): every chain becomes a reasoning record with the judge's verdict
 * (`filter`, `judge_response`); the kept ones go to LLaMA-Factory as ShareGPT `messages` for SFT; the questions with
 * their short answers go to its GRPO script (`grpo_jsonl.py`) as RL records.
 *
 *   onevisionRecord(example)     → {"id", "image", "gt", "data_source", "conversations", "filter", "judge_response"}
 *   sharegptOfOnevision(record)  → {"messages": [user "<image>Q", assistant chain], "images": [image]}
 *   rlOfOnevision(record)        → {"id", "image", "conversations": [human "<image>Q", gpt "A"]}
 *
 * `sharegptQa` writes a plain question–answer pair the same way: the input of deepseek-r1-vision's conversion
 * (records/cot_convert.ts `cotConvert`).
 */
import type { Judgement } from "./cot_judge.js";
import { IMAGE_PLACEHOLDER } from "./instructions.js";
import type { R1OnevisionRecord } from "./records/r1_onevision.js";
import type { R1OnevisionRlRecord } from "./records/r1_onevision_rl.js";
import type { SharegptRecord } from "./records/sharegpt.js";

/** A question about one image with a chain of thought for it and, once judged, the judge's verdict. */
export interface ChainExample {
  id: string | number;
  /** The image's path, relative to the image root. */
  image: string;
  /** The question, without the image placeholder (one is put before it). */
  question: string;
  /** The ground truth. */
  gt: string;
  chain: string;
  verdict?: Judgement;
  dataSource?: string;
}

/** R1-Onevision's reasoning record of a chain (see the file comment). */
export function onevisionRecord(ex: ChainExample): R1OnevisionRecord {
  return {
    id: ex.id,
    image: ex.image,
    gt: ex.gt,
    data_source: ex.dataSource ?? "vlab/shapes",
    conversations: [
      { from: "human", value: `${IMAGE_PLACEHOLDER}${ex.question}` },
      { from: "assistant", value: ex.chain },
    ],
    ...(ex.verdict ? { filter: ex.verdict.keep, judge_response: ex.verdict.response } : {}),
  };
}

/** The turn of `rec` at `i`, or a clear error naming the record. */
function turn(rec: R1OnevisionRecord, i: number): string {
  const t = rec.conversations[i];
  if (t === undefined) throw new Error(`record ${JSON.stringify(rec.id)} has no conversation turn ${i}`);
  return t.value;
}

/** The ShareGPT SFT record of a reasoning record: its question and its chain, with its image. */
export function sharegptOfOnevision(rec: R1OnevisionRecord): SharegptRecord {
  return {
    messages: [
      { role: "user", content: turn(rec, 0) },
      { role: "assistant", content: turn(rec, 1) },
    ],
    images: [rec.image],
  };
}

/** The RL record of a reasoning record: its question and its short ground truth. */
export function rlOfOnevision(rec: R1OnevisionRecord): R1OnevisionRlRecord {
  return {
    id: rec.id,
    image: rec.image,
    conversations: [
      { from: "human", value: turn(rec, 0) },
      { from: "gpt", value: String(rec.gt) },
    ],
  };
}

/** A plain question–answer pair as a ShareGPT record (the input of deepseek-r1-vision's conversion). */
export function sharegptQa(image: string, question: string, answer: string): SharegptRecord {
  return {
    messages: [
      { role: "user", content: `${IMAGE_PLACEHOLDER}${question}` },
      { role: "assistant", content: answer },
    ],
    images: [image],
  };
}
