/**
 * Reasoning problems in shapes-world words with verifiable answers, asked about a scene either in text (the scene
 * described in a sentence) or beside its image — LMM-R1's two stages (Peng et al. 2025, sec. 3): Foundational
 * Reasoning Enhancement trains on text-only problems, Multimodal Generalisation Training on problems whose facts are
 * in an image. The questions are the same in both; only where the counts come from differs.
 *
 *   const { problems } = reasoningDataset({ seed: 0, n: 200, split: "train" });
 *   problems[0].text      // "there are 2 red circles and 1 blue square. how many corners do the shapes have?"
 *   problems[0].question  // the question alone, asked beside the rendered scene
 *   problems[0].answer    // "4"  (an integer, as text)
 *   problems[0].steps     // "1 square has 4 corners. 4 = 4": a worked solution
 *
 * The kinds, each an arithmetic over the scene's counts and attributes, some in several steps:
 *   count     how many shapes are there?                                       n
 *   attribute how many red shapes / circles are there?                         a count of one colour or shape
 *   corners   how many corners do the shapes have?                             Σ corners (circle 0, triangle 3,
 *                                                                              square and diamond 4, star 5 — its
 *                                                                              points — hexagon 6)
 *   more      how many more red shapes than circles are there?                 two counts, then their difference
 *   added     if k shapes were added, how many shapes would there be?          n + k
 * Answers are integers ≥ 0; "more" asks for the larger count first (a difference of 0 when they tie).
 */
import type { Rng } from "@vlab/core";
import { pick } from "./pick.js";
import { sampleScene, streamRng } from "./shapes.js";
import type { ColorName, Scene, SceneOptions, ShapeName } from "./world.js";

export const REASONING_KINDS = ["count", "attribute", "corners", "more", "added"] as const;
export type ReasoningKind = (typeof REASONING_KINDS)[number];

/** Corners of each shape (a star's are its five points). */
export const CORNERS: Readonly<Record<ShapeName, number>> = {
  circle: 0,
  triangle: 3,
  square: 4,
  diamond: 4,
  star: 5,
  hexagon: 6,
};

export interface ReasoningProblem {
  kind: ReasoningKind;
  /** The question alone (asked beside the scene's image). */
  question: string;
  /** The scene described in words ("there are 2 red circles and 1 blue square."). */
  description: string;
  /** Description and question: the text-only problem. */
  text: string;
  /** The answer, an integer written in digits. */
  answer: string;
  /** A worked solution in a few short sentences. */
  steps: string;
}

const plural = (shape: ShapeName, n: number) => (n === 1 ? shape : `${shape}s`);
const shapesWord = (n: number) => (n === 1 ? "shape" : "shapes");
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const count = (scene: Scene, shape: ShapeName) => scene.objects.filter((o) => o.shape === shape).length;

/** "there are 2 red circles, 1 blue square and 1 red star." — groups of one colour and shape, in first-seen order. */
export function describeScene(scene: Scene): string {
  const groups = new Map<string, { color: ColorName; shape: ShapeName; n: number }>();
  for (const o of scene.objects) {
    const key = `${o.color} ${o.shape}`;
    const g = groups.get(key);
    if (g) g.n++;
    else groups.set(key, { color: o.color, shape: o.shape, n: 1 });
  }
  const parts = [...groups.values()].map((g) => `${g.n} ${g.color} ${plural(g.shape, g.n)}`);
  const list = parts.length === 1 ? (parts[0] ?? "") : `${parts.slice(0, -1).join(", ")} and ${parts.at(-1) ?? ""}`;
  const verb = [...groups.values()][0]?.n === 1 ? "is" : "are"; // "there is 1 red circle and 2 …"
  return `there ${verb} ${list}.`;
}

/** A group of objects named by one colour or one shape: its name in the plural, and "n red shapes" / "1 circle". */
type Group = { name: string; n: number; counted: string };

function groupsOf(scene: Scene): Group[] {
  const group = (one: string, name: string, n: number) => ({ name, n, counted: `${n} ${n === 1 ? one : name}` });
  const colors = [...new Set(scene.objects.map((o) => o.color))];
  const shapes = [...new Set(scene.objects.map((o) => o.shape))];
  return [
    ...colors.map((c) => group(`${c} shape`, `${c} shapes`, scene.objects.filter((o) => o.color === c).length)),
    ...shapes.map((s) => group(s, `${s}s`, count(scene, s))),
  ];
}

