import { beforeAll, describe, expect, it } from "vitest";
import { Module, initBackend, tf } from "@vlab/core";
import { windowIndex } from "@vlab/rope";
import {
  Qwen2VisionTransformer,
  qwen2VisionConfigFromHf,
  resolveQwen2VisionConfig,
  visionCuSeqlens,
  visionRotaryCosSin,
  type Qwen2VisionConfig,
} from "../src/qwen2_vl_vision.js";
import { patchifyFrames, visionTokenCount } from "../src/qwen2_vl_processor.js";
import { maxDiff } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const WIDTH = 3 * 2 * 14 * 14; // C·T·P·P with the default patch
const rows = (grid: number[][]) => grid.reduce((n, [t = 0, h = 0, w = 0]) => n + t * h * w, 0);
const pixelsFor = (grid: number[][], seed = 1, width = WIDTH) =>
  tf.randomNormal([rows(grid), width], 0, 1, "float32", seed) as tf.Tensor2D;

/** The processor's patch order written out: merge blocks in raster order, the m×m patches of each one together. */
function blockMajor(gh: number, gw: number, m = 2): [number, number][] {
  const out: [number, number][] = [];
  for (let bh = 0; bh < gh / m; bh++)
    for (let bw = 0; bw < gw / m; bw++)
      for (let ih = 0; ih < m; ih++) for (let iw = 0; iw < m; iw++) out.push([bh * m + ih, bw * m + iw]);
  return out;
}

/** Row `k` of a [N, D] tensor as numbers. */
const row = (x: tf.Tensor2D, k: number): Float32Array => x.slice([k, 0], [1, -1]).dataSync() as Float32Array;
const rowDiff = (a: tf.Tensor2D, b: tf.Tensor2D, k: number): number => {
  const ra = row(a, k);
  const rb = row(b, k);
  return ra.reduce((m, v, i) => Math.max(m, Math.abs(v - (rb[i] as number))), 0);
};

