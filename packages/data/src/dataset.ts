/**
 * Shapes-world data sets: scenes, their pixels, captions and questions in one call.
 *
 *   const ds = await shapesDataset({ seed: 0, n: 2000, width: 32, objects: [1, 3] });
 *   ds.images     // tf.Tensor4D [2000, 3, 32, 32] float32 in [0, 1]   (ds.dispose() frees it)
 *   ds.pixels     // the same numbers as a Float32Array (for onnxruntime or plain JS)
 *   ds.captions   // one caption per scene, phrasing drawn at random;  ds.allCaptions[i]: every phrasing
 *   ds.qa[i]      // questions about scene i (see questions.ts)
 *
 *   const cls = await classificationDataset({ seed: 0, n: 1000, label: "pair" });   // one object per image
 *   cls.labels    // Int32Array of class indices into cls.classNames ("red circle", ...)
 *
 * Determinism. `(seed, split)` names a random stream; scene i takes its own generator forked from it, and that
 * generator draws the scene, then its captions, then its questions. So the same options give the same data set
 * on every run, a larger `n` extends a smaller one (the first scenes are the same), and "train" and "test" with
 * the same seed are independent draws.
 */
import { tf } from "@vlab/core";
import { captions } from "./captions.js";
import { questions, type QA, type QuestionOptions } from "./questions.js";
import { renderScenesRaw, type RenderOptions } from "./render.js";
import {
  COLOR_NAMES,
  SHAPES,
  allPairs,
  pairName,
  resolveSceneOptions,
  sampleScene,
  streamRng,
  type Scene,
  type SceneOptions,
  type ShapeObject,
} from "./shapes.js";

export interface ShapesDatasetOptions extends SceneOptions, RenderOptions {
  seed: number;
  /** Number of scenes. */
  n: number;
  /** Names the random stream (default "train"); any string, e.g. "test" or "val". */
  split?: string;
  /** Render pixels (default true); false gives scenes, captions and questions only (instant). */
  render?: boolean;
  /** Also wrap the pixels in a tensor `images` (default true). */
  tensor?: boolean;
  /** Captions with more word orders and full stops (`captions(scene, rng, { varied: true })`; default false). */
  variedCaptions?: boolean;
  /** Options for the questions generated per scene, or false for none (default one question per kind). */
  questions?: QuestionOptions | false;
}

export interface ShapesDataset {
  seed: number;
  split: string;
  width: number;
  height: number;
  scenes: Scene[];
  /** One caption per scene (a random phrasing). */
  captions: string[];
  /** Every phrasing per scene, shuffled. */
  allCaptions: string[][];
  /** Questions per scene (empty lists with `questions: false`). */
  qa: QA[][];
  /** `[n, 3, H, W]` float32 in [0, 1], channel-first (absent with `render: false`). */
  pixels?: Float32Array;
  /** The pixels as a tensor `[n, 3, H, W]` (absent with `render: false` or `tensor: false`). */
  images?: tf.Tensor4D;
  /** Disposes `images`. */
  dispose(): void;
}

/** Builds a data set of `n` scenes (see the file comment). */
export async function shapesDataset(opts: ShapesDatasetOptions): Promise<ShapesDataset> {
  const { seed, n } = opts;
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a number, got ${seed}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  const split = opts.split ?? "train";
  const sceneOpts = resolveSceneOptions(opts);
  const stream = streamRng(seed, split);
  const scenes: Scene[] = [],
    all: string[][] = [],
    qa: QA[][] = [];
  for (let i = 0; i < n; i++) {
    const rng = stream.fork();
    const scene = sampleScene(rng, sceneOpts);
    scenes.push(scene);
    all.push(captions(scene, rng, { varied: opts.variedCaptions }));
    qa.push(opts.questions === false ? [] : questions(scene, rng, opts.questions ?? {}));
  }
  const ds: ShapesDataset = {
    seed,
    split,
    width: sceneOpts.width,
    height: sceneOpts.height,
    scenes,
    captions: all.map(([first], i) => {
      if (first === undefined) throw new Error(`shapesDataset: scene ${i} has no caption`);
      return first;
    }),
    allCaptions: all,
    qa,
    dispose() {
      ds.images?.dispose();
    },
  };
  await renderInto(ds, scenes, opts);
  return ds;
}

/**
 * Renders scenes into a data set's `pixels`, and `images` unless `tensor: false`; does nothing with `render: false`
 * or no scenes.
 */
export async function renderInto(
  ds: { pixels?: Float32Array; images?: tf.Tensor4D },
  scenes: readonly Scene[],
  opts: RenderOptions & { render?: boolean; tensor?: boolean },
): Promise<void> {
  if (opts.render === false || scenes.length === 0) return;
  const raw = await renderScenesRaw(scenes, opts);
  ds.pixels = raw.data;
  if (opts.tensor !== false) ds.images = tf.tensor4d(raw.data, raw.shape, "float32");
}

export type LabelKind = "color" | "shape" | "pair";

/** The class names of a label kind, in class-index order ("red", ... / "circle", ... / "red circle", ...). */
export function classNames(label: LabelKind, opts: Pick<SceneOptions, "colors" | "shapes"> = {}): string[] {
  const colors = opts.colors ?? COLOR_NAMES;
  const shapes = opts.shapes ?? SHAPES;
  if (label === "color") return [...colors];
  if (label === "shape") return [...shapes];
  if (label === "pair") return allPairs(colors, shapes).map(pairName);
  throw new RangeError(`label must be "color", "shape" or "pair", got "${label}"`);
}

/** The class name of an object under a label kind. */
export function labelName(o: ShapeObject, label: LabelKind): string {
  return label === "color" ? o.color : label === "shape" ? o.shape : pairName(o);
}

export interface ClassificationOptions extends Omit<ShapesDatasetOptions, "objects"> {
  /** What the class is: the object's colour, its shape, or its colour–shape pair. */
  label: LabelKind;
}

export interface ClassificationDataset extends ShapesDataset {
  label: LabelKind;
  /** Class names in index order; always the full list for `colors` × `shapes`, even when `pairs` is restricted. */
  classNames: string[];
  /** Class index per image. */
  labels: Int32Array;
}

/** Single-object scenes labelled by class, for classification (ViT) and zero-shot (CLIP) notebooks. */
export async function classificationDataset(opts: ClassificationOptions): Promise<ClassificationDataset> {
  const names = classNames(opts.label, opts);
  const ds = await shapesDataset({ ...opts, objects: 1 });
  const labels = new Int32Array(ds.scenes.length);
  ds.scenes.forEach((s, i) => {
    const [object] = s.objects;
    if (!object) throw new Error(`classificationDataset: scene ${i} has no object`);
    labels[i] = names.indexOf(labelName(object, opts.label));
  });
  return Object.assign(ds, { label: opts.label, classNames: names, labels });
}
