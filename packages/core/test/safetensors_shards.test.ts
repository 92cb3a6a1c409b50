/** Sharded safetensors: huggingface_hub's greedy split, the index, sizes, and removal of an earlier save's files. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadSafetensorsSharded, planShards, saveSafetensorsSharded, tf } from "../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-shards-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("sharded safetensors", () => {
  it("splits greedily in order; a tensor over the limit gets a shard of its own", () => {
    const sizes = [
      ["a", 40],
      ["b", 50],
      ["c", 20],
      ["big", 500],
      ["d", 30],
      ["e", 100],
    ] as const;
    // huggingface_hub split_state_dict_into_shards_factory: "big" is appended alone while [c] stays open
    expect(planShards(sizes, 100)).toEqual([["a", "b"], ["big"], ["c", "d"], ["e"]]);
    expect(planShards(sizes, 1000)).toEqual([["a", "b", "c", "big", "d", "e"]]);
    expect(planShards([], 10)).toEqual([]);
  });

  it("writes shards and an index that loadSafetensorsSharded reads back; one file below the limit", () => {
    const t = {
      x: tf.tensor1d([1, 2, 3, 4]),
      y: tf.tensor2d([
        [5, 6],
        [7, 8],
      ]),
      z: tf.tensor1d([9, 10, 11], "int32"),
    };
    const r = saveSafetensorsSharded(dir, t, { maxShardSize: 28, dtype: "F32" });
    expect(r.files.map((f) => path.basename(f))).toEqual([
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
    ]);
    expect(r.totalSize).toBe(16 + 16 + 12);
    const index = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"));
    expect(index).toEqual({
      metadata: { total_size: 44 },
      weight_map: {
        x: "model-00001-of-00002.safetensors",
        y: "model-00002-of-00002.safetensors",
        z: "model-00002-of-00002.safetensors",
      },
    });
    const back = loadSafetensorsSharded(dir);
    expect(Array.from(back.y!.dataSync())).toEqual([5, 6, 7, 8]);
    expect(back.z!.dtype).toBe("int32");
    tf.dispose(back);

    const one = saveSafetensorsSharded(dir, t);
    expect(one.files.map((f) => path.basename(f))).toEqual(["model.safetensors"]);
    expect(fs.readdirSync(dir).sort()).toEqual(["model.safetensors"]); // the shards and the index are gone
    tf.dispose(t);
  });
});