describe("Qwen2-VL vision tower: parameters and config", () => {
  it("names its parameters as Hugging Face's visual.* with Conv3d and Linear shapes", () => {
    const m = new Qwen2VisionTransformer({ depth: 1 }); // D 32, 2 heads, mlp 128, out 48
    const shapes = Object.fromEntries(m.namedParameters().map(([n, v]) => [n, v.shape]));
    expect(shapes).toEqual({
      "patch_embed.proj.weight": [32, 3, 2, 14, 14],
      "blocks.0.norm1.weight": [32],
      "blocks.0.norm1.bias": [32],
      "blocks.0.norm2.weight": [32],
      "blocks.0.norm2.bias": [32],
      "blocks.0.attn.qkv.weight": [96, 32],
      "blocks.0.attn.qkv.bias": [96],
      "blocks.0.attn.proj.weight": [32, 32],
      "blocks.0.attn.proj.bias": [32],
      "blocks.0.mlp.fc1.weight": [128, 32],
      "blocks.0.mlp.fc1.bias": [128],
      "blocks.0.mlp.fc2.weight": [32, 128],
      "blocks.0.mlp.fc2.bias": [32],
      "merger.ln_q.weight": [32],
      "merger.ln_q.bias": [32],
      "merger.mlp.0.weight": [128, 128],
      "merger.mlp.0.bias": [128],
      "merger.mlp.2.weight": [48, 128],
      "merger.mlp.2.bias": [48],
    });
    // Under a parent named `visual`, the names are a checkpoint's.
    const parent = new (class extends Module {
      visual = this.module("visual", m);
    })();
    expect(parent.namedParameters()[0]?.[0]).toBe("visual.patch_embed.proj.weight");
    m.dispose();

    const m25 = new Qwen2VisionTransformer({ variant: "qwen2.5-vl", depth: 1 });
    const names25 = Object.fromEntries(m25.namedParameters().map(([n, v]) => [n, v.shape]));
    expect(names25).toMatchObject({
      "blocks.0.norm1.weight": [32],
      "blocks.0.mlp.gate_proj.weight": [64, 32],
      "blocks.0.mlp.gate_proj.bias": [64],
      "blocks.0.mlp.up_proj.bias": [64],
      "blocks.0.mlp.down_proj.weight": [32, 64],
      "blocks.0.mlp.down_proj.bias": [32],
      "merger.ln_q.weight": [32],
    });
    for (const gone of ["blocks.0.norm1.bias", "merger.ln_q.bias", "blocks.0.mlp.fc1.weight"])
      expect(names25).not.toHaveProperty([gone]);
    m25.dispose();
  });

  it("reads released configs and picks full-attention blocks for a tiny tower", () => {
    const q2 = resolveQwen2VisionConfig(
      qwen2VisionConfigFromHf({ depth: 32, embed_dim: 1280, mlp_ratio: 4, num_heads: 16, in_chans: 3,
        hidden_size: 3584, patch_size: 14, spatial_merge_size: 2, temporal_patch_size: 2 }), // prettier-ignore
    );
    expect(q2).toMatchObject({ variant: "qwen2-vl", depth: 32, embedDim: 1280, outHiddenSize: 3584, numHeads: 16 });
    const q25 = resolveQwen2VisionConfig(
      qwen2VisionConfigFromHf({ depth: 32, hidden_act: "silu", hidden_size: 1280, intermediate_size: 3420,
        num_heads: 16, in_chans: 3, out_hidden_size: 3584, patch_size: 14, spatial_merge_size: 2,
        temporal_patch_size: 2, window_size: 112, fullatt_block_indexes: [7, 15, 23, 31] }), // prettier-ignore
    );
    expect(q25).toMatchObject({ variant: "qwen2.5-vl", embedDim: 1280, intermediateSize: 3420, windowSize: 112 });
    expect(q25.fullattBlockIndexes).toEqual([7, 15, 23, 31]);
    expect(resolveQwen2VisionConfig({ depth: 32 }).fullattBlockIndexes).toEqual([7, 15, 23, 31]);
    expect(resolveQwen2VisionConfig({ depth: 4 }).fullattBlockIndexes).toEqual([3]);
    expect(() => resolveQwen2VisionConfig({ embedDim: 24, numHeads: 4 })).toThrow(/divisible by 4/);
    expect(() => resolveQwen2VisionConfig({ depth: 2, fullattBlockIndexes: [2] })).toThrow(/fullattBlockIndexes/);
  });

  it("refuses inputs that do not fit the config or the grid", () => {
    const m = new Qwen2VisionTransformer();
    const px = pixelsFor([[1, 4, 4]]);
    const narrow = tf.zeros([16, 100]) as tf.Tensor2D;
    expect(() => m.forward(narrow, [[1, 4, 4]])).toThrow(/\[N, 3·2·14·14 = 1176\], got \[16, 100\]/);
    expect(() => m.forward(px, [[1, 4, 6]])).toThrow(/16 rows .* 24 patches/);
    expect(() => m.forward(px, [[1, 3, 4]])).toThrow(/multiples of 2/);
    expect(() => m.forward(px, [])).toThrow(/no image/);
    tf.dispose([px, narrow]);
    m.dispose();
  });
});

