import { describe, expect, it } from "vitest";
import { extractBox, iou, iouReward } from "../src/iou.js";
import {
  detectionParts,
  parseDetections,
  visualRftClassificationReward,
  visualRftDetectionReward,
} from "../src/visual_rft.js";

describe("iou — a worked example", () => {
  it("iou([0,0,10,10],[5,5,15,15]) = 25/175 in both conventions", () => {
    expect(iou([0, 0, 10, 10], [5, 5, 15, 15])).toBeCloseTo(0.14285714, 8);
    expect(iou([0, 0, 10, 10], [5, 5, 15, 15], { convention: "vlm-r1" })).toBeCloseTo(25 / 175, 12);
  });

  it("VLM-R1 early rule: 0 (not > 0.5); later rule: 0.142857", () => {
    const c = "<think>t</think><answer>[0,0,10,10]</answer>";
    expect(iouReward(c, [5, 5, 15, 15], { rule: "threshold" })).toBe(0);
    expect(iouReward(c, [5, 5, 15, 15], { rule: "continuous" })).toBeCloseTo(0.142857, 6);
    expect(iouReward(c, [5, 5, 15, 15])).toBeCloseTo(0.142857, 6); // continuous is the default (VLM-R1 HEAD)
  });
});

describe("iou — worked cases", () => {
  it("identical 1, disjoint 0, contained = area ratio", () => {
    expect(iou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(iou([0, 0, 10, 10], [10, 0, 20, 10])).toBe(0); // touching edges, half-open boxes
    expect(iou([0, 0, 10, 10], [0, 0, 20, 20])).toBe(0.25); // 100 / 400
  });

  it("VLM-R1's convention drops overlaps of 1 px, and agrees from 2 px on", () => {
    // 1 px wide overlap: plain 10 / (100 + 110 − 10) = 0.05; VLM-R1: inter_x1 = 9 = inter_x2 → 0.
    expect(iou([0, 0, 10, 10], [9, 0, 20, 10])).toBeCloseTo(0.05, 12);
    expect(iou([0, 0, 10, 10], [9, 0, 20, 10], { convention: "vlm-r1" })).toBe(0);
    // 2 px: plain 20 / 200; VLM-R1 (9 − 8 + 1)(9 − 0 + 1) / 200 — the same 0.1.
    expect(iou([0, 0, 10, 10], [8, 0, 20, 10])).toBeCloseTo(0.1, 12);
    expect(iou([0, 0, 10, 10], [8, 0, 20, 10], { convention: "vlm-r1" })).toBeCloseTo(0.1, 12);
  });

  it("garbage gives 0", () => {
    expect(iou([0, 0, 10], [0, 0, 10, 10])).toBe(0);
    expect(iou([0, 0, "10", 10], [0, 0, 10, 10])).toBe(0);
    expect(iou([0, 0, 0, 0], [0, 0, 0, 0])).toBe(0); // union 0
    expect(iou([10, 10, 0, 0], [0, 0, 10, 10])).toBe(0); // an inverted box has no intersection
    expect(iou([0, 0, 1e200, 1e200], [0, 0, 1e200, 1e200])).toBe(0); // areas overflow to Infinity → NaN → 0
  });
});

describe("iouReward (VLM-R1 REC)", () => {
  it("reads the first box of integers inside <answer>", () => {
    expect(extractBox("<answer>{'bbox': [1, 2, 3, 4]} or [5,6,7,8]</answer>")).toEqual([1, 2, 3, 4]);
    expect(extractBox("[1,2,3,4] <answer>none</answer>")).toBe(null); // outside the answer
    expect(extractBox("<answer>[0.5,0,10,10]</answer>")).toBe(null); // \d+ only
    expect(extractBox("<answer>[-1,0,10,10]</answer>")).toBe(null);
    expect(extractBox("<answer>[0 ,0,10,10]</answer>")).toBe(null); // no \s before a comma
    expect(extractBox("<answer>[0,\n 0,  10,\t10]</answer>")).toEqual([0, 0, 10, 10]);
    expect(extractBox("<answer>[٠, ٠, ١٠, ١٠]</answer>")).toEqual([0, 0, 10, 10]); // Python's int() reads any Nd digits
    expect(extractBox("<answer>[𝟎,𝟎,𝟏𝟎,𝟏𝟎]</answer>")).toEqual([0, 0, 10, 10]); // mathematical bold digits
  });

  it("the threshold rule is strict: IoU exactly 0.5 gives 0", () => {
    const c = "<answer>[0,0,10,10]</answer>";
    // [0,0,10,10] vs [0,0,10,20]: intersection 100, union 200 (same in VLM-R1's convention: 10·10 / 200).
    expect(iouReward(c, [0, 0, 10, 20], { rule: "threshold" })).toBe(0);
    expect(iouReward(c, [0, 0, 10, 20])).toBe(0.5);
    expect(iouReward(c, [0, 0, 10, 11], { rule: "threshold" })).toBe(1); // 100/110
  });

  it("rescale maps the box from the model's input size to the image size first", () => {
    // Qwen2-VL input 28×28 (a 2×2 grid of 14 px patches), image 56×112: x·56/28, y·112/28.
    const c = "<answer>[0,0,28,28]</answer>";
    const rescale = { inputSize: [28, 28], imageSize: [56, 112] } as const;
    expect(iouReward(c, [0, 0, 56, 112], { rescale })).toBe(1);
    // Without it: VLM-R1 intersection (27 + 1)² = 784, union 784 + 6272 − 784 = 6272 → 0.125.
    expect(iouReward(c, [0, 0, 56, 112])).toBe(0.125);
  });

  it("no box, or a bad ground truth, gives 0", () => {
    expect(iouReward("<answer>left</answer>", [0, 0, 1, 1])).toBe(0);
    expect(iouReward("<answer>[0,0,10,10]</answer>", "0,0,10,10")).toBe(0);
    expect(iouReward(null, [0, 0, 10, 10])).toBe(0);
  });
});

const det = (items: string) => `<think>look</think><answer>${items}</answer>`;

describe("Visual-RFT detection", () => {
  const GT = [
    [0, 0, 10, 10],
    [20, 20, 30, 30],
  ];

  it("worked example: [0,0,10,10]@0.9 against two boxes → R_IoU 0.5, R_conf 0.9", () => {
    const r = visualRftDetectionReward(det("[{'Position': [0,0,10,10], 'Confidence': 0.9}]"), GT);
    expect(r.iou).toBeCloseTo(0.5, 12);
    expect(r.confidence).toBeCloseTo(0.9, 12);
    expect(r.format).toBe(1);
    expect(r.total).toBeCloseTo(2.4, 12);
  });

  it("worked: both boxes found; a miss; greedy matching by confidence; below threshold", () => {
    // Two hits: R_IoU = (1 + 1)/2, R_conf = (0.9 + 0.8)/2.
    let r = visualRftDetectionReward(
      det("[{'Position': [0,0,10,10], 'Confidence': 0.9}, {'Position': [20,20,30,30], 'Confidence': 0.8}]"),
      GT,
    );
    expect([r.iou, r.confidence]).toEqual([1, expect.closeTo(0.85, 12)]);
    // A hit and a miss: R_IoU = 1/max(2, 2); R_conf = (0.9 + (1 − 0.4))/2 (an unconfident miss is rewarded).
    r = visualRftDetectionReward(
      det("[{'Position': [0,0,10,10], 'Confidence': 0.9}, {'Position': [50,50,60,60], 'Confidence': 0.4}]"),
      GT,
    );
    expect([r.iou, r.confidence]).toEqual([0.5, expect.closeTo(0.75, 12)]);
    // Greedy: the 0.9-confidence [0,0,10,9] (IoU 0.9) takes the only box first; the exact box, later, finds none.
    // R_IoU = 0.9 / max(1, 2) = 0.45; R_conf = (0.9 + (1 − 0.3))/2 = 0.8.
    const parts = detectionParts(
      [
        { box: [0, 0, 10, 10], confidence: 0.3 },
        { box: [0, 0, 10, 9], confidence: 0.9 },
      ],
      [[0, 0, 10, 10]],
    );
    expect(parts.iou).toBeCloseTo(0.45, 12);
    expect(parts.confidence).toBeCloseTo(0.8, 12);
    // IoU 25/175 ≤ 0.5 is recorded as 0: R_IoU 0, R_conf = 1 − 0.6.
    r = visualRftDetectionReward(det("[{'Position': [5,5,15,15], 'Confidence': 0.6}]"), [[0, 0, 10, 10]]);
    expect([r.iou, r.confidence]).toEqual([0, expect.closeTo(0.4, 12)]);
  });

  it("parsing: quotes, doubled brackets, newlines, truncation, duplicates, malformed items", () => {
    expect(parseDetections("[[{'Position': [0,0,10,10],\n 'Confidence': 0.9}]]")).toEqual([
      { box: [0, 0, 10, 10], confidence: 0.9 },
    ]);
    // Cut off mid-way: closed after the last whole item.
    expect(parseDetections("[{'Position': [0,0,10,10], 'Confidence': 0.9}, {'Position': [20,2")).toEqual([
      { box: [0, 0, 10, 10], confidence: 0.9 },
    ]);
    // An exact duplicate box is dropped (the first kept): N_pred = 1, so R_conf = 0.9, not (0.9 + 0.5)/2.
    const r = visualRftDetectionReward(
      det("[{'Position': [0,0,10,10], 'Confidence': 0.9}, {'Position': [0,0,10,10], 'Confidence': 0.5}]"),
      GT,
    );
    expect([r.iou, r.confidence]).toEqual([0.5, 0.9]);
    expect(parseDetections("[{'Position': [0,0,10,10], 'Confidence': 'high'}]")).toBe(null);
    expect(parseDetections("[{'Position': [0,0,10], 'Confidence': 0.9}]")).toBe(null);
    expect(parseDetections("no boxes")).toBe(null);
    expect(parseDetections("[]")).toEqual([]);
  });

  it("confidence is clipped to [0, 1]; no answer or a bad ground truth gives 0 (format still counts)", () => {
    expect(
      visualRftDetectionReward(det("[{'Position': [0,0,10,10], 'Confidence': 1.5}]"), [[0, 0, 10, 10]]).confidence,
    ).toBe(1);
    expect(visualRftDetectionReward("<think>a</think><answer>none</answer>", GT)).toEqual({
      iou: 0,
      confidence: 0,
      format: 1,
      total: 1,
    });
    expect(visualRftDetectionReward(det("[{'Position': [0,0,10,10], 'Confidence': 0.9}]"), [[0, 0, 10]]).total).toBe(1);
    // nothing to find, nothing found: R_IoU 0 by our choice
    expect(visualRftDetectionReward(det("[]"), []).total).toBe(1);
  });
});

describe("Visual-RFT classification", () => {
  const sol = "<answer>golden_retriever</answer>";
  it("normalises spaces, underscores and case, then tests containment either way", () => {
    expect(visualRftClassificationReward("<answer>Golden Retriever</answer>", sol)).toBe(1);
    expect(visualRftClassificationReward("<answer>retriever</answer>", sol)).toBe(1); // ans ⊂ gt
    expect(visualRftClassificationReward("<answer>a golden retriever dog</answer>", sol)).toBe(1); // gt ⊂ ans
    expect(visualRftClassificationReward("<answer>labrador</answer>", sol)).toBe(0);
    expect(visualRftClassificationReward("golden retriever", sol)).toBe(0); // no <answer>
  });

  it("an empty answer is a substring of everything: 1 only with faithful: true", () => {
    for (const c of ["<answer></answer>", "<answer>  </answer>", "<answer>_</answer>"]) {
      expect(visualRftClassificationReward(c, sol)).toBe(0);
      expect(visualRftClassificationReward(c, sol, { faithful: true })).toBe(1);
    }
  });
});

describe("Unicode digits in boxes (Python's int() on \\d)", () => {
  // Mathematical bold (U+1D7CE), double-struck (U+1D7D8) and monospace (U+1D7F6) digits sit in one run of 50 Nd code
  // points: each set's value is its offset mod 10. Devanagari and Arabic-Indic are runs of their own.
  const bold = (n: string) => [...n].map((d) => String.fromCodePoint(0x1d7ce + Number(d))).join("");
  const mono = (n: string) => [...n].map((d) => String.fromCodePoint(0x1d7f6 + Number(d))).join("");
  const deva = (n: string) => [...n].map((d) => String.fromCodePoint(0x966 + Number(d))).join("");

  it("reads each script's digits, long runs included, the same on every call", () => {
    for (let round = 0; round < 2; round++) {
      expect(extractBox(`<answer>[${bold("12")}, ${mono("3")}, ${deva("40")}, ${deva("509")}]</answer>`)).toEqual([
        12, 3, 40, 509,
      ]);
      expect(extractBox(`<answer>[${mono("7".repeat(15))}, 1, 2, 3]</answer>`)?.[0]).toBe(777777777777777);
      const long = extractBox(`<answer>[${mono("7".repeat(300))}, 1, 2, 3]</answer>`)?.[0] ?? NaN;
      expect(Math.abs(long / Number("7".repeat(300)) - 1)).toBeLessThan(1e-12);
    }
  });
});
