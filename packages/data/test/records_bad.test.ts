import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { describeSkips, readRecords, RecordError, writeRecords, type RecordFormat } from "../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-records-bad-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const imageRoot = path.join(dir, "images");
fs.mkdirSync(imageRoot);
fs.writeFileSync(path.join(imageRoot, "a.png"), "x");
fs.mkdirSync(path.join(imageRoot, "adir.png"));

let n = 0;
/** Writes `text` to a fresh file and returns its path. */
function file(text: string, ext = "jsonl"): string {
  const f = path.join(dir, `f${n++}.${ext}`);
  fs.writeFileSync(f, text);
  return f;
}

/** The error reading `f` throws (it must throw). */
async function readError(f: string, format: RecordFormat, root?: string): Promise<RecordError> {
  try {
    await readRecords(f, format, root === undefined ? {} : { imageRoot: root }).toArray();
  } catch (e) {
    expect(e).toBeInstanceOf(RecordError);
    return e as RecordError;
  }
  throw new Error("expected an error");
}

const good = {
  sharegpt: {
    messages: [
      { role: "user", content: "<image>Q" },
      { role: "assistant", content: "A" },
    ],
    images: ["a.png"],
  },
  "r1-onevision": {
    id: 1,
    image: "a.png",
    gt: "3",
    data_source: "shapes",
    conversations: [
      { from: "human", value: "<image>Q" },
      { from: "assistant", value: "<think>t</think><answer>3</answer>" },
    ],
  },
  "r1-onevision-rl": {
    id: 1,
    image: "a.png",
    conversations: [
      { from: "human", value: "<image>Q" },
      { from: "gpt", value: "3" },
    ],
  },
  llava: {
    id: "x",
    image: "a.png",
    conversations: [
      { from: "human", value: "<image>\nQ" },
      { from: "gpt", value: "A" },
    ],
  },
} as const;

const JSONL_FORMATS = ["sharegpt", "r1-onevision", "r1-onevision-rl"] as const;
/** A good record of `format` changed by `edit`. */
function variant(format: RecordFormat, edit: (r: Record<string, unknown>) => void): Record<string, unknown> {
  const r = structuredClone(good[format]) as Record<string, unknown>;
  edit(r);
  return r;
}
const line = (r: unknown) => JSON.stringify(r);