describe("Qwen2-VL vision tower: patch embedding, packing, no leaks", () => {
  it("patch embedding equals a Conv3d (kernel = stride = T×P×P) computed by loops", () => {
    const [C, T, P, D] = [3, 2, 2, 32];
    const m = new Qwen2VisionTransformer({ patchSize: P, depth: 1 });
    const [gt, gh, gw] = [2, 2, 4]; // 4 frames, 4×8 pixels
    const frames = gt * T;
    const vol = tf.randomNormal([C, frames, gh * P, gw * P], 0, 1, "float32", 5).arraySync() as number[][][][];
    const W = m.patch_embed.proj.weight.arraySync() as number[][][][][]; // [D, C, T, P, P]
    // The processor's rows: per temporal group, block-major patches, each flattened as (c, t, y, x).
    const order = blockMajor(gh, gw);
    const pixelRows: number[][] = [];
    for (let ti = 0; ti < gt; ti++)
      for (const [r, c] of order) {
        const flat: number[] = [];
        for (let ch = 0; ch < C; ch++)
          for (let f = 0; f < T; f++)
            for (let y = 0; y < P; y++)
              for (let x = 0; x < P; x++) flat.push(vol[ch]![ti * T + f]![r * P + y]![c * P + x]!);
        pixelRows.push(flat);
      }
    // Conv3d on the volume: out[d, ti, r, c] = Σ W[d, ch, f, y, x] · vol[ch, ti·T + f, r·P + y, c·P + x].
    const conv = (d: number, ti: number, r: number, c: number) => {
      let s = 0;
      for (let ch = 0; ch < C; ch++)
        for (let f = 0; f < T; f++)
          for (let y = 0; y < P; y++)
            for (let x = 0; x < P; x++) s += W[d]![ch]![f]![y]![x]! * vol[ch]![ti * T + f]![r * P + y]![c * P + x]!;
      return s;
    };
    const px = tf.tensor2d(pixelRows);
    const got = m.patch_embed.forward(px).arraySync();
    let worst = 0;
    got.forEach((emb, k) => {
      const ti = Math.floor(k / order.length);
      const [r, c] = order[k % order.length]!;
      for (let d = 0; d < D; d++) worst = Math.max(worst, Math.abs(emb[d]! - conv(d, ti, r, c)));
    });
    expect(got.length).toBe(gt * gh * gw);
    expect(worst).toBeLessThan(1e-5);
    // The processor (qwen2_vl_processor.ts) cuts the same frames into the same rows, so the pair is that Conv3d,
    // and the tower gives visionTokenCount tokens.
    const frameData = Array.from({ length: frames }, (_, f) =>
      Float32Array.from(vol.flatMap((plane) => plane[f]!.flat())),
    );
    const cut = patchifyFrames(frameData, gh * P, gw * P, { patchSize: P });
    expect(cut.gridThw).toEqual([gt, gh, gw]);
    expect(cut.rows).toEqual(Float32Array.from(pixelRows.flat()));
    const tokens = m.forward(px, [cut.gridThw]);
    expect(tokens.shape[0]).toBe(visionTokenCount(cut.gridThw));
    tf.dispose([px, tokens]);
    m.dispose();
  });

  it("gives one token per merge block for two images of different grids packed together", () => {
    for (const variant of ["qwen2-vl", "qwen2.5-vl"] as const) {
      const m = new Qwen2VisionTransformer({ variant });
      const grid = [
        [1, 4, 6],
        [1, 2, 2],
      ];
      const px = pixelsFor(grid);
      const out = m.forward(px, grid);
      expect(out.shape).toEqual([(24 + 4) / 4, 48]);
      expect(Number.isFinite(tf.sum(tf.abs(out)).dataSync()[0])).toBe(true);
      tf.dispose([px, out]);
      m.dispose();
    }
  });

  it("packed images give the same tokens as each image alone (block-diagonal attention)", () => {
    // Qwen2.5-VL with 56-px windows (2×2 merged tokens): both images span several windows.
    const configs: Qwen2VisionConfig[] = [{ variant: "qwen2-vl" }, { variant: "qwen2.5-vl", windowSize: 56, depth: 3 }];
    for (const cfg of configs) {
      const m = new Qwen2VisionTransformer(cfg);
      const a = [1, 4, 8];
      const b = [2, 4, 6]; // a video: two temporal slices
      const pa = pixelsFor([a], 2);
      const pb = pixelsFor([b], 3);
      const packed = m.forward(tf.concat([pa, pb]) as tf.Tensor2D, [a, b]);
      const alone = tf.concat([m.forward(pa, [a]), m.forward(pb, [b])]);
      expect(packed.shape).toEqual([8 + 12, 48]);
      expect(maxDiff(packed, alone)).toBeLessThan(1e-5);
      // And a video's temporal slices attend apart: [2, h, w] is two [1, h, w] images.
      expect(visionCuSeqlens([b])).toEqual([0, 24, 48]);
      const slices = m.forward(pb, [
        [1, 4, 6],
        [1, 4, 6],
      ]);
      expect(maxDiff(slices, m.forward(pb, [b]))).toBeLessThan(1e-6);
      tf.dispose([pa, pb, packed, alone, slices]);
      m.dispose();
    }
  });

  it("leaks no tensor", () => {
    for (const variant of ["qwen2-vl", "qwen2.5-vl"] as const) {
      const m = new Qwen2VisionTransformer({ variant, windowSize: 56 });
      const grid = [
        [1, 4, 8],
        [1, 2, 2],
      ];
      const px = pixelsFor(grid);
      m.forward(px, grid).dispose(); // warm-up (kernels, backend state)
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        m.forward(px, grid);
        m.forwardOutputs(px, grid, { hiddenStates: true });
      });
      const out = m.forwardOutputs(px, grid, { hiddenStates: true });
      expect(out.hiddenStates).toHaveLength(3);
      tf.dispose([out.output, ...(out.hiddenStates ?? [])]);
      expect(tf.memory().numTensors).toBe(before);
      px.dispose();
      m.dispose();
    }
  });
});

