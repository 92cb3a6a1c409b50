/**
 * Scoring grounding answers the way the papers evaluate them, beside the rewards that train them:
 *
 *   REC (VLM-R1, om-ai-lab/VLM-R1 `src/eval/test_rec_r1.py`): the IoU of the answer's first box with the ground
 *     truth (VLM-R1's pixel IoU, `@vlab/rewards` iou.ts); an answer is right when that IoU is > 0.5
 *   detection: each answer's boxes matched one to one to the ground truth — in the answer's order, each box to the
 *     still-unmatched ground-truth box of highest IoU, kept when that IoU is > 0.5 (Visual-RFT's greedy matching,
 *     `sort_and_calculate_iou`, with every confidence equal) — then, summed over the answers,
 *       precision = matched / predicted boxes,   recall = matched / ground-truth boxes
 *     (0 where nothing was predicted, or there is nothing to find).
 *
 * Boxes are read in the model family's convention (`@vlab/rewards` box_text.ts), as the rewards read them.
 */
import { extractAnswer, iou, iouReward, parseBoxes, type Box, type BoxConvention } from "@vlab/rewards";

/** A sample's ground truth: boxes in pixels of an image of this size. */
export interface BoxTruth {
  boxes: readonly Box[];
  width: number;
  height: number;
}

/** IoU of each REC answer's first box with its sample's (first) ground-truth box; 0 without a box. */
export function recIous(
  completions: readonly string[],
  truths: readonly BoxTruth[],
  convention: BoxConvention,
): number[] {
  if (completions.length !== truths.length)
    throw new Error(`recIous: ${completions.length} completions but ${truths.length} samples`);
  return completions.map((c, i) => {
    const t = truths[i];
    const gt = t?.boxes[0];
    if (!t || !gt) return 0;
    return iouReward(c, gt, { rule: "continuous", boxes: { convention, size: { width: t.width, height: t.height } } });
  });
}

export interface DetectionCounts {
  /** Predicted boxes matched to a ground-truth box (IoU > threshold). */
  matched: number;
  /** Boxes the answer gives. */
  predicted: number;
  /** Ground-truth boxes. */
  truth: number;
}

/** Greedy one-to-one matching of predicted boxes (in order) to ground-truth boxes (see the file comment). */
export function matchBoxes(pred: readonly Box[], truth: readonly Box[], threshold = 0.5): DetectionCounts {
  const used = new Array<boolean>(truth.length).fill(false);
  let matched = 0;
  for (const p of pred) {
    let best = -1;
    let bestIou = -1;
    truth.forEach((g, j) => {
      const v = iou(p, g);
      if (!used[j] && v > bestIou) [best, bestIou] = [j, v];
    });
    if (best >= 0 && bestIou > threshold) {
      used[best] = true;
      matched++;
    }
  }
  return { matched, predicted: pred.length, truth: truth.length };
}

export interface DetectionScores extends DetectionCounts {
  precision: number;
  recall: number;
}

/** Precision and recall of detection answers (the boxes inside each `<answer>`), summed over the answers. */
export function detectionScores(
  completions: readonly string[],
  truths: readonly BoxTruth[],
  convention: BoxConvention,
  threshold = 0.5,
): DetectionScores {
  if (completions.length !== truths.length)
    throw new Error(`detectionScores: ${completions.length} completions but ${truths.length} samples`);
  const sum: DetectionCounts = { matched: 0, predicted: 0, truth: 0 };
  completions.forEach((c, i) => {
    const t = truths[i];
    if (!t) return;
    const answer = extractAnswer(c);
    const size = { width: t.width, height: t.height };
    const pred = answer === null ? [] : parseBoxes(answer, { convention, size }).map((b) => b.box);
    const m = matchBoxes(pred, t.boxes, threshold);
    sum.matched += m.matched;
    sum.predicted += m.predicted;
    sum.truth += m.truth;
  });
  return {
    ...sum,
    precision: sum.predicted > 0 ? sum.matched / sum.predicted : 0,
    recall: sum.truth > 0 ? sum.matched / sum.truth : 0,
  };
}
