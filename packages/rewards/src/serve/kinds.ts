/**
 * The rewards the service offers, by name, each a weighted sum of parts from this package:
 *
 *   reward = Σ_k w_k · part_k        score = the 0–1 "correct" part (OpenRLHF's dynamic filtering)
 *
 * | name               | parts (default weights)                       | score    | label                |
 * |--------------------|-----------------------------------------------|----------|----------------------|
 * | `r1v`              | accuracy (1), format (1)                      | accuracy | answer text          |
 * | `lmm-r1`           | accuracy (1), format (0.5), on the stripped response | accuracy | answer (`$\boxed{60}$`) |
 * | `vlm-r1-rec`       | iou (1), format (1, VLM-R1's REC format)       | iou      | one box              |
 * | `visual-rft-det`   | iou (1), confidence (1), format (1)            | iou      | list of boxes        |
 * | `visual-rft-cls`   | accuracy (1), format (1)                      | accuracy | class name           |
 * | `visualthinker-mc` | accuracy (1), format (1), length (0)          | accuracy | option text / letter |
 *
 * Sources: R1-V src/r1-v/src/open_r1/grpo.py (accuracy + format, summed); lmm-r1
 * openrlhf/models/remote_rm/math_verifier.py (0.5 · format + accuracy); VLM-R1 grpo_rec.py and
 * vlm_modules/qwen_module.py (IoU, REC format); Visual-RFT src/virft/src/open_r1/grpo.py and
 * grpo_classification.py; VisualThinker-R1-Zero src/open-r1-multimodal/src/open_r1/grpo.py (accuracy with
 * the letter fallback, format, length). Each kind's options map onto the library call's options (the box rewards
 * also read Qwen2-VL's or Qwen2.5-VL's box text with `boxText`, `width`, `height`); `weights`
 * overrides any default weight (`{"format": 0}` drops the format part, as lmm-r1's `--disable-format-reward`).
 */
import { accuracyReward, type AccuracyMode } from "../accuracy.js";
import { BOX_CONVENTIONS, type BoxConvention, type BoxTextOptions } from "../box_text.js";
import { boxedAccuracyReward } from "../boxed.js";
import { multipleChoiceReward } from "../choice.js";
import { FORMAT_VARIANTS, formatReward, type FormatVariant } from "../format.js";
import { iouReward } from "../iou.js";
import { lengthReward } from "../length.js";
import { pyStrip } from "../text.js";
import { visualRftClassificationReward, visualRftDetectionReward } from "../visual_rft.js";
import { boxLabel, boxesLabel, isLabelError, isRecord, textLabel, type LabelError } from "./labels.js";

type OptionSpec =
  | { type: "enum"; values: readonly string[]; default: string }
  | { type: "boolean"; default: boolean }
  | { type: "number"; min: number; max: number; default: number };

/** Options after validation: every declared option has a value. */
export type ResolvedOptions = Record<string, string | number | boolean>;

export interface RewardKind {
  name: string;
  /** One line: what it reproduces. */
  description: string;
  options: Readonly<Record<string, OptionSpec>>;
  /** Part names, in the order `compute` returns them. */
  parts: readonly string[];
  /** Default weight of each part. */
  weights: Readonly<Record<string, number>>;
  /** The part reported as `scores`. */
  score: string;
  /** The parts of one response, or why its label is unusable. */
  compute(response: string, label: unknown, o: ResolvedOptions): number[] | LabelError;
}

const str = (o: ResolvedOptions, k: string) => String(o[k]);
const withText = (label: unknown, f: (t: string) => number[]) => {
  const t = textLabel(label);
  return isLabelError(t) ? t : f(t);
};

/**
 * How the answer writes its boxes: "answer" (each reward's own reader, as its project's code), or a Qwen model
 * family's text (box_text.ts: Qwen2-VL's `(x1,y1),(x2,y2)` on the 0–1000 grid, Qwen2.5-VL's pixel JSON) in an image
 * of `width` × `height` pixels, the size the label's boxes are in.
 */