describe("Qwen2-VL vision tower: 2-D RoPE", () => {
  it("cos/sin rows of a 1×4×4 grid match hand-computed values", () => {
    // hd = 8: inv_freq = [1, 1/10000^(2/4)] = [1, 0.01]; row k = [h·f | w·f], repeated.
    // Block-major (h, w) of the 16 patches, written out by hand:
    const ids = [
      [0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 3], [1, 2], [1, 3],
      [2, 0], [2, 1], [3, 0], [3, 1], [2, 2], [2, 3], [3, 2], [3, 3],
    ]; // prettier-ignore
    const { cos, sin } = visionRotaryCosSin([[1, 4, 4]], 8);
    expect(cos.shape).toEqual([16, 8]);
    const c = cos.arraySync();
    const s = sin.arraySync();
    let worst = 0;
    ids.forEach(([h, w], k) => {
      const angles = [h!, 0.01 * h!, w!, 0.01 * w!];
      const want = [...angles, ...angles];
      want.forEach((a, j) => {
        worst = Math.max(worst, Math.abs(c[k]![j]! - Math.cos(a)), Math.abs(s[k]![j]! - Math.sin(a)));
      });
    });
    expect(worst).toBeLessThan(1e-6);
    tf.dispose([cos, sin]);
  });

  it("sees the orientation: a transposed image changes the states, unless q/k's row and column slots swap too", () => {
    const cfg: Qwen2VisionConfig = { depth: 2, embedDim: 32, numHeads: 2, seed: 11 }; // hd 16
    const a = new Qwen2VisionTransformer(cfg);
    const [gh, gw] = [4, 6];
    const content = tf.randomNormal([gh, gw, WIDTH], 0, 1, "float32", 9); // one pixel row per (r, c)
    const rowsAt = (order: [number, number][], transposed: boolean) =>
      tf.stack(order.map(([r, c]) => (transposed ? content.gather(c).gather(r) : content.gather(r).gather(c))));
    const orig = blockMajor(gh, gw);
    const trans = blockMajor(gw, gh); // grid [1, 6, 4]: position (c, r) holds the patch at (r, c)
    const px = rowsAt(orig, false) as tf.Tensor2D;
    const pxT = rowsAt(trans, true) as tf.Tensor2D;
    const last = (m: Qwen2VisionTransformer, x: tf.Tensor2D, grid: number[]) =>
      m.forwardOutputs(x, [grid], { hiddenStates: true }).hiddenStates![2]!;
    const hA = last(a, px, [1, gh, gw]);
    const hAT = last(a, pxT, [1, gw, gh]);
    // Rows of hAT put back at the original patch positions.
    const index = new Map(trans.map(([r, c], k) => [`${c},${r}`, k]));
    const back = tf.gather(
      hAT,
      orig.map(([r, c]) => index.get(`${r},${c}`)!),
    ) as tf.Tensor2D;
    expect(maxDiff(hA, back)).toBeGreaterThan(1e-2);

    // Model b: a with the row slots [0, hd/4) ∪ [hd/2, 3hd/4) of q and k exchanged with the column slots. Then
    // RoPE(b, transposed image) is RoPE(a, image) up to that permutation of dims, so the states agree.
    const hd = 16;
    const q = hd / 4;
    const swap = (j: number) => (Math.floor(j / q) % 2 === 0 ? j + q : j - q);
    const state = a.stateDict();
    const perm = Array.from({ length: 96 }, (_, i) => (i < 64 ? Math.floor(i / hd) * hd + swap(i % hd) : i));
    const swapped: Record<string, tf.Tensor> = { ...state };
    for (const i of [0, 1]) {
      for (const p of ["weight", "bias"]) {
        const name = `blocks.${i}.attn.qkv.${p}`;
        swapped[name] = tf.gather(state[name]!, perm);
      }
    }
    const b = new Qwen2VisionTransformer(cfg);
    b.loadStateDict(swapped);
    const hBT = last(b, pxT, [1, gw, gh]);
    const backB = tf.gather(
      hBT,
      orig.map(([r, c]) => index.get(`${r},${c}`)!),
    ) as tf.Tensor2D;
    expect(maxDiff(hA, backB)).toBeLessThan(1e-5);
    tf.dispose([content, px, pxT, hA, hAT, back, hBT, backB]);
    tf.dispose(
      Object.keys(swapped)
        .filter((k) => k.includes("qkv"))
        .map((k) => swapped[k]!),
    );
    a.dispose();
    b.dispose();
  });
});

