/**
 * Spatial multiple-choice questions in shapes world, after CV-Bench (Tong et al. 2024, "Cambrian-1", its
 * vision-centric benchmark), on which VisualThinker-R1-Zero (Zhou et al. 2025, arXiv 2503.05132) reports Count,
 * Relation, Depth and Distance:
 *
 *   count     "how many shapes are in the image?"                                     options: 2, 3, 4, 1 (shuffled)
 *   relation  "where is the red circle located with respect to the blue square?"     options: left, right
 *             (or above, below: the axis along which the two boxes are disjoint, captions.ts `relations`)
 *   depth     "which shape is closer to the camera, the red circle or the blue square?"
 *   distance  "which shape is closer to the red circle, the blue square or the green star?"
 *
 * Shapes world is flat: the renderer draws every shape at depth 0, with no occlusion or perspective. Depth is
 * therefore read from the cue a picture of equal objects gives — relative size: of two shapes drawn at different
 * sizes ("small", "large"), the larger counts as the closer one. Distance is the distance between shape centres,
 * asked only when one candidate is at least `DISTANCE_MARGIN` times farther than the other.
 *
 * Options are natural-language (the option text: "left", "the red circle", "3"), shuffled per sample, and lettered
 * A, B, … in the order shown; `letter` is the right option's letter, `answer` its text. `spatialMcQuestion` writes
 * the question with its options (spatial_text.ts holds VisualThinker's prompts and the answers' text).
 *
 *   spatialMcDataset({ seed: 0, n: 200, width: 32, objects: [2, 4] })
 *   // { scenes, samples: [{ task, question, options, letter, answer, reasoning }], images [n, 3, 32, 32] }
 *
 * Determinism as in dataset.ts: (seed, split) names a stream, each sample forks its own generator from it. Tasks are
 * dealt in turn (sample i asks `tasks[i % tasks.length]`), so every task has its share whatever n is.
 */
import type { Rng, tf } from "@vlab/core";
import { describeObject, relations } from "./captions.js";
import { renderInto } from "./dataset.js";
import type { RenderOptions } from "./render.js";
import {
  resolveSceneOptions,
  sampleScene,
  streamRng,
  type Scene,
  type SceneOptions,
  type ShapeObject,
} from "./shapes.js";

export type SpatialTask = "count" | "relation" | "depth" | "distance";
export const SPATIAL_TASKS: readonly SpatialTask[] = ["count", "relation", "depth", "distance"];

/** Option letters, as VisualThinker's `extract_letters` reads them (A–H). */
export const OPTION_LETTERS = ["A", "B", "C", "D", "E", "F", "G", "H"] as const;

/** A distance question needs one candidate at least this many times farther from the anchor than the other. */
export const DISTANCE_MARGIN = 1.3;

export interface SpatialMcSample {
  task: SpatialTask;
  /** The question, without options or any answer instruction. */
  question: string;
  /** The options' text, in the order shown (lettered A, B, …). */
  options: string[];
  /** The right option's letter. */
  letter: string;
  /** The right option's text. */
  answer: string;
  /** A short correct reasoning, in shapes-world words (what an SFT target writes inside `<think>`). */
  reasoning: string;
}

const the = (o: ShapeObject) => `the ${describeObject(o)}`;
const dist = (a: ShapeObject, b: ShapeObject) => Math.hypot(a.x - b.x, a.y - b.y);

type Unlettered = Pick<SpatialMcSample, "task" | "question" | "reasoning">;

/** The sample with `options` shuffled by rng and lettered; `right` is the text of the right option. */
function lettered(rng: Rng, base: Unlettered, options: string[], right: string): SpatialMcSample {
  const shown = rng.shuffle([...options]);
  const k = shown.indexOf(right);
  const letter = OPTION_LETTERS[k];
  if (k < 0 || letter === undefined) throw new Error(`spatialMc: the right option "${right}" is not among the options`);
  return { ...base, options: shown, letter, answer: right };
}

function countSample(scene: Scene, rng: Rng): SpatialMcSample {
  const n = scene.objects.length;
  // the count and its three nearest other counts ≥ 1 (CV-Bench's count options are nearby numbers)
  const others = [n - 1, n + 1, n - 2, n + 2, n + 3].filter((m) => m >= 1).slice(0, 3);
  const reasoning = `i see ${scene.objects.map(the).join(" , ")} . that is ${n} shapes .`;
  const base = { task: "count" as const, question: "how many shapes are in the image?", reasoning };
  return lettered(rng, base, [n, ...others].map(String), String(n));
}

function relationSample(scene: Scene, rng: Rng): SpatialMcSample | undefined {
  const pairs = scene.objects.flatMap((a) =>
    scene.objects.filter((b) => b !== a && relations(a, b).length > 0).map((b) => [a, b] as const),
  );
  if (pairs.length === 0) return undefined;
  const [a, b] = pairs[rng.int(pairs.length)] ?? pairs[0] ?? [];
  if (!a || !b) return undefined;
  const rel = relations(a, b)[0];
  const horizontal = rel === "left of" || rel === "right of";
  const right = rel === "left of" ? "left" : rel === "right of" ? "right" : (rel ?? "above");
  const question = `where is ${the(a)} located with respect to ${the(b)}?`;
  const reasoning = `${the(a)} is ${rel} ${the(b)} .`;
  const options = horizontal ? ["left", "right"] : ["above", "below"];
  return lettered(rng, { task: "relation", question, reasoning }, options, right);
}

