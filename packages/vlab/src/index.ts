/**
 * vlab — every package as a namespace:
 *
 *   import { core, data, display, evaluation, grpo, llm, onnx, rewards, rope, tokenizers, vision, vlm } from "vlab";
 *
 * `eval` is also exported under its package name for `import * as vlab from "vlab"; vlab.eval.report(...)`
 * (a binding cannot be called `eval`, hence the `evaluation` alias for named imports).
 */
export * as core from "@vlab/core";
export * as data from "@vlab/data";
export * as display from "@vlab/display";
export * as eval from "@vlab/eval";
export * as evaluation from "@vlab/eval";
export * as grpo from "@vlab/grpo";
export * as llm from "@vlab/llm";
export * as onnx from "@vlab/onnx";
export * as rewards from "@vlab/rewards";
export * as rope from "@vlab/rope";
export * as tokenizers from "@vlab/tokenizers";
export * as vision from "@vlab/vision";
export * as vlm from "@vlab/vlm";
