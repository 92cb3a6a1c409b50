/**
 * Task data for OpenRLHF, lmm-r1, verl and TRL: each exported file read back and checked field by field (the parquet
 * file through hyparquet: schema and row count), the images on disk with one placeholder each, the answers against
 * the scenes, lmm-r1's message against Python's json.dumps (skipped without /usr/bin/python3), and a user's JSONL
 * with faults named by file, line and field.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import {
  jsonlTask,
  pythonJsonDumps,
  readParquet,
  shapesDataset,
  shapesTask,
  writeTaskData,
  type TaskData,
} from "../src/index.js";

const PY = "/usr/bin/python3";
const HAS_PY = fs.existsSync(PY);
const root = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-export-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

type Row = Record<string, unknown>;
const readJsonl = (f: string) =>
  fs
    .readFileSync(f, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Row);
const placeholders = (s: string) => s.split("<image>").length - 1;
const R1V_TAIL =
  "  Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.";

/** Reads every file of an export back and checks the fields each engine reads; returns verl's rows. */
async function checkExport(dir: string, data: TaskData): Promise<Row[]> {
  const n = data.records.length;
  const several = data.records.some((r) => r.images.length > 1);
  const exists = (p: string) => fs.existsSync(p) && fs.readFileSync(p).subarray(1, 4).toString() === "PNG";

  const openrlhf = readJsonl(path.join(dir, "openrlhf.jsonl"));
  expect(openrlhf).toHaveLength(n);
  openrlhf.forEach((row, i) => {
    const r = data.records[i]!;
    expect(Object.keys(row)).toEqual(["prompt", "images", "label"]);
    expect(row.prompt).toEqual([{ role: "user", content: "<image>".repeat(r.images.length) + r.prompt }]);
    expect(row.images).toEqual(r.images);
    expect((row.images as string[]).every(exists)).toBe(true);
    expect(row.label).toBe(r.answer);
  });

  const lmm = readJsonl(path.join(dir, "lmm_r1.jsonl"));
  expect(lmm).toHaveLength(n);
  lmm.forEach((row, i) => {
    const r = data.records[i]!;
    expect(Object.keys(row)).toEqual(["message", "answer"]);
    expect(typeof row.message).toBe("string"); // a JSON string, as lmm-r1's examples/data/test_message.jsonl
    const content = [...r.images.map((image) => ({ type: "image", image })), { type: "text", text: r.prompt }];
    expect(JSON.parse(row.message as string)).toEqual([{ role: "user", content }]);
    expect(row.answer).toBe(r.answer);
  });

  const trl = readJsonl(path.join(dir, "trl.jsonl"));
  expect(trl).toHaveLength(n);
  trl.forEach((row, i) => {
    const r = data.records[i]!;
    expect(row.prompt).toEqual([{ role: "user", content: r.prompt }]);
    expect(placeholders(JSON.stringify(row.prompt))).toBe(0);
    if (several) expect(row.images).toEqual(r.images);
    else expect(row.image).toBe(r.images[0]);
    expect(row.solution).toBe(r.answer);
    for (const [k, v] of Object.entries(r.meta)) expect(row[k]).toBe(v);
  });

  const pq = await readParquet(fs.readFileSync(path.join(dir, "verl.parquet")));
  expect(pq.numRows).toBe(n);
  const top = pq.schema[0]!;
  expect(top.num_children).toBe(6);
  const names = pq.schema.map((e) => e.name);
  expect(names.slice(0, 14)).toEqual([
    "root",
    "data_source",
    ...["prompt", "list", "element", "role", "content"],
    ...["images", "list", "element", "image"],
    "ability",
    ...["reward_model", "style"],
  ]);
  expect(pq.schema.find((e) => e.name === "prompt")?.converted_type).toBe("LIST");
  expect(pq.schema.find((e) => e.name === "ground_truth")?.converted_type).toBe("UTF8");
  expect(pq.schema.find((e) => e.name === "index")?.type).toBe("INT64");
  pq.rows.forEach((row, i) => {
    const r = data.records[i]!;
    expect(Object.keys(row)).toEqual(["data_source", "prompt", "images", "ability", "reward_model", "extra_info"]);
    expect(row.data_source).toBe(`vlab/${data.task}`);
    const prompt = row.prompt as { role: string; content: string }[];
    expect(prompt).toEqual([{ role: "user", content: "<image>".repeat(r.images.length) + r.prompt }]);
    const images = row.images as { image: string }[];
    expect(images.map((x) => x.image)).toEqual(r.images.map((p) => `file://${p}`));
    expect(placeholders(prompt[0]!.content)).toBe(images.length); // rl_dataset.py's assert
    expect(images.every((x) => exists(x.image.slice("file://".length)))).toBe(true);
    expect(row.reward_model).toEqual({ style: "rule", ground_truth: r.answer });
    expect(typeof (row.reward_model as Row).ground_truth).toBe("string");
    const extra = row.extra_info as Row;
    expect(extra).toMatchObject({ split: data.split, index: i, answer: r.answer, ...r.meta });
  });
  return pq.rows;
}

