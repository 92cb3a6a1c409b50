/**
 * The shared core of the record readers and writers: what a fault is, and the field checks every format's
 * validator is written with.
 *
 * A validator (llava.ts, sharegpt.ts, r1_onevision.ts, r1_onevision_rl.ts) reads one parsed JSON object and either
 * returns it as its typed record or throws a `FieldFault` naming the field (`conversations[1].value`) and the
 * reason. The reader (read.ts) turns a fault into a `RecordError` that also names the file and the line (JSONL) or
 * the record's index (a JSON array), or skips and counts it when asked to (`{ skipBad: true }`).
 */
import { jsonKind } from "../jsonl.js";
import { IMAGE_TOKEN } from "../export/record.js";

/** Why a record is bad: the counts of a `{ skipBad: true }` read are keyed by these. */
export type RecordFaultReason =
  | "invalid-json" // the line (or the whole JSON file) does not parse
  | "invalid-utf8" // the line's bytes are not UTF-8
  | "not-an-object" // the line parses but is not a JSON object
  | "missing-field" // a required field is absent
  | "wrong-type" // a field has the wrong JSON type
  | "invalid-value" // a field has the right type but a value the format does not allow (a role, an empty list)
  | "image-token-count" // the number of `<image>` tokens differs from the number of images
  | "missing-image"; // an image file does not exist under the image root

/** Every reason, in the order reports list them. */
export const RECORD_FAULT_REASONS: readonly RecordFaultReason[] = [
  "invalid-json",
  "invalid-utf8",
  "not-an-object",
  "missing-field",
  "wrong-type",
  "invalid-value",
  "image-token-count",
  "missing-image",
];

/** A fault inside one record, before the reader knows where the record is. */
export class FieldFault extends Error {
  constructor(
    readonly reason: RecordFaultReason,
    /** The field's path in the record (`conversations[1].value`), or undefined for the record as a whole. */
    readonly field: string | undefined,
    what: string,
  ) {
    super(field === undefined ? what : `field "${field}": ${what}`);
    this.name = "FieldFault";
  }
}

/**
 * Where a record is: the 1-based line it starts on (JSONL, and a JSON array read as a stream) and its 0-based index
 * (a JSON array, and a writer's input, whose records have no line yet).
 */
export interface RecordPlace {
  line?: number;
  index?: number;
}

/**
 * `<file>:<line>: record <index>: field "<field>": <what>`, each part present when known; the index counts from 0,
 * as `data[index]` does in Python.
 */
export class RecordError extends Error {
  readonly line: number | undefined;
  readonly index: number | undefined;
  constructor(
    readonly source: string,
    place: RecordPlace,
    readonly reason: RecordFaultReason,
    readonly field: string | undefined,
    what: string,
  ) {
    const at = `${source}${place.line === undefined ? "" : `:${place.line}`}`;
    const rec = place.index === undefined ? "" : `record ${place.index}: `;
    super(`${at}: ${rec}${field === undefined ? "" : `field "${field}": `}${what}`);
    this.name = "RecordError";
    this.line = place.line;
    this.index = place.index;
  }

  /** The fault `f` of the record at `place` in `source`. */
  static from(source: string, place: RecordPlace, f: FieldFault): RecordError {
    const what = f.field === undefined ? f.message : f.message.slice(`field "${f.field}": `.length);
    return new RecordError(source, place, f.reason, f.field, what);
  }
}

/** A JSON object, as the validators see it. */
export type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === "object" && !Array.isArray(v);

/** `obj[key]`, which must be present (`at` is the object's own path, "" at the top). */
export function need(obj: JsonObject, key: string, at = ""): unknown {
  const field = at === "" ? key : `${at}.${key}`;
  if (!Object.hasOwn(obj, key)) throw new FieldFault("missing-field", field, "is missing");
  return obj[key];
}

function typeFault(field: string, want: string, v: unknown): FieldFault {
  return new FieldFault("wrong-type", field, `expected ${want}, got ${jsonKind(v)}`);
}

