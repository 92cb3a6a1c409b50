import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  describeSkips,
  readRecords,
  rlExample,
  R1_ONEVISION_RL_SUFFIX,
  writeRecords,
  type LlavaRecord,
  type R1OnevisionRecord,
  type R1OnevisionRlRecord,
  type SharegptRecord,
} from "../src/index.js";
import { jsonArrayElements } from "../src/records/json_array.js";
import { jsonlLines } from "../src/records/lines.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-records-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const imageRoot = path.join(dir, "images");
fs.mkdirSync(path.join(imageRoot, "coco"), { recursive: true });
for (const name of ["a.png", "b.png", "coco/c.jpg"])
  fs.writeFileSync(path.join(imageRoot, name), "not really an image");

const llava: LlavaRecord[] = [
  {
    id: "000000033471",
    image: "coco/c.jpg",
    conversations: [
      { from: "human", value: "<image>\nWhat are the colors of the bus?" },
      { from: "gpt", value: "White and red." },
      { from: "human", value: 'Any "quotes", commas, [brackets] and {braces}?' },
      { from: "gpt", value: "Yes: ] } , \\ and é — and a newline\nhere." },
    ],
  },
  {
    id: 7,
    conversations: [
      { from: "human", value: "A text-only question" },
      { from: "gpt", value: "ok" },
    ],
  },
  {
    id: "multi",
    image: ["a.png", "b.png"],
    conversations: [
      { from: "human", value: "<image><image>Which is larger?" },
      { from: "gpt", value: "The first." },
    ],
    model: "extra fields are kept",
  },
];

const sharegpt: SharegptRecord[] = [
  {
    messages: [
      { role: "user", content: "<image>How many circles?" },
      { role: "assistant", content: "<think>I see two, then one more.</think>\n<answer>3</answer>" },
    ],
    images: ["a.png"],
  },
  {
    id: "sys",
    messages: [
      { role: "system", content: "You are a careful reasoner." },
      { role: "user", content: "No image here." },
      { role: "assistant", content: "Fine." },
      { role: "user", content: "<image><image>Compare." },
      { role: "assistant", content: "Same." },
    ],
    images: ["a.png", "coco/c.jpg"],
  },
];

const r1: R1OnevisionRecord[] = [
  {
    id: "shapes-17",
    image: "a.png",
    gt: "3",
    data_source: "shapes",
    conversations: [
      { from: "human", value: "<image>How many circles are left of the square?" },
      {
        from: "assistant",
        value: "<think>Circles at x=10, 30, 50; the square is at x=70.</think>\n<answer>3</answer>",
      },
    ],
    filter: true,
    judge_response: "Final answer 3 matches the ground truth.",
  },
  {
    id: 18,
    image: "b.png",
    gt: 2,
    data_source: "shapes",
    conversations: [
      { from: "human", value: "<image>How many squares?" },
      { from: "assistant", value: "<think>…</think><answer>2</answer>" },
    ],
  },
];

const rl: R1OnevisionRlRecord[] = [
  {
    id: 1,
    image: "a.png",
    conversations: [
      { from: "human", value: "<image>How many circles?" },
      { from: "gpt", value: "3" },
    ],
  },
  {
    id: 2,
    image: "b.png",
    conversations: [
      { from: "human", value: "<image>\nWhich colour?\nA. red\nB. blue" },
      { from: "gpt", value: "<answer> B</answer>" },
    ],
    accu_reward_method: "mcq",
  },
];