describe("a bad JSONL line: an error naming the file, the line and the field", () => {
  it.each(JSONL_FORMATS)("%s: invalid JSON, with the line's column and text", async (format) => {
    const f = file(`${line(good[format])}\n\n{"id": 1,, }\n`);
    const e = await readError(f, format);
    expect([e.source, e.line, e.reason, e.field]).toEqual([f, 3, "invalid-json", undefined]);
    expect(e.message).toMatch(new RegExp(`^${f.replace(/[.]/g, "\\.")}:3: invalid JSON \\(.*column 10.*\\): "\\{`));
  });

  it("a cut last line says the file may be truncated; a non-object line and non-UTF-8 bytes are named", async () => {
    const e1 = await readError(file(`${line(good.sharegpt)}\n{"messages": [`), "sharegpt");
    expect([e1.line, e1.reason]).toEqual([2, "invalid-json"]);
    expect(e1.message).toMatch(/is the file truncated\?/);
    const e2 = await readError(file(`${line(good.sharegpt)}\n[1, 2]\n`), "sharegpt");
    expect([e2.line, e2.reason]).toEqual([2, "not-an-object"]);
    expect(e2.message).toMatch(/:2: expected a JSON object, got an array/);
    const bad = Buffer.concat([
      Buffer.from(`${line(good.sharegpt)}\n{"a": "`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
    ]);
    const f3 = path.join(dir, "utf8.jsonl");
    fs.writeFileSync(f3, bad);
    const e3 = await readError(f3, "sharegpt");
    expect([e3.line, e3.reason]).toEqual([2, "invalid-utf8"]);
  });

  const missing: [RecordFormat, string][] = [
    ["sharegpt", "messages"],
    ["r1-onevision", "id"],
    ["r1-onevision", "gt"],
    ["r1-onevision", "data_source"],
    ["r1-onevision", "image"],
    ["r1-onevision-rl", "conversations"],
    ["r1-onevision-rl", "image"],
  ];
  it.each(missing)("%s: missing field %s", async (format, key) => {
    const f = file(`${line(good[format])}\n${line(variant(format, (r) => delete r[key]))}\n`);
    const e = await readError(f, format);
    expect([e.line, e.reason, e.field]).toEqual([2, "missing-field", key]);
    expect(e.message).toBe(`${f}:2: field "${key}": is missing`);
  });

  it("a missing field inside a turn is named by its path", async () => {
    const r = variant("sharegpt", (x) => delete (x.messages as Record<string, unknown>[])[1]?.content);
    const e = await readError(file(line(r)), "sharegpt");
    expect([e.reason, e.field]).toEqual(["missing-field", "messages[1].content"]);
  });

  const wrong: [RecordFormat, string, unknown, string][] = [
    ["sharegpt", "images", "a.png", "images"],
    ["sharegpt", "messages", { role: "user" }, "messages"],
    ["r1-onevision", "gt", ["3"], "gt"],
    ["r1-onevision", "filter", 1, "filter"],
    ["r1-onevision", "judge_response", false, "judge_response"],
    ["r1-onevision-rl", "id", null, "id"],
    ["r1-onevision-rl", "accu_reward_method", 1, "accu_reward_method"],
  ];
  it.each(wrong)("%s: field %s of the wrong type", async (format, key, value, field) => {
    const e = await readError(file(line(variant(format, (r) => (r[key] = value)))), format);
    expect([e.line, e.reason, e.field]).toEqual([1, "wrong-type", field]);
  });

  it("wrong types inside lists: a turn's value, an image path", async () => {
    const r = variant("r1-onevision-rl", (x) => ((x.conversations as Record<string, unknown>[])[1]!.value = 3));
    const e = await readError(file(line(r)), "r1-onevision-rl");
    expect([e.reason, e.field]).toEqual(["wrong-type", "conversations[1].value"]);
    expect(e.message).toMatch(/expected a string, got a number/);
    const s = variant("sharegpt", (x) => (x.images = [7]));
    const e2 = await readError(file(line(s)), "sharegpt");
    expect([e2.reason, e2.field]).toEqual(["wrong-type", "images[0]"]);
  });

  it("values the formats do not allow: roles out of order, an odd turn count, an unknown reward method", async () => {
    const roles = variant("r1-onevision", (x) => ((x.conversations as Record<string, unknown>[])[1]!.from = "gpt"));
    const e1 = await readError(file(line(roles)), "r1-onevision");
    expect([e1.reason, e1.field]).toEqual(["invalid-value", "conversations[1].from"]);
    expect(e1.message).toMatch(/is "gpt"; turn 1 must be "assistant"/);
    const odd = variant("sharegpt", (x) => (x.messages as unknown[]).pop());
    const e2 = await readError(file(line(odd)), "sharegpt");
    expect([e2.reason, e2.field]).toEqual(["invalid-value", "messages"]);
    const method = variant("r1-onevision-rl", (x) => (x.accu_reward_method = "MCQ"));
    const e3 = await readError(file(line(method)), "r1-onevision-rl");
    expect([e3.reason, e3.field]).toEqual(["invalid-value", "accu_reward_method"]);
    const empty = variant("sharegpt", (x) => (x.messages = []));
    expect((await readError(file(line(empty)), "sharegpt")).reason).toBe("invalid-value");
  });

  it.each(JSONL_FORMATS)("%s: <image> tokens not matching the images", async (format) => {
    const twice = variant(format, (x) => {
      const turns = (x.messages ?? x.conversations) as Record<string, string>[];
      const key = "content" in turns[0]! ? "content" : "value";
      turns[0]![key] = `<image>${turns[0]![key]}`;
    });
    const e = await readError(file(`${line(good[format])}\n${line(twice)}`), format);
    expect([e.line, e.reason, e.field]).toEqual([
      2,
      "image-token-count",
      format === "sharegpt" ? "messages" : "conversations",
    ]);
    expect(e.message).toMatch(/holds 2 "<image>" tokens but the record has 1 image/);
  });

  it("sharegpt: images listed but no <image> token, and a token with no images", async () => {
    const none = variant("sharegpt", (x) => ((x.messages as Record<string, string>[])[0]!.content = "Q"));
    expect((await readError(file(line(none)), "sharegpt")).message).toMatch(
      /holds 0 "<image>" tokens but the record has 1 image/,
    );
    const noImages = variant("sharegpt", (x) => delete x.images);
    expect((await readError(file(line(noImages)), "sharegpt")).message).toMatch(
      /holds 1 "<image>" token but the record has 0 images/,
    );
  });

  it.each(JSONL_FORMATS)("%s: an image file that does not exist under the image root", async (format) => {
    const gone = variant(format, (x) => (format === "sharegpt" ? (x.images = ["gone.png"]) : (x.image = "gone.png")));
    const f = file(`${line(good[format])}\n${line(gone)}\n`);
    expect(await readRecords(f, format).toArray()).toHaveLength(2); // without a root, files are not looked at
    const e = await readError(f, format, imageRoot);
    expect([e.line, e.reason, e.field]).toEqual([2, "missing-image", format === "sharegpt" ? "images[0]" : "image"]);
    expect(e.message).toContain(`no such file: ${path.join(imageRoot, "gone.png")}`);
    const isDir = variant(format, (x) => (format === "sharegpt" ? (x.images = ["adir.png"]) : (x.image = "adir.png")));
    expect((await readError(file(line(isDir)), format, imageRoot)).message).toContain("not a file");
  });
});

describe("LLaVA JSON: errors name the record's index and the line it starts on", () => {
  const arr = (...rs: unknown[]) => `[\n${rs.map((r) => JSON.stringify(r)).join(",\n")}\n]\n`;
  it("a missing field, a wrong type, a bad role, a token count, a missing image", async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [variant("llava", (r) => delete r.conversations), "missing-field", "conversations"],
      [variant("llava", (r) => (r.image = 5)), "wrong-type", "image"],
      [variant("llava", (r) => (r.image = ["a.png", 5])), "wrong-type", "image[1]"],
      [
        variant("llava", (r) => ((r.conversations as Record<string, string>[])[0]!.from = "user")),
        "invalid-value",
        "conversations[0].from",
      ],
      [variant("llava", (r) => delete r.image), "image-token-count", "conversations"],
      [variant("llava", (r) => (r.image = "gone.jpg")), "missing-image", "image"],
    ];
    for (const [bad, reason, field] of cases) {
      const f = file(arr(good.llava, good.llava, bad), "json");
      const e = await readError(f, "llava", imageRoot);
      expect([e.index, e.line, e.reason, e.field]).toEqual([2, 4, reason, field]);
      expect(e.message.startsWith(`${f}:4: record 2: field "${field}": `)).toBe(true);
    }
  });

  it("a bad element is skipped with skipBad; a broken array is always an error", async () => {
    const f = file(`[${line(good.llava)}, {"id": 1,, }, 3, ${line(good.llava)}]`, "json");
    const reader = readRecords(f, "llava", { skipBad: true });
    expect(await reader.toArray()).toHaveLength(2);
    expect(reader.skipped.byReason["invalid-json"]).toBe(1);
    expect(reader.skipped.byReason["not-an-object"]).toBe(1);
    expect(reader.skipped.examples.map((e) => e.index)).toEqual([1, 2]);
    const broken: [string, RegExp][] = [
      [`${line(good.llava)}`, /:1: expected "\[" at the start/],
      [`[${line(good.llava)} ${line(good.llava)}]`, /expected "," or "\]" after record 0/],
      [`[${line(good.llava)},]`, /a "," after record 0 is followed by "\]"/],
      [
        `[${line(good.llava)},\n${line(good.llava).slice(0, 20)}`,
        /:2: record 1 is not closed: is the file truncated\?/,
      ],
      [`[${line(good.llava)}`, /the array is not closed/],
      [`[] []`, /text after the closing "\]"/],
      [``, /the file is empty/],
    ];
    for (const [text, re] of broken) {
      const e = await readError(file(text, "json"), "llava").catch((x: unknown) => x as Error);
      expect(e.message).toMatch(re);
      await expect(readRecords(file(text, "json"), "llava", { skipBad: true }).toArray()).rejects.toThrow(re);
    }
  });
});

