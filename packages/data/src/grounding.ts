/**
 * Grounding tasks in shapes world, as the R1-V variants train them, with answers written the way the base model's
 * family writes boxes (`@vlab/rewards` box_text.ts: Qwen2-VL's `(x1,y1),(x2,y2)` on a 0–1000 grid between box
 * tokens, or Qwen2.5-VL's JSON `bbox_2d` in pixels):
 *
 *   rec             VLM-R1: one referring expression, one box
 *                   "please provide the bounding box coordinate of the region this sentence describes: the circle
 *                   left of the blue square."  →  <|object_ref_start|>the circle left of the blue square
 *                   <|object_ref_end|><|box_start|>(93,125),(437,468)<|box_end|>
 *   detection       Visual-RFT: every object of a category (drawn in proportion to its objects), several boxes,
 *                   none when the category is absent (a share `emptyRate` of the prompts)
 *                   "find every green shape."  →  [{"bbox_2d": [3, 4, 14, 15], "label": "green circle"}, …]
 *   classification  Visual-RFT's fine-grained task: one object, classes that differ in one attribute (its size, in
 *                   four steps: `FINE_SIZES`)
 *                   "this is an image containing a circle. what size is the circle: tiny, small, medium or
 *                   large?"  →  medium
 *
 *   groundingDataset({ seed: 0, n: 500, task: "rec", convention: "qwen2-vl", width: 32 })
 *   // { scenes, samples: [{ question, answer, boxes, labels, … }], images [n, 3, 32, 32], dispose() }
 *
 * Ground-truth boxes are whole pixels, rounded outward (questions.ts `pixelBox`): the numbers a model writes are then
 * a small set (`groundingVocabulary`), as a word-level tokenizer needs. Prompts: the question alone (`question`),
 * with R1-V's think/answer instruction or VLM-R1's REC instruction (`groundingPrompt`); `groundingCompletion` writes
 * a whole think/answer completion for supervised fine-tuning. Determinism as in dataset.ts: (seed, split) names a
 * stream, and each sample forks its own generator from it.
 */
import { tf, type Rng } from "@vlab/core";
import { QWEN2_VL_BOX_TOKENS, boxToText, formatBoxes, type BoxConvention } from "@vlab/rewards";
import { numberWord } from "./captions.js";
import { renderInto } from "./dataset.js";
import { pick } from "./pick.js";
import { pixelBox } from "./questions.js";
import { referringExpressions, type ReferenceKind } from "./referring.js";
import type { RenderOptions } from "./render.js";
import {
  COLOR_NAMES,
  SHAPES,
  makeObject,
  pairName,
  resolveSceneOptions,
  sampleScene,
  streamRng,
  type Box,
  type ColorName,
  type Scene,
  type SceneOptions,
  type ShapeName,
  type ShapeObject,
} from "./shapes.js";

export type GroundingTask = "rec" | "detection" | "classification";
export const GROUNDING_TASKS: readonly GroundingTask[] = ["rec", "detection", "classification"];

export interface GroundingSample {
  task: GroundingTask;
  /** The question, without the image placeholder or any answer-format instruction. */
  question: string;
  /** What is asked for: the referring expression, the detection category ("green shape"), the class's object. */
  target: string;
  /** Ground-truth boxes, whole pixels [x1, y1, x2, y2] (rec: one; detection: zero or more, left to right). */
  boxes: Box[];
  /** A name per box ("red circle"). */
  labels: string[];
  /** classification: the class name (the answer); absent otherwise. */
  solution?: string;
  /** classification: every class name, in order. */
  classes?: string[];
  /** The answer as the model family writes it (what goes inside `<answer>`). */
  answer: string;
  width: number;
  height: number;
}

export interface GroundingTextOptions {
  /** How boxes are written (Qwen2-VL's grid or Qwen2.5-VL's pixels). */
  convention: BoxConvention;
  /** Name each box in the answer (Qwen2-VL's ref tokens, Qwen2.5-VL's "label"; default true). */
  labels?: boolean;
}

/** The answer text of a detection with no object (Qwen2.5-VL: an empty JSON list; Qwen2-VL has no boxes to write). */
export const NO_BOXES: Readonly<Record<BoxConvention, string>> = { "qwen2-vl": "no objects", "qwen2.5-vl": "[]" };

/** VLM-R1's REC question (the `problem` of its RefCOCO and LISA-Grounding data), lower-cased as shapes world is. */
export const REC_QUESTION = "please provide the bounding box coordinate of the region this sentence describes:";

