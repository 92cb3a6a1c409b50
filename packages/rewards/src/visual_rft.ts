/**
 * Visual-RFT's rewards (Liuziyu77/Visual-RFT): detection with IoU + confidence, and classification.
 *
 * Detection. The answer is a list `[{'Position': [x1, y1, x2, y2], 'Confidence': c}, …]` and the
 * reward is R = R_IoU + R_conf + R_format ∈ [0, 3]:
 *
 *   1. sort predictions by confidence (descending); match each, in turn, to the still-unmatched
 *      ground-truth box of highest IoU; if that IoU > 0.5 record (iou, c) and use up the box,
 *      otherwise record (0, c)
 *   2. R_IoU  = min(1, Σ_j iou_j / max(N_gt, N_pred))
 *   3. R_conf = clip_[0,1]( (1/N_pred) Σ_j (c_j if iou_j > 0 else 1 − c_j) )   — confident hits and
 *      unconfident misses are rewarded
 *   4. R_format = R1-V's format reward (full match, DOTALL)
 *
 * IoU here is the plain half-open one. Parsing follows Visual-RFT: single quotes become double
 * quotes, `[[`/`]]` become `[`/`]`, newlines are dropped, and a list cut off mid-way is repaired by
 * closing it after the last complete `}`; exact duplicate boxes are dropped (the first is kept).
 * Choices made where Visual-RFT's code does not decide: the answer is the `<answer>` span (none → no
 * predictions); a prediction without a 4-number `Position` or a numeric `Confidence` voids the whole
 * answer (the Python would raise, and the reward is 0); with no predictions and no ground truth
 * R_IoU is 0 (no division by zero).
 *
 * In a model family's box convention. With `boxes` ({ convention, size }: box_text.ts) the predictions are the
 * boxes the answer writes the way Qwen2-VL (`(x1,y1),(x2,y2)`, 0–1000 grid) or Qwen2.5-VL (`[x1, y1, x2, y2]`,
 * pixels) does, in pixels, each with the confidence stated beside it (a "confidence" key) or else 1 — so R_conf is
 * then the share of predictions that matched, a precision.
 *
 * The empty answer. In Visual-RFT an empty prediction list makes the reward code raise, and the sample scores 0
 * (the reward function's try/except), so "nothing here" is never rewarded, even where nothing is there; that is the
 * default here too. `{ rewardEmpty: true }` prices it instead: no boxes for no ground-truth boxes gives
 * R_IoU = R_conf = 1. Beware: with a model that points badly, a wrong box scores the same 0 as no box, so an
 * always-empty answer can then earn more than trying (notebook 07 trained that collapse once). Predictions for an
 * empty ground truth score 0 either way.
 *
 * Classification. Both sides are normalised as `s.replace(' ', '').replace('_', '').lower()` and the
 * reward is 1 if either contains the other. In Visual-RFT an empty `<answer></answer>` is a substring
 * of everything and gets 1; that quirk is kept behind `{ faithful: true }`, and by default an empty
 * answer (or solution) gets 0.
 */
import { extractAnswer } from "./answer.js";
import { parseBoxes, type BoxTextOptions } from "./box_text.js";
import { formatReward } from "./format.js";
import { iou, toBox, type Box } from "./iou.js";
import { asText, pyStrip, safely } from "./text.js";

export interface Detection {
  box: Box;
  confidence: number;
}

/** Visual-RFT's predictions from an answer string, or null if it does not parse. */
export function parseDetections(answer: unknown): Detection[] | null {
  try {
    const s = asText(answer);
    if (s === null) return null;
    const t = s.replaceAll("'", '"').replaceAll("[[", "[").replaceAll("]]", "]").replaceAll("\n", "");
    let data: unknown;
    try {
      data = JSON.parse(t);
    } catch {
      const last = t.lastIndexOf("}");
      if (last < 0) return null;
      data = JSON.parse(t.slice(0, last + 1) + "]"); // a truncated list: close it after the last whole item
    }
    if (!Array.isArray(data)) return null;
    const out: Detection[] = [];
    const seen = new Set<string>();
    for (const item of data) {
      if (item === null || typeof item !== "object") return null;
      const box = toBox((item as Record<string, unknown>)["Position"]);
      const confidence = (item as Record<string, unknown>)["Confidence"];
      if (!box || typeof confidence !== "number" || !Number.isFinite(confidence)) return null;
      const key = box.join(",");
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ box, confidence });
    }
    return out;
  } catch {
    return null;
  }
}

