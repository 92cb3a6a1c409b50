/**
 * Shapes-world tasks as task records (record.ts), each image written as a PNG file:
 *
 *   counting   R1-V's counting (notebook 06): 1–4 small objects in red, green, blue × circle, square, triangle
 *              ("ood": yellow, purple, orange × star, hexagon, diamond, notebook 06's out-of-distribution test);
 *              the prompt is R1-V's training template word for word (two spaces after the question,
 *              src/r1-v/src/open_r1/grpo.py `QUESTION_TEMPLATE`); the answer the number of objects ("3")
 *   grounding  VLM-R1's referring-expression comprehension: "where is the red circle?" with VLM-R1's REC prompt
 *              (src/open-r1-multimodal/src/open_r1/grpo_rec.py); the answer the object's box in whole pixels,
 *              `[x0,y0,x1,y1]` rounded outward (questions.ts `pixelBox`), as VLM-R1's IoU reward reads it
 *
 * Scenes come from `shapesDataset` with the random stream `<split>-<task>` ("train-counting" is notebook 06's
 * training stream), drawn at `size` × `size` pixels (default 224: Qwen2-VL reads 224 = 8 · 28 as it is).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { shapesDataset } from "../dataset.js";
import { renderScene } from "../render.js";
import type { ColorName, ShapeName } from "../shapes.js";
import type { TaskData, TaskRecord } from "./record.js";

/** R1-V's training prompt around a question. */
export const r1vPrompt = (q: string) =>
  `${q}  Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.`;

/** VLM-R1's REC prompt around a referring question. */
export const recPrompt = (q: string) =>
  `${q} First output the thinking process in <think> </think> tags and then output the final answer in ` +
  "<answer> </answer> tags. Output the final answer in JSON format.";

export const SHAPES_TASKS = ["counting", "grounding"] as const;
export type ShapesTaskName = (typeof SHAPES_TASKS)[number];

export interface ShapesTaskOptions {
  /** Number of records. */
  n: number;
  seed?: number;
  /** verl's split and the stream's name (default "train"). */
  split?: string;
  /** Image side in pixels (default 224). */
  size?: number;
  /** Counting: notebook 06's out-of-distribution colours and shapes. */
  ood?: boolean;
}

const ID = {
  colors: ["red", "green", "blue"] as ColorName[],
  shapes: ["circle", "square", "triangle"] as ShapeName[],
};
const OOD = {
  colors: ["yellow", "purple", "orange"] as ColorName[],
  shapes: ["star", "hexagon", "diamond"] as ShapeName[],
};

/** The task's records, its images written as `<imagesDir>/000000.png`, … (see the file comment). */
export async function shapesTask(task: ShapesTaskName, imagesDir: string, opts: ShapesTaskOptions): Promise<TaskData> {
  if (!SHAPES_TASKS.includes(task))
    throw new Error(`export: unknown task "${String(task)}"; the shapes-world tasks are ${SHAPES_TASKS.join(", ")}`);
  const { n, seed = 0, split = "train", size = 224 } = opts;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`export: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(size) || size < 28) throw new RangeError(`export: size must be an integer ≥ 28, got ${size}`);
  const world = { seed, n, split: `${split}-${task}`, width: size, height: size, render: false };
  const ds =
    task === "counting"
      ? await shapesDataset({ ...world, objects: [1, 4], sizes: ["small"], questions: false, ...(opts.ood ? OOD : ID) })
      : await shapesDataset({ ...world, questions: { kinds: ["box"], perKind: 1 } });
  fs.mkdirSync(imagesDir, { recursive: true });
  const records: TaskRecord[] = [];
  for (const [i, scene] of ds.scenes.entries()) {
    const image = path.resolve(imagesDir, `${String(i).padStart(6, "0")}.png`);
    fs.writeFileSync(image, await renderScene(scene));
    if (task === "counting") {
      const question = "how many shapes are there?";
      const count = scene.objects.length;
      records.push({ images: [image], prompt: r1vPrompt(question), question, answer: String(count), meta: {} });
      continue;
    }
    const qa = ds.qa[i]?.[0];
    if (!qa) throw new Error(`export: scene ${i} of the grounding task has no unambiguous object`);
    const target = qa.question.replace(/^where is the (.*)\?$/, "$1");
    const meta = { target, width: size, height: size };
    records.push({ images: [image], prompt: recPrompt(qa.question), question: qa.question, answer: qa.answer, meta });
  }
  return { task, split, ability: task, records };
}
