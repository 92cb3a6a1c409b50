/**
 * `vlab export data | hf`: vlab's task data and models in the formats of the distributed RL engines.
 *
 *   vlab export data <counting|grounding|file.jsonl> <dir> [--n N] [--seed S] [--split NAME] [--size PX] [--ood]
 *                    [--name TASK] [--formats openrlhf,lmm-r1,verl,trl]
 *       a shapes-world task (@vlab/data `shapesTask`) or a user's JSONL (`jsonlTask`) as OpenRLHF JSONL, lmm-r1
 *       JSONL, verl parquet and TRL JSONL beside PNG images (`writeTaskData`)
 *   vlab export hf <checkpoint> <dir> [--config FILE] [--tokenizer FILE] [--max-shard-size SIZE]
 *                  [--dtype F32|BF16|F16] [--system-prompt TEXT]
 *       a vlab language model or Qwen2-VL as a Hugging Face folder (@vlab/vlm `exportCheckpointHf`)
 *
 * Usage errors print the usage and give 2; a failed export (bad data, bad checkpoint) gives 1 with its reason.
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { integerOption, runSubcommands, Usage } from "./subcommands.js";

const DATA =
  "vlab export data <counting|grounding|file.jsonl> <dir> [--n N] [--seed S] [--split NAME] [--size PX] [--ood] " +
  "[--name TASK] [--formats openrlhf,lmm-r1,verl,trl]";
const HF =
  "vlab export hf <checkpoint> <dir> [--config FILE] [--tokenizer FILE] [--max-shard-size SIZE] " +
  "[--dtype F32|BF16|F16] [--system-prompt TEXT]";

export const EXPORT_USAGE = `usage:
  ${DATA}
      task data for OpenRLHF, lmm-r1, verl and TRL, images as PNG files
      (defaults: --n 1000 --seed 0 --split train --size 224, every format)
  ${HF}
      a vlab model folder (config.json + model.safetensors + tokenizer.json), or a training checkpoint with
      --config, as a Hugging Face folder (defaults: F32, shards past 5GB)`;

export async function exportCommand(args: string[]): Promise<number> {
  return runSubcommands("export", EXPORT_USAGE, args, { data: exportData, hf: exportHf });
}

async function exportData(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      n: { type: "string" },
      seed: { type: "string" },
      split: { type: "string", default: "train" },
      size: { type: "string" },
      ood: { type: "boolean", default: false },
      name: { type: "string" },
      formats: { type: "string" },
    },
  });
  const [source, out, ...extra] = positionals;
  if (source === undefined || out === undefined || extra.length)
    throw new Usage("vlab export data: give a task (counting, grounding) or a .jsonl file, and an output folder");
  const data = await import("@vlab/data");
  const formats = (values.formats ?? data.EXPORT_FORMATS.join(",")).split(",").map((f) => f.trim());
  const unknown = formats.find((f) => !(data.EXPORT_FORMATS as readonly string[]).includes(f));
  if (unknown !== undefined)
    throw new Usage(`--formats: unknown format "${unknown}"; the formats are ${data.EXPORT_FORMATS.join(", ")}`);
  const images = path.join(out, "images");
  const isTask = (data.SHAPES_TASKS as readonly string[]).includes(source);
  if (!isTask && !/\.jsonl?$/i.test(source))
    throw new Usage(
      `vlab export data: "${source}" is neither a task (${data.SHAPES_TASKS.join(", ")}) nor a .jsonl file`,
    );
  const task = isTask
    ? await data.shapesTask(source as (typeof data.SHAPES_TASKS)[number], images, {
        n: integerOption("--n", values.n, 1000, 1),
        seed: integerOption("--seed", values.seed, 0, 0),
        split: values.split,
        size: integerOption("--size", values.size, 224, 28),
        ood: values.ood,
      })
    : await data.jsonlTask(source, images, { task: values.name, split: values.split });
  const files = await data.writeTaskData(task, out, formats as (typeof data.EXPORT_FORMATS)[number][]);
  const abs = path.resolve(out);
  console.log(`vlab export: ${task.records.length} records of "${task.task}" (${task.split}) → ${abs}`);
  const flags: Record<string, string> = {
    openrlhf: "--data.input_key prompt --data.label_key label --data.image_key images --data.apply_chat_template",
    "lmm-r1": "--input_key message --label_key answer",
    verl: `data.train_files=${path.join(abs, "verl.parquet")} (data_source vlab/${task.task})`,
    trl: `load_dataset("json", data_files=...).cast_column("image", datasets.Image())`,
  };
  for (const [format, file] of Object.entries(files)) console.log(`  ${format.padEnd(8)} ${file}   ${flags[format]}`);
  return 0;
}

async function exportHf(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      tokenizer: { type: "string" },
      "max-shard-size": { type: "string", default: "5GB" },
      dtype: { type: "string", default: "F32" },
      "system-prompt": { type: "string" },
    },
  });
  const [checkpoint, out, ...extra] = positionals;
  if (checkpoint === undefined || out === undefined || extra.length)
    throw new Usage("vlab export hf: give a checkpoint (folder or weights file) and an output folder");
  const dtype = values.dtype.toUpperCase();
  if (dtype !== "F32" && dtype !== "BF16" && dtype !== "F16")
    throw new Usage(`--dtype must be F32, BF16 or F16, got ${values.dtype}`);
  const { parseShardSize } = await import("@vlab/core");
  let maxShardSize: number;
  try {
    maxShardSize = parseShardSize(values["max-shard-size"]);
  } catch (e) {
    throw new Usage(`--max-shard-size: ${(e as Error).message}`, { cause: e });
  }
  const prompt = values["system-prompt"];
  const { exportCheckpointHf } = await import("@vlab/vlm");
  const r = exportCheckpointHf(checkpoint, out, {
    config: values.config,
    tokenizer: values.tokenizer,
    maxShardSize,
    dtype,
    ...(prompt !== undefined && { systemPrompt: prompt === "" ? null : prompt }),
  });
  const what = r.kind === "llm" ? "a language model" : "Qwen2-VL";
  const weights = r.shards > 1 ? `${r.shards} shards + index` : "one weights file";
  console.log(`vlab export: ${what} (model_type ${r.modelType}, ${dtype}, ${weights}) → ${path.resolve(out)}`);
  for (const f of r.files) console.log(`  ${path.basename(f)}`);
  return 0;
}