export interface DetectionReward {
  /** R_IoU ∈ [0, 1]. */
  iou: number;
  /** R_conf ∈ [0, 1]. */
  confidence: number;
  /** R_format ∈ {0, 1}. */
  format: number;
  /** The sum, ∈ [0, 3]: Visual-RFT's reward. */
  total: number;
}

/** Visual-RFT's detection reward for a completion against ground-truth boxes (all parts 0 for garbage). */
export function visualRftDetectionReward(
  completion: unknown,
  gtBoxes: unknown,
  options: { iouThreshold?: number; boxes?: BoxTextOptions; rewardEmpty?: boolean } = {},
): DetectionReward {
  const format = formatReward(completion, { variant: "r1v" });
  let iouPart = 0;
  let confPart = 0;
  try {
    const gts = Array.isArray(gtBoxes) ? gtBoxes.map(toBox) : null;
    const answer = extractAnswer(completion);
    const preds = options.boxes ? conventionDetections(answer, options.boxes) : parseDetections(answer);
    if (options.rewardEmpty && gts && preds && gts.length === 0) {
      iouPart = confPart = preds.length === 0 ? 1 : 0; // "nothing here", said rightly or wrongly
    } else if (gts && preds && gts.every((b) => b !== null)) {
      const parts = detectionParts(preds, gts as Box[], options.iouThreshold ?? 0.5);
      iouPart = parts.iou;
      confPart = parts.confidence;
    }
  } catch {
    iouPart = confPart = 0;
  }
  iouPart = Number.isFinite(iouPart) ? iouPart : 0;
  confPart = Number.isFinite(confPart) ? confPart : 0;
  return { iou: iouPart, confidence: confPart, format, total: iouPart + confPart + format };
}

/** The answer's boxes in a convention, as detections (confidence 1 unless stated); exact duplicates dropped. */
function conventionDetections(answer: string | null, boxes: BoxTextOptions): Detection[] | null {
  if (answer === null) return null;
  const seen = new Set<string>();
  return parseBoxes(answer, boxes).flatMap(({ box, confidence }) => {
    const key = box.join(",");
    if (seen.has(key)) return [];
    seen.add(key);
    return [{ box, confidence: confidence ?? 1 }];
  });
}

/** R_IoU and R_conf of parsed predictions against ground-truth boxes (steps 1–3 above). */
export function detectionParts(
  preds: readonly Detection[],
  gts: readonly Box[],
  threshold = 0.5,
): { iou: number; confidence: number } {
  const order = [...preds].sort((a, b) => b.confidence - a.confidence); // stable, as Python's sorted
  const used = new Array<boolean>(gts.length).fill(false);
  let iouSum = 0;
  let confSum = 0;
  for (const p of order) {
    let best = -1;
    let bestIou = -1;
    for (let g = 0; g < gts.length; g++) {
      if (used[g]) continue;
      const v = iou(p.box, gts[g]);
      if (v > bestIou) [best, bestIou] = [g, v];
    }
    const matched = best >= 0 && bestIou > threshold;
    if (matched) used[best] = true;
    const v = matched ? bestIou : 0;
    iouSum += v;
    confSum += v > 0 ? p.confidence : 1 - p.confidence;
  }
  const denom = Math.max(gts.length, preds.length);
  return {
    iou: denom > 0 ? Math.min(1, iouSum / denom) : 0,
    confidence: preds.length > 0 ? Math.min(1, Math.max(0, confSum / preds.length)) : 0,
  };
}

/** Visual-RFT's classification reward: 1 if the normalised answer and solution contain one another. */
export function visualRftClassificationReward(
  completion: unknown,
  solution: unknown,
  options: { faithful?: boolean } = {},
): number {
  return safely(() => {
    const ans = extractAnswer(completion);
    const sol = asText(solution);
    if (ans === null || sol === null) return 0;
    const norm = (s: string) => s.replaceAll(" ", "").replaceAll("_", "").toLowerCase();
    const a = norm(ans);
    const g = norm(extractAnswer(sol) ?? pyStrip(sol));
    if (!options.faithful && (a === "" || g === "")) return 0;
    return g.includes(a) || a.includes(g) ? 1 : 0;
  });
}
