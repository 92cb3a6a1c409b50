import { describe, expect, it } from "vitest";
import {
  QWEN2_VL_BOX_TOKENS,
  boxFromText,
  boxToText,
  formatBoxes,
  parseBoxes,
  type BoxTextOptions,
} from "../src/box_text.js";
import { answerBox, extractBox } from "../src/iou.js";

const size32 = { width: 32, height: 32 };
const q2: BoxTextOptions = { convention: "qwen2-vl", size: size32 };
const q25: BoxTextOptions = { convention: "qwen2.5-vl", size: size32 };

describe("formatBoxes: each family's way of writing a box", () => {
  it("Qwen2-VL: ref and box tokens, corners on the 0–1000 grid as int(x / W · 1000)", () => {
    // 3/32·1000 = 93.75 → 93; 4 → 125; 14 → 437.5 → 437; 15 → 468.75 → 468
    expect(boxToText([3, 4, 14, 15], q2)).toEqual([93, 125, 437, 468]);
    expect(formatBoxes([{ box: [3, 4, 14, 15], label: "red circle" }], q2)).toBe(
      "<|object_ref_start|>red circle<|object_ref_end|><|box_start|>(93,125),(437,468)<|box_end|>",
    );
    // several boxes follow one another; without a label no ref tokens; none: ""
    expect(formatBoxes([{ box: [0, 0, 32, 16] }, { box: [16, 16, 32, 32] }], q2)).toBe(
      "<|box_start|>(0,0),(1000,500)<|box_end|><|box_start|>(500,500),(1000,1000)<|box_end|>",
    );
    expect(formatBoxes([], q2)).toBe("");
    expect(QWEN2_VL_BOX_TOKENS).toEqual(["<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>"]);
  });

  it("Qwen2.5-VL: a JSON list with bbox_2d in pixels (rounded, clipped to the image) and label", () => {
    expect(formatBoxes([{ box: [3, 4, 14, 15], label: "red circle" }], q25)).toBe(
      '[{"bbox_2d": [3, 4, 14, 15], "label": "red circle"}]',
    );
    expect(formatBoxes([{ box: [-1.2, 3.5, 14.4, 40] }, { box: [1, 2, 3, 4] }], q25)).toBe(
      '[{"bbox_2d": [0, 4, 14, 32]}, {"bbox_2d": [1, 2, 3, 4]}]',
    );
    expect(formatBoxes([], q25)).toBe("[]");
    expect(JSON.parse(formatBoxes([{ box: [3, 4, 14, 15], label: 'say "hi"' }], q25))).toEqual([
      { bbox_2d: [3, 4, 14, 15], label: 'say "hi"' },
    ]);
  });

  it("refuses a bad convention, image size, box or label with a clear error", () => {
    expect(() => formatBoxes([], { convention: "qwen3" as never, size: size32 })).toThrow(/unknown box convention/);
    expect(() => formatBoxes([], { convention: "qwen2-vl", size: { width: 0, height: 32 } })).toThrow(/image size/);
    expect(() => boxToText([0, 0, NaN, 1], q2)).toThrow(/not four numbers/);
    expect(() => formatBoxes([{ box: [0, 0, 1, 1], label: "a<|box_end|>" }], q2)).toThrow(/contains/);
  });
});

