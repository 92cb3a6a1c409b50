/** Qwen2-VL's processor: the patch order of pixelValues, grids, pad expansion and the chat template. */
import { describe, expect, it } from "vitest";
import { tf } from "@vlab/core";
import { CLIP_MEAN, CLIP_STD } from "@vlab/data";
import {
  expandVisionPads,
  expandVisionPadText,
  joinVisionInputs,
  patchifyFrames,
  patchifyImages,
  qwen2VlChatText,
  qwen2VlProcess,
  qwen2VlProcessVideos,
  visionTokenCount,
} from "../src/index.js";

/** A frame whose every value says where it is: f·1e6 + c·1e4 + y·100 + x. */
function codedFrame(f: number, H: number, W: number): Float32Array {
  const out = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[(c * H + y) * W + x] = f * 1e6 + c * 1e4 + y * 100 + x;
  return out;
}

describe("patchifyFrames", () => {
  it("rows are block-major patches, columns (channel, temporal, py, px); an image is its own second frame", () => {
    const [H, W] = [56, 84]; // 4 × 6 patches: grid (1, 4, 6)
    const { rows, gridThw, rowWidth } = patchifyFrames([codedFrame(0, H, W)], H, W);
    expect(gridThw).toEqual([1, 4, 6]);
    expect(rowWidth).toBe(1176);
    // Row k = (bh, bw, ih, iw) in block-major order: patch row 2bh + ih, column 2bw + iw (the spec's formula).
    for (let k = 0; k < 24; k++) {
      const [bh, bw, ih, iw] = [Math.floor(k / 12), Math.floor(k / 4) % 3, Math.floor(k / 2) % 2, k % 2];
      const [r, c] = [2 * bh + ih, 2 * bw + iw];
      for (const [ch, tp, py, px] of [
        [0, 0, 0, 0],
        [2, 1, 13, 5],
        [1, 0, 7, 13],
      ] as const) {
        const j = ((ch * 2 + tp) * 14 + py) * 14 + px;
        expect(rows[k * 1176 + j]).toBe(ch * 1e4 + (r * 14 + py) * 100 + c * 14 + px);
      }
    }
  });

  it("a video: frames pair into temporal patches, an odd count repeats the last frame", () => {
    const [H, W] = [28, 28];
    const { rows, gridThw } = patchifyFrames(
      [0, 1, 2].map((f) => codedFrame(f, H, W)),
      H,
      W,
    );
    expect(gridThw).toEqual([2, 2, 2]);
    const at = (k: number, ch: number, tp: number) => rows[k * 1176 + (ch * 2 + tp) * 196];
    expect([at(0, 0, 0), at(0, 0, 1)]).toEqual([0, 1e6]); // slice 0: frames 0 and 1
    expect([at(4, 1, 0), at(4, 1, 1)]).toEqual([2e6 + 1e4, 2e6 + 1e4]); // slice 1: frame 2 and its copy
    expect(() => patchifyFrames([codedFrame(0, 28, 30)], 28, 30)).toThrow(/not a multiple of 28/);
    expect(() => patchifyFrames([new Float32Array(5)], 28, 28)).toThrow(/frame 0 holds 5 values/);
  });
});

describe("qwen2VlProcess", () => {
  const solid = (width: number, height: number, rgb: [number, number, number]) => ({
    width,
    height,
    data: Uint8Array.from({ length: width * height * 3 }, (_, i) => rgb[i % 3]!),
  });

  it("each image on its own grid (70×70 → 56×56: 2.5 rounds to 2), normalised with CLIP's mean and std", async () => {
    const out = await qwen2VlProcess([solid(70, 70, [255, 0, 128]), solid(100, 300, [0, 0, 0])]);
    // width 100, height 300 → height round(10.7)·28 = 308, width round(3.57)·28 = 112: grid (1, 22, 8)
    expect(out.gridThw).toEqual([
      [1, 4, 4],
      [1, 22, 8],
    ]);
    expect(out.pixelValues.length).toBe((16 + 176) * 1176);
    const expected = [255, 0, 128].map((v, c) => (v / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!);
    for (let c = 0; c < 3; c++) expect(out.pixelValues[c * 392]).toBeCloseTo(expected[c]!, 5);
    expect(out.gridThw.map((g) => visionTokenCount(g))).toEqual([4, 44]);
  });

  it("a video's frames take the first frame's size; a bad image names itself", async () => {
    const out = await qwen2VlProcessVideos([[solid(56, 56, [9, 9, 9]), solid(80, 60, [9, 9, 9])]]);
    expect(out.gridThw).toEqual([[1, 4, 4]]);
    await expect(qwen2VlProcess([{ width: 2, height: 2, data: new Uint8Array(3) }])).rejects.toThrow(/image 0/);
  });
});

describe("joinVisionInputs", () => {
  it("joins images processed one at a time into what processing them together gives", async () => {
    const rgb = (width: number, height: number, seed: number) => ({
      width,
      height,
      data: Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37 + seed * 101) % 256),
    });
    const images = [rgb(28, 56, 1), rgb(70, 70, 2), rgb(28, 28, 3)];
    const together = await qwen2VlProcess(images);
    const alone = await Promise.all(images.map((im) => qwen2VlProcess([im])));
    const joined = joinVisionInputs([alone[2]!, alone[0]!, alone[1]!]); // order kept as given
    expect(joined.gridThw).toEqual([alone[2]!.gridThw[0], alone[0]!.gridThw[0], alone[1]!.gridThw[0]]);
    const inOrder = joinVisionInputs(alone);
    expect(inOrder.gridThw).toEqual(together.gridThw);
    expect(inOrder.rowWidth).toBe(together.rowWidth);
    expect(Array.from(inOrder.pixelValues)).toEqual(Array.from(together.pixelValues));
    expect(() => joinVisionInputs([])).toThrow(/nothing to join/);
    expect(() => joinVisionInputs([alone[0]!, { ...alone[1]!, rowWidth: 588 }])).toThrow(/part 1 has rows of 588/);
  });
});

