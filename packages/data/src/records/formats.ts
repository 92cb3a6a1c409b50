/**
 * The record formats by name, for `readRecords(path, format)` and `writeRecords(path, format, records)`:
 *
 *   "llava"            LLaVA's instruction JSON (one array)             llava.ts
 *   "sharegpt"         LLaMA-Factory's ShareGPT `messages` JSONL        sharegpt.ts
 *   "r1-onevision"     R1-Onevision's judged chain-of-thought record    r1_onevision.ts
 *   "r1-onevision-rl"  R1-Onevision's GRPO data (grpo_jsonl.py)         r1_onevision_rl.ts
 */
import type { FormatSpec } from "./check.js";
import { llavaFormat, type LlavaRecord } from "./llava.js";
import { r1OnevisionFormat, type R1OnevisionRecord } from "./r1_onevision.js";
import { r1OnevisionRlFormat, type R1OnevisionRlRecord } from "./r1_onevision_rl.js";
import { sharegptFormat, type SharegptRecord } from "./sharegpt.js";

/** Each format's record type. */
export interface RecordOf {
  llava: LlavaRecord;
  sharegpt: SharegptRecord;
  "r1-onevision": R1OnevisionRecord;
  "r1-onevision-rl": R1OnevisionRlRecord;
}

export type RecordFormat = keyof RecordOf;

const SPECS: { [F in RecordFormat]: FormatSpec<RecordOf[F]> } = {
  llava: llavaFormat,
  sharegpt: sharegptFormat,
  "r1-onevision": r1OnevisionFormat,
  "r1-onevision-rl": r1OnevisionRlFormat,
};

/** The format names, in the order above. */
export const RECORD_FORMATS = Object.keys(SPECS) as RecordFormat[];

/** The spec of `format`, or a clear error naming the formats there are. */
export function formatSpec<F extends RecordFormat>(format: F, who: string): FormatSpec<RecordOf[F]> {
  if (!Object.hasOwn(SPECS, format))
    throw new Error(`${who}: unknown record format ${JSON.stringify(format)}; use one of ${RECORD_FORMATS.join(", ")}`);
  return SPECS[format];
}
