// A tiny random tfjs CLIP exported to the vision_model.onnx / text_model.onnx pair (clip_export.ts),
// run by OnnxClip through onnxruntime-node, must give the tfjs features to 1e-4 relative; plus the
// loading errors (missing file, not ONNX, unavailable CUDA) and dispose.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, Rng, tf } from "@vlab/core";
import { Clip, type ClipConfig } from "@vlab/vision";
import { exportClipEncodersToOnnx, OnnxClip, textTransformerToOnnx, visionTransformerToOnnx } from "../src/index.js";
import { maxRelErr } from "./helpers.js";

const CFG: ClipConfig = {
  embedDim: 24,
  imageResolution: [32, 16], // rectangular: a 4×2 grid of 8-px patches
  visionPatchSize: 8,
  visionWidth: 32,
  visionLayers: 2,
  visionHeads: 2,
  contextLength: 12,
  vocabSize: 50,
  transformerWidth: 32,
  transformerLayers: 2,
  transformerHeads: 4,
};

let dir: string;
let clip: Clip;
let onnx: OnnxClip;
let pixels: tf.Tensor4D;
let ids: tf.Tensor2D;

/** Randomises every parameter (LayerNorm gains and biases too), so a swapped or untransposed tensor shows. */
function randomise(model: Clip, seed: number): void {
  const rng = new Rng(seed);
  for (const [name, v] of Object.entries(model.stateDict())) {
    const isGain = /ln_.*\.weight$/.test(name);
    const noise = rng.normalArray(v.size, isGain ? 0.2 : 0.15);
    if (isGain) noise.forEach((x, i) => (noise[i] = 1 + x));
    const t = tf.tensor(noise, v.shape);
    (v as tf.Variable).assign(t);
    t.dispose();
  }
}

beforeAll(async () => {
  await initBackend("cpu");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-onnx-"));
  clip = new Clip({ ...CFG, seed: 2 });
  randomise(clip, 11);
  pixels = tf.tensor4d(new Rng(4).normalArray(3 * 3 * 32 * 16, 1), [3, 3, 32, 16]);
  // openai-style rows: start token, words, EOT = the largest id (49), zero padding; lengths differ.
  ids = tf.tensor2d(
    [
      [48, 5, 17, 3, 49, 0, 0, 0],
      [48, 49, 0, 0, 0, 0, 0, 0],
      [48, 1, 2, 3, 4, 5, 6, 49],
    ],
    [3, 8],
    "int32",
  );
  const files = await exportClipEncodersToOnnx(clip, { dir });
  expect(files.visionPath).toBe(path.join(dir, "vision_model.onnx"));
  onnx = await OnnxClip.load({ visionModel: files.visionPath!, textModel: files.textPath! });
});

