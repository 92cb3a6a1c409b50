/**
 * The text around spatial multiple-choice questions (spatial_mc.ts): VisualThinker-R1-Zero's base-model prompt, the
 * completions an SFT run imitates, scene descriptions, and the text-only documents a base LM reads in pre-training.
 *
 * VisualThinker-R1-Zero (turningpoint-ai/VisualThinker-R1-Zero, `src/open-r1-multimodal/src/open_r1/grpo.py`) trains
 * Qwen2-VL-2B *base* with no chat turn: the prompt is a plain R1-Zero-style text that ends in `<think>`, so the
 * model's first token continues the reasoning, and its format reward checks `"<think>" + completion`:
 *
 *   A conversation between User and Assistant. The user asks a question about the image, and the Assistant solves it.
 *   The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.
 *   User: {question} \nAssistant: Let me solve this step by step.\n<think>
 *
 * where `{question}` starts with the image ("<image> Answer in natural language. …").
 *
 * A base model knows such text from the web: reasoning written out, sometimes in tags, sometimes ending in a plain
 * "the answer is …", now and then with a second look ("wait , let me check ."). `describedDocument` writes that kind
 * of text about scenes described in words (no image), for a small LM's pre-training: the analogue of what a base LM
 * brings to R1-Zero training. How often each form appears is the caller's choice (`tagRate`, `reflectRate`).
 */
import type { Rng } from "@vlab/core";
import { describeObject } from "./captions.js";
import type { Scene, ShapeObject } from "./shapes.js";
import { spatialMcQuestion, type SpatialMcSample } from "./spatial_mc.js";

/** VisualThinker-R1-Zero's base-model prompt, with `{question}` where the question goes (verbatim, newlines kept). */
export const VISUALTHINKER_BASE_PROMPT =
  "A conversation between User and Assistant. The user asks a question about the image, and the Assistant solves " +
  "it. The assistant first thinks about the reasoning process in the mind and then provides the user with the " +
  "answer.\nUser: {question} \nAssistant: Let me solve this step by step.\n<think>";

/** The base-model prompt around a question (which carries its own image placeholder, if any). */
export function visualThinkerPrompt(question: string): string {
  return VISUALTHINKER_BASE_PROMPT.replace("{question}", question);
}

/** A second look, as web text and R1-Zero's "aha moment" write it (one of `REFLECTION_PHRASES` of @vlab/grpo). */
export const SECOND_LOOK = "wait , let me check again .";

/** What follows the prompt's `<think>`: the reasoning, then `</think> <answer> {letter} </answer>`. */
export function spatialMcCompletion(s: SpatialMcSample): string {
  return `${s.reasoning} </think> <answer> ${s.letter} </answer>`;
}

function where(o: ShapeObject, scene: Scene): string {
  const col = o.x < scene.width / 3 ? "left" : o.x > (2 * scene.width) / 3 ? "right" : "";
  const row = o.y < scene.height / 3 ? "top" : o.y > (2 * scene.height) / 3 ? "bottom" : "";
  if (!col && !row) return "in the middle";
  return `at the ${[row, col].filter(Boolean).join(" ")}`;
}

/** "a large red circle at the top left , a small blue square in the middle": every object, its size and place. */
export function spatialDescription(scene: Scene): string {
  return scene.objects.map((o) => `a ${describeObject(o, { size: true })} ${where(o, scene)}`).join(" , ");
}

export interface DescribedDocumentOptions {
  /** Share of documents whose answer is in `<answer>` tags (else "the answer is (B) left ."; default 0.5). */
  tagRate?: number;
  /** Share of documents that take a second look (`SECOND_LOOK`, then the reasoning again; default 0.1). */
  reflectRate?: number;
}

/**
 * A text-only document about a scene described in words: VisualThinker's prompt with the description and the
 * question, then reasoning and the answer in one of the forms of the file comment. No image anywhere.
 */
export function describedDocument(
  s: SpatialMcSample,
  scene: Scene,
  rng: Rng,
  opts: DescribedDocumentOptions = {},
): string {
  const question = `the image shows ${spatialDescription(scene)} . ${spatialMcQuestion(s)}`;
  const second = rng.next() < (opts.reflectRate ?? 0.1) ? ` ${SECOND_LOOK} ${s.reasoning}` : "";
  const reasoning = `${s.reasoning}${second}`;
  const answer =
    rng.next() < (opts.tagRate ?? 0.5)
      ? `</think> <answer> ${s.letter} </answer>`
      : `</think> the answer is (${s.letter}) ${s.answer} .`;
  return `${visualThinkerPrompt(question)} ${reasoning} ${answer}`;
}