function depthSample(scene: Scene, rng: Rng): SpatialMcSample | undefined {
  const pairs = scene.objects.flatMap((a) =>
    scene.objects.filter((b) => a.size === "large" && b.size === "small").map((b) => [a, b] as const),
  );
  if (pairs.length === 0) return undefined;
  const [near, far] = pairs[rng.int(pairs.length)] ?? [];
  if (!near || !far) return undefined;
  const [x, y] = rng.next() < 0.5 ? [near, far] : [far, near];
  const question = `which shape is closer to the camera, ${the(x)} or ${the(y)}?`;
  const reasoning = `${the(near)} is large . ${the(far)} is small . the larger shape is closer .`;
  return lettered(rng, { task: "depth", question, reasoning }, [the(x), the(y)], the(near));
}

function distanceSample(scene: Scene, rng: Rng): SpatialMcSample | undefined {
  const triples: [ShapeObject, ShapeObject, ShapeObject][] = [];
  for (const anchor of scene.objects)
    for (const p of scene.objects)
      for (const q of scene.objects) {
        if (p === anchor || q === anchor || p === q) continue;
        if (dist(anchor, q) >= DISTANCE_MARGIN * dist(anchor, p)) triples.push([anchor, p, q]);
      }
  if (triples.length === 0) return undefined;
  const [anchor, near, far] = triples[rng.int(triples.length)] ?? [];
  if (!anchor || !near || !far) return undefined;
  const [x, y] = rng.next() < 0.5 ? [near, far] : [far, near];
  const question = `which shape is closer to ${the(anchor)}, ${the(x)} or ${the(y)}?`;
  const reasoning = `${the(near)} is near ${the(anchor)} . ${the(far)} is far from ${the(anchor)} .`;
  return lettered(rng, { task: "distance", question, reasoning }, [the(x), the(y)], the(near));
}

/** One sample of `task` about the scene, or undefined when the scene cannot ask it (no such pair or triple). */
export function spatialMcSample(scene: Scene, task: SpatialTask, rng: Rng): SpatialMcSample | undefined {
  switch (task) {
    case "count":
      return countSample(scene, rng);
    case "relation":
      return relationSample(scene, rng);
    case "depth":
      return depthSample(scene, rng);
    case "distance":
      return distanceSample(scene, rng);
    default:
      throw new RangeError(`spatialMcSample: unknown task "${String(task)}" (one of ${SPATIAL_TASKS.join(", ")})`);
  }
}

/** "(A) left or (B) right", "(A) 3, (B) 2, (C) 4 or (D) 1": the options with their letters. */
export function letteredOptions(options: readonly string[]): string {
  const items = options.map((o, i) => `(${OPTION_LETTERS[i] ?? "?"}) ${o}`);
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

/**
 * The question with its options: "style: letters" (default) lists them lettered, CV-Bench's way, and asks for the
 * letter; "words" is VisualThinker-R1-Zero's SAT template (`src/data/SAT/process_dataset.py`), whose answers are the
 * option text: "Answer in natural language. {question} Choose between the following options: a, b or c".
 */
export function spatialMcQuestion(s: SpatialMcSample, style: "letters" | "words" = "letters"): string {
  if (style === "words") {
    const opts =
      s.options.length <= 1 ? s.options.join("") : `${s.options.slice(0, -1).join(", ")} or ${s.options.at(-1)}`;
    return `Answer in natural language. ${s.question} Choose between the following options: ${opts}`;
  }
  return `${s.question} Choose between the following options: ${letteredOptions(s.options)}. Answer with the letter.`;
}

export interface SpatialMcDatasetOptions extends SceneOptions, RenderOptions {
  seed: number;
  n: number;
  /** Names the random stream (default "train"). */
  split?: string;
  /** Tasks dealt in turn (default all four). */
  tasks?: readonly SpatialTask[];
  /** Render pixels (default true). */
  render?: boolean;
}

export interface SpatialMcDataset {
  seed: number;
  split: string;
  scenes: Scene[];
  samples: SpatialMcSample[];
  /** `[n, 3, H, W]` float32 in [0, 1] (absent with `render: false`). */
  pixels?: Float32Array;
  images?: tf.Tensor4D;
  dispose(): void;
}

/** `n` scenes with one spatial question each (see the file comment). Scenes default to 2–4 objects of both sizes. */
export async function spatialMcDataset(opts: SpatialMcDatasetOptions): Promise<SpatialMcDataset> {
  const { seed, n } = opts;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`spatialMcDataset: n must be an integer ≥ 0, got ${n}`);
  const tasks = opts.tasks ?? SPATIAL_TASKS;
  if (tasks.length === 0) throw new RangeError("spatialMcDataset: no tasks");
  for (const t of tasks)
    if (!SPATIAL_TASKS.includes(t))
      throw new RangeError(`spatialMcDataset: unknown task "${t}" (one of ${SPATIAL_TASKS.join(", ")})`);
  const split = opts.split ?? "train";
  const sceneOpts = resolveSceneOptions({ ...opts, objects: opts.objects ?? [2, 4] });
  const stream = streamRng(seed, `${split}/spatial-mc`);
  const scenes: Scene[] = [];
  const samples: SpatialMcSample[] = [];
  for (let i = 0; i < n; i++) {
    const task = tasks[i % tasks.length] ?? "count";
    for (let tries = 0; ; tries++) {
      if (tries === 100)
        throw new Error(`spatialMcDataset: no ${task} question in 100 scenes (objects ${sceneOpts.objects.join("–")})`);
      const rng = stream.fork();
      const scene = sampleScene(rng, sceneOpts);
      const sample = spatialMcSample(scene, task, rng);
      if (!sample) continue;
      scenes.push(scene);
      samples.push(sample);
      break;
    }
  }
  const ds: SpatialMcDataset = {
    seed,
    split,
    scenes,
    samples,
    dispose() {
      ds.images?.dispose();
    },
  };
  await renderInto(ds, scenes, opts);
  return ds;
}
