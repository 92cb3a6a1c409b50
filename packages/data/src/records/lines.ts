/**
 * A JSONL file as a stream of parsed lines, never held whole in memory: the bytes are read in chunks (1 MiB), split
 * at "\n", and each line is decoded (strict UTF-8) and parsed on its own with jsonl.ts's `parseJsonlLine`. The
 * rules are jsonl.ts's: a "\r" before the "\n" is dropped, blank lines are skipped (but counted, so line numbers are
 * the editor's), a byte-order mark at the start is tolerated.
 *
 * A line that does not decode or parse is yielded as its `JsonlError` (not thrown), so that a reader that skips bad
 * lines goes on with the next one.
 */
import fs from "node:fs";
import { JsonlError, parseJsonlLine } from "../jsonl.js";
import type { JsonObject } from "./check.js";

/** One non-blank line: its 1-based number and its object, or the fault that stopped it. */
export type JsonlLine = { line: number; value: JsonObject } | { line: number; error: JsonlError };

const NEWLINE = 0x0a;

/** Opens `file` for reading, with a clear error when it is missing or a directory. */
export async function openForReading(file: string, who: string): Promise<fs.promises.FileHandle> {
  try {
    if ((await fs.promises.stat(file)).isDirectory()) throw new Error(`${who}: ${file} is a directory, not a file`);
    return await fs.promises.open(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${who}: no such file: ${file}`, { cause: e });
    if (code === undefined) throw e;
    throw new Error(`${who}: cannot read ${file} (${(e as Error).message})`, { cause: e });
  }
}

/** The lines of the JSONL file `file`, parsed one at a time (see the file comment). */
export async function* jsonlLines(file: string, who = "readRecords", chunkBytes = 1 << 20): AsyncGenerator<JsonlLine> {
  const handle = await openForReading(file, who);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pending: Buffer[] = []; // the bytes of the line being read, across chunks
  let line = 0;
  const finish = (bytes: Buffer, last: boolean): JsonlLine | undefined => {
    line++;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      return { line, error: new JsonlError(file, line, "not valid UTF-8", "invalid-utf8") };
    }
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte-order mark
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (text.trim() === "") return undefined;
    try {
      return { line, value: parseJsonlLine<JsonObject>(text, file, line, last) };
    } catch (e) {
      if (e instanceof JsonlError) return { line, error: e };
      throw e;
    }
  };
  try {
    const buf = Buffer.alloc(chunkBytes);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE, start); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
        const piece = Buffer.from(chunk.subarray(start, nl)); // a copy: `buf` is reused by the next read
        const bytes = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
        pending = [];
        start = nl + 1;
        const out = finish(bytes, false);
        if (out) yield out;
      }
      if (start < chunk.length) pending.push(Buffer.from(chunk.subarray(start)));
    }
    if (pending.length > 0) {
      const out = finish(Buffer.concat(pending), true);
      if (out) yield out;
    }
  } finally {
    await handle.close();
  }
}