afterAll(async () => {
  await onnx?.dispose();
  clip?.dispose();
  tf.dispose([pixels, ids]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("exported CLIP encoders: onnxruntime == tfjs", () => {
  it("writes vision_model.onnx and text_model.onnx with Hugging Face's input and output names", () => {
    const io = onnx.describe();
    expect(io.vision.inputs).toEqual([{ name: "pixel_values", type: "float32", shape: ["batch_size", 3, 32, 16] }]);
    expect(io.vision.outputs.map((o) => o.name)).toEqual(["image_embeds", "last_hidden_state"]);
    expect(io.text.inputs).toEqual([{ name: "input_ids", type: "int64", shape: ["batch_size", "sequence_length"] }]);
    expect(io.text.outputs.map((o) => o.name)).toEqual(["text_embeds", "last_hidden_state"]);
    expect(fs.statSync(path.join(dir, "text_model.onnx")).size).toBeGreaterThan(4 * 50 * 32);
  });

  it("encodeImage matches clip.encodeImage to 1e-4 relative", async () => {
    const before = tf.memory().numTensors;
    const got = await onnx.encodeImage(pixels);
    const want = clip.encodeImage(pixels);
    expect(got.shape).toEqual([3, 24]);
    expect(maxRelErr(got.dataSync(), want.dataSync())).toBeLessThan(1e-4);
    tf.dispose([got, want]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("encodeText matches clip.encodeText to 1e-4 relative (pooled at each row's end-of-text token)", async () => {
    const got = await onnx.encodeText(ids);
    const want = clip.encodeText(ids);
    expect(got.shape).toEqual([3, 24]);
    expect(maxRelErr(got.dataSync(), want.dataSync())).toBeLessThan(1e-4);
    // A full-context row works too (the positional table and the causal mask are sliced to T).
    const full = tf.tensor2d([[48, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 49]], [1, 12], "int32");
    const gotFull = await onnx.encodeText(full);
    const wantFull = clip.encodeText(full);
    expect(maxRelErr(gotFull.dataSync(), wantFull.dataSync())).toBeLessThan(1e-4);
    tf.dispose([got, want, full, gotFull, wantFull]);
  });

  it("pools at the FIRST end-of-text when rows are padded with it (Hugging Face's padding)", async () => {
    const padded = tf.tensor2d(
      [
        [48, 7, 49, 49, 49],
        [48, 9, 8, 49, 49],
      ],
      [2, 5],
      "int32",
    );
    const got = await onnx.encodeText(padded);
    const want = clip.encodeText(padded);
    expect(maxRelErr(got.dataSync(), want.dataSync())).toBeLessThan(1e-4);
    tf.dispose([padded, got, want]);
  });

  it("int32 input_ids, an explicit eotTokenId and GELU export and match too", async () => {
    const other = new Clip({ ...CFG, activation: "gelu", eotTokenId: 7, seed: 5 });
    randomise(other, 12);
    const run = await OnnxClip.load({
      visionModel: visionTransformerToOnnx(other.visual),
      textModel: textTransformerToOnnx(other.text, { idsType: "int32" }),
    });
    try {
      expect(run.describe().text.inputs[0]!.type).toBe("int32");
      const rows = tf.tensor2d(
        [
          [48, 3, 7, 0, 0],
          [48, 20, 30, 7, 49],
        ],
        [2, 5],
        "int32",
      ); // EOT = 7, not the maximum
      const [gi, wi] = [await run.encodeImage(pixels), other.encodeImage(pixels)];
      const [gt, wt] = [await run.encodeText(rows), other.encodeText(rows)];
      expect(maxRelErr(gi.dataSync(), wi.dataSync())).toBeLessThan(1e-4);
      expect(maxRelErr(gt.dataSync(), wt.dataSync())).toBeLessThan(1e-4);
      tf.dispose([rows, gi, wi, gt, wt]);
    } finally {
      await run.dispose();
      other.dispose();
    }
  });
});

describe("OnnxClip errors", () => {
  it("a missing file names the path", async () => {
    await expect(
      OnnxClip.load({ visionModel: path.join(dir, "nope.onnx"), textModel: path.join(dir, "text_model.onnx") }),
    ).rejects.toThrow(/OnnxClip vision model: no such file: .*nope\.onnx/);
    await expect(OnnxClip.load({ visionModel: path.join(dir, "vision_model.onnx"), textModel: dir })).rejects.toThrow(
      /is a directory/,
    );
  });

  it("a file that is not ONNX says so (and what it looks like)", async () => {
    const json = path.join(dir, "config.json");
    fs.writeFileSync(json, '{"model_type": "clip"}');
    await expect(OnnxClip.load({ visionModel: json, textModel: json })).rejects.toThrow(
      /config\.json is not an ONNX model: it looks like JSON/,
    );
    const lfs = path.join(dir, "lfs.onnx");
    fs.writeFileSync(lfs, "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n");
    await expect(OnnxClip.load({ visionModel: lfs, textModel: lfs })).rejects.toThrow(/git-lfs pointer/);
    // Starts like a model (0x08) but is not one: onnxruntime's parse error, with the file named.
    const junk = path.join(dir, "junk.onnx");
    fs.writeFileSync(junk, Uint8Array.from([0x08, 0x07, 0x12, 0xff, 0x01, 0x02]));
    await expect(OnnxClip.load({ visionModel: junk, textModel: junk })).rejects.toThrow(
      /OnnxClip vision model: .*junk\.onnx is not a valid ONNX model/,
    );
    const empty = path.join(dir, "empty.onnx");
    fs.writeFileSync(empty, "");
    await expect(OnnxClip.load({ visionModel: empty, textModel: empty })).rejects.toThrow(/empty \(0 bytes\)/);
  });

  it("swapped models are refused: the text model has no pixel input", async () => {
    const textPath = path.join(dir, "text_model.onnx");
    await expect(OnnxClip.load({ visionModel: textPath, textModel: textPath })).rejects.toThrow(
      /cannot tell which input takes the pixels \(inputs: input_ids \(int64 \[batch_size, sequence_length\]\)\) \(it takes integer inputs: is this the text model\?\)/,
    );
    const visionPath = path.join(dir, "vision_model.onnx");
    await expect(OnnxClip.load({ visionModel: visionPath, textModel: visionPath })).rejects.toThrow(
      /text model .*: cannot tell which input takes the token ids .*is this the vision model\?/,
    );
  });

  it("a wrong image size or a text longer than the context is reported with the input's name and shapes", async () => {
    const wrong = tf.zeros([1, 3, 16, 32]) as tf.Tensor4D;
    await expect(onnx.encodeImage(wrong)).rejects.toThrow(
      /input "pixel_values" expects shape \[batch_size, 3, 32, 16\], got \[1, 3, 16, 32\] \(dim 2: expected 32, got 16\)/,
    );
    const long = tf.zeros([1, 13], "int32") as tf.Tensor2D;
    const quiet = await OnnxClip.load({
      visionModel: path.join(dir, "vision_model.onnx"),
      textModel: path.join(dir, "text_model.onnx"),
      logSeverityLevel: 4,
    });
    await expect(quiet.encodeText(long)).rejects.toThrow(
      /onnxruntime failed on input_ids int64 \[1, 13\] .*is the text longer than the model's context length\?/,
    );
    const checked = await OnnxClip.load({
      visionModel: path.join(dir, "vision_model.onnx"),
      textModel: path.join(dir, "text_model.onnx"),
      contextLength: 12,
    });
    await expect(checked.encodeText(long)).rejects.toThrow(/ids have 13 tokens per row but the context length is 12/);
    await checked.dispose();
    await quiet.dispose();
    tf.dispose([wrong, long]);
  });

  it("asking for CUDA without its libraries falls back to the CPU with a clear message", async () => {
    const messages: string[] = [];
    const run = await OnnxClip.load({
      visionModel: path.join(dir, "vision_model.onnx"),
      textModel: path.join(dir, "text_model.onnx"),
      executionProviders: ["cuda", "cpu"],
      onWarning: (m) => messages.push(m),
    });
    try {
      // Where the CUDA provider is installed (and a GPU is present) the session really uses it.
      if (messages.length > 0) {
        expect(run.executionProviders).toEqual({ vision: ["cpu"], text: ["cpu"] });
        expect(messages).toHaveLength(1); // one warning for the pair, not one per model
        expect(messages[0]).toMatch(
          /^OnnxClip: the "cuda" execution provider is unavailable \(.*\); running on cpu\. .*ONNXRUNTIME_NODE_INSTALL=cuda12/,
        );
      }
      const got = await run.encodeImage(pixels);
      const want = clip.encodeImage(pixels);
      expect(maxRelErr(got.dataSync(), want.dataSync())).toBeLessThan(1e-4);
      tf.dispose([got, want]);
    } finally {
      await run.dispose();
    }
    await expect(
      OnnxClip.load({
        visionModel: path.join(dir, "vision_model.onnx"),
        textModel: path.join(dir, "text_model.onnx"),
        executionProviders: ["tpu"],
      }),
    ).rejects.toThrow(
      /execution provider "tpu" is not available in onnxruntime-node on this platform \(available: cpu/,
    );
  });

  it("refuses to run after dispose", async () => {
    const run = await OnnxClip.load({
      visionModel: path.join(dir, "vision_model.onnx"),
      textModel: path.join(dir, "text_model.onnx"),
    });
    await run.dispose();
    await run.dispose(); // twice is fine
    await expect(run.encodeImage(pixels)).rejects.toThrow(/has been disposed/);
  });
});
