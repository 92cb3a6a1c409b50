/**
 * Intersection over union of boxes, and VLM-R1's IoU reward for referring-expression comprehension.
 *
 *   IoU(a, b) = |a ∩ b| / |a ∪ b|,   boxes [x1, y1, x2, y2] with area (x2 − x1)(y2 − y1)
 *
 * Two conventions:
 * - "plain" (default): half-open boxes, intersection (min x2 − max x1)⁺ · (min y2 − max y1)⁺, as in
 *   Visual-RFT and most detection code.
 * - "vlm-r1": VLM-R1's `iou`, kept bit-exact. It treats x2 − 1 as the last pixel and adds 1 back:
 *     inter_x1 = max(x1), inter_x2 = min(x2 − 1)  (same for y)
 *     inter = (inter_x2 − inter_x1 + 1)(inter_y2 − inter_y1 + 1) if inter_x1 < inter_x2 and inter_y1 < inter_y2, else 0
 *   which equals the plain IoU except that an overlap ≤ 1 px wide or high counts as none.
 *
 * Garbage in (not four finite numbers, a union ≤ 0) gives 0; the result is always in [0, 1].
 *
 * The reward reads the first `[x1, y1, x2, y2]` of integers inside `<answer>` (VLM-R1's
 * `\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)]`) and returns
 * - rule "continuous" (default; VLM-R1 HEAD `iou_reward`, since 2025-03-24): the IoU itself;
 * - rule "threshold" (VLM-R1's first reward, 2025-02-09 to ~03): 1 if IoU > 0.5 else 0.
 * Since 2025-06-26 VLM-R1 first maps the predicted box from the model's input resolution to the
 * image's (x · W_img / (grid_w · 14), y · H_img / (grid_h · 14)): pass `rescale` for that.
 * `iouReward` uses the "vlm-r1" convention unless told otherwise, since it reproduces VLM-R1.
 * With `boxes` ({ convention, size }: box_text.ts) the answer's first box is read the way a model family writes it
 * (Qwen2-VL's 0–1000 grid, Qwen2.5-VL's pixels, spaces allowed) and compared in pixels: VLM-R1's regex accepts
 * only `[int,int,int,int]` with no space after `[`, which a word-level tokenizer's decoded text never has.
 */
import { extractAnswer } from "./answer.js";
import { parseBoxes, type Box, type BoxTextOptions } from "./box_text.js";
import { PY_SPACE, asText, pyInt, safely, searchTagged } from "./text.js";

export type { Box } from "./box_text.js";

export type IouConvention = "plain" | "vlm-r1";

export interface IouOptions {
  /** "plain" (default) or VLM-R1's pixel convention (see the file comment). */
  convention?: IouConvention;
}

/** The four finite numbers of a box, or null. */
export function toBox(x: unknown): Box | null {
  if (!Array.isArray(x) || x.length !== 4) return null;
  const b = x.map((v) => (typeof v === "number" ? v : NaN));
  const [x1, y1, x2, y2] = b;
  if (x1 === undefined || y1 === undefined || x2 === undefined || y2 === undefined) return null;
  return b.every(Number.isFinite) ? [x1, y1, x2, y2] : null;
}

/** IoU of two boxes, in [0, 1]; 0 for anything that is not a pair of boxes with positive union. */
export function iou(a: unknown, b: unknown, options: IouOptions = {}): number {
  return safely(() => {
    const p = toBox(a);
    const q = toBox(b);
    if (!p || !q) return 0;
    const area = (r: Box) => (r[2] - r[0]) * (r[3] - r[1]);
    let inter: number;
    if (options.convention === "vlm-r1") {
      const ix1 = Math.max(p[0], q[0]);
      const iy1 = Math.max(p[1], q[1]);
      const ix2 = Math.min(p[2] - 1, q[2] - 1);
      const iy2 = Math.min(p[3] - 1, q[3] - 1);
      inter = ix1 < ix2 && iy1 < iy2 ? (ix2 - ix1 + 1) * (iy2 - iy1 + 1) : 0;
    } else {
      const w = Math.min(p[2], q[2]) - Math.max(p[0], q[0]);
      const h = Math.min(p[3], q[3]) - Math.max(p[1], q[1]);
      inter = w > 0 && h > 0 ? w * h : 0;
    }
    const union = area(p) + area(q) - inter;
    if (!(union > 0)) return 0;
    return Math.min(1, Math.max(0, inter / union));
  });
}

const BOX = new RegExp(
  `\\[(\\p{Nd}+),[${PY_SPACE}]*(\\p{Nd}+),[${PY_SPACE}]*(\\p{Nd}+),[${PY_SPACE}]*(\\p{Nd}+)\\]`,
  "u",
);

/**
 * The first `[x1, y1, x2, y2]` of non-negative integers inside the completion's first `<answer>`
 * (any Unicode digits, read as Python's `int()` does), or null.
 */
export function extractBox(completion: unknown): Box | null {
  try {
    const s = asText(completion);
    if (s === null) return null;
    const answer = searchTagged(s, "<answer>", "</answer>", true);
    if (answer === null) return null;
    const [, ...groups] = BOX.exec(answer) ?? [];
    const numbers = groups.slice(0, 4).map((g) => pyInt(g));
    return numbers.length === 4 ? toBox(numbers) : null;
  } catch {
    return null;
  }
}

export interface IouRewardOptions extends IouOptions {
  /** "continuous" (default): the IoU; "threshold": 1 if IoU > 0.5 else 0. */
  rule?: "continuous" | "threshold";
  /**
   * Map the predicted box from the model's input size (Qwen2-VL: grid · 14 px) to the image size
   * before comparing with the ground truth (VLM-R1 since 2025-06-26).
   */
  rescale?: { inputSize: readonly [number, number]; imageSize: readonly [number, number] };
  /**
   * Read the answer's box in a model family's convention (box_text.ts: Qwen2-VL's `(x1,y1),(x2,y2)` on the 0–1000
   * grid, or Qwen2.5-VL's `[x1, y1, x2, y2]` in pixels, spaces allowed) instead of VLM-R1's integer-list regex; the
   * first box inside `<answer>` counts, in pixels of `size`, compared with `gtBox` in pixels.
   */
  boxes?: BoxTextOptions;
}

/** The first box of the completion's `<answer>`: VLM-R1's regex, or the convention's parser when `boxes` is given. */
export function answerBox(completion: unknown, boxes?: BoxTextOptions): Box | null {
  if (!boxes) return extractBox(completion);
  const answer = extractAnswer(completion);
  return answer === null ? null : (parseBoxes(answer, boxes)[0]?.box ?? null);
}

/** VLM-R1's REC accuracy reward: IoU of the answered box with `gtBox` (or its > 0.5 indicator); 0 without a box. */
export function iouReward(completion: unknown, gtBox: unknown, options: IouRewardOptions = {}): number {
  return safely(() => {
    let box = answerBox(completion, options.boxes);
    if (!box) return 0;
    if (options.rescale) {
      const [w, h] = options.rescale.inputSize;
      const [W, H] = options.rescale.imageSize;
      box = [(box[0] * W) / w, (box[1] * H) / h, (box[2] * W) / w, (box[3] * H) / h];
    }
    const v = iou(box, gtBox, { convention: options.convention ?? "vlm-r1" });
    return (options.rule ?? "continuous") === "threshold" ? (v > 0.5 ? 1 : 0) : v;
  });
}