/** One problem of `kind` about `scene`, its choices drawn from `rng`. */
export function reasoningProblem(scene: Scene, kind: ReasoningKind, rng: Rng): ReasoningProblem {
  const n = scene.objects.length;
  if (n === 0) throw new RangeError("reasoningProblem: the scene has no objects");
  const description = describeScene(scene);
  const make = (question: string, answer: number, steps: string): ReasoningProblem => ({
    kind,
    question,
    description,
    text: `${description} ${question}`,
    answer: String(answer),
    steps,
  });
  switch (kind) {
    case "count":
      return make("how many shapes are there?", n, `i count ${n} ${shapesWord(n)}.`);
    case "attribute": {
      const g = pick(rng, groupsOf(scene));
      return make(`how many ${g.name} are there?`, g.n, `i count ${g.counted}.`);
    }
    case "corners": {
      const per = scene.objects.map((o) => CORNERS[o.shape]);
      const shapes = [...new Set(scene.objects.map((o) => o.shape))];
      const each = shapes.map((s) => {
        const k = count(scene, s);
        return `${k} ${plural(s, k)} ${k === 1 ? "has" : "have"} ${k * CORNERS[s]} corners.`;
      });
      const total = sum(per);
      const steps = `${each.join(" ")} ${shapes.map((s) => CORNERS[s] * count(scene, s)).join(" + ")} = ${total}.`;
      return make("how many corners do the shapes have?", total, steps);
    }
    case "more": {
      const groups = groupsOf(scene);
      const a = pick(rng, groups);
      const others = groups.filter((g) => g.name !== a.name);
      const b = others.length > 0 ? pick(rng, others) : a;
      const [hi, lo] = a.n >= b.n ? [a, b] : [b, a];
      const steps = `i count ${hi.counted} and ${lo.counted}. ${hi.n} - ${lo.n} = ${hi.n - lo.n}.`;
      return make(`how many more ${hi.name} than ${lo.name} are there?`, hi.n - lo.n, steps);
    }
    case "added": {
      const k = 1 + rng.int(3);
      const steps = `i count ${n} ${shapesWord(n)}. ${n} + ${k} = ${n + k}.`;
      return make(`if ${k} more ${shapesWord(k)} were added, how many shapes would there be?`, n + k, steps);
    }
  }
}

export interface ReasoningDatasetOptions extends SceneOptions {
  seed: number;
  n: number;
  split?: string;
  /** Kinds to draw from, uniformly (default all of REASONING_KINDS). */
  kinds?: readonly ReasoningKind[];
}

export interface ReasoningDataset {
  seed: number;
  split: string;
  scenes: Scene[];
  problems: ReasoningProblem[];
}

/**
 * `n` scenes (shapes world's sampler; objects [1, 4] and repeated colour–shape pairs unless the options say
 * otherwise) with one problem each, from the stream `(seed, split)`. Render `scenes` (render.ts) to ask the same
 * questions beside images.
 */
export function reasoningDataset(opts: ReasoningDatasetOptions): ReasoningDataset {
  const { seed, n, split = "train", kinds = REASONING_KINDS, ...sceneOpts } = opts;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`reasoningDataset: n must be an integer ≥ 0, got ${n}`);
  if (kinds.length === 0) throw new RangeError("reasoningDataset: no kinds to draw from");
  for (const k of kinds)
    if (!REASONING_KINDS.includes(k))
      throw new RangeError(`reasoningDataset: unknown kind "${k}" (one of ${REASONING_KINDS.join(", ")})`);
  const stream = streamRng(seed, `reasoning/${split}`);
  const options: SceneOptions = { objects: [1, 4], uniquePairs: false, ...sceneOpts };
  const scenes: Scene[] = [];
  const problems: ReasoningProblem[] = [];
  for (let i = 0; i < n; i++) {
    const rng = stream.fork();
    const scene = sampleScene(rng, options);
    scenes.push(scene);
    problems.push(reasoningProblem(scene, pick(rng, kinds), rng));
  }
  return { seed, split, scenes, problems };
}
