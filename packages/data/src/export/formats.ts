/**
 * A task record (record.ts) as a row of each engine's data file:
 *
 *   OpenRLHF ≥ 0.10 (JSONL)  {"prompt": [{"role": "user", "content": "<image>" + q}], "images": ["/abs/i.png"],
 *                            "label": "3"}; OpenRLHF's `_str_to_content_list` (openrlhf/datasets/prompts_dataset.py)
 *                            turns each `<image>` into an image part. Flags: `--data.input_key prompt
 *                            --data.label_key label --data.image_key images --data.apply_chat_template`
 *   lmm-r1 (JSONL)           {"message": json.dumps([{"role": "user", "content": [{"type": "image", "image":
 *                            "/abs/i.png"}, {"type": "text", "text": q}]}]), "answer": "3"}: `message` is a JSON
 *                            *string*, as examples/data/test_message.jsonl has it, written as Python's json.dumps
 *                            writes it. Flags: `--input_key message --label_key answer`
 *   verl (parquet)           {"data_source": "vlab/<task>", "prompt": [{"role": "user", "content": "<image>" + q}],
 *                            "images": [{"image": "file:///abs/i.png"}], "ability", "reward_model": {"style": "rule",
 *                            "ground_truth": "3"}, "extra_info": {"split", "index", "answer", "question", …meta}}:
 *                            examples/data_preprocess/geo3k.py's row; rl_dataset.py `_build_messages` splits the
 *                            content on `<image>` and asserts one image per placeholder; qwen_vl_utils reads
 *                            "file://" + path (it does not percent-decode, so the path is not URL-encoded)
 *   TRL (JSONL + images)     {"prompt": [{"role": "user", "content": q}], "image": "/abs/i.png" (or "images": [...]
 *                            when a record has several), "solution": "3", …meta}: conversational, no `<image>`:
 *                            trl/data_utils.py `prepare_multimodal_messages` puts the image parts before the text;
 *                            cast "image" to `datasets.Image()` on load. Meta fields reach the reward functions as
 *                            keyword arguments, as R1-V's `solution` does
 */
import { IMAGE_TOKEN, type TaskData, type TaskRecord } from "./record.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A string as Python's json.dumps writes it (ensure_ascii: everything outside space…~ escaped as \uXXXX). */
function pyString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** JSON text as Python's `json.dumps(value)` writes it: ", " and ": " separators, ASCII only. */
export function pythonJsonDumps(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyString(k)}: ${pythonJsonDumps(v)}`)
      .join(", ")}}`;
  if (typeof value === "string") return pyString(value);
  return JSON.stringify(value);
}

const withPlaceholders = (r: TaskRecord) => IMAGE_TOKEN.repeat(r.images.length) + r.prompt;

/** OpenRLHF's row (see the file comment). */
export function openRlhfRow(r: TaskRecord): Record<string, Json> {
  return { prompt: [{ role: "user", content: withPlaceholders(r) }], images: [...r.images], label: r.answer };
}

/** lmm-r1's row (see the file comment). */
export function lmmR1Row(r: TaskRecord): Record<string, Json> {
  const content: Json[] = [...r.images.map((image) => ({ type: "image", image })), { type: "text", text: r.prompt }];
  return { message: pythonJsonDumps([{ role: "user", content }]), answer: r.answer };
}

/** verl's row (see the file comment); `index` is the record's position in the task. */
export function verlRow(data: TaskData, r: TaskRecord, index: number): Record<string, Json> {
  return {
    data_source: `vlab/${data.task}`,
    prompt: [{ role: "user", content: withPlaceholders(r) }],
    images: r.images.map((p) => ({ image: `file://${p}` })),
    ability: data.ability,
    reward_model: { style: "rule", ground_truth: r.answer },
    extra_info: { split: data.split, index, answer: r.answer, question: r.question ?? r.prompt, ...r.meta },
  };
}

/** TRL's row (see the file comment); `several` when any record of the task has more than one image. */
export function trlRow(r: TaskRecord, several: boolean): Record<string, Json> {
  const row: Record<string, Json> = { prompt: [{ role: "user", content: r.prompt }] };
  if (several) row.images = [...r.images];
  else row.image = r.images[0] ?? null;
  return { ...row, solution: r.answer, ...r.meta };
}
