/**
 * Visual instruction data from shapes-world scenes, in the three kinds LLaVA (Liu et al. 2023, sec. 3) generated with
 * GPT-4 from COCO captions and boxes — here generated exactly from the scene, so every answer is right:
 *
 *   conversation  several question–answer turns about colours, shapes, sizes, counts and positions
 *                 user "<image>\nwhat color is the circle?"  assistant "red"   user "how many shapes are there?" ...
 *   detail        one request for a detailed description, answered object by object with positions
 *                 user "<image>\ndescribe the image in detail."  assistant "there are two shapes. a large red circle
 *                 at the top left. a small blue square at the bottom right."
 *   reasoning     one question that needs a step past perception, answered with the step, then the answer
 *                 user "<image>\nwhich shape is left of the red one?"  assistant "the blue square is left of the red
 *                 circle. so the answer is square."
 *
 *   instructions(scene, rng)                 // one sample of each kind that the scene supports
 *   instructionDataset({ seed: 0, n: 500 })  // scenes, pixels and samples in one call (like shapesDataset)
 *
 * Each sample keeps its short gold `answer` per assistant turn (`answers`) and the question kind of each user turn
 * (`questionKinds`), so a notebook can score generated text per question type. The image placeholder opens the
 * first user turn, followed by a newline, as LLaVA's `preprocess_multimodal` places it; the chat template and
 * label masking belong to the language model (`@vlab/llm`).
 */
import type { Rng } from "@vlab/core";
import { describeObject, leftToRight, numberWord, relations, withArticle, type Relation } from "./captions.js";
import { shapesDataset, type ShapesDataset, type ShapesDatasetOptions } from "./dataset.js";
import {
  QUESTION_KINDS,
  centreBeyond,
  counts,
  questionsOfKind,
  referringExpression,
  type QuestionKind,
} from "./questions.js";
import { pick } from "./pick.js";
import { streamRng, type Scene, type ShapeObject } from "./shapes.js";

export type InstructionKind = "conversation" | "detail" | "reasoning";
export const INSTRUCTION_KINDS: readonly InstructionKind[] = ["conversation", "detail", "reasoning"];

/** Where the image's features go in the text (LLaVA's `DEFAULT_IMAGE_TOKEN`). */
export const IMAGE_PLACEHOLDER = "<image>";

export interface Turn {
  role: "user" | "assistant";
  content: string;
}

/** Question kinds of a user turn: the VQA kinds of `questions.ts`, plus the two LLaVA-only kinds. */
export type InstructionQuestionKind = QuestionKind | "detail" | "reasoning";

export interface InstructionSample {
  kind: InstructionKind;
  /** Alternating user / assistant turns; the first user turn starts with `<image>\n`. */
  turns: Turn[];
  /** Per assistant turn: the short answer to score against ("red", "2", "square", or the whole description). */
  answers: string[];
  /** Per user turn: what kind of question it asks. */
  questionKinds: InstructionQuestionKind[];
}

// Phrasings of the detail request, after LLaVA's `detail_23k` instruction list (a few of its wordings).
const DETAIL_REQUESTS = [
  "describe the image in detail.",
  "give a detailed description of the image.",
  "what is in this picture? describe every shape.",
];

/** "top left", "center", "bottom", ...: the third of the image each coordinate of the centre falls in. */
export function positionWords(o: ShapeObject, width: number, height: number): string {
  const col = o.x < width / 3 ? "left" : o.x >= (2 * width) / 3 ? "right" : "";
  const row = o.y < height / 3 ? "top" : o.y >= (2 * height) / 3 ? "bottom" : "";
  if (!row && !col) return "center";
  return [row, col].filter(Boolean).join(" ");
}

/** "at the top left" / "in the center". */
function atPosition(o: ShapeObject, scene: Scene): string {
  const p = positionWords(o, scene.width, scene.height);
  return p === "center" ? "in the center" : `at the ${p}`;
}

function opening(content: string): string {
  return `${IMAGE_PLACEHOLDER}\n${content}`;
}

/** The full description, objects left to right: "there are two shapes. a large red circle at the top left. ...". */
export function detailedDescription(scene: Scene): string {
  const objs = leftToRight(scene);
  if (objs.length === 0) return "the picture is empty.";
  const head = objs.length === 1 ? "there is one shape." : `there are ${numberWord(objs.length)} shapes.`;
  return [head, ...objs.map((o) => `${withArticle(describeObject(o, { size: true }))} ${atPosition(o, scene)}.`)].join(
    " ",
  );
}

/** The question kinds conversations ask by default (all but boxes). */
export const CONVERSATION_KINDS: readonly QuestionKind[] = ["color", "shape", "size", "count", "exists", "relation"];

/** A conversation of up to `turns` question–answer pairs of different kinds (fewer when the scene supports fewer). */
export function conversation(
  scene: Scene,
  rng: Rng,
  { turns = 3, kinds = CONVERSATION_KINDS }: { turns?: number; kinds?: readonly QuestionKind[] } = {},
): InstructionSample | undefined {
  for (const k of kinds)
    if (!QUESTION_KINDS.includes(k))
      throw new RangeError(`unknown question kind "${k}"; expected some of ${QUESTION_KINDS.join(", ")}`);
  const pool = rng.shuffle([...kinds]).flatMap((k) => {
    const qs = questionsOfKind(scene, k, rng);
    return qs.length > 0 ? [pick(rng, qs)] : [];
  });
  const chosen = pool.slice(0, turns);
  if (chosen.length === 0) return undefined;
  const out: InstructionSample = { kind: "conversation", turns: [], answers: [], questionKinds: [] };
  chosen.forEach((qa, i) => {
    out.turns.push(
      { role: "user", content: i === 0 ? opening(qa.question) : qa.question },
      { role: "assistant", content: qa.answer },
    );
    out.answers.push(qa.answer);
    out.questionKinds.push(qa.kind);
  });
  return out;
}

