/**
 * How the notebooks (03 BLIP-2, 04 LLaVA) score what their tiny vision-language models say about a shapes-world
 * scene, exactly (the scene is known):
 *
 *   questions   every question of a scene's conversation and its reasoning question, asked alone with the image
 *               (`askedQuestions`); a reply is right when, cleaned, it equals the short answer — for reasoning, the
 *               words after "the answer is" (`isRightAnswer`)
 *   captions    right when it names at least one colour–shape pair and every pair it names is in the picture
 *               (`captionIsRight`); a caption that names nothing is wrong
 */
import {
  COLOR_NAMES,
  IMAGE_PLACEHOLDER,
  SHAPES,
  pairName,
  type InstructionDataset,
  type InstructionQuestionKind,
  type Scene,
} from "@vlab/data";

/** One question of a test scene, with its short answer. */
export interface AskedQuestion {
  /** Index of the scene (and of its image) in the dataset. */
  scene: number;
  kind: InstructionQuestionKind;
  /** The user turn's text without the image placeholder. */
  question: string;
  answer: string;
}

/** Every conversation and reasoning question of every scene (detailed descriptions are left out). */
export function askedQuestions(ds: InstructionDataset): AskedQuestion[] {
  return ds.instructions.flatMap((list, scene) =>
    list
      .filter((s) => s.kind !== "detail")
      .flatMap((s) =>
        s.answers.map((answer, k) => {
          const turn = s.turns[2 * k];
          const kind = s.questionKinds[k];
          if (turn === undefined || kind === undefined)
            throw new Error(`askedQuestions: scene ${scene}'s ${s.kind} sample has no user turn for answer ${k}`);
          return { scene, kind, question: turn.content.replace(`${IMAGE_PLACEHOLDER}\n`, ""), answer };
        }),
      ),
  );
}

/** A generated text as the word tokenizer's decode leaves it, with the spaces before punctuation removed. */
export function cleanReply(text: string): string {
  return text.replace(/\s+([.,?!])/g, "$1").trim();
}

/** A reasoning reply's final answer: the words after "the answer is", else the whole reply without its full stop. */
export function finalAnswer(text: string): string {
  const c = cleanReply(text);
  return /answer is ([\w ]+?)\.?$/.exec(c)?.[1]?.trim() ?? c.replace(/\.$/, "");
}

/** Whether a reply answers the question right (see the file comment). */
export function isRightAnswer(q: AskedQuestion, reply: string): boolean {
  return (q.kind === "reasoning" ? finalAnswer(reply) : cleanReply(reply)) === q.answer;
}

/** The share of right replies (one per question, in order), overall and by question kind (in order of appearance). */
export function answerAccuracy(
  asked: readonly AskedQuestion[],
  replies: readonly string[],
): { overall: number; byKind: Record<string, number> } {
  if (replies.length !== asked.length)
    throw new Error(`answerAccuracy: ${replies.length} replies for ${asked.length} questions`);
  if (asked.length === 0) throw new Error("answerAccuracy: no questions");
  const right = asked.map((q, i) => isRightAnswer(q, replies[i] ?? ""));
  const share = (idx: number[]) => idx.filter((i) => right[i]).length / idx.length;
  const byKind: Record<string, number> = {};
  for (const kind of new Set(asked.map((q) => q.kind)))
    byKind[kind] = share(asked.flatMap((q, i) => (q.kind === kind ? [i] : [])));
  return { overall: share(asked.map((_, i) => i)), byKind };
}

const PAIR = new RegExp(`\\b(${COLOR_NAMES.join("|")}) (${SHAPES.join("|")})\\b`, "g");

/** The colour–shape pairs a text names, in order ("red circle", …). */
export function namedPairs(text: string): string[] {
  return [...text.matchAll(PAIR)].map((m) => `${m[1] ?? ""} ${m[2] ?? ""}`);
}

/** Whether a caption names at least one pair and only pairs that are in the scene. */
export function captionIsRight(caption: string, scene: Scene): boolean {
  const named = namedPairs(caption);
  const present = new Set(scene.objects.map((o) => pairName(o)));
  return named.length > 0 && named.every((p) => present.has(p));
}