describe("parseBoxes", () => {
  it("round-trips both conventions (Qwen2-VL back through the grid: v · W / 1000)", () => {
    const items = [
      { box: [3, 4, 14, 15] as const, label: "red circle" },
      { box: [20, 2, 30, 9] as const, label: "blue square" },
    ];
    const p25 = parseBoxes(formatBoxes(items, q25), q25);
    expect(p25.map((p) => [p.box, p.label])).toEqual(items.map((i) => [i.box, i.label]));
    const p2 = parseBoxes(formatBoxes(items, q2), q2);
    expect(p2.map((p) => p.label)).toEqual(["red circle", "blue square"]);
    expect(p2[0]?.numbers).toEqual([93, 125, 437, 468]);
    expect(p2[0]?.box).toEqual([2.976, 4, 13.984, 14.976]);
    expect(boxFromText([500, 0, 1000, 250], { convention: "qwen2-vl", size: { width: 64, height: 48 } })).toEqual([
      32, 0, 64, 12,
    ]);
    expect(p2.every((p) => p.problem === undefined)).toBe(true);
  });

  it("reads boxes without their special tokens (skip_special_tokens=True) and with any spacing", () => {
    expect(parseBoxes("red circle(93,125),(437,468)", q2)[0]?.numbers).toEqual([93, 125, 437, 468]);
    // what a word-level tokenizer decodes, and what real Qwen outputs look like
    expect(parseBoxes("<|box_start|> ( 93, 125 ),( 437, 468 ) <|box_end|>", q2)[0]?.numbers).toEqual([
      93, 125, 437, 468,
    ]);
    expect(parseBoxes("(1769, 1013), (1778, 1027)", q2)[0]?.numbers).toEqual([1769, 1013, 1778, 1027]);
    expect(parseBoxes('{" bbox_2d ": [ 3, 4, 14, 15 ]," label ": " red circle "}', q25)[0]).toMatchObject({
      numbers: [3, 4, 14, 15],
      label: "red circle",
    });
    expect(parseBoxes("[3,\n4,\t14,15]", q25)[0]?.numbers).toEqual([3, 4, 14, 15]);
  });

  it("each convention reads only its own syntax", () => {
    expect(parseBoxes("[3, 4, 14, 15]", q2)).toEqual([]);
    expect(parseBoxes("(3,4),(14,15)", q25)).toEqual([]);
  });

  it("malformed boxes: a missing number is no box; inverted, empty and outside boxes are marked", () => {
    expect(parseBoxes("(93,125),(437)", q2)).toEqual([]);
    expect(parseBoxes("(93,125),(,468)", q2)).toEqual([]);
    expect(parseBoxes("[3, 4, 14]", q25)).toEqual([]);
    expect(parseBoxes("[3, 4, , 15]", q25)).toEqual([]);
    expect(parseBoxes("[14, 4, 3, 15]", q25)[0]?.problem).toBe("inverted");
    expect(parseBoxes("(437,125),(93,468)", q2)[0]?.problem).toBe("inverted");
    expect(parseBoxes("[3, 4, 3, 15]", q25)[0]?.problem).toBe("empty");
    expect(parseBoxes("[-2, 4, 14, 15]", q25)[0]).toMatchObject({ numbers: [-2, 4, 14, 15], problem: "outside" });
    expect(parseBoxes("[3, 4, 14, 33]", q25)[0]?.problem).toBe("outside"); // the image is 32 high
    expect(parseBoxes("(0,0),(1200,500)", q2)[0]?.problem).toBe("outside"); // past the 1000 grid
    expect(parseBoxes("[3.5, 4, 14.25, 15]", q25)[0]?.box).toEqual([3.5, 4, 14.25, 15]);
  });

  it("several boxes in one answer, with their labels and confidences", () => {
    const text =
      "<|object_ref_start|>green circle<|object_ref_end|><|box_start|>(0,0),(500,500)<|box_end|> and " +
      "<|object_ref_start|>green star<|object_ref_end|><|box_start|>(500,500),(1000,1000)<|box_end|>";
    expect(parseBoxes(text, q2).map((p) => [p.label, p.box])).toEqual([
      ["green circle", [0, 0, 16, 16]],
      ["green star", [16, 16, 32, 32]],
    ]);
    // Visual-RFT's answer list: 'Position' lists read as boxes, 'Confidence' beside each
    const vrft =
      "[{'Position': [1, 2, 10, 12], 'Confidence': 0.9}, {'Position': [20, 20, 30, 30], 'Confidence': 0.25}]";
    expect(parseBoxes(vrft, q25).map((p) => [p.box, p.confidence])).toEqual([
      [[1, 2, 10, 12], 0.9],
      [[20, 20, 30, 30], 0.25],
    ]);
    // a label or confidence belongs to its own object only
    const json =
      '[{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6, 7, 8]}, {"label": "c", "bbox_2d": [9, 9, 12, 12]}]';
    expect(parseBoxes(json, q25).map((p) => p.label)).toEqual(["a", undefined, "c"]);
  });

  it("never throws: non-text, huge text, bad options give []", () => {
    for (const x of [null, undefined, 3, {}, [1, 2, 3, 4], "(".repeat(100000), "[1,".repeat(50000)])
      expect(parseBoxes(x, q2)).toEqual([]);
    expect(parseBoxes("[1, 2, 3, 4]", { convention: "nope" as never, size: size32 })).toEqual([]);
    expect(parseBoxes("[1, 2, 3, 4]", { convention: "qwen2.5-vl", size: { width: -1, height: 2 } })).toEqual([]);
  });

  it("long adversarial text parses in linear time", () => {
    const s = "( 1 , 2 ) , ( 3 ".repeat(20000) + "[ 1 , 2 , 3 ".repeat(20000);
    const t0 = performance.now();
    parseBoxes(s, q2);
    parseBoxes(s, q25);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("answerBox: VLM-R1's regex, or a convention", () => {
  it("VLM-R1's integer regex misses a decoded '[ 3, 4, 14, 15 ]'; the convention's parser reads it", () => {
    const c = "<think>t</think><answer>[ 3, 4, 14, 15 ]</answer>";
    expect(extractBox(c)).toBe(null);
    expect(answerBox(c, q25)).toEqual([3, 4, 14, 15]);
    expect(answerBox("<answer>(93,125),(437,468)</answer>", q2)).toEqual([2.976, 4, 13.984, 14.976]);
    expect(answerBox("(93,125),(437,468)", q2)).toBe(null); // outside <answer>
    expect(answerBox("<answer>none</answer>", q2)).toBe(null);
  });
});
