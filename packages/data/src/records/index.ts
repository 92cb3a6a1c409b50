/**
 * Record formats of multimodal instruction and reasoning data, read as streams and written atomically, each record
 * checked (a bad one named by file, line or index, and field; or skipped and counted with `{ skipBad: true }`):
 *
 * - check.ts            faults (`RecordError`, reasons), the field checks the validators share
 * - lines.ts            a JSONL file line by line; json_array.ts   a JSON array element by element
 * - llava.ts            LLaVA's instruction JSON
 * - sharegpt.ts         LLaMA-Factory's ShareGPT `messages` JSONL with `images`
 * - r1_onevision.ts     R1-Onevision's judged chain-of-thought record
 * - r1_onevision_rl.ts  R1-Onevision's GRPO JSONL and the problem/solution its trainer derives
 * - formats.ts          the formats by name; read.ts `readRecords`; write.ts `writeRecords`
 * - cot_convert.ts      deepseek-r1-vision's conversion of question–answer pairs into `<think>` records
 */
export {
  RECORD_FAULT_REASONS,
  RecordError,
  countImageTokens,
  type RecordFaultReason,
  type RecordPlace,
} from "./check.js";
export * from "./llava.js";
export * from "./sharegpt.js";
export * from "./r1_onevision.js";
export * from "./r1_onevision_rl.js";
export { RECORD_FORMATS, type RecordFormat, type RecordOf } from "./formats.js";
export { readRecords, describeSkips, type ReadRecordsOptions, type RecordReader, type SkipReport } from "./read.js";
export { writeRecords, type WriteRecordsOptions } from "./write.js";
export * from "./cot_convert.js";
