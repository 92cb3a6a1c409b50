/**
 * Boxes as text, the way the Qwen-VL family writes them, and back: the formatter that writes training answers and
 * the parser the grounding rewards read completions with. One convention per model family:
 *
 *   "qwen2-vl"    <|object_ref_start|>red circle<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>
 *                 corners on a 0–1000 grid; several boxes follow one another
 *   "qwen2.5-vl"  [{"bbox_2d": [x1, y1, x2, y2], "label": "red circle"}]
 *                 a JSON list, one object per box; corners in pixels of the model's input image
 *
 * Qwen2-VL inherits Qwen-VL's grounding text (Bai et al. 2023, "Qwen-VL", sec. 2.2: corners as
 * "(X_topleft,Y_topleft),(X_bottomright,Y_bottomright)", normalised to [0, 1000), the referred phrase in ref tags),
 * with the tags renamed to the special tokens `<|object_ref_start|>`, `<|object_ref_end|>`, `<|box_start|>`,
 * `<|box_end|>` of its tokenizer; several boxes follow one another. The grid value of a pixel coordinate is
 * int(x / W · 1000) (ms-swift's `normalize_bbox`, "norm1000", which its Qwen2-VL template uses), so it reads back
 * as v · W / 1000. Qwen2.5-VL dropped the special tokens for grounding and writes absolute pixel coordinates of its
 * input image in JSON with `bbox_2d` and `label` keys (Qwen2.5-VL Technical Report, Bai et al. 2025, on absolute
 * coordinates; the maintainers in QwenLM/Qwen3-VL#733: "Qwen2.5-VL does not use special tokens for grounding").
 *
 * Parsing is what a reward needs from a sampled completion:
 * - every complete box of the convention's syntax is found, in order; whitespace is allowed around every number,
 *   comma and bracket (real outputs vary: "(1769, 1013), (1778, 1027)"; a word-level tokenizer decodes
 *   "[3,4,14,15]" as "[ 3, 4, 14, 15 ]");
 * - the markers are optional: R1-V and its variants decode completions with `skip_special_tokens=True`, which
 *   removes Qwen2-VL's `<|box_start|>` and `<|box_end|>` from the text the reward sees;
 * - a box with a missing number is not a box (not returned); numbers may be signed decimals, so a box partly
 *   outside the image is returned, marked `problem: "outside"`; x2 < x1 or y2 < y1 is marked "inverted", a box of
 *   zero width or height "empty" (the IoU of such a box is 0);
 * - a label (the ref text before a Qwen2-VL box, the "label" of a Qwen2.5-VL object) and a confidence (a
 *   "confidence" key in the same JSON object, any case, as Visual-RFT's `'Confidence'`) are read when present.
 * Garbage in gives no boxes; nothing here throws on a completion.
 */
import { PY_SPACE, asText } from "./text.js";

/** [x1, y1, x2, y2]: top-left and bottom-right corners, x2 > x1 and y2 > y1 for a proper box. */
export type Box = readonly [number, number, number, number];

export type BoxConvention = "qwen2-vl" | "qwen2.5-vl";
export const BOX_CONVENTIONS: readonly BoxConvention[] = ["qwen2-vl", "qwen2.5-vl"];

/** Qwen2-VL's grounding tokens, in its tokenizer's order (ids 151646–151649 in Qwen2-VL's vocabulary). */
export const QWEN2_VL_BOX_TOKENS = ["<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>"];
const [REF_START = "", REF_END = "", BOX_START = "", BOX_END = ""] = QWEN2_VL_BOX_TOKENS;

/** The model input image's size in pixels (what Qwen2.5-VL's pixel numbers and the 0–1000 grid refer to). */
export interface ImageSize {
  width: number;
  height: number;
}

/** How boxes are written: the convention and the image they are in. */
export interface BoxTextOptions {
  convention: BoxConvention;
  size: ImageSize;
}

/** The side of Qwen2-VL's grid. */
export const QWEN2_VL_GRID = 1000;

