/**
 * Chain-of-thought data as the projects store it (records/ reads and writes the formats): the steps between a judged
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
 * deepseek-r1-vision (sungatetop/deepseek-r1-vision, DistilabelPipelineImage.py, `Distiller`): each (user,
 * assistant) pair of a ShareGPT record is sent to a reasoning model as
 *
 *   system "You are a helpful assistant."
 *   user   "结合参考以及你已有的知识回答问题：{question}参考:{answer}"
 *          ("Answer the question, combining the reference with your own knowledge: {question} Reference: {answer}")
 *
 * at temperature 0.3, the earlier converted turns as history, and the response (its `<think>` included) replaces the
 * assistant turn; the user turns and images stay. Nothing checks the response. `convertQaRecords` does that with a
 * caller's reasoner, one batch of requests per turn index.
 */
import type { Judgement } from "./cot_judge.js";
import { IMAGE_PLACEHOLDER } from "./instructions.js";
import type { R1OnevisionRecord } from "./records/r1_onevision.js";
import type { R1OnevisionRlRecord } from "./records/r1_onevision_rl.js";
import type { SharegptMessage, SharegptRecord } from "./records/sharegpt.js";

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

/** deepseek-r1-vision's system prompt and sampling temperature (`Distiller.infer_single`). */
export const DEEPSEEK_R1_VISION_SYSTEM = "You are a helpful assistant.";
export const DEEPSEEK_R1_VISION_TEMPERATURE = 0.3;

/** deepseek-r1-vision's user prompt for one pair, verbatim (`Distiller.create_messages`). */
export function deepseekR1VisionPrompt(question: string, reference: string): string {
  return `结合参考以及你已有的知识回答问题：${question}参考:${reference}`;
}

/** One request to the reasoner: the messages deepseek-r1-vision sends, and what they were made from. */
export interface ConversionRequest {
  /** System, the converted history, then the user prompt with the reference. */
  messages: SharegptMessage[];
  /** The record's user turn as it is (with its image placeholder) and the reference answer. */
  question: string;
  reference: string;
  /** Which record of the batch, and which pair of it. */
  record: number;
  pair: number;
}

/**
 * deepseek-r1-vision's conversion of ShareGPT QA records (see the file comment): `reason` answers a batch of
 * requests (one per record that still has a pair at that index) with one response each, in order.
 */
export async function convertQaRecords(
  records: readonly SharegptRecord[],
  reason: (requests: ConversionRequest[]) => string[] | Promise<string[]>,
): Promise<SharegptRecord[]> {
  const out: SharegptRecord[] = records.map((r) => ({ ...r, messages: [] }));
  const pairs = records.map((r) => Math.floor(r.messages.length / 2));
  for (let pair = 0; pair < Math.max(0, ...pairs); pair++) {
    const requests: ConversionRequest[] = [];
    records.forEach((r, record) => {
      const [user, assistant] = [r.messages[2 * pair], r.messages[2 * pair + 1]];
      if (user === undefined || assistant === undefined) return;
      const history = out[record]?.messages ?? [];
      const prompt = deepseekR1VisionPrompt(user.content, assistant.content);
      const messages: SharegptMessage[] = [
        { role: "system", content: DEEPSEEK_R1_VISION_SYSTEM },
        ...history,
        { role: "user", content: prompt },
      ];
      requests.push({ messages, question: user.content, reference: assistant.content, record, pair });
    });
    const responses = await reason(requests);
    if (responses.length !== requests.length)
      throw new Error(`convertQaRecords: ${requests.length} requests but ${responses.length} responses`);
    requests.forEach((q, k) => {
      const user = { role: "user" as const, content: q.question };
      out[q.record]?.messages.push(user, { role: "assistant", content: responses[k] ?? "" });
    });
  }
  return out;
}
