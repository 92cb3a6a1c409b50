/**
 * A user's JSONL as task records (record.ts), one record per line:
 *
 *   {"image": "imgs/a.jpg", "question": "How many cubes?", "answer": "3", "difficulty": "easy"}
 *
 *   question | problem    the user's text (R1-V's datasets call it `problem`), a non-empty string without `<image>`
 *   answer | solution     the ground truth: a string, a number or a list of numbers (a box), written as a string
 *   image | images        a path, or a non-empty list of paths, relative to the JSONL file's folder; every image is
 *                         decoded (PNG, JPEG, WebP, …) and written as an RGB PNG into the export's image folder
 *   anything else         metadata: a string, number or boolean, of one kind on every line
 *
 * A fault is a `JsonlError` naming the file, the line and the field (`train.jsonl:7: field "answer" is …`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { loadImage } from "../image.js";
import { JsonlError, parseJsonl } from "../jsonl.js";
import { IMAGE_TOKEN, metaKind, RESERVED_FIELDS, type MetaValue, type TaskData, type TaskRecord } from "./record.js";

const ALIASES = { question: ["question", "problem"], answer: ["answer", "solution"], image: ["image", "images"] };

export interface JsonlTaskOptions {
  /** The task's name (default: the file's name without extension). */
  task?: string;
  split?: string;
  ability?: string;
}

/** The 1-based line of each record `parseJsonl` returns (it skips blank lines). */
function recordLines(text: string): number[] {
  const lines: number[] = [];
  text.split("\n").forEach((l, i) => {
    if (l.replace(/^\ufeff/, "").trim() !== "") lines.push(i + 1);
  });
  return lines;
}

/** The one field of `names` the row has (an error when it has two or none). */
function pick(row: Record<string, unknown>, names: string[], fail: (what: string) => never): [string, unknown] {
  const present = names.filter((k) => k in row);
  if (present.length > 1) fail(`fields ${present.map((k) => `"${k}"`).join(" and ")} say the same thing: keep one`);
  const [k] = present;
  if (k === undefined) fail(`no field ${names.map((n) => `"${n}"`).join(" or ")}`);
  return [k, row[k]];
}

/** The ground truth as a string (see the file comment). */
function answerText(v: unknown, field: string, fail: (what: string) => never): string {
  if (typeof v === "string" && v.trim() !== "") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number" && Number.isFinite(x)))
    return JSON.stringify(v);
  return fail(`field "${field}" is ${JSON.stringify(v)}: give a non-empty string, a number or a list of numbers`);
}

/** Reads the JSONL file into task records, writing its images as PNG files into `imagesDir`. */
export async function jsonlTask(file: string, imagesDir: string, opts: JsonlTaskOptions = {}): Promise<TaskData> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`export: cannot read ${file} (${(e as Error).message})`, { cause: e });
  }
  const rows = parseJsonl(text, file);
  const lines = recordLines(text);
  const home = path.dirname(path.resolve(file));
  fs.mkdirSync(imagesDir, { recursive: true });
  const kinds = new Map<string, { kind: string; line: number }>();
  const records: TaskRecord[] = [];
  for (const [i, row] of rows.entries()) {
    const line = lines[i] ?? i + 1;
    const fail = (what: string): never => {
      throw new JsonlError(file, line, what);
    };
    const [qField, question] = pick(row, ALIASES.question, fail);
    if (typeof question !== "string" || question.trim() === "")
      fail(`field "${qField}" must be a non-empty string, got ${JSON.stringify(question)}`);
    const prompt = question as string;
    if (prompt.includes(IMAGE_TOKEN))
      fail(`field "${qField}" holds "${IMAGE_TOKEN}": give the text alone, the export places one per image`);
    const [aField, rawAnswer] = pick(row, ALIASES.answer, fail);
    const answer = answerText(rawAnswer, aField, fail);
    const [iField, rawImages] = pick(row, ALIASES.image, fail);
    const list: unknown = typeof rawImages === "string" ? [rawImages] : rawImages;
    if (!Array.isArray(list) || list.length === 0 || list.some((p) => typeof p !== "string" || p === ""))
      fail(`field "${iField}" must be a path or a non-empty list of paths, got ${JSON.stringify(rawImages)}`);
    const paths = list as string[];
    const images: string[] = [];
    for (const [k, p] of paths.entries()) {
      const src = path.resolve(home, p);
      const img = await loadImage(src).catch((e: unknown) => fail(`field "${iField}": ${(e as Error).message}`));
      const name = `${String(i).padStart(6, "0")}${paths.length > 1 ? `_${k}` : ""}.png`;
      const out = path.resolve(imagesDir, name);
      const raw = { width: img.width, height: img.height, channels: 3 as const };
      await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw })
        .png()
        .toFile(out);
      images.push(out);
    }
    const used = new Set([qField, aField, iField]);
    const meta: Record<string, MetaValue> = {};
    for (const [k, v] of Object.entries(row)) {
      if (used.has(k)) continue;
      if (RESERVED_FIELDS.includes(k)) fail(`field "${k}" is a name the export formats use for their own columns`);
      const kind = metaKind(v);
      if (kind === undefined)
        fail(`field "${k}" is ${JSON.stringify(v)}: metadata must be a string, number or boolean`);
      const seen = kinds.get(k);
      if (seen && seen.kind !== kind) fail(`field "${k}" is a ${kind} here but a ${seen.kind} on line ${seen.line}`);
      if (!seen) kinds.set(k, { kind: kind as string, line });
      meta[k] = v as MetaValue;
    }
    records.push({ images, prompt, answer, meta });
  }
  if (records.length === 0) throw new Error(`export: ${file} holds no records`);
  const task = opts.task ?? path.basename(file).replace(/\.[^.]*$/, "");
  return { task, split: opts.split ?? "train", ability: opts.ability ?? "vision", records };
}