function checkOptions(opts: BoxTextOptions, fn: string): void {
  if (!BOX_CONVENTIONS.includes(opts.convention))
    throw new RangeError(`${fn}: unknown box convention "${opts.convention}" (one of ${BOX_CONVENTIONS.join(", ")})`);
  const { width, height } = opts.size;
  if (!(width > 0 && height > 0 && Number.isFinite(width) && Number.isFinite(height)))
    throw new RangeError(`${fn}: image size must be two positive numbers, got ${width}×${height}`);
}

/** A pixel box as the convention's integers: the 0–1000 grid (int(x / W · 1000)) or rounded pixels. */
export function boxToText(box: Box, opts: BoxTextOptions): [number, number, number, number] {
  checkOptions(opts, "boxToText");
  const { width: W, height: H } = opts.size;
  if (!box.every(Number.isFinite)) throw new RangeError(`boxToText: box [${box.join(", ")}] is not four numbers`);
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  if (opts.convention === "qwen2-vl") {
    const g = (v: number, side: number) => clamp(Math.trunc((v / side) * QWEN2_VL_GRID), QWEN2_VL_GRID);
    return [g(box[0], W), g(box[1], H), g(box[2], W), g(box[3], H)];
  }
  return [
    clamp(Math.round(box[0]), W),
    clamp(Math.round(box[1]), H),
    clamp(Math.round(box[2]), W),
    clamp(Math.round(box[3]), H),
  ];
}

/** The convention's numbers back in pixels (v · W / 1000 on Qwen2-VL's grid; pixels as they are). */
export function boxFromText(numbers: readonly [number, number, number, number], opts: BoxTextOptions): Box {
  const { width: W, height: H } = opts.size;
  if (opts.convention === "qwen2.5-vl") return [numbers[0], numbers[1], numbers[2], numbers[3]];
  const s = (v: number, side: number) => (v * side) / QWEN2_VL_GRID;
  return [s(numbers[0], W), s(numbers[1], H), s(numbers[2], W), s(numbers[3], H)];
}

/** One box to write: pixels, and optionally the phrase it belongs to. */
export interface LabelledBox {
  box: Box;
  label?: string;
}

/**
 * Boxes (pixels) as the convention writes them: Qwen2-VL's ref + box tokens one after another, or Qwen2.5-VL's JSON
 * list (`[]` for none; Qwen2-VL has no text for "no box", so none gives ""). Labels must not contain the
 * convention's delimiters.
 */
export function formatBoxes(items: readonly LabelledBox[], opts: BoxTextOptions): string {
  checkOptions(opts, "formatBoxes");
  if (opts.convention === "qwen2-vl") {
    return items
      .map(({ box, label }) => {
        const [a, b, c, d] = boxToText(box, opts);
        const ref = label === undefined ? "" : `${REF_START}${checkLabel(label, ["<|"])}${REF_END}`;
        return `${ref}${BOX_START}(${a},${b}),(${c},${d})${BOX_END}`;
      })
      .join("");
  }
  const objects = items.map(({ box, label }) => {
    const n = boxToText(box, opts);
    // json.dumps spacing (", " and ": "), as Python writes the training answers
    return `{"bbox_2d": [${n.join(", ")}]${label === undefined ? "" : `, "label": ${JSON.stringify(label)}`}}`;
  });
  return `[${objects.join(", ")}]`;
}

function checkLabel(label: string, forbidden: readonly string[]): string {
  for (const f of forbidden)
    if (label.includes(f)) throw new RangeError(`formatBoxes: label ${JSON.stringify(label)} contains "${f}"`);
  return label;
}

/** A box read from text. */
export interface ParsedBox {
  /** In pixels (converted from the convention's numbers). */
  box: Box;
  /** The numbers as written. */
  numbers: [number, number, number, number];
  /** The phrase the box belongs to, when the text names one. */
  label?: string;
  /** A confidence stated next to the box (a "confidence" key in the same JSON object). */
  confidence?: number;
  /** Why the box is not a proper box inside the image, if it is not. */
  problem?: "inverted" | "empty" | "outside";
}