describe("Qwen2.5-VL vision tower: window attention", () => {
  // 56-px windows = 2×2 merged tokens = 4×4 patches; an 8×8-patch image has 4 windows.
  const grid = [[1, 8, 8]];
  const far = 63; // patch (7, 7): merge block (3, 3), the bottom-right window
  const near = 23; // patch (3, 3): merge block (1, 1), the top-left window with patch 0

  it("a window block keeps windows apart; a full-attention block mixes them", () => {
    const px = pixelsFor(grid, 4);
    const bump = tf.tidy(() =>
      tf.add(
        px,
        tf
          .oneHot(tf.tensor1d([0], "int32"), 64)
          .reshape([64, 1])
          .mul(5),
      ),
    );
    const states = (m: Qwen2VisionTransformer, x: tf.Tensor2D) => m.forwardOutputs(x, grid, { hiddenStates: true });

    const windowed = new Qwen2VisionTransformer({ variant: "qwen2.5-vl", windowSize: 56, fullattBlockIndexes: [1] });
    const [s0, s1] = [states(windowed, px), states(windowed, bump as tf.Tensor2D)];
    const h = (s: typeof s0, i: number) => s.hiddenStates![i]!;
    expect(rowDiff(h(s0, 1), h(s1, 1), far)).toBeLessThan(1e-6); // block 0: windows
    expect(rowDiff(h(s0, 1), h(s1, 1), near)).toBeGreaterThan(1e-4); // same window as patch 0
    expect(rowDiff(h(s0, 2), h(s1, 2), far)).toBeGreaterThan(1e-4); // block 1: full attention

    const full = new Qwen2VisionTransformer({ variant: "qwen2.5-vl", windowSize: 56, fullattBlockIndexes: [0, 1] });
    const [f0, f1] = [states(full, px), states(full, bump as tf.Tensor2D)];
    expect(rowDiff(h(f0, 1), h(f1, 1), far)).toBeGreaterThan(1e-4);

    for (const s of [s0, s1, f0, f1]) tf.dispose([s.output, ...(s.hiddenStates ?? [])]);
    tf.dispose([px, bump]);
    windowed.dispose();
    full.dispose();
  });

  it("puts the tokens back in raster order: small windows with full attention = one window per image", () => {
    const images = [
      [1, 8, 8],
      [1, 4, 6],
    ];
    // The window order is not the identity, so a missing inverse (or unpermuted cos/sin) would show.
    const order = windowIndex(images, { windowSize: 56 }).windowIndex;
    expect(order.some((v, i) => v !== i)).toBe(true);
    const px = pixelsFor(images, 6);
    // Same seed, same weights: (a) 56-px windows, every block full attention; (b) 224-px windows covering each image
    // (identity order), every block a window block. Both attend over whole images.
    const a = new Qwen2VisionTransformer({
      variant: "qwen2.5-vl",
      depth: 2,
      windowSize: 56,
      fullattBlockIndexes: [0, 1],
    });
    const b = new Qwen2VisionTransformer({ variant: "qwen2.5-vl", depth: 2, windowSize: 224, fullattBlockIndexes: [] });
    expect(windowIndex(images, { windowSize: 224 }).windowIndex.every((v, i) => v === i)).toBe(true);
    const [oa, ob] = [a.forward(px, images), b.forward(px, images)];
    expect(oa.shape).toEqual([(64 + 24) / 4, 48]);
    expect(maxDiff(oa, ob)).toBeLessThan(1e-5);
    tf.dispose([px, oa, ob]);
    a.dispose();
    b.dispose();
  });
});

describe("packed segments (attention within images and windows as a batch)", () => {
  it("packs rows by cu_seqlens, pads the short segments and masks them, and unpacks to the same rows", async () => {
    const { packSegments, packRows, unpackRows } = await import("../src/index.js");
    const { MASK_MIN } = await import("@vlab/core");
    tf.tidy(() => {
      const seg = packSegments([0, 3, 8]); // lengths 3 and 5
      expect([seg.count, seg.length]).toEqual([2, 5]);
      expect(Array.from(seg.gather.dataSync())).toEqual([0, 1, 2, 8, 8, 3, 4, 5, 6, 7]); // 8: the zero row
      expect(Array.from(seg.mask!.dataSync())).toEqual([0, 0, 0, MASK_MIN, MASK_MIN, 0, 0, 0, 0, 0]);
      const x = tf.tensor2d(
        Array.from({ length: 16 }, (_, i) => i + 1),
        [8, 2],
      );
      const packed = packRows(x, seg);
      expect(packed.shape).toEqual([2, 5, 2]);
      expect(Array.from(packed.dataSync()).slice(6, 10)).toEqual([0, 0, 0, 0]); // padding rows are zeros
      expect(Array.from(unpackRows(packed, seg).dataSync())).toEqual(Array.from(x.dataSync()));
      expect(packSegments([0, 4, 8]).mask).toBeUndefined(); // equal segments: nothing to hide
    });
  });
});