const BOX_TEXT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  boxText: { type: "enum", values: ["answer", ...BOX_CONVENTIONS], default: "answer" },
  width: { type: "number", min: 1, max: 1e5, default: 1000 },
  height: { type: "number", min: 1, max: 1e5, default: 1000 },
};
const boxText = (o: ResolvedOptions): { boxes?: BoxTextOptions } =>
  o["boxText"] === "answer"
    ? {}
    : {
        boxes: {
          convention: str(o, "boxText") as BoxConvention,
          size: { width: Number(o["width"]), height: Number(o["height"]) },
        },
      };

const KINDS: readonly RewardKind[] = [
  {
    name: "r1v",
    description: "R1-V: accuracy + format (full match, DOTALL); accuracy 'answer' is vlab's checker, 'r1v' R1-V's own",
    options: {
      accuracy: { type: "enum", values: ["answer", "r1v", "visualthinker"], default: "answer" },
      format: { type: "enum", values: Object.keys(FORMAT_VARIANTS), default: "r1v" },
      thinkPrefilled: { type: "boolean", default: false },
    },
    parts: ["accuracy", "format"],
    weights: { accuracy: 1, format: 1 },
    score: "accuracy",
    compute: (r, label, o) =>
      withText(label, (t) => [
        accuracyReward(r, t, { mode: str(o, "accuracy") as AccuracyMode }),
        formatReward(r, { variant: str(o, "format") as FormatVariant, thinkPrefilled: o["thinkPrefilled"] === true }),
      ]),
  },
  {
    name: "lmm-r1",
    description: "lmm-r1: 0.5 · format (no space between blocks) + boxed accuracy, on the stripped response",
    options: {},
    parts: ["accuracy", "format"],
    weights: { accuracy: 1, format: 0.5 },
    score: "accuracy",
    compute: (r, label) => {
      const s = pyStrip(r); // math_verifier.py: get_response_from_query(...).strip()
      return withText(label, (t) => [boxedAccuracyReward(s, t), formatReward(s, { variant: "lmm-r1" })]);
    },
  },
  {
    name: "vlm-r1-rec",
    description: "VLM-R1 REC: IoU of the answered box (continuous, or > 0.5 as 0/1) + REC format",
    options: {
      rule: { type: "enum", values: ["continuous", "threshold"], default: "continuous" },
      convention: { type: "enum", values: ["vlm-r1", "plain"], default: "vlm-r1" },
      ...BOX_TEXT_OPTIONS,
    },
    parts: ["iou", "format"],
    weights: { iou: 1, format: 1 },
    score: "iou",
    compute: (r, label, o) => {
      const b = boxLabel(label);
      if (isLabelError(b)) return b;
      const rule = str(o, "rule") as "continuous" | "threshold";
      const convention = str(o, "convention") as "vlm-r1" | "plain";
      return [
        iouReward(r, b.box, { rule, convention, rescale: b.rescale, ...boxText(o) }),
        formatReward(r, { variant: "vlm-r1-rec" }),
      ];
    },
  },
  {
    name: "visual-rft-det",
    description: "Visual-RFT detection: R_IoU + R_conf + format over [{'Position': …, 'Confidence': …}] answers",
    options: {
      iouThreshold: { type: "number", min: 0, max: 1, default: 0.5 },
      rewardEmpty: { type: "boolean", default: false },
      ...BOX_TEXT_OPTIONS,
    },
    parts: ["iou", "confidence", "format"],
    weights: { iou: 1, confidence: 1, format: 1 },
    score: "iou",
    compute: (r, label, o) => {
      const boxes = boxesLabel(label);
      if (isLabelError(boxes)) return boxes;
      const iouThreshold = Number(o["iouThreshold"]);
      const d = visualRftDetectionReward(r, boxes, {
        iouThreshold,
        rewardEmpty: o["rewardEmpty"] === true,
        ...boxText(o),
      });
      return [d.iou, d.confidence, d.format];
    },
  },
  {
    name: "visual-rft-cls",
    description: "Visual-RFT classification: either normalised name contains the other, + format",
    options: { faithful: { type: "boolean", default: false } },
    parts: ["accuracy", "format"],
    weights: { accuracy: 1, format: 1 },
    score: "accuracy",
    compute: (r, label, o) =>
      withText(label, (t) => [
        visualRftClassificationReward(r, t, { faithful: o["faithful"] === true }),
        formatReward(r),
      ]),
  },
  {
    name: "visualthinker-mc",
    description: "VisualThinker-R1-Zero: R1-V accuracy with the A–H letter fallback ('choice': letters only) + format",
    options: {
      accuracy: { type: "enum", values: ["visualthinker", "choice"], default: "visualthinker" },
      thinkPrefilled: { type: "boolean", default: false },
    },
    parts: ["accuracy", "format", "length"],
    weights: { accuracy: 1, format: 1, length: 0 },
    score: "accuracy",
    compute: (r, label, o) =>
      withText(label, (t) => [
        o["accuracy"] === "choice" ? multipleChoiceReward(r, t) : accuracyReward(r, t, { mode: "visualthinker" }),
        formatReward(r, { thinkPrefilled: o["thinkPrefilled"] === true }),
        lengthReward(r),
      ]),
  },
];