function answerOf(boxes: Box[], labels: string[], opts: GroundingTextOptions, size: [number, number]): string {
  if (boxes.length === 0) return NO_BOXES[opts.convention];
  const items = boxes.map((box, i) => (opts.labels === false ? { box } : { box, label: labels[i] }));
  return formatBoxes(items, { convention: opts.convention, size: { width: size[0], height: size[1] } });
}

const wholeBox = (o: ShapeObject, scene: Scene): Box => pixelBox(o.box, scene.width, scene.height);

export interface RecOptions extends GroundingTextOptions {
  /** Kinds of expression to draw from (default all; a kind is drawn first, then an expression of it). */
  kinds?: readonly ReferenceKind[];
}

/** One referring-expression sample of the scene (a checked expression: referring.ts), or undefined if none. */
export function recSample(scene: Scene, rng: Rng, opts: RecOptions): GroundingSample | undefined {
  const all = referringExpressions(scene, opts.kinds);
  const kinds = [...new Set(all.map((e) => e.kind))];
  if (kinds.length === 0) return undefined;
  const kind = kinds[rng.int(kinds.length)];
  const ofKind = all.filter((e) => e.kind === kind);
  const e = ofKind[rng.int(ofKind.length)];
  const o = e && scene.objects[e.target];
  if (!e || !o) return undefined;
  const boxes = [wholeBox(o, scene)];
  return {
    task: "rec",
    question: `${REC_QUESTION} ${e.text}.`,
    target: e.text,
    boxes,
    labels: [e.text],
    answer: answerOf(boxes, [e.text], opts, [scene.width, scene.height]),
    width: scene.width,
    height: scene.height,
  };
}

export interface DetectionOptions extends GroundingTextOptions {
  /** Share of prompts that ask for a category absent from the scene (answer: no boxes; default 0.2). */
  emptyRate?: number;
  /** Categories: colours ("green shape"), shapes ("circle"), or both (default). */
  by?: readonly ("color" | "shape")[];
  colors?: readonly ColorName[];
  shapes?: readonly ShapeName[];
}

/** One detection sample: every object of a category present in the scene, or (emptyRate) of one absent from it. */
export function detectionSample(scene: Scene, rng: Rng, opts: DetectionOptions) {
  const by = opts.by ?? ["color", "shape"];
  const categories = [
    ...(by.includes("color") ? (opts.colors ?? COLOR_NAMES).map((c) => ({ name: `${c} shape`, color: c })) : []),
    ...(by.includes("shape") ? (opts.shapes ?? SHAPES).map((s) => ({ name: s, shape: s })) : []),
  ];
  if (categories.length === 0) throw new RangeError("detectionSample: no categories (by, colors, shapes)");
  const members = (c: (typeof categories)[number]) =>
    scene.objects.filter((o) => ("color" in c ? o.color === c.color : o.shape === c.shape));
  const present = categories.filter((c) => members(c).length > 0);
  const absent = categories.filter((c) => members(c).length === 0);
  const empty = absent.length > 0 && (present.length === 0 || rng.next() < (opts.emptyRate ?? 0.2));
  // A present category is drawn in proportion to its objects, so prompts with several boxes are common.
  const category = pick(rng, empty ? absent : present.flatMap((c) => members(c).map(() => c)));
  const found = [...members(category)].sort((a, b) => a.box[0] - b.box[0] || a.box[1] - b.box[1]);
  const boxes = found.map((o) => wholeBox(o, scene));
  const labels = found.map((o) => pairName(o));
  return {
    task: "detection" as const,
    question: `find every ${category.name}.`,
    target: category.name,
    boxes,
    labels,
    answer: answerOf(boxes, labels, opts, [scene.width, scene.height]),
    width: scene.width,
    height: scene.height,
  } satisfies GroundingSample;
}

/** The fine-grained size classes: radius as a fraction of the image's shorter side, smallest first. */
export const FINE_SIZES: readonly (readonly [string, number])[] = [
  ["tiny", 0.08],
  ["small", 0.11],
  ["medium", 0.14],
  ["large", 0.17],
];

export interface FineGrainedOptions {
  width?: number;
  height?: number;
  colors?: readonly ColorName[];
  shapes?: readonly ShapeName[];
  background?: SceneOptions["background"];
}

