/**
 * `readRecords(path, format, options)`: the records of a file as an async iterable, read as a stream (a JSONL file
 * line by line, LLaVA's JSON array element by element: json_array.ts), each one checked before it is yielded:
 *
 *   1. the line (element) is UTF-8 and parses as a JSON object
 *   2. the format's validator: required fields present, of the right type, roles in order (llava.ts, …)
 *   3. the `<image>` tokens of its text number its images
 *   4. with `imageRoot`, every image is a file: a relative path is resolved against the root, an absolute one is
 *      taken as it is (without `imageRoot`, image files are not looked at)
 *
 * The first bad record throws a `RecordError` naming the file, the line (JSONL) or the record's index and line
 * (JSON), the field and the reason. With `{ skipBad: true }` bad records are skipped instead and counted by reason
 * in the reader's `skipped` report (a fault in the file itself, a missing file or a broken JSON array, still
 * throws):
 *
 *   const reader = readRecords("kept.jsonl", "sharegpt", { imageRoot: "data", skipBad: true });
 *   for await (const rec of reader) use(rec.messages);
 *   console.log(describeSkips(reader.skipped));   // "skipped 2 of 120 records: 1 invalid-json, 1 missing-image"
 */
import fs from "node:fs";
import path from "node:path";
import {
  FieldFault,
  type FormatSpec,
  type JsonObject,
  RECORD_FAULT_REASONS,
  RecordError,
  type RecordFaultReason,
  type RecordPlace,
} from "./check.js";
import { formatSpec, type RecordFormat, type RecordOf } from "./formats.js";
import { jsonArrayElements } from "./json_array.js";
import { jsonlLines, openForReading } from "./lines.js";

export interface ReadRecordsOptions {
  /** Where relative image paths are resolved; when given, every image must exist as a file. */
  imageRoot?: string;
  /** Skip and count bad records instead of throwing at the first one (default false). */
  skipBad?: boolean;
  /** Called with each skipped record's error (with `skipBad`), e.g. to log it. */
  onSkip?: (e: RecordError) => void;
}

/** What a `{ skipBad: true }` read left out. */
export interface SkipReport {
  /** Records skipped. */
  total: number;
  /** Records skipped, by reason (every reason present, 0 when none). */
  byReason: Record<RecordFaultReason, number>;
  /** The first few errors (at most 10), to show where. */
  examples: RecordError[];
}

/** The records of one file: iterate it with `for await`; `skipped` and `read` are filled in as it goes. */
export interface RecordReader<T> extends AsyncIterable<T> {
  /** What was skipped so far (with `skipBad`). */
  readonly skipped: SkipReport;
  /** Good records yielded so far. */
  readonly read: number;
  /** Reads the rest into an array. */
  toArray(): Promise<T[]>;
}

const MAX_EXAMPLES = 10;

function emptyReport(): SkipReport {
  const byReason = Object.fromEntries(RECORD_FAULT_REASONS.map((r) => [r, 0])) as Record<RecordFaultReason, number>;
  return { total: 0, byReason, examples: [] };
}

/** "skipped 2 of 120 records: 1 invalid-json, 1 missing-image" (or "no records skipped"). */
export function describeSkips(report: SkipReport, read?: number): string {
  if (report.total === 0) return "no records skipped";
  const of = read === undefined ? "" : ` of ${read + report.total}`;
  const parts = RECORD_FAULT_REASONS.filter((r) => report.byReason[r] > 0).map((r) => `${report.byReason[r]} ${r}`);
  return `skipped ${report.total}${of} records: ${parts.join(", ")}`;
}

/**
 * Checks one parsed record against `spec` (steps 2-4 of the file comment) and returns it typed, or throws a
 * `FieldFault`. The writer checks its input with it too.
 */
