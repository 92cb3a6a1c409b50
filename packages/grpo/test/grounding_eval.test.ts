import { describe, expect, it } from "vitest";
import { detectionScores, matchBoxes, recIous } from "../src/grounding_eval.js";

const box = (...b: [number, number, number, number]) => b;

describe("grounding evaluation", () => {
  it("recIous: the first answered box against the ground truth, VLM-R1's IoU, in both conventions", () => {
    const truth = [{ boxes: [box(0, 0, 10, 10)], width: 20, height: 20 }];
    // [0, 0, 10, 5]: VLM-R1's IoU = (9 − 0 + 1)(4 − 0 + 1) / (100 + 50 − 50) = 50 / 100
    expect(recIous(["<answer> [0, 0, 10, 5] </answer>"], truth, "qwen2.5-vl")).toEqual([0.5]);
    // Qwen2-VL's grid: (0,0),(500,500) on 20 px is [0, 0, 10, 10]
    expect(recIous(["<answer> (0,0),(500,500) </answer>"], truth, "qwen2-vl")).toEqual([1]);
    expect(recIous(["<answer> no box </answer>"], truth, "qwen2.5-vl")).toEqual([0]);
    expect(() => recIous([], truth, "qwen2.5-vl")).toThrow(/0 completions but 1 samples/);
  });

  it("matchBoxes: one to one, greedily in the answer's order, IoU > 0.5", () => {
    const truth = [box(0, 0, 10, 10), box(20, 0, 30, 10)];
    // the first prediction takes the first truth; its duplicate finds only the second (IoU 0): unmatched
    expect(matchBoxes([box(0, 0, 10, 10), box(0, 0, 10, 10)], truth)).toEqual({ matched: 1, predicted: 2, truth: 2 });
    expect(matchBoxes([box(21, 0, 30, 10), box(0, 0, 10, 10)], truth)).toEqual({ matched: 2, predicted: 2, truth: 2 });
    // IoU exactly 0.5 ([0, 0, 10, 5] vs [0, 0, 10, 10]) is not > 0.5
    expect(matchBoxes([box(0, 0, 10, 5)], truth).matched).toBe(0);
    expect(matchBoxes([], truth)).toEqual({ matched: 0, predicted: 0, truth: 2 });
  });

  it("detectionScores: precision and recall summed over answers; boxes read inside <answer> only", () => {
    const truths = [
      { boxes: [box(0, 0, 10, 10), box(20, 0, 30, 10)], width: 32, height: 32 },
      { boxes: [], width: 32, height: 32 },
    ];
    const completions = [
      '<think> [20, 0, 30, 10] </think> <answer> [{"bbox_2d": [0, 0, 10, 10]}] </answer>',
      '<answer> [{"bbox_2d": [5, 5, 9, 9]}] </answer>',
    ];
    const s = detectionScores(completions, truths, "qwen2.5-vl");
    expect(s).toEqual({ matched: 1, predicted: 2, truth: 2, precision: 0.5, recall: 0.5 });
    expect(detectionScores(["<answer> [] </answer>"], [truths[1]!], "qwen2.5-vl")).toMatchObject({
      precision: 0,
      recall: 0,
    });
  });
});
