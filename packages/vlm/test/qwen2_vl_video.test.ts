/**
 * Qwen2-VL with videos: frames through the same tower in a pass of their own, spliced at `<|video_pad|>`, M-RoPE t
 * along the temporal patches (Qwen2-VL) or the clock (Qwen2.5-VL). Cached against uncached decoding, the ids the
 * model uses against getRopeIndex's and against hand-derived ones, an image against videos of the same frame, mixed
 * batches against rows alone, errors, leaks.
 */
import { beforeAll, describe, expect, it, vi } from "vitest";
import { initBackend, tf } from "@vlab/core";
import type { ForwardOptions, MropePositionIds } from "@vlab/llm";
import { getRopeIndex } from "@vlab/rope";
import { expandVisionPads, qwen2VlProcess, qwen2VlProcessVideos, qwen2VlVision, Qwen2VL } from "../src/index.js";
import { naive, striped, tinyText } from "./qwen2_vl_helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

// The pads lie outside the vocabulary (they are never looked up), so decoding can never emit one.
const [VS, VE, VPAD, PAD] = [61, 62, 64, 65];
const text = { ...tinyText, imageTokenId: PAD };
type Variant = "qwen2-vl" | "qwen2.5-vl";
const tiny = (variant: Variant) =>
  new Qwen2VL({
    text,
    vision: { variant, depth: 2, embedDim: 16, numHeads: 2, windowSize: 56 }, // 2 × 2 merged tokens a window
    visionStartTokenId: VS,
    videoTokenId: VPAD,
  });

/** n frames of a video, each with other stripes. */
const frames = (width: number, height: number, n: number, k0: number) =>
  Array.from({ length: n }, (_, i) => striped(width, height, k0 + i));

