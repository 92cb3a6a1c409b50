// The grounding reward terms on hand-written completions, each against a value computed by hand. Images are 100 px
// square, so Qwen2-VL's grid number is 10 × the pixel and boxes come back exactly.
import { describe, expect, it } from "vitest";
import { combineRewards } from "../src/combine.js";
import { formatReward } from "../src/format.js";
import {
  classificationRewardTerms,
  detectionRewardTerms,
  recRewardTerms,
  type GroundingTruth,
} from "../src/grounding.js";
import { visualRftDetectionReward } from "../src/visual_rft.js";

const wrap = (answer: string) => `<think>look</think><answer>${answer}</answer>`;
const rec: GroundingTruth = { boxes: [[10, 20, 50, 60]], width: 100, height: 100 };
const terms = <S>(t: { name: string; fn: (c: string, s: S) => number | null | undefined }[], c: string, s: S) =>
  Object.fromEntries(t.map((x) => [x.name, x.fn(c, s)]));

describe("VLM-R1 REC: IoU > 0.5 → 1, and continuous IoU", () => {
  it("an exact box: IoU 1 under both rules and both conventions", () => {
    for (const rule of ["threshold", "continuous"] as const) {
      const q2 = recRewardTerms<GroundingTruth>({ convention: "qwen2-vl", rule });
      expect(terms(q2, wrap("<|box_start|>(100,200),(500,600)<|box_end|>"), rec)).toEqual({ iou: 1, format: 1 });
      const q25 = recRewardTerms<GroundingTruth>({ convention: "qwen2.5-vl", rule });
      expect(terms(q25, wrap('[{"bbox_2d": [10, 20, 50, 60]}]'), rec)).toEqual({ iou: 1, format: 1 });
    }
  });

  it("half the box: VLM-R1's IoU (20·40)/(40·40) = 0.5 → threshold 0 (strict), continuous 0.5", () => {
    // pred [10, 20, 30, 60]: inter (min(29, 49) − 10 + 1)·(min(59, 59) − 20 + 1) = 20·40 = 800; union 1600
    const c2 = wrap("(100,200),(300,600)");
    const c25 = wrap("[10, 20, 30, 60]");
    const thr2 = recRewardTerms<GroundingTruth>({ convention: "qwen2-vl", rule: "threshold" });
    const cont25 = recRewardTerms<GroundingTruth>({ convention: "qwen2.5-vl", rule: "continuous" });
    expect(terms(thr2, c2, rec).iou).toBe(0);
    expect(terms(cont25, c25, rec).iou).toBe(0.5);
    // pred [10, 20, 40, 60]: 30·40 / 1600 = 0.75 → threshold 1
    expect(terms(thr2, wrap("(100,200),(400,600)"), rec).iou).toBe(1);
  });

  it("the first box counts; no box, a box outside <answer>, or the other convention gives 0", () => {
    const cont = recRewardTerms<GroundingTruth>({ convention: "qwen2.5-vl", rule: "continuous" });
    expect(terms(cont, wrap("[10, 20, 30, 60] or [10, 20, 50, 60]"), rec).iou).toBe(0.5);
    expect(terms(cont, wrap("the red circle"), rec).iou).toBe(0);
    expect(terms(cont, "[10, 20, 50, 60] <answer>x</answer>", rec).iou).toBe(0);
    expect(terms(cont, wrap("(100,200),(500,600)"), rec).iou).toBe(0);
    expect(terms(cont, wrap("[10, 20, 50, 60]"), { ...rec, boxes: [] }).iou).toBe(0);
  });

  it("format: R1-V's by default, VLM-R1's REC format or none on request", () => {
    const c = wrap('{"bbox_2d": [10, 20, 50, 60]}') + " trailing";
    expect(terms(recRewardTerms({ convention: "qwen2.5-vl", rule: "continuous" }), c, rec)).toEqual({
      iou: 1,
      format: 0,
    });
    const vlm = recRewardTerms<GroundingTruth>({ convention: "qwen2.5-vl", rule: "continuous", format: "vlm-r1-rec" });
    expect(terms(vlm, c, rec).format).toBe(1);
    expect(recRewardTerms({ convention: "qwen2-vl", rule: "continuous", format: null }).map((t) => t.name)).toEqual([
      "iou",
    ]);
  });
});