describe("skipBad: bad lines skipped and counted by reason", () => {
  it("counts each reason, keeps the good records in order, reports through onSkip", async () => {
    const g = good["r1-onevision-rl"];
    const text = [
      line({ ...g, id: "ok1" }),
      "{not json",
      line(variant("r1-onevision-rl", (r) => delete r.image)),
      line(variant("r1-onevision-rl", (r) => (r.id = true))),
      "",
      line({ ...g, id: "ok2" }),
      line(variant("r1-onevision-rl", (r) => (r.image = "gone.png"))),
      line(variant("r1-onevision-rl", (r) => ((r.conversations as Record<string, string>[])[0]!.value = "Q"))),
      "42",
      line({ ...g, id: "ok3" }),
    ].join("\n");
    const seen: number[] = [];
    const reader = readRecords(file(text), "r1-onevision-rl", {
      imageRoot,
      skipBad: true,
      onSkip: (e) => seen.push(e.line ?? -1),
    });
    const ids = [];
    for await (const r of reader) ids.push(r.id);
    expect(ids).toEqual(["ok1", "ok2", "ok3"]);
    expect(seen).toEqual([2, 3, 4, 7, 8, 9]);
    expect(reader.read).toBe(3);
    expect(reader.skipped.total).toBe(6);
    expect(reader.skipped.byReason).toEqual({
      "invalid-json": 1,
      "invalid-utf8": 0,
      "not-an-object": 1,
      "missing-field": 1,
      "wrong-type": 1,
      "invalid-value": 0,
      "image-token-count": 1,
      "missing-image": 1,
    });
    expect(describeSkips(reader.skipped, reader.read)).toBe(
      "skipped 6 of 9 records: 1 invalid-json, 1 not-an-object, 1 missing-field, 1 wrong-type, 1 image-token-count, " +
        "1 missing-image",
    );
  });

  it("a missing file, a directory and an unknown format are errors, not skips", async () => {
    await expect(readRecords(path.join(dir, "nope.jsonl"), "sharegpt", { skipBad: true }).toArray()).rejects.toThrow(
      /no such file: .*nope\.jsonl/,
    );
    await expect(readRecords(dir, "sharegpt").toArray()).rejects.toThrow(/is a directory/);
    expect(() => readRecords(file(""), "alpaca" as RecordFormat)).toThrow(
      /unknown record format "alpaca"; use one of llava/,
    );
  });
});