/** A one-object scene drawn at one of the `FINE_SIZES` (uniformly), anywhere it fits, and its class index. */
export function fineGrainedScene(rng: Rng, opts: FineGrainedOptions = {}): { scene: Scene; classIndex: number } {
  const o = resolveSceneOptions({ ...opts, objects: 1 });
  const classIndex = rng.int(FINE_SIZES.length);
  const [, frac] = FINE_SIZES[classIndex] ?? ["", 0.1];
  const r = frac * Math.min(o.width, o.height);
  const shape = pick(rng, o.shapes);
  const color = pick(rng, o.colors);
  // The box is within r of the centre for every shape (outline in world.ts), so this keeps it 1 px inside.
  const at = (side: number) => r + 1 + rng.next() * Math.max(0, side - 2 * r - 2);
  const object = makeObject(shape, color, frac < 0.135 ? "small" : "large", at(o.width), at(o.height), r);
  return { scene: { objects: [object], width: o.width, height: o.height, background: o.background }, classIndex };
}

/** The classification sample of a fine-grained scene (Visual-RFT's "this is an image containing a …" question). */
export function classificationSample(scene: Scene, classIndex: number): GroundingSample {
  const [o] = scene.objects;
  const cls = FINE_SIZES[classIndex];
  if (!o || !cls) throw new RangeError(`classificationSample: no object, or no size class ${classIndex}`);
  const classes = FINE_SIZES.map(([name]) => name);
  const listed = `${classes.slice(0, -1).join(", ")} or ${classes[classes.length - 1] ?? ""}`;
  return {
    task: "classification",
    question: `this is an image containing a ${o.shape}. what size is the ${o.shape}: ${listed}?`,
    target: o.shape,
    boxes: [wholeBox(o, scene)],
    labels: [pairName(o)],
    solution: cls[0],
    classes,
    answer: cls[0],
    width: scene.width,
    height: scene.height,
  };
}

/** R1-V's instruction after the question (its template without "(number)"), and VLM-R1's REC instruction. */
export const GROUNDING_INSTRUCTIONS = {
  r1v: "  Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.",
  "vlm-r1":
    " First output the thinking process in <think> </think> tags and then output the final answer in <answer> " +
    "</answer> tags. Output the final answer in JSON format.",
} as const;

/** The user text of a sample: its question and an answer-format instruction (default R1-V's). */
export function groundingPrompt(s: GroundingSample, instruction: keyof typeof GROUNDING_INSTRUCTIONS = "r1v"): string {
  return s.question + GROUNDING_INSTRUCTIONS[instruction];
}

/** A whole completion for supervised fine-tuning: a short reasoning line, then the answer, in R1-V's tags. */
export function groundingCompletion(s: GroundingSample): string {
  const n = s.boxes.length;
  const think =
    s.task === "rec"
      ? `i look for ${s.target}.`
      : s.task === "detection"
        ? `i see ${n === 0 ? "no" : numberWord(n)} ${s.target}${n === 1 ? "" : "s"}.`
        : `the ${s.target} looks ${s.answer}.`;
  return `<think> ${think} </think> <answer> ${s.answer} </answer>`;
}

/**
 * The words a tokenizer needs for the boxes of a convention: every number a whole-pixel box can become (the grid
 * values of 0 … W and 0 … H, or the pixels themselves), and Qwen2-VL's box tokens (to add as whole tokens).
 */
export function groundingVocabulary(convention: BoxConvention, width: number, height: number): string[] {
  const size = { width, height };
  const numbers = new Set<number>();
  for (let k = 0; k <= Math.max(width, height); k++)
    for (const v of boxToText([Math.min(k, width), Math.min(k, height), width, height], { convention, size }))
      numbers.add(v);
  return [...[...numbers].sort((a, b) => a - b).map(String), ...(convention === "qwen2-vl" ? QWEN2_VL_BOX_TOKENS : [])];
}

export interface GroundingDatasetOptions extends SceneOptions, RenderOptions {
  seed: number;
  n: number;
  task: GroundingTask;
  convention: BoxConvention;
  /** Names the random stream (default "train"). */
  split?: string;
  /** Name each box in the answers (default true). */
  labels?: boolean;
  /** rec: the kinds of expression (default all). */
  kinds?: readonly ReferenceKind[];
  /** detection: share of prompts for an absent category (default 0.2). */
  emptyRate?: number;
  /** detection: categories by colour, shape or both (default both). */
  by?: readonly ("color" | "shape")[];
  /** Render pixels (default true); the tensor `images` too unless `tensor: false`. */
  render?: boolean;
  tensor?: boolean;
}

export interface GroundingDataset {
  seed: number;
  split: string;
  task: GroundingTask;
  convention: BoxConvention;
  width: number;
  height: number;
  scenes: Scene[];
  samples: GroundingSample[];
  /** `[n, 3, H, W]` float32 in [0, 1] (absent with `render: false`). */
  pixels?: Float32Array;
  images?: tf.Tensor4D;
  dispose(): void;
}

