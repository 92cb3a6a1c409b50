/**
 * The elements of a JSON array file, one at a time, never the whole file in memory: LLaVA's
 * `llava_v1_5_mix665k.json` is about 1 GB, more than a JavaScript string can hold (V8's limit is 2^29 - 24
 * characters), so `JSON.parse` of the whole file is not an option.
 *
 * The bytes are scanned once with a small state machine (inside a string or not, after a backslash or not, the
 * bracket depth), which is enough to find where each top-level element starts and ends: UTF-8 never uses a byte
 * below 0x80 inside a multi-byte character, so `"`, `\`, `[`, `]`, `{`, `}` and `,` are found byte by byte. Each
 * element is then decoded (strict UTF-8) and parsed with `JSON.parse`, so every rule of JSON inside an element is
 * JSON.parse's. A bad element is yielded as its fault, with its index and the line it starts on, and the scan goes
 * on; a fault in the array itself (no `[`, a missing comma, a trailing comma, the file cut short) is thrown, since
 * no element after it can be placed.
 */
import fs from "node:fs";
import { jsonKind } from "../jsonl.js";
import { type JsonObject, RecordError, type RecordFaultReason } from "./check.js";

/** One element: where it is, and its object or its fault. */
export type ArrayElement =
  | { index: number; line: number; value: JsonObject }
  | { index: number; line: number; reason: RecordFaultReason; what: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_SQUARE = 0x5b;
const CLOSE_SQUARE = 0x5d;
const OPEN_CURLY = 0x7b;
const CLOSE_CURLY = 0x7d;
const NEWLINE = 0x0a;
const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** Decodes and parses one element's bytes. */
function parseElement(bytes: Buffer, index: number, line: number): ArrayElement {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { index, line, reason: "invalid-utf8", what: "not valid UTF-8" };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const short = text.length > 80 ? `${JSON.stringify(text.slice(0, 80))}…(${text.length} chars)` : text;
    return { index, line, reason: "invalid-json", what: `invalid JSON (${msg.slice(0, 120)}): ${short}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return { index, line, reason: "not-an-object", what: `expected a JSON object, got ${jsonKind(value)}` };
  return { index, line, value: value as JsonObject };
}

/** The elements of the JSON array in `file` (see the file comment); `handle` is an open file. */
export async function* jsonArrayElements(
  file: string,
  handle: fs.promises.FileHandle,
  chunkBytes = 1 << 20,
): AsyncGenerator<ArrayElement> {
  const fail = (line: number, what: string): RecordError =>
    new RecordError(file, { line }, "invalid-json", undefined, `${what}: the file is not one JSON array of records`);
  // where: "before" the "[", "value" (an element or, first, "]"), "next" ("," or "]"), "after" the "]"
  let where: "before" | "value" | "next" | "after" = "before";
  let first = true; // no element yet: "]" may close the array
  let line = 1;
  let index = 0;
  let parts: Buffer[] = []; // the bytes of the element being read, across chunks
  let inElement = false;
  let elementLine = 1;
  let depth = 0; // brackets open inside the element
  let inString = false;
  let escaped = false;
  let atStart = true; // for a byte-order mark
  const buf = Buffer.alloc(chunkBytes);
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, chunkBytes, null);
    if (bytesRead === 0) break;
    let chunk = buf.subarray(0, bytesRead);
    if (atStart && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    atStart = false;
    let start = inElement ? 0 : -1; // where the element began in this chunk
    const out: ArrayElement[] = [];
    const endElement = (end: number): void => {
      parts.push(Buffer.from(chunk.subarray(start, end)));
      out.push(parseElement(Buffer.concat(parts), index++, elementLine));
      parts = [];
      inElement = false;
      start = -1;
    };
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] ?? 0;
      if (c === NEWLINE) line++;
      if (inElement) {
        let reread = false; // the byte ends a scalar element and is read again as the array's
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) inString = false;
        } else if (c === QUOTE) inString = true;
        else if (depth > 0) {
          if (c === OPEN_CURLY || c === OPEN_SQUARE) depth++;
          else if ((c === CLOSE_CURLY || c === CLOSE_SQUARE) && --depth === 0) {
            endElement(i + 1);
            where = "next";
          }
        } else if (c === COMMA || c === CLOSE_SQUARE || isSpace(c)) {
          endElement(i);
          where = "next";
          reread = true;
        }
        if (!reread) continue;
      }
      if (isSpace(c)) continue;
      if (where === "before") {
        if (c !== OPEN_SQUARE)
          throw fail(line, `expected "[" at the start, got ${JSON.stringify(String.fromCharCode(c))}`);
        where = "value";
      } else if (where === "next") {
        if (c === COMMA) where = "value";
        else if (c === CLOSE_SQUARE) where = "after";
        else throw fail(line, `expected "," or "]" after record ${index - 1}`);
      } else if (where === "value") {
        if (c === CLOSE_SQUARE && first) where = "after";
        else if (c === CLOSE_SQUARE) throw fail(line, `a "," after record ${index - 1} is followed by "]"`);
        else if (c === COMMA) throw fail(line, `a "," where record ${index} should be`);
        else {
          inElement = true;
          first = false;
          elementLine = line;
          start = i;
          depth = c === OPEN_CURLY || c === OPEN_SQUARE ? 1 : 0;
          inString = c === QUOTE;
          escaped = false;
        }
      } else throw fail(line, `text after the closing "]"`);
    }
    if (inElement) parts.push(Buffer.from(chunk.subarray(start)));
    for (const e of out) yield e;
  }
  if (inElement) throw fail(line, `record ${index} is not closed: is the file truncated?`);
  if (where !== "after")
    throw fail(line, where === "before" ? "the file is empty" : "the array is not closed: is the file truncated?");
}
