import { describe, expect, it } from "vitest";
import { HeaderJsonError, JsonObject, parseJsonValue, readTopLevelMembers } from "../src/safetensors_json.js";

/** A parsed value with JsonObjects turned into plain objects (defined keys: "__proto__" stays a key). */
function plain(v: unknown): unknown {
  if (v instanceof JsonObject) {
    const out: Record<string, unknown> = {};
    const m = v.members;
    for (let i = 0; i < m.length; i += 2)
      Object.defineProperty(out, m[i] as string, {
        value: plain(m[i + 1]),
        enumerable: true,
        configurable: true,
        writable: true,
      });
    return out;
  }
  return Array.isArray(v) ? v.map(plain) : v;
}

describe("the header JSON reader agrees with JSON.parse", () => {
  const texts = [
    "0",
    "-0",
    "1",
    "-12",
    "3.25",
    "1e3",
    "1E-2",
    "-0.5e+2",
    "123456789012345678",
    "9007199254740993",
    '""',
    '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"',
    '"\\u00e9\\ud83d\\ude00 é 😀"',
    "true",
    "false",
    "null",
    "[]",
    " [ 1 , [ 2 , [ ] ] ] ",
    "{}",
    '{"a":1,"b":[true,false,null],"c":{"d":"e"}}',
    '{"__proto__":{"x":1},"constructor":2}',
    '{"a":1,"a":2}',
    // Refused by both:
    "",
    "01",
    "1.",
    ".5",
    "+1",
    "1e",
    "-",
    "NaN",
    "Infinity",
    "[1,]",
    '{"a":1,}',
    "{a:1}",
    "{'a':1}",
    '"\\x"',
    '"\\u12"',
    '"a\nb"',
    '"abc',
    "[1 2]",
    '{"a" 1}',
    "tru",
    "nul",
    "[1] x",
    "/* c */ 1",
  ];
  for (const text of texts) {
    it(JSON.stringify(text), () => {
      let want: unknown;
      try {
        want = { ok: JSON.parse(text) };
      } catch {
        want = "error";
      }
      let got: unknown;
      try {
        got = { ok: plain(parseJsonValue(text)) };
      } catch (e) {
        expect(e).toBeInstanceOf(HeaderJsonError);
        got = "error";
      }
      expect(got).toEqual(want);
      if (text === "-0") expect(Object.is((got as { ok: number }).ok, -0)).toBe(true);
    });
  }
});

describe("readTopLevelMembers", () => {
  it("hands out members in order with each key's position; repeated keys are passed on", () => {
    const seen: [string, unknown, number][] = [];
    readTopLevelMembers(
      ' {"b":1, "a":[2], "b":{"__proto__":3}} ',
      (k, v, at) => seen.push([k, plain(v), at]),
      () => {
        throw new Error("not an object");
      },
    );
    expect(seen.map(([k, , at]) => [k, at])).toEqual([
      ["b", 2],
      ["a", 9],
      ["b", 18],
    ]);
    expect(Object.keys(seen[2]![1] as object)).toEqual(["__proto__"]);
  });

  it("says what the text is when it is not an object, and where a fault is", () => {
    const notObject = (what: string): never => {
      throw new Error(what);
    };
    expect(() => readTopLevelMembers("  ", () => {}, notObject)).toThrow("it is empty");
    expect(() => readTopLevelMembers("[1, 2]", () => {}, notObject)).toThrow('it starts with "[1, 2]"');
    expect(() => readTopLevelMembers('"' + "x".repeat(100), () => {}, notObject)).toThrow(/it starts with "\\"x{19}"…/);
    try {
      readTopLevelMembers('{"a":1 "b":2}', () => {}, notObject);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(HeaderJsonError);
      expect((e as HeaderJsonError).index).toBe(7);
      expect((e as Error).message).toBe('expected "," or "}" in an object, found "\\""');
    }
  });

  it("refuses nesting deeper than 64 levels without overflowing the stack", () => {
    expect(() => parseJsonValue("[".repeat(64) + "]".repeat(64))).not.toThrow();
    expect(() => parseJsonValue("[".repeat(65) + "]".repeat(65))).toThrow(/nested deeper than 64 levels/);
    expect(() => parseJsonValue("[".repeat(1_000_000))).toThrow(HeaderJsonError);
  });
});
