/**
 * `writeRecords(path, format, records)`: checks every record as `readRecords` would (fields, `<image>` count, and
 * with `imageRoot` the image files), then writes the file atomically with @vlab/core's `atomicWrite` (a temporary
 * file, fsync'd, renamed over the target: a reader never sees half a file, and a bad record leaves any previous
 * file untouched, since nothing is written until all are checked).
 *
 *   JSONL formats   one `JSON.stringify(record)` a line
 *   "llava"         one JSON array, one record a line inside it ("[\n{…},\n{…}\n]\n"), which json_array.ts streams
 *
 * Each record is checked in the form it is written (through `JSON.stringify`), so a field set to `undefined`
 * counts as absent and a `NaN` as the `null` it becomes. The serialised file is held in memory until it is written.
 */
import { atomicWrite } from "@vlab/core";
import { FieldFault, type JsonObject, RecordError } from "./check.js";
import { formatSpec, type RecordFormat, type RecordOf } from "./formats.js";
import { checkRecord } from "./read.js";

export interface WriteRecordsOptions {
  /** Where relative image paths are resolved; when given, every image must exist as a file. */
  imageRoot?: string;
}

/** Writes `records` to `file` in `format` (see the file comment); returns how many were written. */
export async function writeRecords<F extends RecordFormat>(
  file: string,
  format: F,
  records: Iterable<RecordOf[F]> | AsyncIterable<RecordOf[F]>,
  options: WriteRecordsOptions = {},
): Promise<{ written: number }> {
  const spec = formatSpec(format, "writeRecords");
  const lines: Buffer[] = [];
  let index = 0;
  for await (const rec of records) {
    const text = JSON.stringify(rec) as string | undefined;
    const row: unknown = text === undefined ? undefined : JSON.parse(text);
    if (row === null || typeof row !== "object" || Array.isArray(row))
      throw new RecordError(file, { index }, "not-an-object", undefined, "is not an object");
    try {
      await checkRecord(spec, row as JsonObject, options.imageRoot);
    } catch (e) {
      if (e instanceof FieldFault) throw RecordError.from(file, { index }, e);
      throw e;
    }
    lines.push(Buffer.from(spec.container === "json" ? (index === 0 ? "[\n" : ",\n") + text : `${text}\n`, "utf8"));
    index++;
  }
  if (spec.container === "json") lines.push(Buffer.from(index === 0 ? "[]\n" : "\n]\n", "utf8"));
  atomicWrite(file, Buffer.concat(lines));
  return { written: index };
}