export async function checkRecord<T>(spec: FormatSpec<T>, row: JsonObject, imageRoot?: string): Promise<T> {
  const rec = spec.validate(row);
  const images = spec.images(rec);
  const tokens = spec.imageTokens(rec);
  if (tokens !== images.length) {
    const has = images.length === 1 ? "1 image" : `${images.length} images`;
    throw new FieldFault(
      "image-token-count",
      spec.textField,
      `holds ${tokens} "<image>" token${tokens === 1 ? "" : "s"} but the record has ${has}: give one per image`,
    );
  }
  if (imageRoot !== undefined) {
    for (const [i, p] of images.entries()) {
      const full = path.resolve(imageRoot, p);
      const stat = await fs.promises.stat(full).catch(() => undefined);
      if (stat === undefined || !stat.isFile())
        throw new FieldFault(
          "missing-image",
          spec.imageField(rec, i),
          `${stat === undefined ? "no such file" : "not a file"}: ${full} (${JSON.stringify(p)} under the image ` +
            `root ${imageRoot})`,
        );
    }
  }
  return rec;
}

/** `checkRecord`, with a fault turned into the `RecordError` of the record at `place` in `file`. */
async function checkAt<T>(
  spec: FormatSpec<T>,
  file: string,
  place: RecordPlace,
  row: JsonObject,
  imageRoot: string | undefined,
): Promise<{ rec: T } | { error: RecordError }> {
  try {
    return { rec: await checkRecord(spec, row, imageRoot) };
  } catch (e) {
    if (e instanceof FieldFault) return { error: RecordError.from(file, place, e) };
    throw e;
  }
}

/** Each parsed object of `file` with its place, or the fault that stopped it. */
async function* places(
  file: string,
  container: "jsonl" | "json",
): AsyncGenerator<{ place: RecordPlace; row: JsonObject } | { place: RecordPlace; error: RecordError }> {
  if (container === "jsonl") {
    for await (const l of jsonlLines(file)) {
      const place = { line: l.line };
      if ("value" in l) yield { place, row: l.value };
      else {
        // jsonl.ts's message is "<file>:<line>: <what>"; keep the what.
        const what = l.error.message.slice(`${file}:${l.line}: `.length);
        yield { place, error: new RecordError(file, place, l.error.fault ?? "invalid-json", undefined, what) };
      }
    }
    return;
  }
  const handle = await openForReading(file, "readRecords");
  try {
    for await (const e of jsonArrayElements(file, handle)) {
      const place = { line: e.line, index: e.index };
      if ("value" in e) yield { place, row: e.value };
      else yield { place, error: new RecordError(file, place, e.reason, undefined, e.what) };
    }
  } finally {
    await handle.close();
  }
}

/** The records of `file` in `format` (see the file comment). */
export function readRecords<F extends RecordFormat>(
  file: string,
  format: F,
  options: ReadRecordsOptions = {},
): RecordReader<RecordOf[F]> {
  const spec = formatSpec(format, "readRecords");
  const { imageRoot, skipBad = false, onSkip } = options;
  const state = { skipped: emptyReport(), read: 0 };
  async function* records(): AsyncGenerator<RecordOf[F]> {
    state.skipped = emptyReport();
    state.read = 0;
    for await (const item of places(file, spec.container)) {
      const out = "error" in item ? item : await checkAt(spec, file, item.place, item.row, imageRoot);
      if ("rec" in out) {
        state.read++;
        yield out.rec;
        continue;
      }
      const { error } = out;
      if (!skipBad) throw error;
      state.skipped.total++;
      state.skipped.byReason[error.reason]++;
      if (state.skipped.examples.length < MAX_EXAMPLES) state.skipped.examples.push(error);
      onSkip?.(error);
    }
  }
  return {
    [Symbol.asyncIterator]: () => records(),
    get skipped() {
      return state.skipped;
    },
    get read() {
      return state.read;
    },
    async toArray() {
      const out: RecordOf[F][] = [];
      for await (const r of records()) out.push(r);
      return out;
    },
  };
}