/** A required string field. */
export function needString(obj: JsonObject, key: string, at = ""): string {
  const v = need(obj, key, at);
  if (typeof v !== "string") throw typeFault(at === "" ? key : `${at}.${key}`, "a string", v);
  return v;
}

/** An optional string field (absent → undefined; present, it must be a string). */
export function optString(obj: JsonObject, key: string, at = ""): string | undefined {
  return Object.hasOwn(obj, key) ? needString(obj, key, at) : undefined;
}

/** A required field that is a string or a finite number (ids, ground truths). */
export function needStringOrNumber(obj: JsonObject, key: string): string | number {
  const v = need(obj, key);
  if (typeof v === "string" || (typeof v === "number" && Number.isFinite(v))) return v;
  throw typeFault(key, "a string or a number", v);
}

/** A required, non-empty array of objects (`conversations`, `messages`). */
export function needObjects(obj: JsonObject, key: string): JsonObject[] {
  const v = need(obj, key);
  if (!Array.isArray(v)) throw typeFault(key, "an array", v);
  if (v.length === 0) throw new FieldFault("invalid-value", key, "is empty");
  v.forEach((x: unknown, i) => {
    if (!isObject(x)) throw typeFault(`${key}[${i}]`, "an object", x);
  });
  return v as JsonObject[];
}

/** A required array of non-empty strings (`images`; may be empty: a text-only record). */
export function needStrings(obj: JsonObject, key: string): string[] {
  const v = need(obj, key);
  if (!Array.isArray(v)) throw typeFault(key, "an array of strings", v);
  v.forEach((x: unknown, i) => {
    if (typeof x !== "string") throw typeFault(`${key}[${i}]`, "a string", x);
    if (x === "") throw new FieldFault("invalid-value", `${key}[${i}]`, "is an empty path");
  });
  return v as string[];
}

/** A required, non-empty image path. */
export function needPath(obj: JsonObject, key: string): string {
  const v = needString(obj, key);
  if (v === "") throw new FieldFault("invalid-value", key, "is an empty path");
  return v;
}

/** How many times `<image>` (LLaVA's `DEFAULT_IMAGE_TOKEN`) occurs in `text`. */
export function countImageTokens(text: string): number {
  return text.split(IMAGE_TOKEN).length - 1;
}

/**
 * Checks that turn `i` of `turns` (`key` is the list's field) has `roleKey` in `allowed[i % allowed.length]`-style
 * alternation: `expect(i)` lists the roles allowed at position i.
 */
export function checkRoles(
  turns: JsonObject[],
  key: string,
  roleKey: string,
  textKey: string,
  expect: (i: number) => readonly string[],
): void {
  turns.forEach((t, i) => {
    const at = `${key}[${i}]`;
    const role = needString(t, roleKey, at);
    needString(t, textKey, at);
    const ok = expect(i);
    if (!ok.includes(role))
      throw new FieldFault(
        "invalid-value",
        `${at}.${roleKey}`,
        `is ${JSON.stringify(role)}; turn ${i} must be ${ok.map((r) => JSON.stringify(r)).join(" or ")}`,
      );
  });
}

/** What the reader and the writer need to know of one record format. */
export interface FormatSpec<T> {
  /** "jsonl": one record a line, read as a stream; "json": one JSON array of records, read whole. */
  container: "jsonl" | "json";
  /** Checks one parsed object and returns it as the format's record (or throws a `FieldFault`). */
  validate(row: JsonObject): T;
  /** The record's image paths, in the order its `<image>` tokens refer to them. */
  images(rec: T): string[];
  /** How many `<image>` tokens the record's text holds. */
  imageTokens(rec: T): number;
  /** The field that holds the `<image>` tokens ("conversations", "messages"). */
  textField: string;
  /** The field of image `i` ("image", "images[2]"). */
  imageField(rec: T, i: number): string;
}
