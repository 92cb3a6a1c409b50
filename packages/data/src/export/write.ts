/**
 * A task's data files for the four engines, in one folder beside its images:
 *
 *   <out>/images/000000.png …   the images (written by shapes_tasks.ts or user_jsonl.ts)
 *   <out>/openrlhf.jsonl        OpenRLHF ≥ 0.10.2
 *   <out>/lmm_r1.jsonl          lmm-r1
 *   <out>/verl.parquet          verl
 *   <out>/trl.jsonl             TRL's GRPOTrainer (through `datasets`)
 *
 * (the rows of formats.ts, parquet.ts). Each file is written whole or not at all (@vlab/core `atomicWrite`), and the
 * parquet file is read back and its row count checked before the export counts as done.
 */
import * as path from "node:path";
import { atomicWrite } from "@vlab/core";
import { lmmR1Row, openRlhfRow, trlRow } from "./formats.js";
import { readParquet, verlParquet } from "./parquet.js";
import { checkTaskData, type TaskData } from "./record.js";

export const EXPORT_FORMATS = ["openrlhf", "lmm-r1", "verl", "trl"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The file each format is written to. */
export const EXPORT_FILES: Record<ExportFormat, string> = {
  openrlhf: "openrlhf.jsonl",
  "lmm-r1": "lmm_r1.jsonl",
  verl: "verl.parquet",
  trl: "trl.jsonl",
};

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

/** Writes the task's files for `formats` (default all four) into `outDir`; returns the path of each. */
export async function writeTaskData(
  data: TaskData,
  outDir: string,
  formats: readonly ExportFormat[] = EXPORT_FORMATS,
): Promise<Partial<Record<ExportFormat, string>>> {
  checkTaskData(data);
  const bad = formats.find((f) => !EXPORT_FORMATS.includes(f));
  if (bad !== undefined)
    throw new Error(`export: unknown format "${bad}"; the formats are ${EXPORT_FORMATS.join(", ")}`);
  const several = data.records.some((r) => r.images.length > 1);
  const out: Partial<Record<ExportFormat, string>> = {};
  for (const format of formats) {
    const file = path.join(outDir, EXPORT_FILES[format]);
    if (format === "verl") {
      const bytes = verlParquet(data);
      const back = await readParquet(bytes);
      if (back.numRows !== data.records.length)
        throw new Error(`export: ${file} would hold ${back.numRows} rows, not ${data.records.length}`);
      atomicWrite(file, bytes);
    } else {
      const rows = data.records.map((r) =>
        format === "trl" ? trlRow(r, several) : format === "openrlhf" ? openRlhfRow(r) : lmmR1Row(r),
      );
      atomicWrite(file, jsonl(rows));
    }
    out[format] = file;
  }
  return out;
}
