/**
 * One vlab task record, the thing every engine's data file is written from (formats.ts, parquet.ts):
 *
 *   images   absolute paths of PNG files, in the order the prompt shows them
 *   prompt   the user's text, without any image placeholder (each format puts its own: OpenRLHF's and verl's
 *            `<image>` once per image before the text, lmm-r1's image parts, none for TRL, which adds the images)
 *   answer   the ground truth as a string ("3", "[3,4,14,15]"): verl asks for `reward_model.ground_truth` as a string
 *   question the question alone, before the task's instruction template (verl's `extra_info.question`)
 *   meta     what else a reward or an analysis needs (verl's `extra_info`, TRL's extra columns): strings, numbers and
 *            booleans, each field of one type across the task
 *
 * A task is its records plus a name (verl's `data_source` is `vlab/<name>`), the split and verl's `ability`.
 */

export type MetaValue = string | number | boolean;

export interface TaskRecord {
  images: string[];
  prompt: string;
  answer: string;
  meta: Record<string, MetaValue>;
  /** The question before the task's instructions were added (verl's `extra_info.question`; default: the prompt). */
  question?: string;
}

export interface TaskData {
  /** Letters, digits, `_`, `-`, `.` (verl's data_source is `vlab/<task>`). */
  task: string;
  split: string;
  /** verl's `ability` column ("counting", "grounding", …). */
  ability: string;
  records: TaskRecord[];
}

/** Column names the formats write themselves; a meta field may not take one (TRL puts meta fields beside them). */
export const RESERVED_FIELDS = ["prompt", "image", "images", "solution", "split", "index", "answer", "question"];

/** The placeholder OpenRLHF's and verl's prompts carry for each image. */
export const IMAGE_TOKEN = "<image>";

/** The kind of a meta value, for "a string on line 1 but a number on line 3". */
export function metaKind(v: unknown): "string" | "number" | "boolean" | undefined {
  if (typeof v === "string") return "string";
  if (typeof v === "number" && Number.isFinite(v)) return "number";
  if (typeof v === "boolean") return "boolean";
  return undefined;
}

/** Checks a task before it is written: a name, records with images, strings, meta fields of one kind each. */
export function checkTaskData(data: TaskData): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(data.task))
    throw new Error(`export: task name ${JSON.stringify(data.task)} must be letters, digits, "_", "-" or "."`);
  if (data.records.length === 0) throw new Error(`export: task "${data.task}" has no records`);
  const kinds = new Map<string, string>();
  data.records.forEach((r, i) => {
    const at = `export: task "${data.task}", record ${i}`;
    if (r.images.length === 0) throw new Error(`${at}: no image`);
    if (r.images.some((p) => !p.startsWith("/"))) throw new Error(`${at}: image paths must be absolute`);
    if (r.prompt.includes(IMAGE_TOKEN))
      throw new Error(`${at}: the prompt holds "${IMAGE_TOKEN}"; give the text alone (each format places its own)`);
    for (const [k, v] of Object.entries(r.meta)) {
      if (RESERVED_FIELDS.includes(k)) throw new Error(`${at}: meta field "${k}" is a name the formats use`);
      const kind = metaKind(v);
      if (kind === undefined) throw new Error(`${at}: meta field "${k}" is not a string, number or boolean`);
      const seen = kinds.get(k);
      if (seen !== undefined && seen !== kind)
        throw new Error(`${at}: meta field "${k}" is a ${kind}, earlier a ${seen}`);
      kinds.set(k, kind);
    }
  });
}
