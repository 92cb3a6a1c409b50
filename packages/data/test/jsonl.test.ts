import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { JsonlError, parseJsonl, readJsonl } from "../src/jsonl.js";
import * as data from "../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-jsonl-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The error `f` throws (it must throw). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

describe("parseJsonl", () => {
  it("reads one object per line; blank lines, CRLF and a BOM are fine", () => {
    const text = '\ufeff{"a":1}\r\n\n   \n{"b":[2,3],"c":{"d":"é"}}\n{"__proto__":4}';
    const rows = parseJsonl(text);
    expect(rows.length).toBe(3);
    expect(rows[0]).toEqual({ a: 1 });
    expect(rows[1]).toEqual({ b: [2, 3], c: { d: "é" } });
    expect(Object.keys(rows[2]!)).toEqual(["__proto__"]); // kept as a key, as JSON.parse does
    expect(parseJsonl("")).toEqual([]);
    expect(parseJsonl("\n\n")).toEqual([]);
  });

  it("a malformed line: <source>:<line>: what, quoting the line", () => {
    const e = thrown(() => parseJsonl('{"a":1}\n\n{"a":2,}\n{"a":3}\n', "train.jsonl"));
    expect(e).toBeInstanceOf(JsonlError);
    expect([(e as JsonlError).source, (e as JsonlError).line]).toEqual(["train.jsonl", 3]);
    expect(e.message).toMatch(/^train\.jsonl:3: invalid JSON \(.+\): "\{\\"a\\":2,\}"$/);
  });

  it("quotes at most 80 characters of a long line", () => {
    const long = `{"text": "${"x".repeat(5000)}" oops}`;
    const e = thrown(() => parseJsonl(`{}\n${long}\n`));
    expect(e.message.startsWith("<string>:2: invalid JSON (")).toBe(true);
    expect(e.message.endsWith(`): ${JSON.stringify(long.slice(0, 80))}…(5017 chars)`)).toBe(true);
    expect(e.message.length).toBeLessThan(300);
  });

  it("a record that is not an object is refused by line", () => {
    for (const [row, what] of [
      ["[1,2]", "an array"],
      ["null", "null"],
      ["42", "a number"],
      ['"text"', "a string"],
      ["true", "a boolean"],
    ]) {
      expect(() => parseJsonl(`{"ok":1}\n${row}\n`, "d.jsonl")).toThrow(
        `d.jsonl:2: expected a JSON object, got ${what}: ${JSON.stringify(row)}`,
      );
    }
  });

  it("a last line cut short says the file looks truncated", () => {
    expect(() => parseJsonl('{"a":1}\n{"a":2}\n{"a": [1, 2', "cut.jsonl")).toThrow(
      /^cut\.jsonl:3: invalid JSON \(.+\); it is the last line and has no newline: is the file truncated\?: /,
    );
  });

  it("is exported from @vlab/data", () => {
    expect(data.parseJsonl).toBe(parseJsonl);
    expect(data.readJsonl).toBe(readJsonl);
  });
});

describe("readJsonl", () => {
  it("reads a file and names it in errors", () => {
    const file = path.join(dir, "ok.jsonl");
    fs.writeFileSync(file, '{"image":"a.png","answer":"3"}\n{"image":"b.png","answer":"5"}\n');
    expect(readJsonl(file)).toEqual([
      { image: "a.png", answer: "3" },
      { image: "b.png", answer: "5" },
    ]);
    const bad = path.join(dir, "bad.jsonl");
    fs.writeFileSync(bad, '{"a":1}\n{"a":2}\n{a:3}\n');
    expect(() => readJsonl(bad)).toThrow(new RegExp(`^${bad.replace(/[.\\]/g, "\\$&")}:3: invalid JSON`));
  });

  it("missing files, directories and invalid UTF-8 are named", () => {
    expect(() => readJsonl(path.join(dir, "none.jsonl"))).toThrow(/^readJsonl: no such file: .*none\.jsonl$/);
    expect(() => readJsonl(dir)).toThrow(`readJsonl: ${dir} is a directory, not a .jsonl file`);
    const latin1 = path.join(dir, "latin1.jsonl");
    fs.writeFileSync(
      latin1,
      Buffer.concat([Buffer.from('{"a":1}\n{"a":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]),
    );
    expect(() => readJsonl(latin1)).toThrow(`${latin1}:2: not valid UTF-8 (byte 17 of the file)`);
  });
});
