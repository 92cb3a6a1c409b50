/**
 * @vlab/grpo — Group Relative Policy Optimization (DeepSeekMath; TRL GRPOTrainer; R1-V).
 * The math works on plain arrays (to check numbers by hand) and on tfjs tensors (to train).
 *
 * - advantages.ts  group-normalised advantages (scale group / batch / none) and the reward stats TRL logs
 * - kl.ts          per-token k3 KL to the reference policy
 * - reinforce.ts   OpenRLHF's reinforce_baseline (lmm-r1): group-mean baseline, k1 KL in the per-token rewards,
 *                  returns, whitening over the batch's tokens
 * - mask.ts        completion mask (EOS kept; optionally drop truncated completions)
 * - loss.ts        the clipped-ratio loss with KL, aggregations grpo / bnpo / dr_grpo / dapo, clip metrics
 * - presets.ts     R1-V's run (TRL 0.14) and TRL v1.9's defaults as config objects
 * - policy.ts      what a trainable policy is (llm.Llava as it is; textPolicy for a CausalLM), images per group
 * - qwen2_vl_policy.ts  a Qwen2-VL-style model as a Policy, for images of one size (pixels or tower features)
 * - config.ts      the trainer's options (TRL GRPOConfig names, R1-V values), the per-step sampling rng
 * - score.ts       reward functions on completions, weighted total, missing rewards and errors
 * - metrics.ts     what a step logs, under TRL's names; a group of samples as a table
 * - freeze.ts      VisualThinker's freeze_vision / freeze_llm by parameter name, really or faithfully (no-op)
 * - reference.ts   the frozen reference weights, swapped in for the KL's reference pass
 * - generation.ts  a step's sampling: one batched call (R1-V) or one call per generation (open-r1-multimodal), timed
 * - step.ts        one GRPO step: sample → score → advantages → μ updates (core's updateStep)
 * - trainer.ts     GrpoTrainer: the state across steps, on core's trainLoop; checkpoint and exact resume
 * - sft.ts         the supervised baseline on the same prompts and ground-truth answers
 * - grounding_eval.ts  REC IoUs and detection precision / recall, as VLM-R1 and Visual-RFT evaluate
 */
export * from "./advantages.js";
export * from "./kl.js";
export * from "./reinforce.js";
export * from "./mask.js";
export * from "./loss.js";
export * from "./presets.js";
export * from "./policy.js";
export * from "./qwen2_vl_policy.js";
export * from "./config.js";
export * from "./score.js";
export * from "./metrics.js";
export * from "./freeze.js";
export * from "./reference.js";
export * from "./generation.js";
export * from "./step.js";
export * from "./trainer.js";
export * from "./sft.js";
export * from "./grounding_eval.js";
export type { Matrix } from "./shapes.js";