describe("shapes-world tasks", () => {
  it("counting (R1-V, notebook 06): four files, PNG images, labels = the scenes' object counts", async () => {
    const dir = path.join(root, "counting");
    const data = await shapesTask("counting", path.join(dir, "images"), { n: 6, size: 56, seed: 3 });
    await writeTaskData(data, dir);
    expect(fs.readdirSync(dir).sort()).toEqual([
      "images",
      "lmm_r1.jsonl",
      "openrlhf.jsonl",
      "trl.jsonl",
      "verl.parquet",
    ]);
    const meta = await sharp(data.records[0]!.images[0]!).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 56, 56]);
    const rows = await checkExport(dir, data);
    // notebook 06's training stream and world (colours, shapes, sizes, 1–4 objects): the same scenes, so the counts
    const world = {
      objects: [1, 4] as [number, number],
      sizes: ["small" as const],
      colors: ["red" as const, "green" as const, "blue" as const],
      shapes: ["circle" as const, "square" as const, "triangle" as const],
    };
    const scenes = await shapesDataset({ ...world, seed: 3, n: 6, split: "train-counting", width: 56, render: false });
    const counts = scenes.scenes.map((s) => String(s.objects.length));
    expect(new Set(counts).size).toBeGreaterThan(1);
    expect(data.records.map((r) => r.answer)).toEqual(counts);
    expect(data.records.every((r) => r.prompt === `how many shapes are there?${R1V_TAIL}`)).toBe(true);
    expect((rows[0]!.extra_info as Row).question).toBe("how many shapes are there?");
    expect(rows[0]!.ability).toBe("counting");
  });

  it("grounding (VLM-R1 REC): the named object's box in whole pixels, metadata in extra_info and TRL", async () => {
    const dir = path.join(root, "grounding");
    const data = await shapesTask("grounding", path.join(dir, "images"), { n: 4, size: 56, split: "val" });
    await writeTaskData(data, dir);
    const rows = await checkExport(dir, data);
    for (const r of data.records) {
      expect(r.prompt).toMatch(/^where is the .+\? First output the thinking process .* in JSON format\.$/);
      const box = JSON.parse(r.answer) as number[];
      expect(box).toHaveLength(4);
      expect(box.every((v) => Number.isInteger(v) && v >= 0 && v <= 56)).toBe(true);
      expect(box[2]! > box[0]! && box[3]! > box[1]!).toBe(true);
      expect(r.question).toBe(`where is the ${String(r.meta.target)}?`);
    }
    expect(rows[0]!.extra_info).toMatchObject({ split: "val", width: 56, height: 56 });
  });

  it.skipIf(!HAS_PY)(`lmm-r1's message is Python's json.dumps text${HAS_PY ? "" : " (skipped: no python3)"}`, () => {
    const value = [
      { role: "user", content: [{ type: "text", text: 'café "5" \\ ☃ 😀\n\t\u0001\u007f' }, 3.5, true, null] },
    ];
    const ours = pythonJsonDumps(value);
    const r = spawnSync(PY, ["-c", "import json,sys; print(json.dumps(json.loads(sys.stdin.read())), end='')"], {
      input: ours,
      encoding: "utf8",
    });
    expect(r.stdout).toBe(ours);
  });
});

