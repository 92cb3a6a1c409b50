/**
 * Sharded safetensors checkpoints, written as Hugging Face's `save_pretrained` writes them (huggingface_hub
 * `serialization/_base.py`, `split_state_dict_into_shards_factory`; transformers `modeling_utils.py`,
 * `PreTrainedModel.save_pretrained`):
 *
 *   one shard      <prefix>.safetensors
 *   n > 1 shards   <prefix>-00001-of-0000n.safetensors … and <prefix>.safetensors.index.json:
 *                  { "metadata": { "total_size": bytes of every tensor }, "weight_map": { name: shard file } }
 *
 * Tensors go to shards greedily in the order given: a tensor that would take the current shard past
 * `maxShardSize` bytes starts a new one, and a tensor larger than the limit alone gets a shard of its own. A size is
 * a number of bytes or a string such as "5GB" (10⁹ bytes) or "500MiB" (2²⁰ bytes each), as huggingface_hub's
 * `parse_size_to_int` reads it. Weight files of an earlier save in the same folder (the single file, shards, the
 * index) are removed, as save_pretrained does, so that no reader finds a stale `<prefix>.safetensors` first.
 * `loadSafetensorsSharded` (safetensors.ts) reads the result back.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as tf from "@tensorflow/tfjs-core";
import { atomicWrite } from "./atomic_write.js";
import { tensorsToSafetensors, type SaveSafetensorsOptions } from "./safetensors.js";

const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

/** A shard size in bytes: a positive integer, or "<number><unit>" with B, KB, MB, GB, TB, KiB, MiB, GiB, TiB. */
export function parseShardSize(size: number | string): number {
  if (typeof size === "number") {
    if (Number.isSafeInteger(size) && size > 0) return size;
    throw new RangeError(`shard size must be a positive whole number of bytes, got ${size}`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(size);
  const unit = UNITS[(m?.[2] || "B").toUpperCase()];
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes > 0))
    throw new RangeError(
      `shard size ${JSON.stringify(size)} is not a size: write bytes or a number with a unit (e.g. "5GB", "200MiB")`,
    );
  return bytes;
}

/** Bytes per element of a tensor as stored: float32 as `dtype`, int32 as I32, bool as BOOL. */
function storedBytes(t: tf.Tensor, dtype: "F32" | "F16" | "BF16"): number {
  const elem = t.dtype === "float32" ? (dtype === "F32" ? 4 : 2) : t.dtype === "bool" ? 1 : 4;
  return t.size * elem;
}

/** Names grouped into shards (huggingface_hub's greedy split, see the file comment), each shard's names in order. */
export function planShards(sizes: readonly (readonly [string, number])[], maxBytes: number): string[][] {
  const shards: string[][] = [];
  let current: string[] = [];
  let used = 0;
  for (const [name, bytes] of sizes) {
    if (bytes > maxBytes) {
      shards.push([name]); // too large for any shard: alone (the current shard stays open)
      continue;
    }
    if (current.length && used + bytes > maxBytes) {
      shards.push(current);
      [current, used] = [[], 0];
    }
    current.push(name);
    used += bytes;
  }
  if (current.length) shards.push(current);
  return shards;
}

export interface SaveShardedOptions extends SaveSafetensorsOptions {
  /** Largest shard in bytes, or a size string (default "5GB", transformers' default). */
  maxShardSize?: number | string;
  /** File name prefix (default "model"). */
  prefix?: string;
  /** `__metadata__` of every file (default `{ format: "pt" }`, which transformers needs). */
  metadata?: Record<string, string>;
}

export interface SavedShards {
  /** The weight files written, in order (one: `<prefix>.safetensors`). */
  files: string[];
  /** The index file, when there is more than one shard. */
  index?: string;
  /** Bytes of tensor data over all files (the index's `total_size`). */
  totalSize: number;
}

const pad5 = (n: number) => String(n).padStart(5, "0");

/** Removes `<prefix>.safetensors`, `<prefix>-NNNNN-of-NNNNN.safetensors` and the index of an earlier save. */
function removeOldWeights(dir: string, prefix: string, keep: ReadonlySet<string>): void {
  const esc = prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const own = new RegExp(`^${esc}(-\\d{5}-of-\\d{5})?\\.safetensors(\\.index\\.json)?$`);
  for (const f of fs.readdirSync(dir)) if (own.test(f) && !keep.has(f)) fs.rmSync(path.join(dir, f));
}

/** Saves tensors (not disposed) into `dir` as one file or shards with an index (see the file comment). */
export function saveSafetensorsSharded(
  dir: string,
  tensors: Record<string, tf.Tensor>,
  opts: SaveShardedOptions = {},
): SavedShards {
  const maxBytes = parseShardSize(opts.maxShardSize ?? "5GB");
  const prefix = opts.prefix ?? "model";
  const dtype = opts.dtype ?? "F32";
  const metadata = opts.metadata ?? { format: "pt" };
  const sizes = Object.entries(tensors).map(([k, t]) => [k, storedBytes(t, dtype)] as const);
  const totalSize = sizes.reduce((a, [, b]) => a + b, 0);
  const shards = planShards(sizes, maxBytes);
  const names =
    shards.length <= 1
      ? [`${prefix}.safetensors`]
      : shards.map((_, i) => `${prefix}-${pad5(i + 1)}-of-${pad5(shards.length)}.safetensors`);
  const indexName = `${prefix}.safetensors.index.json`;
  fs.mkdirSync(dir, { recursive: true });
  removeOldWeights(dir, prefix, new Set(names));
  const weightMap: Record<string, string> = {};
  const files = names.map((name, i) => {
    const part = Object.create(null) as Record<string, tf.Tensor>; // no prototype: "__proto__" is a name too
    for (const k of shards[i] ?? []) {
      const t = tensors[k];
      if (t) part[k] = t;
      weightMap[k] = name;
    }
    const file = path.join(dir, name);
    atomicWrite(file, tensorsToSafetensors(part, metadata, { dtype }));
    return file;
  });
  if (names.length === 1) return { files, totalSize };
  const index = path.join(dir, indexName);
  atomicWrite(index, JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + "\n");
  return { files, index, totalSize };
}
