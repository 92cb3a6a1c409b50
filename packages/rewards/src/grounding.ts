/**
 * The reward terms of the grounding variants of R1-V, ready for a GRPO trainer (`RewardTerm`s, summed as TRL does:
 * r_i = Σ_k w_k r_i^(k); see combine.ts). Each task's sample carries its ground truth in pixels and the image size:
 *
 *   REC (VLM-R1, om-ai-lab/VLM-R1 `grpo_rec.py` and `vlm_modules/qwen_module.py`)
 *     iou      rule "threshold": 1 if IoU(answer box, gt) > 0.5 else 0 (the first reward, 2025-02 to ~03);
 *              rule "continuous": the IoU itself (HEAD since 2025-03-24); VLM-R1's pixel IoU (iou.ts)
 *     format   R1-V's think/answer format (VLM-R1's own REC format reward needs `[int,int,int,int]` inside `{…}`,
 *              which only the Qwen2.5-VL convention writes; pass `format: "vlm-r1-rec"` for it)
 *   detection (Visual-RFT, Liuziyu77/Visual-RFT `grpo.py`: reward_funcs accuracy_iou, accuracy_confidence, format)
 *     accuracy_iou         R_IoU ∈ [0, 1]: greedy matching by confidence, IoU > 0.5 (visual_rft.ts)
 *     accuracy_confidence  R_conf ∈ [0, 1]
 *     format               R1-V's format, full match
 *   classification (Visual-RFT `grpo_classification.py`)
 *     accuracy  1 if the normalised answer and class name contain one another (empty answers 0 unless faithful)
 *     format    R1-V's format
 *
 * The boxes are read in the model family's convention (box_text.ts), so the rewards and the training answers agree
 * on how a box is written. `format` may name any variant of format.ts: open-r1-multimodal's looser check is
 * "r1v-original" (`re.match`, anchored at the start only, so trailing text is fine; no DOTALL) — at HEAD it is also
 * what R1-V's first release used.
 */
import type { Box, BoxTextOptions, ImageSize } from "./box_text.js";
import type { RewardTerm } from "./combine.js";
import { formatReward, type FormatVariant } from "./format.js";
import { iouReward, type IouConvention } from "./iou.js";
import { safely } from "./text.js";
import { visualRftClassificationReward, visualRftDetectionReward } from "./visual_rft.js";

/** What a grounding sample must carry for its rewards: the ground-truth boxes (pixels) in an image of this size. */
export interface GroundingTruth extends ImageSize {
  /** REC: one box; detection: zero or more; classification: not used. */
  boxes: readonly Box[];
  /** Classification: the class name. */
  solution?: string;
}

export interface GroundingRewardOptions {
  /** How the model writes boxes (box_text.ts). */
  convention: BoxTextOptions["convention"];
  /** The format term's variant (default "r1v": R1-V HEAD's full match); null leaves the format term out. */
  format?: FormatVariant | null;
}

function formatTerm<S>(format: FormatVariant | null | undefined): RewardTerm<S>[] {
  if (format === null) return [];
  return [{ name: "format", fn: (c) => formatReward(c, { variant: format ?? "r1v" }) }];
}

const boxesOf = (convention: BoxTextOptions["convention"], s: GroundingTruth): BoxTextOptions => ({
  convention,
  size: { width: s.width, height: s.height },
});

/** VLM-R1's REC rewards: the IoU term (threshold or continuous) and the format term. */
export function recRewardTerms<S extends GroundingTruth>(
  opts: GroundingRewardOptions & { rule: "threshold" | "continuous"; iou?: IouConvention },
): RewardTerm<S>[] {
  const { convention, rule } = opts;
  return [
    {
      name: "iou",
      fn: (c, s) =>
        safely(() => {
          const gt = Array.isArray(s.boxes) ? s.boxes[0] : undefined;
          return gt ? iouReward(c, gt, { rule, convention: opts.iou ?? "vlm-r1", boxes: boxesOf(convention, s) }) : 0;
        }),
    },
    ...formatTerm<S>(opts.format),
  ];
}

/** Visual-RFT's detection rewards: accuracy_iou, accuracy_confidence and format (R ∈ [0, 3]). */
export function detectionRewardTerms<S extends GroundingTruth>(
  opts: GroundingRewardOptions & { iouThreshold?: number; rewardEmpty?: boolean },
): RewardTerm<S>[] {
  const { iouThreshold, rewardEmpty } = opts;
  const part = (c: string, s: S, which: "iou" | "confidence") =>
    safely(
      () =>
        visualRftDetectionReward(c, s.boxes, { iouThreshold, rewardEmpty, boxes: boxesOf(opts.convention, s) })[which],
    );
  return [
    { name: "accuracy_iou", fn: (c, s) => part(c, s, "iou") },
    { name: "accuracy_confidence", fn: (c, s) => part(c, s, "confidence") },
    ...formatTerm<S>(opts.format),
  ];
}

/** Visual-RFT's classification rewards: accuracy (mutual containment of the normalised names) and format. */
export function classificationRewardTerms<S extends { solution?: string }>(
  opts: { format?: FormatVariant | null; faithful?: boolean } = {},
): RewardTerm<S>[] {
  return [
    {
      name: "accuracy",
      fn: (c, s) => visualRftClassificationReward(c, s.solution ?? "", { faithful: opts.faithful }),
    },
    ...formatTerm<S>(opts.format),
  ];
}