describe("writeRecords checks before it writes", () => {
  it("a bad record: an error naming the file, the record's index and the field; the old file stays", async () => {
    const f = path.join(dir, "out.jsonl");
    await writeRecords(f, "r1-onevision-rl", [good["r1-onevision-rl"]]);
    const before = fs.readFileSync(f, "utf8");
    const bad = variant("r1-onevision-rl", (r) => (r.id = Number.NaN)); // JSON.stringify writes null
    await expect(writeRecords(f, "r1-onevision-rl", [good["r1-onevision-rl"], bad] as never[])).rejects.toThrow(
      `${f}: record 1: field "id": expected a string or a number, got null`,
    );
    await expect(writeRecords(f, "r1-onevision-rl", [good["r1-onevision-rl"]], { imageRoot: dir })).rejects.toThrow(
      /record 0: field "image": no such file/,
    );
    expect(fs.readFileSync(f, "utf8")).toBe(before);
    expect(fs.readdirSync(dir).filter((x) => x.includes(".tmp-"))).toEqual([]);
  });

  it("an optional field set to undefined is written as absent and accepted", async () => {
    const f = path.join(dir, "undef.jsonl");
    const rec = { ...good["r1-onevision"], filter: undefined, judge_response: undefined };
    await writeRecords(f, "r1-onevision", [rec]);
    expect(await readRecords(f, "r1-onevision").toArray()).toEqual([good["r1-onevision"]]);
  });
});