/** `n` scenes with one sample of `task` each (see the file comment). REC scenes default to 2–4 objects. */
export async function groundingDataset(opts: GroundingDatasetOptions): Promise<GroundingDataset> {
  const { seed, n, task, convention } = opts;
  if (!GROUNDING_TASKS.includes(task)) throw new RangeError(`groundingDataset: unknown task "${task}"`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`groundingDataset: n must be an integer ≥ 0, got ${n}`);
  const split = opts.split ?? "train";
  const sceneOpts = resolveSceneOptions({ ...opts, objects: opts.objects ?? (task === "rec" ? [2, 4] : [1, 4]) });
  const stream = streamRng(seed, `${split}/${task}`);
  const text = { convention, labels: opts.labels };
  const scenes: Scene[] = [];
  const samples: GroundingSample[] = [];
  for (let i = 0; i < n; i++) {
    let sample: GroundingSample | undefined;
    for (let tries = 0; !sample; tries++) {
      if (tries === 50) throw new Error(`groundingDataset: no ${task} sample in 50 scenes (kinds ${opts.kinds})`);
      const rng = stream.fork();
      if (task === "classification") {
        const { scene, classIndex } = fineGrainedScene(rng, sceneOpts);
        scenes.push(scene);
        sample = classificationSample(scene, classIndex);
        break;
      }
      const scene = sampleScene(rng, sceneOpts);
      sample =
        task === "rec"
          ? recSample(scene, rng, { ...text, kinds: opts.kinds })
          : detectionSample(scene, rng, {
              ...text,
              emptyRate: opts.emptyRate,
              by: opts.by,
              colors: sceneOpts.colors,
              shapes: sceneOpts.shapes,
            });
      if (sample) scenes.push(scene);
    }
    samples.push(sample);
  }
  const ds: GroundingDataset = {
    seed,
    split,
    task,
    convention,
    width: sceneOpts.width,
    height: sceneOpts.height,
    scenes,
    samples,
    dispose() {
      ds.images?.dispose();
    },
  };
  await renderInto(ds, scenes, opts);
  return ds;
}

/** A box to draw: pixels [x1, y1, x2, y2] and an outline colour (r, g, b in [0, 1]). */
export interface DrawnBox {
  box: readonly [number, number, number, number];
  color: readonly [number, number, number];
}

/**
 * An image [3, H, W] (values in [0, 1]) enlarged `scale` times (nearest neighbour) with each box's outline drawn on
 * it, one enlarged pixel wide: [3, H·scale, W·scale], a new tensor the caller disposes. Corners are pixel edges
 * (the box [x1, y1, x2, y2] covers x1 ≤ x < x2), clamped to the image; later boxes are drawn over earlier ones.
 */
export function drawBoxes(image: tf.Tensor, boxes: readonly DrawnBox[], scale = 4): tf.Tensor3D {
  const [c, h, w] = image.shape;
  if (image.rank !== 3 || c !== 3 || h === undefined || w === undefined)
    throw new RangeError(`drawBoxes: the image must be [3, H, W], got [${image.shape.join(", ")}]`);
  if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`drawBoxes: scale must be an integer ≥ 1`);
  const src = image.dataSync();
  const [H, W] = [h * scale, w * scale];
  const out = new Float32Array(3 * H * W);
  for (let ch = 0; ch < 3; ch++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        out[(ch * H + y) * W + x] = src[(ch * h + Math.floor(y / scale)) * w + Math.floor(x / scale)] ?? 0;
  const set = (x: number, y: number, rgb: DrawnBox["color"]) => rgb.forEach((v, ch) => (out[(ch * H + y) * W + x] = v));
  for (const { box, color } of boxes) {
    if (!box.every(Number.isFinite)) continue;
    const at = (v: number, side: number) => Math.min(side - 1, Math.max(0, Math.round(v * scale)));
    const [x1, y1] = [at(box[0], W), at(box[1], H)];
    // the last enlarged pixel inside the box (its right / bottom edge is x2 · scale)
    const [x2, y2] = [Math.max(x1, at(box[2], W + 1) - 1), Math.max(y1, at(box[3], H + 1) - 1)];
    for (let x = x1; x <= x2; x++) [y1, y2].forEach((y) => set(x, y, color));
    for (let y = y1; y <= y2; y++) [x1, x2].forEach((x) => set(x, y, color));
  }
  return tf.tensor3d(out, [3, H, W]);
}