describe("Visual-RFT detection: IoU + confidence + format, greedy by confidence", () => {
  const det: GroundingTruth = {
    boxes: [
      [0, 0, 10, 10],
      [20, 20, 30, 30],
    ],
    width: 100,
    height: 100,
  };
  const q25 = detectionRewardTerms<GroundingTruth>({ convention: "qwen2.5-vl" });
  const q2 = detectionRewardTerms<GroundingTruth>({ convention: "qwen2-vl" });

  it("one of two boxes, no confidence stated (→ 1): R_IoU 1/2, R_conf 1, format 1; total 2.5", () => {
    const c = wrap('[{"bbox_2d": [0, 0, 10, 10], "label": "green circle"}]');
    expect(terms(q25, c, det)).toEqual({ accuracy_iou: 0.5, accuracy_confidence: 1, format: 1 });
    expect(combineRewards(q25)(c, det).total).toBe(2.5);
    const c2 = wrap("<|box_start|>(0,0),(100,100)<|box_end|>");
    expect(terms(q2, c2, det)).toEqual({ accuracy_iou: 0.5, accuracy_confidence: 1, format: 1 });
  });

  it("a hit and a miss with stated confidences: R_IoU (1 + 0)/2, R_conf (0.9 + (1 − 0.2))/2 = 0.85", () => {
    const c = wrap(
      '[{"bbox_2d": [0, 0, 10, 10], "confidence": 0.9}, {"bbox_2d": [50, 50, 60, 60], "confidence": 0.2}]',
    );
    const r = terms(q25, c, det);
    expect(r.accuracy_iou).toBe(0.5);
    expect(r.accuracy_confidence).toBeCloseTo(0.85, 12);
    // unstated confidences are 1: the miss then costs the whole 1 − 1 = 0, R_conf = (1 + 0)/2
    expect(terms(q25, wrap("[0, 0, 10, 10] [50, 50, 60, 60]"), det).accuracy_confidence).toBe(0.5);
  });

  it("greedy matching: the more confident box takes the ground truth first", () => {
    // [0,0,10,9]@0.9 (IoU 0.9) takes [0,0,10,10]; [0,0,10,10]@0.3 then matches nothing (IoU with the other GT 0).
    // R_IoU = 0.9 / max(1, 2) = 0.45; R_conf = (0.9 + (1 − 0.3)) / 2 = 0.8
    const one: GroundingTruth = { boxes: [[0, 0, 10, 10]], width: 100, height: 100 };
    const c = wrap('[{"bbox_2d": [0, 0, 10, 10], "confidence": 0.3}, {"bbox_2d": [0, 0, 10, 9], "confidence": 0.9}]');
    const r = terms(q25, c, one);
    expect(r.accuracy_iou).toBeCloseTo(0.45, 12);
    expect(r.accuracy_confidence).toBeCloseTo(0.8, 12);
  });

  it("duplicates dropped; no ground-truth boxes: nothing said scores 0 as Visual-RFT (1 + 1 with rewardEmpty)", () => {
    expect(terms(q25, wrap("[0, 0, 10, 10] [0, 0, 10, 10]"), det)).toMatchObject({
      accuracy_iou: 0.5,
      accuracy_confidence: 1,
    });
    const none: GroundingTruth = { boxes: [], width: 100, height: 100 };
    expect(terms(q25, wrap("[]"), none)).toEqual({ accuracy_iou: 0, accuracy_confidence: 0, format: 1 });
    expect(terms(q2, wrap("no objects"), none)).toEqual({ accuracy_iou: 0, accuracy_confidence: 0, format: 1 });
    const priced = detectionRewardTerms<GroundingTruth>({ convention: "qwen2.5-vl", rewardEmpty: true });
    expect(terms(priced, wrap("[]"), none)).toEqual({ accuracy_iou: 1, accuracy_confidence: 1, format: 1 });
    expect(terms(priced, wrap("[0, 0, 10, 10]"), none)).toEqual({ accuracy_iou: 0, accuracy_confidence: 0, format: 1 });
    expect(terms(priced, wrap("[]"), det)).toMatchObject({ accuracy_iou: 0, accuracy_confidence: 0 });
    expect(terms(q25, wrap("[0, 0, 10, 10]"), none)).toEqual({ accuracy_iou: 0, accuracy_confidence: 0, format: 1 });
    expect(terms(q25, "no answer tags", none)).toEqual({ accuracy_iou: 0, accuracy_confidence: 0, format: 0 });
    // an empty answer where there are boxes: R_IoU 0 / 2, R_conf 0 (no predictions)
    expect(terms(q25, wrap("[]"), det)).toMatchObject({ accuracy_iou: 0, accuracy_confidence: 0 });
    // Visual-RFT's own parser (no convention) keeps its behaviour: an empty list scores 0 even for no boxes
    expect(visualRftDetectionReward(wrap("[]"), []).iou).toBe(0);
  });
});

describe("Visual-RFT classification and open-r1-multimodal's format", () => {
  it("accuracy is mutual containment of the normalised names; an empty answer 0 (1 when faithful)", () => {
    const t = classificationRewardTerms<{ solution: string }>();
    const s = { solution: "medium" };
    expect(terms(t, wrap("medium"), s)).toEqual({ accuracy: 1, format: 1 });
    expect(terms(t, wrap("Medium circle"), s).accuracy).toBe(1); // "medium" ⊂ "mediumcircle"
    expect(terms(t, wrap("small"), s).accuracy).toBe(0);
    expect(terms(t, wrap(""), s).accuracy).toBe(0);
    expect(terms(classificationRewardTerms<{ solution: string }>({ faithful: true }), wrap(""), s).accuracy).toBe(1);
  });

  it('open-r1-multimodal\'s format ("r1v-original"): trailing text passes, a newline inside fails', () => {
    const t = classificationRewardTerms<{ solution: string }>({ format: "r1v-original" });
    expect(terms(t, wrap("medium") + " thanks", { solution: "medium" }).format).toBe(1);
    expect(formatReward(wrap("medium") + " thanks")).toBe(0); // R1-V's full match
    expect(terms(t, "<think>a\nb</think><answer>medium</answer>", { solution: "medium" }).format).toBe(0);
  });

  it("every term stays in range and never throws on garbage", () => {
    const all = [
      ...recRewardTerms<GroundingTruth>({ convention: "qwen2-vl", rule: "continuous" }),
      ...detectionRewardTerms<GroundingTruth>({ convention: "qwen2.5-vl" }),
    ];
    const bad = [
      { boxes: [], width: 0, height: 0 },
      { boxes: [[NaN, 0, 1, 1]], width: 10, height: 10 },
      { boxes: null, width: 10, height: 10 },
    ] as unknown as GroundingTruth[];
    for (const c of ["", wrap("[1, 2, 3, 4]"), wrap("(1,2),(3,4)"), "x".repeat(5000), wrap("[-1e308, 0, 1e308, 1]")])
      for (const s of [...bad, rec])
        for (const t of all) {
          const v = t.fn(c, s);
          expect(typeof v === "number" && v >= 0 && v <= 1).toBe(true);
        }
  });
});