/** One detail request and the description. */
export function detail(scene: Scene, rng: Rng): InstructionSample {
  const answer = detailedDescription(scene);
  return {
    kind: "detail",
    turns: [
      { role: "user", content: opening(pick(rng, DETAIL_REQUESTS)) },
      { role: "assistant", content: answer },
    ],
    answers: [answer],
    questionKinds: ["detail"],
  };
}

interface Reasoned {
  question: string;
  steps: string;
  answer: string;
}

/** Reasoning questions the scene supports unambiguously, each with its step and short answer. */
export function reasoningQuestions(scene: Scene): Reasoned[] {
  const out: Reasoned[] = [];
  const objs = scene.objects;
  // "which shape is left of the red one?": find the object, then what lies beside it.
  for (const b of objs) {
    const ref = referringExpression(scene, b, ["shape"]);
    if (!ref) continue;
    for (const rel of ["left of", "right of", "above", "below"] as Relation[]) {
      const hits = objs.filter((a) => a !== b && relations(a, b).includes(rel));
      // As questions.ts asks "what is left of …?": exactly one object there, and none whose centre is past that edge.
      const maybe = objs.filter((a) => a !== b && !hits.includes(a) && centreBeyond(a, b, rel));
      const [a] = hits;
      if (a === undefined || hits.length !== 1 || maybe.length > 0) continue;
      out.push({
        question: `which shape is ${rel} ${ref}?`,
        steps: `the ${describeObject(a)} is ${rel} the ${describeObject(b)}.`,
        answer: a.shape,
      });
    }
  }
  // "are there more red shapes than circles?": two counts, then a comparison.
  const c = counts(scene);
  const colors = Object.entries(c.byColor)
    .filter(([, n]) => n > 0)
    .map(([k]) => k);
  const shapes = Object.entries(c.byShape)
    .filter(([, n]) => n > 0)
    .map(([k]) => k);
  for (const color of colors) {
    for (const shape of shapes) {
      const nc = c.byColor[color as keyof typeof c.byColor],
        ns = c.byShape[shape as keyof typeof c.byShape];
      if (nc === ns) continue;
      out.push({
        question: `are there more ${color} shapes than ${shape}s?`,
        steps:
          `there ${nc === 1 ? "is" : "are"} ${numberWord(nc)} ${color} shape${nc === 1 ? "" : "s"} and ` +
          `${numberWord(ns)} ${shape}${ns === 1 ? "" : "s"}.`,
        answer: nc > ns ? "yes" : "no",
      });
    }
  }
  // "how many shapes are not red?": a count, then a difference.
  for (const color of colors) {
    const n = c.byColor[color as keyof typeof c.byColor];
    out.push({
      question: `how many shapes are not ${color}?`,
      steps: `there are ${numberWord(c.total)} shapes and ${numberWord(n)} ${n === 1 ? "is" : "are"} ${color}.`,
      answer: String(c.total - n),
    });
  }
  return out;
}

/** One reasoning question, or undefined when the scene supports none (e.g. an empty scene). */
export function reasoning(scene: Scene, rng: Rng): InstructionSample | undefined {
  const all = reasoningQuestions(scene);
  if (all.length === 0) return undefined;
  const r = pick(rng, all);
  return {
    kind: "reasoning",
    turns: [
      { role: "user", content: opening(r.question) },
      { role: "assistant", content: `${r.steps} so the answer is ${r.answer}.` },
    ],
    answers: [r.answer],
    questionKinds: ["reasoning"],
  };
}

/** One sample of each requested kind that the scene supports. */
export function instructions(
  scene: Scene,
  rng: Rng,
  {
    kinds = INSTRUCTION_KINDS,
    turns = 3,
    questionKinds,
  }: { kinds?: readonly InstructionKind[]; turns?: number; questionKinds?: readonly QuestionKind[] } = {},
): InstructionSample[] {
  const out: InstructionSample[] = [];
  for (const kind of kinds) {
    const s =
      kind === "conversation"
        ? conversation(scene, rng, { turns, kinds: questionKinds })
        : kind === "detail"
          ? detail(scene, rng)
          : kind === "reasoning"
            ? reasoning(scene, rng)
            : undefined;
    if (s === undefined && !INSTRUCTION_KINDS.includes(kind))
      throw new RangeError(`unknown instruction kind "${kind}"; expected one of ${INSTRUCTION_KINDS.join(", ")}`);
    if (s) out.push(s);
  }
  return out;
}

export interface InstructionDataset extends ShapesDataset {
  /** Samples per scene (one per kind the scene supports). */
  instructions: InstructionSample[][];
}

/**
 * Scenes with their instruction samples. Deterministic in `(seed, split)`; the samples draw from their own stream
 * (`<split>/instructions`), so captions and questions are those `shapesDataset` gives for the same options.
 * `questionKinds` limits what conversations ask (default `CONVERSATION_KINDS`; e.g. leave out "size" in a world of one
 * size).
 */
export async function instructionDataset(
  opts: ShapesDatasetOptions & {
    kinds?: readonly InstructionKind[];
    turns?: number;
    questionKinds?: readonly QuestionKind[];
  },
): Promise<InstructionDataset> {
  const { kinds, turns, questionKinds, ...rest } = opts;
  const ds = await shapesDataset(rest);
  const rng = streamRng(opts.seed, `${ds.split}/instructions`);
  return Object.assign(ds, {
    instructions: ds.scenes.map((s) => instructions(s, rng.fork(), { kinds, turns, questionKinds })),
  });
}
