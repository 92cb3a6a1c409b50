/**
 * Held-out splits: test sets that differ from training in one controlled way, to measure generalisation.
 *
 *   compositionalSplit  colour–shape pairs never seen in training (every colour and every shape still is)
 *   moreObjects         more objects per scene at test time (train 1–3, test 4–6 by default)
 *   otherSizes          objects smaller and larger than any in training (same size words)
 *   otherAspect         a different image shape at test time (train 32×32, test 48×24 by default)
 *
 * Each returns `{ name, description, train, test }`, two data sets built by `shapesDataset` (or by
 * `classificationDataset` when `label` is given) from the streams "train" and "test" of one seed; everything else
 * in the options applies to both sides. Call `split.dispose()` to free both tensors.
 *
 * Compositional design. Of the 36 pairs, `heldOutPairs` (default 20%, i.e. 7) are chosen deterministically from the
 * seed, spread so that no colour and no shape loses more than ⌈k/6⌉ of its pairs and each keeps at least one
 * training pair: a model can learn "red" and "circle" from other pairs but never sees a red circle. The training
 * set draws only from the other pairs; every test scene's first object (the only one, with `objects: 1`) is a
 * held-out pair and its other objects are drawn from all pairs.
 */
import {
  classificationDataset,
  shapesDataset,
  type LabelKind,
  type ShapesDataset,
  type ShapesDatasetOptions,
} from "./dataset.js";
import {
  COLOR_NAMES,
  SHAPES,
  allPairs,
  pairName,
  streamRng,
  type ColorName,
  type Pair,
  type ShapeName,
  type SizeName,
} from "./shapes.js";

export interface SplitOptions extends Omit<ShapesDatasetOptions, "n" | "split"> {
  /** Scenes in the training set. */
  nTrain: number;
  /** Scenes in the test set. */
  nTest: number;
  /** Single-object scenes labelled by this class kind (see `classificationDataset`); default: plain scenes. */
  label?: LabelKind;
}

export interface Split<D extends ShapesDataset = ShapesDataset> {
  name: string;
  /** One line on what differs between train and test. */
  description: string;
  train: D;
  test: D;
  dispose(): void;
}

async function buildSplit(
  name: string,
  description: string,
  opts: SplitOptions,
  train: Partial<ShapesDatasetOptions>,
  test: Partial<ShapesDatasetOptions>,
): Promise<Split> {
  const { nTrain, nTest, label, ...rest } = opts;
  const make = (n: number, split: string, extra: Partial<ShapesDatasetOptions>) => {
    const o = { ...rest, ...extra, n, split };
    return label ? classificationDataset({ ...o, label }) : shapesDataset(o);
  };
  const trainSet = await make(nTrain, "train", train);
  const testSet = await make(nTest, "test", test);
  return {
    name,
    description,
    train: trainSet,
    test: testSet,
    dispose() {
      trainSet.dispose();
      testSet.dispose();
    },
  };
}

/**
 * Chooses `k` colour–shape pairs to hold out (deterministic in `seed`): shuffled pairs taken greedily so that each
 * colour and each shape is held out at most ⌈k/#colours⌉ (resp. ⌈k/#shapes⌉) times and keeps a training pair.
 * `fraction` (default 0.2) sets k = round(fraction · #pairs) unless `count` is given.
 */
