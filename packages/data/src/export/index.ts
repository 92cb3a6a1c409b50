/**
 * Task data for the distributed RL engines: a shapes-world task or a user's JSONL as one kind of record
 * (record.ts), written as OpenRLHF JSONL, lmm-r1 JSONL, verl parquet and TRL JSONL beside PNG images.
 *
 * - record.ts        the task record (images, prompt, answer, metadata) and its checks
 * - formats.ts       one record as each engine's row (and Python's json.dumps text for lmm-r1's message)
 * - parquet.ts       verl's parquet schema, written through hyparquet-writer and read back through hyparquet
 * - shapes_tasks.ts  R1-V's counting and VLM-R1's grounding on shapes world, images as PNG files
 * - user_jsonl.ts    a user's JSONL (question / answer / image per line), errors naming file, line and field
 * - write.ts         the four files of a task in one folder
 */
export * from "./record.js";
export * from "./formats.js";
export * from "./parquet.js";
export * from "./shapes_tasks.js";
export * from "./user_jsonl.js";
export * from "./write.js";