describe("patchifyImages", () => {
  it("a batch of same-size normalised images gives, row by row, what the processor gives each image", async () => {
    const rgb = (seed: number) => ({
      width: 16,
      height: 8,
      data: Uint8Array.from({ length: 16 * 8 * 3 }, (_, i) => (i * 37 + seed * 101) % 256),
    });
    const images = [rgb(1), rgb(2), rgb(3)];
    const opts = { patchSize: 4, resize: { minPixels: 16 } };
    const processed = await Promise.all(images.map((im) => qwen2VlProcess([im], opts)));
    const chw = new Float32Array(3 * 3 * 8 * 16); // [B, C, H, W], normalised as the processor does
    images.forEach((im, b) => {
      for (let c = 0; c < 3; c++)
        for (let i = 0; i < 8 * 16; i++)
          chw[(b * 3 + c) * 128 + i] = (im.data[i * 3 + c]! / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
    });
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(chw, [3, 3, 8, 16]);
    const { pixels, grid } = patchifyImages(x, { patchSize: 4 });
    expect(grid).toEqual(processed[0]!.gridThw[0]);
    expect(pixels.shape).toEqual([3, 8, 3 * 2 * 4 * 4]);
    const got = pixels.dataSync();
    const want = joinVisionInputs(processed).pixelValues;
    expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-5);
    const odd = tf.zeros([1, 3, 6, 16]) as tf.Tensor4D;
    expect(() => patchifyImages(odd, { patchSize: 4 })).toThrow(/multiple of 8/);
    tf.dispose([x, pixels, odd]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("pad expansion and the chat template", () => {
  it("renders §1.9's example and expands its pad to t·h·w / 4 tokens", () => {
    const text = qwen2VlChatText([
      {
        role: "user",
        content: [{ type: "image" }, { type: "text", text: "Describe." }],
      },
    ]);
    expect(text).toBe(
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" +
        "<|vision_start|><|image_pad|><|vision_end|>Describe.<|im_end|>\n<|im_start|>assistant\n",
    );
    const expanded = expandVisionPadText(text, [[1, 4, 6]]);
    expect(expanded.split("<|image_pad|>").length - 1).toBe(6);
    expect(
      qwen2VlChatText([{ role: "user", content: [{ type: "image" }, { type: "video" }] }], { addVisionId: true }),
    ).toContain("Picture 1: <|vision_start|><|image_pad|><|vision_end|>Video 1: <|vision_start|><|video_pad|>");
  });

  it("expands pad ids in order, and refuses a count that does not match", () => {
    const PAD = 7;
    expect(
      expandVisionPads(
        [1, PAD, 2, PAD],
        [
          [1, 2, 4],
          [1, 4, 4],
        ],
        PAD,
      ),
    ).toEqual([1, PAD, PAD, 2, PAD, PAD, PAD, PAD]);
    expect(() => expandVisionPads([PAD, PAD], [[1, 2, 2]], PAD)).toThrow(/more pad tokens than the 1 grids/);
    expect(() => expandVisionPads([1], [[1, 2, 2]], PAD)).toThrow(/1 grids but 0 pad tokens/);
    expect(() => expandVisionPadText("x", [[1, 2, 2]])).toThrow(/1 grids but 0/);
  });
});
