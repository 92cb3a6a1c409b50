/**
 * verl's parquet file (formats.ts `verlRow`, one row per record) through hyparquet-writer, read back through
 * hyparquet (both pure JavaScript). The schema is written out, so that every row has the same nested types
 * whatever its values (the Arrow types `datasets.load_dataset("parquet", …)` gives verl's RLHFDataset):
 *
 *   data_source   string
 *   prompt        list<struct<role: string, content: string>>
 *   images        list<struct<image: string>>
 *   ability       string
 *   reward_model  struct<style: string, ground_truth: string>
 *   extra_info    struct<split: string, index: int64, answer: string, question: string, …meta>
 *
 * Lists use the standard three-level layout (`<name>` LIST → repeated `list` → `element`), as pyarrow writes them.
 * A meta field is a string, a boolean, an int64 (every value a whole number) or a double column; a record without
 * it has null there.
 */
import { parquetMetadata, parquetReadObjects, type SchemaElement } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { verlRow } from "./formats.js";
import { checkTaskData, metaKind, type TaskData } from "./record.js";

const text = (name: string): SchemaElement => ({
  name,
  type: "BYTE_ARRAY",
  converted_type: "UTF8",
  repetition_type: "OPTIONAL",
});
const group = (name: string, children: number): SchemaElement => ({
  name,
  repetition_type: "OPTIONAL",
  num_children: children,
});
/** A three-level list of structs with these string fields. */
const listOfStructs = (name: string, fields: string[]): SchemaElement[] => [
  { name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  group("element", fields.length),
  ...fields.map(text),
];

/** The parquet column type of each meta field of the task (see the file comment). */
function metaColumns(data: TaskData): SchemaElement[] {
  const kinds = new Map<string, { kind: string; whole: boolean }>();
  for (const r of data.records) {
    for (const [k, v] of Object.entries(r.meta)) {
      const seen = kinds.get(k) ?? { kind: metaKind(v) ?? "", whole: true };
      if (typeof v === "number" && !Number.isSafeInteger(v)) seen.whole = false;
      kinds.set(k, seen);
    }
  }
  return [...kinds].map(([name, { kind, whole }]) => {
    if (kind === "string") return text(name);
    const type = kind === "boolean" ? "BOOLEAN" : whole ? "INT64" : "DOUBLE";
    return { name, type, repetition_type: "OPTIONAL" };
  });
}

/** The whole schema of the task's file (see the file comment). */
export function verlSchema(data: TaskData): SchemaElement[] {
  const meta = metaColumns(data);
  return [
    { name: "root", num_children: 6 },
    text("data_source"),
    ...listOfStructs("prompt", ["role", "content"]),
    ...listOfStructs("images", ["image"]),
    text("ability"),
    group("reward_model", 2),
    text("style"),
    text("ground_truth"),
    group("extra_info", 4 + meta.length),
    text("split"),
    { name: "index", type: "INT64", repetition_type: "OPTIONAL" },
    text("answer"),
    text("question"),
    ...meta,
  ];
}

/** The task as verl's parquet file (bytes). */
export function verlParquet(data: TaskData): Uint8Array {
  checkTaskData(data);
  const schema = verlSchema(data);
  const int64 = new Set(schema.filter((e) => e.type === "INT64").map((e) => e.name));
  const rows = data.records.map((r, i) => {
    const row = verlRow(data, r, i);
    const extra = { ...(row.extra_info as Record<string, unknown>) };
    for (const k of Object.keys(extra)) if (int64.has(k)) extra[k] = BigInt(extra[k] as number); // INT64 as bigint
    return { ...row, extra_info: extra } as Record<string, unknown>;
  });
  const columns = ["data_source", "prompt", "images", "ability", "reward_model", "extra_info"] as const;
  const columnData = columns.map((name) => ({ name, data: rows.map((row) => row[name]) }));
  return new Uint8Array(parquetWriteBuffer({ columnData, schema }));
}

/** Plain JSON values (int64 bigints as numbers). */
function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plain(x)]));
  return v;
}

export interface ParquetContents {
  numRows: number;
  /** The flattened schema (depth-first, as stored). */
  schema: SchemaElement[];
  rows: Record<string, unknown>[];
}

/** Reads a parquet file's schema and rows back (through hyparquet). */
export async function readParquet(bytes: Uint8Array): Promise<ParquetContents> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(buffer);
  const rows = (await parquetReadObjects({ file: buffer })).map((r) => plain(r) as Record<string, unknown>);
  return { numRows: Number(meta.num_rows), schema: meta.schema, rows };
}
