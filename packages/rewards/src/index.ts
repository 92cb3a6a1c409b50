/**
 * @vlab/rewards — verifiable rewards for R1-style reinforcement learning of vision-language models.
 * Plain strings and numbers: no tensors, no dependencies, and no reward function ever throws
 * (garbage in, 0 out).
 *
 * - format.ts     think/answer format checks: R1-V (HEAD and first release), open-r1-multimodal,
 *                 lenient, lmm-r1, VLM-R1's REC format — Python `re` semantics, in linear time
 * - answer.ts     the `<answer>` span, numbers in it, and an approximation of Math-Verify's number pick
 * - accuracy.ts   accuracy reward: vlab's `<answer>` checker (default), R1-V's, VisualThinker's
 * - choice.ts     multiple-choice letters (VisualThinker)
 * - box_text.ts   boxes as Qwen2-VL (0–1000 grid, box tokens) and Qwen2.5-VL (JSON, pixels) write them, and back
 * - iou.ts        IoU (plain and VLM-R1's pixel convention), VLM-R1's REC reward (threshold / continuous)
 * - visual_rft.ts Visual-RFT's detection (IoU + confidence + format) and classification rewards
 * - boxed.ts      `\boxed{}` answers and lmm-r1's accuracy (Math-Verify approximated for numbers and strings)
 * - length.ts     VisualThinker's length reward
 * - sokoban.ts    Sokoban's rules (step, simulate) and the reward of an answered plan (LMM-R1's planning task)
 * - onevision.ts  R1-Onevision's accuracy reward (exact numbers, A–D choices, Levenshtein ratio for text)
 * - combine.ts    weighted sums of rewards, TRL style
 * - grounding.ts  the reward terms of REC (VLM-R1), detection and classification (Visual-RFT) for a GRPO trainer
 * - text.ts       Python whitespace / digits / strip, and the input guard
 */
export * from "./format.js";
export * from "./answer.js";
export * from "./accuracy.js";
export * from "./choice.js";
export * from "./box_text.js";
export * from "./iou.js";
export * from "./visual_rft.js";
export * from "./boxed.js";
export * from "./length.js";
export * from "./combine.js";
export * from "./grounding.js";
export * from "./onevision.js";
export * from "./sokoban.js";
export { MAX_TEXT_CHARS, PY_SPACE, isPySpace, pyStrip, pyInt } from "./text.js";
