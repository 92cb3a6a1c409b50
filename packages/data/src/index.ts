/**
 * @vlab/data — the data every vlab notebook trains on, and the formats users bring.
 *
 * - shapes.ts     shapes world: shapes, colours, sizes; scenes, their geometry and rejection-sampled placement
 * - render.ts     scene → SVG → pixels through sharp; batches as one atlas per few hundred scenes
 * - captions.ts   captions in several phrasings ("a photo of a large red circle", "... left of ...")
 * - questions.ts  question–answer pairs, counts, boxes, referring expressions
 * - dataset.ts    `shapesDataset` (scenes + pixels + captions + questions), `classificationDataset`
 * - retrieval.ts  image–text retrieval targets when each image has several captions
 * - splits.ts     held-out splits: unseen colour–shape pairs, more objects, other sizes, other aspect ratios
 * - image.ts      loading images with clear errors, RGB conversion, bicubic resize, CLIP's preprocessing
 * - tokenizers    re-exported from @vlab/tokenizers: tokenizer.json files, a word tokenizer, CLIP's `tokenize`
 * - instructions.ts LLaVA-style instruction data: conversations, detailed descriptions, reasoning questions
 * - referring.ts  referring expressions (attributes, relations, superlatives), each checked to name one object
 * - grounding.ts  grounding tasks of the R1-V variants: REC, detection, fine-grained classification, boxes as text
 * - scene_description.ts  a scene's formal description (objects and boxes), R1-Onevision's first step
 * - cot_questions.ts multi-step questions and their chains of thought; cot_judge.ts the rule-based judge of chains
 * - cot_records.ts  judged chains as R1-Onevision's reasoning, SFT and RL records
 * - sokoban.ts    a small Sokoban: levels by reverse play with their shortest solutions, drawn in shapes-world style
 * - text_reasoning.ts  reasoning problems about a scene, in words (text only) or beside its image (LMM-R1's stages)
 * - spatial_mc.ts spatial multiple-choice questions (CV-Bench's count, relation, depth, distance), lettered options
 * - spatial_text.ts VisualThinker-R1-Zero's base-model prompt, SFT completions, text-only documents about scenes
 * - export/       task data for OpenRLHF, lmm-r1, verl and TRL (JSONL, parquet, PNG images)
 * - records/      record formats read as streams and checked: LLaVA JSON, ShareGPT messages, R1-Onevision's
 *                 reasoning and RL records (`readRecords`, `writeRecords`)
 */
export * from "./shapes.js";
export * from "./render.js";
export * from "./captions.js";
export * from "./questions.js";
export * from "./dataset.js";
export * from "./retrieval.js";
export * from "./splits.js";
export * from "./image.js";
export * from "@vlab/tokenizers";
export * from "./instructions.js";
export * from "./referring.js";
export * from "./grounding.js";
export * from "./jsonl.js";
export * from "./strips.js";
export * from "./spatial_mc.js";
export * from "./spatial_text.js";
export * from "./scene_description.js";
export * from "./cot_questions.js";
export * from "./cot_judge.js";
export * from "./cot_records.js";
export * from "./sokoban.js";
export * from "./text_reasoning.js";
export * from "./export/index.js";
export * from "./records/index.js";
