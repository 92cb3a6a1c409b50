/**
 * @vlab/grpo — Group Relative Policy Optimization (DeepSeekMath; TRL GRPOTrainer; R1-V), the math.
 * Every function works on plain arrays (to check numbers by hand) and on tfjs tensors (to train).
 *
 * - advantages.ts  group-normalised advantages (scale group / batch / none) and the reward stats TRL logs
 * - kl.ts          per-token k3 KL to the reference policy
 * - mask.ts        completion mask (EOS kept; optionally drop truncated completions)
 * - loss.ts        the clipped-ratio loss with KL, aggregations grpo / bnpo / dr_grpo / dapo, clip metrics
 * - presets.ts     R1-V's run (TRL 0.14) and TRL v1.9's defaults as config objects
 */
export * from "./advantages.js";
export * from "./kl.js";
export * from "./mask.js";
export * from "./loss.js";
export * from "./presets.js";
export type { Matrix } from "./shapes.js";