/** Writes a small image file (PNG or JPEG). */
async function image(file: string, format: "png" | "jpeg", shade: number): Promise<void> {
  const raw = { width: 8, height: 6, channels: 3 as const };
  const img = sharp(Buffer.alloc(8 * 6 * 3, shade), { raw });
  await (format === "png" ? img.png() : img.jpeg()).toFile(file);
}

describe("a user's JSONL", () => {
  it("question / answer / image(s) and metadata → four files; images as PNG, one placeholder each", async () => {
    const src = path.join(root, "user");
    fs.mkdirSync(path.join(src, "imgs"), { recursive: true });
    await image(path.join(src, "imgs", "a.png"), "png", 10);
    await image(path.join(src, "imgs", "b.jpg"), "jpeg", 200);
    const lines = [
      { image: "imgs/a.png", problem: "How many?", solution: "<answer> 3 </answer>", level: "easy", hard: false },
      "",
      { images: ["imgs/b.jpg", "imgs/a.png"], question: "Same?", answer: 1, level: "hard", hard: true, w: 2.5 },
      { image: path.join(src, "imgs", "b.jpg"), question: "Where?", answer: [1, 2, 5, 6], level: "mid" },
    ];
    const file = path.join(src, "my_task.jsonl");
    fs.writeFileSync(file, lines.map((l) => (l === "" ? "" : JSON.stringify(l))).join("\n") + "\n");
    const out = path.join(root, "user-out");
    const data = await jsonlTask(file, path.join(out, "images"));
    expect(data.task).toBe("my_task");
    expect(data.records.map((r) => r.answer)).toEqual(["<answer> 3 </answer>", "1", "[1,2,5,6]"]);
    expect(data.records[1]!.images.map((p) => path.basename(p))).toEqual(["000001_0.png", "000001_1.png"]);
    expect(data.records[2]!.meta).toEqual({ level: "mid" });
    await writeTaskData(data, out);
    const rows = await checkExport(out, data);
    expect(rows[1]!.extra_info).toMatchObject({ level: "hard", hard: true, w: 2.5 });
    expect((rows[2]!.extra_info as Row).hard).toBeNull();
    const png = await sharp(data.records[1]!.images[0]!).raw().toBuffer({ resolveWithObject: true });
    expect([png.info.width, png.info.height, png.info.channels]).toEqual([8, 6, 3]);
    expect(Math.abs(png.data[0]! - 200)).toBeLessThan(4); // the JPEG's grey, as PNG
  });

  it("faults are named by file, line and field", async () => {
    const dir = path.join(root, "bad");
    fs.mkdirSync(dir, { recursive: true });
    await image(path.join(dir, "x.png"), "png", 50);
    const ok = { image: "x.png", question: "q?", answer: "1" };
    const cases: [unknown[], string | RegExp][] = [
      [[ok, { image: "x.png", question: "q?" }], 'bad.jsonl:2: no field "answer" or "solution"'],
      [[ok, ok, { ...ok, image: "nope.png" }], /bad\.jsonl:3: field "image": loadImage: no such file: .*nope\.png/],
      [[{ ...ok, images: [] }], 'bad.jsonl:1: fields "image" and "images" say the same thing'],
      [[{ ok: 1, ...ok, image: ["x.png", 3] }], 'bad.jsonl:1: field "image" must be a path or a non-empty list'],
      [[{ ...ok, answer: { a: 1 } }], 'bad.jsonl:1: field "answer" is {"a":1}: give a non-empty string'],
      [[{ ...ok, question: "<image>q?" }], 'bad.jsonl:1: field "question" holds "<image>"'],
      [[{ ...ok, n: 1 }, "", { ...ok, n: "one" }], 'bad.jsonl:3: field "n" is a string here but a number on line 1'],
      [[{ ...ok, tags: ["a"] }], 'bad.jsonl:1: field "tags" is ["a"]: metadata must be a string, number or boolean'],
      [[{ ...ok, split: "test" }], 'bad.jsonl:1: field "split" is a name the export formats use'],
      [[ok, "{not json"], /bad\.jsonl:2: invalid JSON/],
    ];
    for (const [lines, message] of cases) {
      const file = path.join(dir, "bad.jsonl");
      fs.writeFileSync(file, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
      await expect(jsonlTask(file, path.join(dir, "images"))).rejects.toThrow(message);
    }
  });
});
