/**
 * JSON Lines (https://jsonlines.org): one JSON object per line, the way datasets are shipped.
 *
 *   const rows = readJsonl("train.jsonl");            // [{ image: "a.png", problem: "...", solution: "..." }, ...]
 *   const same = parseJsonl(text, "train.jsonl");     // from text already in memory
 *
 * Lines end with "\n" (a "\r" before it is dropped); blank lines are skipped; a byte-order mark at the start is
 * tolerated. Every record must be a JSON object. A fault is a `JsonlError` whose message is
 * `<source>:<line>: <what is wrong>`, quoting at most 80 characters of the line, so that a bad row in a 2 GB file
 * is found with an editor at once — and a last line cut short says that the file looks truncated.
 */
import fs from "node:fs";
import { constants as bufferConstants } from "node:buffer";

/** What kind of JSONL fault (records/ counts skipped lines by it). */
export type JsonlFault = "invalid-json" | "not-an-object" | "invalid-utf8";

/** A JSONL fault: where (`source`, 1-based `line`) and what. */
export class JsonlError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    what: string,
    readonly fault?: JsonlFault,
  ) {
    super(`${source}:${line}: ${what}`);
    this.name = "JsonlError";
  }
}

/** A line for a message: JSON-quoted, cut to its first 80 characters (its length said when cut). */
function quoteLine(text: string, max = 80): string {
  if (text.length <= max) return JSON.stringify(text);
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max; // do not split a surrogate pair
  return `${JSON.stringify(text.slice(0, end))}…(${text.length} chars)`;
}

/** What a JSON value is, for "expected a JSON object, got …". */
export function jsonKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "string" ? "a string" : `a ${typeof v}`;
}

/**
 * Parses JSONL text into its records (one object per non-blank line, in order). `source` names the text in errors
 * (a file name, or "<string>").
 */
export function parseJsonl<T extends object = Record<string, unknown>>(text: string, source = "<string>"): T[] {
  if (typeof text !== "string")
    throw new TypeError(`parseJsonl: ${source}: expected the text as a string, got ${jsonKind(text)}`);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // byte-order mark
  const out: T[] = [];
  let start = 0;
  for (let line = 1; start <= body.length; line++) {
    let end = body.indexOf("\n", start);
    const last = end < 0;
    if (last) end = body.length;
    const raw = body.slice(start, end);
    const row = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    start = end + 1;
    if (row.trim() === "") continue;
    out.push(parseJsonlLine<T>(row, source, line, last));
  }
  return out;
}

/**
 * Parses one line of a JSONL file (no newline; a trailing "\r" already dropped) into its object. `last` says the
 * line is the file's last and had no newline, so that a parse error can suggest truncation.
 */
export function parseJsonlLine<T extends object = Record<string, unknown>>(
  row: string,
  source: string,
  line: number,
  last = false,
): T {
  let value: unknown;
  try {
    value = JSON.parse(row);
  } catch (e) {
    // V8's "at position 12" counts from 0 within the line: say "column 13", as editors do.
    const msg = (e as Error).message.replace(/at position (\d+)/, (_, p: string) => `at column ${Number(p) + 1}`);
    const why = msg.length > 120 ? `${msg.slice(0, 120)}…` : msg;
    const cut = last ? "; it is the last line and has no newline: is the file truncated?" : "";
    throw new JsonlError(source, line, `invalid JSON (${why})${cut}: ${quoteLine(row)}`, "invalid-json");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new JsonlError(
      source,
      line,
      `expected a JSON object, got ${jsonKind(value)}: ${quoteLine(row)}`,
      "not-an-object",
    );
  return value as T;
}

/** Offset of the first byte that breaks UTF-8 in `b`, or -1 (overlong forms and surrogates included). */
function firstBadUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (len === 0 || i + len > b.length) return i;
    for (let k = 1; k < len; k++) if (((b[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1] ?? 0;
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 >= 0xa0)) return i;
    if ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 >= 0x90)) return i;
    i += len;
  }
  return -1;
}

/** Reads a JSONL file: its records, in order. Errors name the file and the line (see `parseJsonl`). */
export function readJsonl<T extends object = Record<string, unknown>>(path: string): T[] {
  let bytes: Buffer;
  try {
    if (fs.statSync(path).isDirectory()) throw new Error(`readJsonl: ${path} is a directory, not a .jsonl file`);
    bytes = fs.readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`readJsonl: no such file: ${path}`, { cause: e });
    if (code === undefined) throw e;
    throw new Error(`readJsonl: cannot read ${path} (${(e as Error).message})`, { cause: e });
  }
  const max = bufferConstants.MAX_STRING_LENGTH;
  if (bytes.length > max)
    throw new Error(
      `readJsonl: ${path} is ${bytes.length} bytes, more than a string can hold (${max}); split it into smaller files`,
    );
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = Math.max(0, firstBadUtf8(bytes));
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new JsonlError(path, line, `not valid UTF-8 (byte ${at} of the file)`, "invalid-utf8");
  }
  return parseJsonl<T>(text, path);
}