describe("round trips", () => {
  it("LLaVA JSON: written as one array, read back record by record, equal", async () => {
    const file = path.join(dir, "llava.json");
    expect(await writeRecords(file, "llava", llava, { imageRoot })).toEqual({ written: 3 });
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual(llava); // a plain JSON array, as LLaVA reads it
    const reader = readRecords(file, "llava", { imageRoot });
    expect(await reader.toArray()).toEqual(llava);
    expect(reader.read).toBe(3);
    expect(describeSkips(reader.skipped)).toBe("no records skipped");
  });

  it("LLaVA JSON as Python's json.dump(indent=2) writes it (many lines a record, a BOM) reads the same", async () => {
    const file = path.join(dir, "llava_pretty.json");
    fs.writeFileSync(file, "\ufeff" + JSON.stringify(llava, null, 2));
    expect(await readRecords(file, "llava").toArray()).toEqual(llava);
    const empty = path.join(dir, "empty.json");
    await writeRecords(empty, "llava", []);
    expect(fs.readFileSync(empty, "utf8")).toBe("[]\n");
    expect(await readRecords(empty, "llava").toArray()).toEqual([]);
  });

  it("ShareGPT messages JSONL, from an async iterable", async () => {
    const file = path.join(dir, "sft.jsonl");
    async function* gen() {
      yield* sharegpt;
    }
    expect(await writeRecords(file, "sharegpt", gen(), { imageRoot })).toEqual({ written: 2 });
    expect(fs.readFileSync(file, "utf8").split("\n")).toHaveLength(3); // two lines and the final newline
    expect(await readRecords(file, "sharegpt", { imageRoot }).toArray()).toEqual(sharegpt);
  });

  it("R1-Onevision records and RL records", async () => {
    const f1 = path.join(dir, "r1.jsonl");
    const f2 = path.join(dir, "rl.jsonl");
    await writeRecords(f1, "r1-onevision", r1, { imageRoot });
    await writeRecords(f2, "r1-onevision-rl", rl, { imageRoot });
    const got: R1OnevisionRecord[] = [];
    for await (const rec of readRecords(f1, "r1-onevision", { imageRoot })) got.push(rec);
    expect(got).toEqual(r1);
    expect(await readRecords(f2, "r1-onevision-rl", { imageRoot }).toArray()).toEqual(rl);
  });

  it("a reader can be iterated again, from the start", async () => {
    const reader = readRecords(path.join(dir, "rl.jsonl"), "r1-onevision-rl");
    expect((await reader.toArray()).length).toBe(2);
    expect((await reader.toArray()).length).toBe(2);
    expect(reader.read).toBe(2);
  });
});

describe("grpo_jsonl.py's derived fields", () => {
  it("problem drops <image> (no strip), solution is '<answer> A </answer>', method defaults", () => {
    const [a, b] = rl.map((r) => rlExample(r));
    expect(a).toEqual({
      imagePath: "a.png",
      problem: "How many circles?",
      solution: "<answer> 3 </answer>",
      accuRewardMethod: "default",
      prompt:
        "How many circles?  Output the thinking process in <think> </think> " +
        "and final answer in <answer> </answer> tags.",
    });
    expect(b?.problem).toBe("\nWhich colour?\nA. red\nB. blue"); // the newline after <image> stays, as in Python
    expect(b?.solution).toBe("<answer> B </answer>"); // tags removed, stripped, re-wrapped
    expect(b?.accuRewardMethod).toBe("mcq"); // the record's own method wins over the script's
    expect(rlExample(rl[0]!, "mcq").accuRewardMethod).toBe("mcq");
    expect(R1_ONEVISION_RL_SUFFIX.startsWith("  Output")).toBe(true);
  });
});

describe("streaming", () => {
  it("JSONL lines split across tiny chunks: same lines, numbers counted with blank ones, CRLF and BOM", async () => {
    const file = path.join(dir, "chunks.jsonl");
    const rows = [{ a: "é😀" }, { b: [1, 2] }, { c: "x".repeat(50) }];
    fs.writeFileSync(
      file,
      `\ufeff${JSON.stringify(rows[0])}\r\n\n${JSON.stringify(rows[1])}\n${JSON.stringify(rows[2])}`,
    );
    for (const size of [1, 3, 7, 1 << 20]) {
      const got = [];
      for await (const l of jsonlLines(file, "test", size)) got.push(l);
      expect(got).toEqual([
        { line: 1, value: rows[0] },
        { line: 3, value: rows[1] },
        { line: 4, value: rows[2] },
      ]);
    }
  });

  it("JSON array elements across tiny chunks: indices, start lines, strings holding brackets and escapes", async () => {
    const file = path.join(dir, "chunks.json");
    fs.writeFileSync(file, JSON.stringify(llava, null, 1));
    const starts = [2, 0, 0]; // computed below from the text
    const text = fs.readFileSync(file, "utf8").split("\n");
    let k = 0;
    text.forEach((l, i) => {
      if (l === " {") starts[k++] = i + 1;
    });
    for (const size of [1, 5, 64, 1 << 20]) {
      const handle = await fs.promises.open(file, "r");
      const got = [];
      for await (const e of jsonArrayElements(file, handle, size)) got.push(e);
      await handle.close();
      expect(got).toEqual(llava.map((value, index) => ({ index, line: starts[index], value })));
    }
  });
});