/** The M-RoPE ids of every call the language model's forward gets while `fn` runs. */
function mropeIdsOf(m: Qwen2VL, fn: () => void): MropePositionIds[] {
  const spy = vi.spyOn(m.language_model, "forward");
  try {
    fn();
    return spy.mock.calls.map((c) => (c[1] as ForwardOptions).mropePositionIds!);
  } finally {
    spy.mockRestore();
  }
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe("Qwen2VL with videos", () => {
  for (const variant of ["qwen2-vl", "qwen2.5-vl"] as const) {
    it(`${variant}: an image and a video in a prompt: cached = uncached; M-RoPE ids are getRopeIndex's`, async () => {
      const m = tiny(variant);
      const img = await qwen2VlProcess([striped(56, 112, 1)]); // grid (1, 8, 4): 4 × 2 merged, 8 tokens
      const vid = await qwen2VlProcessVideos([frames(84, 56, 4, 2)]); // grid (2, 4, 6): 2 × (2 × 3), 12 tokens
      expect([img.gridThw, vid.gridThw]).toEqual([[[1, 8, 4]], [[2, 4, 6]]]);
      const prompt = expandVisionPads(
        expandVisionPads([5, VS, PAD, VE, 9, VS, VPAD, VE, 10], img.gridThw, PAD),
        vid.gridThw,
        VPAD,
      );
      expect(prompt.length).toBe(7 + 8 + 12);
      const vision = qwen2VlVision({ images: img, videos: vid, secondPerGridTs: [1.5] });

      // The ids the model feeds its language model, against getRopeIndex's and against the hand-derived ones.
      const [used] = mropeIdsOf(m, () => m.forward([prompt], vision).dispose());
      const ref = getRopeIndex([prompt], {
        imageGridThw: img.gridThw,
        videoGridThw: vid.gridThw,
        secondPerGridTs: [1.5],
        tokensPerSecond: 2,
        imageTokenId: PAD,
        videoTokenId: VPAD,
        visionStartTokenId: VS,
        mode: variant,
      }).positionIds;
      expect(used).toEqual(ref);
      // 5 VS → 0 1; the image at 2 + (0, 0…3, 0…1); VE 9 VS → 6 7 8; the video at 9 + (t, 0…1, 0…2): t steps by 1
      // temporal patch (Qwen2-VL) or by ⌊1.5 s · 2 / s⌋ = 3 (Qwen2.5-VL); then VE 10 at max + 1.
      const video = prompt.indexOf(VPAD);
      const step = variant === "qwen2-vl" ? 1 : 3;
      expect(used[0]![0]!.slice(video, video + 12)).toEqual([...Array(6).fill(9), ...Array(6).fill(9 + step)]);
      expect(used[1]![0]!.slice(video, video + 12)).toEqual([9, 9, 9, 10, 10, 10, 9, 9, 9, 10, 10, 10]);
      expect(used[2]![0]!.slice(video, video + 12)).toEqual([9, 10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 11]);
      const after = Math.max(11, 9 + step) + 1;
      expect(used.map((axis) => axis[0]!.slice(-2))).toEqual(Array(3).fill([after, after + 1]));

      const alone = naive(m, prompt, vision, 5);
      const opts = { maxNewTokens: 5, greedy: true, stopIds: [] };
      expect(m.generate([prompt], vision, opts).tokens).toEqual([alone]);
      expect(m.generate([prompt], vision, { ...opts, fastDecode: false }).tokens).toEqual([alone]);
      m.dispose();
    });

    it(`${variant}: a video row and an image row, batched and left-padded, each give their tokens alone`, async () => {
      const m = tiny(variant);
      const vid = await qwen2VlProcessVideos([frames(56, 56, 4, 3)]); // grid (2, 4, 4): 8 tokens
      const img = await qwen2VlProcess([striped(84, 56, 2)]); // grid (1, 4, 6): 6 tokens
      const pv = expandVisionPads([3, VS, VPAD, VE, 7], vid.gridThw, VPAD); // 12 tokens
      const pi = expandVisionPads([4, VS, PAD, VE, 9], img.gridThw, PAD); // 10 tokens: left-padded by 2
      const onlyVideo = qwen2VlVision({ videos: vid, secondPerGridTs: [1] });
      const onlyImage = qwen2VlVision({ images: img });
      const both = qwen2VlVision({ images: img, videos: vid, secondPerGridTs: [1] });
      const alone = [naive(m, pv, onlyVideo, 4), naive(m, pi, onlyImage, 4)];
      const opts = { maxNewTokens: 4, greedy: true, stopIds: [] };
      const ids = mropeIdsOf(m, () => expect(m.generate([pv, pi], both, opts).tokens).toEqual(alone));
      const mask = [pv.map(() => 1), [0, 0, ...pi.map(() => 1)]];
      const padded = [pv, [0, 0, ...pi]];
      const ref = getRopeIndex(padded, {
        attentionMask: mask,
        imageGridThw: img.gridThw,
        videoGridThw: vid.gridThw,
        secondPerGridTs: [1],
        imageTokenId: PAD,
        videoTokenId: VPAD,
        visionStartTokenId: VS,
        mode: variant,
      }).positionIds;
      expect(ids[0]).toEqual(ref); // the prefill's; decoding steps continue from them
      expect(m.generate([pv, pi], both, { ...opts, fastDecode: false }).tokens).toEqual(alone);

      // Scoring the same completions: batched = each row alone.
      const batched = m.logProbs([pv, pi], alone, both);
      const rows = [m.logProbs([pv], [alone[0]!], onlyVideo), m.logProbs([pi], [alone[1]!], onlyImage)];
      const got = batched.logProbs.arraySync();
      rows.forEach((r, b) => r.logProbs.arraySync()[0]!.forEach((lp, j) => expect(got[b]![j]).toBeCloseTo(lp, 4)));
      tf.dispose([batched.logProbs, batched.mask, ...rows.flatMap((r) => [r.logProbs, r.mask])]);
      m.dispose();
    });

    it(`${variant}: an image is a one-patch video of its frame twice; two equal patches: its tokens ×2`, async () => {
      const m = tiny(variant);
      const f = striped(84, 56, 5);
      const img = await qwen2VlProcess([f]); // grid (1, 4, 6): 6 tokens
      for (const clip of [[f, f], [f]]) {
        // two frames, or one repeated to fill the temporal patch: exactly the image's rows and grid
        const v = await qwen2VlProcessVideos([clip]);
        expect(v.gridThw).toEqual(img.gridThw);
        expect(v.pixelValues).toEqual(img.pixelValues);
      }
      const one = await qwen2VlProcessVideos([[f, f]]);
      const pImage = expandVisionPads([5, VS, PAD, VE, 9], img.gridThw, PAD);
      const pVideo = expandVisionPads([5, VS, VPAD, VE, 9], one.gridThw, VPAD);
      const [a, b] = [m.forward([pImage], img), m.forward([pVideo], qwen2VlVision({ videos: one }))];
      expect(maxAbs(a, b)).toBe(0); // the same tokens at the same (t, h, w): the same logits everywhere

      // Two temporal patches of the same frame: the tower attends within each one with its frame's 2-D ids (and
      // Qwen2.5-VL's windows per patch), so the video's tokens are the image's, twice.
      const two = await qwen2VlProcessVideos([[f, f, f, f]]);
      expect(two.gridThw).toEqual([[2, 4, 6]]);
      expect(two.pixelValues).toEqual(Float32Array.from([...img.pixelValues, ...img.pixelValues]));
      const twoVision = qwen2VlVision({ videos: two });
      const [fi, fv] = [m.imageFeatures(img), m.videoFeatures(twoVision)];
      const twice = tf.concat([fi, fi], 0);
      expect(maxAbs(fv, twice)).toBeLessThan(1e-6);
      // The language model reads the first patch where the image's tokens were (t = 0), so by causality every
      // position up to it has the image prompt's logits; the second patch comes on at t + 1 (Qwen2.5-VL: + 2).
      const pTwo = expandVisionPads([5, VS, VPAD, VE, 9], two.gridThw, VPAD);
      const c = m.forward([pTwo], twoVision);
      const upTo = 2 + 6; // 5, VS and the first patch's 6 tokens
      const prefix = (x: tf.Tensor3D) => tf.slice(x, [0, 0, 0], [1, upTo, -1]);
      const [pa, pc] = [prefix(a), prefix(c)];
      expect(maxAbs(pa, pc)).toBeLessThan(1e-5);
      const ids = m.ropeIndex([pTwo], [pTwo.map(() => 1)], [], twoVision);
      expect(ids[0]![0]!.slice(upTo, upTo + 6)).toEqual(Array(6).fill(variant === "qwen2-vl" ? 3 : 4));
      tf.dispose([a, b, c, fi, fv, twice, pa, pc]);
      m.dispose();
    });
  }

  it("says which row's video does not match its grid, and when videos and grids differ in number", async () => {
    const m = tiny("qwen2-vl");
    const vid = await qwen2VlProcessVideos([frames(56, 56, 4, 1)]); // grid (2, 4, 4): 8 tokens
    const img = await qwen2VlProcess([striped(56, 56, 1)]); // 4 tokens
    const vision = qwen2VlVision({ images: img, videos: vid });
    const good = expandVisionPads([VS, PAD, VE], img.gridThw, PAD);
    const short = [VS, ...Array(7).fill(VPAD), VE];
    const before = tf.memory().numTensors;
    expect(() => m.forward([good, short], vision)).toThrow(
      /row 1: video 0 \(grid \[2, 4, 4\]\) has 7 <\|video_pad\|> tokens \(id 64\) from position 1, but its grid gives 8 merged tokens/,
    );
    expect(() => m.generate([good, short], vision, { maxNewTokens: 1 })).toThrow(/row 1: video 0 .* has 7 .* 8 merged/);
    expect(() => m.forward([[...good, VS, ...Array(8).fill(VPAD), VE]], qwen2VlVision({ images: img }))).toThrow(
      /row 0 holds a video at position 7 \(video 0 of the batch\) but videoGridThw lists 0/,
    );
    expect(() => m.forward([good], vision)).toThrow(/the prompts hold 0 videos but videoGridThw lists 1/);
    expect(() => m.forward([[VS, ...Array(8).fill(VPAD), VE]], { videoGridThw: vid.gridThw })).toThrow(
      /give pixelValuesVideos \(or videoFeatures\) with the videoGridThw/,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(() => new Qwen2VL({ text, videoTokenId: PAD })).toThrow(/token ids must differ, got 65, 65, 151652/);
    m.dispose();
  });

  it("forward, generate and logProbs with images and videos leak no tensors", async () => {
    const m = tiny("qwen2.5-vl");
    const vid = await qwen2VlProcessVideos([frames(56, 56, 3, 4)]); // 3 frames: the last repeated, grid (2, 4, 4)
    expect(vid.gridThw).toEqual([[2, 4, 4]]);
    const img = await qwen2VlProcess([striped(56, 56, 2)]);
    const vision = qwen2VlVision({ images: img, videos: vid, secondPerGridTs: [0.5] });
    const prompt = expandVisionPads(
      expandVisionPads([VS, VPAD, VE, 4, VS, PAD, VE], vid.gridThw, VPAD),
      img.gridThw,
      PAD,
    );
    m.forward([prompt], vision).dispose(); // warm-up: backend kernels keep their own state
    const before = tf.memory().numTensors;
    m.forward([prompt], vision).dispose();
    const { tokens } = m.generate([prompt], vision, { maxNewTokens: 3, seed: 1 });
    const r = m.logProbs([prompt], tokens, vision);
    tf.dispose([r.logProbs, r.mask]);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