const BY_NAME = new Map(KINDS.map((k) => [k.name, k]));

/** The reward names, in table order. */
export const REWARD_NAMES: readonly string[] = KINDS.map((k) => k.name);

export function rewardKind(name: string): RewardKind | undefined {
  return BY_NAME.get(name);
}

/** A reward with its options resolved: what scores one item. */
export interface RewardChoice {
  kind: RewardKind;
  options: ResolvedOptions;
  /** Weight of each part, in `kind.parts` order. */
  weights: number[];
}

/**
 * A reward choice from its JSON form: `"r1v"`, or `{"reward": "vlm-r1-rec", "options": {"rule": "threshold"}}`
 * (`name` is accepted for `reward`; `weights` sits inside `options`). Throws an Error naming `where` and the
 * offending option.
 */
export function resolveReward(spec: unknown, where: string): RewardChoice {
  const name = typeof spec === "string" ? spec : isRecord(spec) ? (spec["reward"] ?? spec["name"]) : undefined;
  if (typeof name !== "string") throw new Error(`${where}: give a reward name or {"reward": name, "options": {…}}`);
  const kind = BY_NAME.get(name);
  if (!kind) throw new Error(`${where}: unknown reward ${JSON.stringify(name)} (known: ${REWARD_NAMES.join(", ")})`);
  const raw = isRecord(spec) ? (spec["options"] ?? {}) : {};
  if (!isRecord(raw)) throw new Error(`${where}: options must be an object`);
  const options: ResolvedOptions = {};
  for (const [key, o] of Object.entries(kind.options)) options[key] = o.default;
  const weights = kind.parts.map((p) => kind.weights[p] ?? 1);
  for (const [key, value] of Object.entries(raw)) {
    if (key === "weights") {
      if (!isRecord(value)) throw new Error(`${where}: options.weights must be an object {part: number}`);
      for (const [part, w] of Object.entries(value)) {
        const i = kind.parts.indexOf(part);
        if (i < 0) throw new Error(`${where}: ${name} has no part ${JSON.stringify(part)} (${kind.parts.join(", ")})`);
        if (typeof w !== "number" || !Number.isFinite(w))
          throw new Error(`${where}: weight of ${part} must be a number`);
        weights[i] = w;
      }
      continue;
    }
    const o = kind.options[key];
    if (!o) {
      const known = [...Object.keys(kind.options), "weights"].join(", ");
      throw new Error(`${where}: ${name} has no option ${JSON.stringify(key)} (known: ${known})`);
    }
    options[key] = checkOption(o, value, `${where}: ${name} option ${key}`);
  }
  return { kind, options, weights };
}

function checkOption(o: OptionSpec, v: unknown, where: string): string | number | boolean {
  if (o.type === "enum") {
    if (typeof v === "string" && o.values.includes(v)) return v;
    throw new Error(`${where} must be one of ${o.values.join(", ")}`);
  }
  if (o.type === "boolean") {
    if (typeof v === "boolean") return v;
    throw new Error(`${where} must be true or false`);
  }
  if (typeof v === "number" && v >= o.min && v <= o.max) return v;
  throw new Error(`${where} must be a number in [${o.min}, ${o.max}]`);
}