const S = `[${PY_SPACE}]*`;
const NUM = "([+-]?\\d+(?:\\.\\d+)?)";
// (x1,y1),(x2,y2): no nested quantifiers and no overlap between spaces and numbers, so matching is linear.
const PAIRS = new RegExp(`\\(${S}${NUM}${S},${S}${NUM}${S}\\)${S},${S}\\(${S}${NUM}${S},${S}${NUM}${S}\\)`, "g");
// [x1, y1, x2, y2]
const LIST4 = new RegExp(`\\[${S}${NUM}${S},${S}${NUM}${S},${S}${NUM}${S},${S}${NUM}${S}\\]`, "g");
// A key may carry spaces inside its quotes (`" label "`, as a word-level tokenizer decodes `"label"`).
const LABEL = new RegExp(`["']${S}label${S}["']${S}:${S}"([^"]*)"`, "i");
const CONFIDENCE = new RegExp(`["']?${S}confidence${S}["']?${S}:${S}${NUM}(?![\\d.])`, "i");

/**
 * Every box the text writes in the convention's syntax, in order, converted to pixels (see the file comment for
 * what counts as a box and how problems are marked). Never throws: anything that is not text gives [].
 */
export function parseBoxes(text: unknown, opts: BoxTextOptions): ParsedBox[] {
  try {
    checkOptions(opts, "parseBoxes");
    const s = asText(text);
    if (s === null) return [];
    const re = opts.convention === "qwen2-vl" ? PAIRS : LIST4;
    const matches = [...s.matchAll(re)];
    return matches.flatMap((m, k) => {
      const numbers = m.slice(1, 5).map(Number) as [number, number, number, number];
      if (numbers.length !== 4 || !numbers.every(Number.isFinite)) return [];
      const start = m.index ?? 0;
      const end = start + m[0].length;
      const prevEnd = k > 0 ? (matches[k - 1]?.index ?? 0) + (matches[k - 1]?.[0].length ?? 0) : 0;
      const nextStart = matches[k + 1]?.index ?? s.length;
      const out: ParsedBox = { box: boxFromText(numbers, opts), numbers };
      const extra =
        opts.convention === "qwen2-vl"
          ? { label: refBefore(s.slice(prevEnd, start)) }
          : enclosingObject(s.slice(prevEnd, start), s.slice(end, nextStart));
      if (extra.label !== undefined) out.label = extra.label;
      if ("confidence" in extra && extra.confidence !== undefined) out.confidence = extra.confidence;
      const problem = boxProblem(numbers, opts);
      if (problem) out.problem = problem;
      return [out];
    });
  } catch {
    return [];
  }
}

/** The text of the last `<|object_ref_start|>…<|object_ref_end|>` in the text before a Qwen2-VL box. */
function refBefore(before: string): string | undefined {
  const open = before.lastIndexOf(REF_START);
  if (open < 0) return undefined;
  const close = before.indexOf(REF_END, open);
  return close < 0 ? undefined : before.slice(open + REF_START.length, close).trim();
}

/** The label and confidence of the JSON object around a Qwen2.5-VL box: from its last `{` before to its first `}`. */
function enclosingObject(before: string, after: string): { label?: string; confidence?: number } {
  const open = before.lastIndexOf("{");
  const close = after.indexOf("}");
  const inside = (open >= 0 ? before.slice(open) : "") + " " + (close >= 0 ? after.slice(0, close) : "");
  const label = LABEL.exec(inside)?.[1]?.trim();
  const c = CONFIDENCE.exec(inside)?.[1];
  const confidence = c === undefined ? undefined : Number(c);
  return {
    ...(label !== undefined && { label }),
    ...(confidence !== undefined && Number.isFinite(confidence) && { confidence }),
  };
}

function boxProblem(n: readonly [number, number, number, number], opts: BoxTextOptions): ParsedBox["problem"] {
  const [x1, y1, x2, y2] = n;
  if (x2 < x1 || y2 < y1) return "inverted";
  if (x2 === x1 || y2 === y1) return "empty";
  const [W, H] = opts.convention === "qwen2-vl" ? [QWEN2_VL_GRID, QWEN2_VL_GRID] : [opts.size.width, opts.size.height];
  if (Math.min(x1, y1) < 0 || x2 > W || y2 > H) return "outside";
  return undefined;
}
