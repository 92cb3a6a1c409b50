/**
 * Labels as RL engines send them, read into what a reward takes.
 *
 * OpenRLHF passes `data[label_key]` through unchanged (a string, a number, a list, an object); verl's
 * `reward_model.ground_truth` is conventionally a string; TRL passes the dataset column. So a box may
 * arrive as `[1, 2, 3, 4]` or as the string `"[1, 2, 3, 4]"`, an answer as `3` or `"<answer> 3 </answer>"`.
 * Each reader returns the value, or a string saying why the label is unusable (the item then scores 0
 * and is reported, never an exception).
 *
 * An object label may carry the value under a conventional name (`solution`, `answer`, `label`,
 * `ground_truth`; for boxes also `box` / `bbox`, `boxes`), beside fields used for routing (`data_source`).
 */
import { extractAnswer } from "../answer.js";
import { toBox, type Box } from "../iou.js";

/** A reason the label cannot be read. */
export type LabelError = { error: string };

const TEXT_FIELDS = ["solution", "answer", "label", "ground_truth"];

/** A JSON object (not null, not an array). */
export const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/** The first of `fields` present in an object label. */
function field(label: Record<string, unknown>, fields: readonly string[]): unknown {
  for (const f of fields) if (f in label) return label[f];
  return undefined;
}

/** A text answer: a string, a finite number (as text), or an object's `solution`/`answer`/… holding one. */
export function textLabel(label: unknown): string | LabelError {
  const v = isRecord(label) ? field(label, TEXT_FIELDS) : label;
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return { error: `label must be a string or a number${isRecord(label) ? ` (in ${TEXT_FIELDS.join("/")})` : ""}` };
}

/**
 * JSON inside a string label, read leniently the way Visual-RFT reads its answers: an `<answer>` span is
 * unwrapped and single quotes become double quotes. Anything that is not a string is returned as is.
 */
function jsonish(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = (extractAnswer(v) ?? v).trim();
  try {
    return JSON.parse(t);
  } catch {
    try {
      return JSON.parse(t.replaceAll("'", '"'));
    } catch {
      return undefined;
    }
  }
}

export interface BoxLabel {
  box: Box;
  /** VLM-R1's rescaling (since 2025-06-26): the model's input size and the image's, both [width, height]. */
  rescale?: { inputSize: [number, number]; imageSize: [number, number] };
}

function size(v: unknown): [number, number] | null {
  if (!Array.isArray(v) || v.length !== 2) return null;
  const [w, h] = v as unknown[];
  return typeof w === "number" && typeof h === "number" && w > 0 && h > 0 ? [w, h] : null;
}

/**
 * One box [x1, y1, x2, y2]: an array, a string holding one, or an object with `box`/`bbox`/`solution` and
 * optionally `input_size` and `image_size` ([width, height] each) for VLM-R1's rescaling.
 */
export function boxLabel(label: unknown): BoxLabel | LabelError {
  const v = isRecord(label) ? field(label, ["box", "bbox", "solution", "answer", "ground_truth"]) : label;
  const box = toBox(jsonish(v));
  if (!box) return { error: "label must be a box [x1, y1, x2, y2] of four finite numbers" };
  if (!isRecord(label) || (!("input_size" in label) && !("image_size" in label))) return { box };
  const inputSize = size(label["input_size"]);
  const imageSize = size(label["image_size"]);
  if (!inputSize || !imageSize) return { error: "input_size and image_size must both be [width, height] > 0" };
  return { box, rescale: { inputSize, imageSize } };
}

/**
 * Ground-truth boxes for detection: a list of boxes, or of Visual-RFT's `{"Position": [x1, y1, x2, y2], …}`
 * items, as an array, a string holding one, or an object's `boxes`/`solution`. An empty list is valid.
 */
export function boxesLabel(label: unknown): Box[] | LabelError {
  const v = isRecord(label) ? field(label, ["boxes", "bboxes", "solution", "answer", "ground_truth"]) : label;
  const list = jsonish(v);
  if (!Array.isArray(list)) return { error: "label must be a list of boxes [x1, y1, x2, y2]" };
  const boxes: Box[] = [];
  for (const [i, item] of list.entries()) {
    const box = toBox(isRecord(item) ? item["Position"] : item);
    if (!box) return { error: `label box ${i} is not [x1, y1, x2, y2] of four finite numbers` };
    boxes.push(box);
  }
  return boxes;
}

export const isLabelError = (x: unknown): x is LabelError => isRecord(x) && typeof x["error"] === "string";