export function chooseHeldOutPairs(
  seed: number,
  opts: { fraction?: number; count?: number; colors?: readonly ColorName[]; shapes?: readonly ShapeName[] } = {},
): Pair[] {
  const colors = opts.colors ?? COLOR_NAMES;
  const shapes = opts.shapes ?? SHAPES;
  const pairs = allPairs(colors, shapes);
  const k = opts.count ?? Math.round((opts.fraction ?? 0.2) * pairs.length);
  const maxK = Math.min(colors.length * (shapes.length - 1), shapes.length * (colors.length - 1));
  if (!Number.isInteger(k) || k < 0 || k > maxK) {
    throw new RangeError(
      `can hold out 0..${maxK} of ${pairs.length} pairs while every colour and shape keeps a training pair; asked ` +
        `for ${k}`,
    );
  }
  const perColor = Math.ceil(k / colors.length),
    perShape = Math.ceil(k / shapes.length);
  const rng = streamRng(seed, "held-out-pairs");
  // Greedy passes with growing caps: the first pass keeps the spread even; later ones only guard the last pair.
  for (const [capC, capS] of [
    [perColor, perShape],
    [shapes.length - 1, colors.length - 1],
  ] as const) {
    const order = rng.shuffle([...pairs]);
    const chosen: Pair[] = [];
    const nc = new Map<string, number>(),
      ns = new Map<string, number>();
    for (const p of order) {
      if (chosen.length === k) break;
      if ((nc.get(p.color) ?? 0) >= capC || (ns.get(p.shape) ?? 0) >= capS) continue;
      chosen.push(p);
      nc.set(p.color, (nc.get(p.color) ?? 0) + 1);
      ns.set(p.shape, (ns.get(p.shape) ?? 0) + 1);
    }
    if (chosen.length === k) return chosen.sort((a, b) => pairs.indexOf(a) - pairs.indexOf(b));
  }
  throw new Error(`could not spread ${k} held-out pairs over ${colors.length} colours and ${shapes.length} shapes`);
}

export interface CompositionalSplitOptions extends SplitOptions {
  /** Pairs to hold out, or the fraction of all pairs to hold out (default 0.2). */
  heldOutPairs?: number | readonly Pair[];
}

export interface CompositionalSplit extends Split {
  /** The pairs that never appear in training. */
  heldOutPairs: Pair[];
  /** The pairs training draws from. */
  trainPairs: Pair[];
}

/** Unseen colour–shape pairs at test time (see the file comment). */
export async function compositionalSplit(opts: CompositionalSplitOptions): Promise<CompositionalSplit> {
  const { heldOutPairs: h, ...rest } = opts;
  const universe = allPairs(opts.colors ?? COLOR_NAMES, opts.shapes ?? SHAPES);
  const held = Array.isArray(h)
    ? [...(h as Pair[])]
    : chooseHeldOutPairs(opts.seed, {
        fraction: (h as number | undefined) ?? 0.2,
        colors: opts.colors,
        shapes: opts.shapes,
      });
  if (held.length === 0) throw new RangeError("compositionalSplit: no held-out pairs");
  const heldNames = new Set(held.map(pairName));
  const trainPairs = universe.filter((p) => !heldNames.has(pairName(p)));
  const names = held.map(pairName).join(", ");
  const split = await buildSplit(
    "compositional",
    `colour–shape pairs never seen in training: ${names}`,
    rest,
    { pairs: trainPairs },
    { pairs: universe, requirePairs: held },
  );
  return Object.assign(split, { heldOutPairs: held, trainPairs });
}

/** More objects per scene at test time than in training. */
export async function moreObjects(
  opts: SplitOptions & { trainObjects?: readonly [number, number]; testObjects?: readonly [number, number] },
): Promise<Split> {
  const { trainObjects = [1, 3], testObjects = [4, 6], ...rest } = opts;
  return buildSplit(
    "moreObjects",
    `train on ${trainObjects[0]}–${trainObjects[1]} objects, test on ${testObjects[0]}–${testObjects[1]}`,
    rest,
    { objects: trainObjects },
    { objects: testObjects },
  );
}

/** Object sizes never seen in training: each size's radius is scaled at test time (default small ×0.7, large ×1.3). */
export async function otherSizes(
  opts: SplitOptions & { testScale?: Partial<Record<SizeName, number>> },
): Promise<Split> {
  const { testScale = { small: 0.7, large: 1.3 }, ...rest } = opts;
  const desc = Object.entries(testScale)
    .map(([s, f]) => `${s} ×${f}`)
    .join(", ");
  return buildSplit(
    "otherSizes",
    `test radii scaled (${desc}); size words unchanged`,
    rest,
    {},
    { sizeScale: testScale },
  );
}

/** A different image shape at test time (default train 32×32, test 48×24). */
export async function otherAspect(opts: SplitOptions & { testWidth?: number; testHeight?: number }): Promise<Split> {
  const { testWidth = 48, testHeight = 24, ...rest } = opts;
  const w = rest.width ?? 32,
    h = rest.height ?? w;
  return buildSplit(
    "otherAspect",
    `train ${w}x${h}, test ${testWidth}x${testHeight}`,
    rest,
    {},
    { width: testWidth, height: testHeight },
  );
}
