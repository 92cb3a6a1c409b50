import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, MultiHeadAttention, Rng, tf } from "@vlab/core";
import {
  applyRotary,
  mropeAngles,
  mropeCosSin,
  mropeSlotAxes,
  QWEN2_VL_MROPE_SECTION,
  ropeInverseFrequencies,
  rotaryHook,
  RotaryEmbedding,
  rotateHalf,
} from "../src/index.js";

beforeAll(async () => {
  await initBackend("cpu");
});

const randn = (seed: number, shape: number[]) =>
  tf.tensor(new Rng(seed).normalArray(shape.reduce((a, b) => a * b, 1)), shape);
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe("1-D RoPE", () => {
  it("inverse frequencies 1/θ^(2j/d)", () => {
    // d = 4, θ = 100: [100^0, 100^(-1/2)] = [1, 0.1]
    expect(Array.from(ropeInverseFrequencies(4, 100))).toEqual([1, 0.1]);
    // Qwen2-VL's rope_theta 1e6 and head_dim 128: inv_freq[1] = 1e6^(-2/128)
    expect(ropeInverseFrequencies(128, 1e6)[1]).toBeCloseTo(0.8058421877614819, 15);
    expect(() => ropeInverseFrequencies(5)).toThrow(/even/);
  });

  it("rotate_half is concat(-x2, x1) (half-split layout, not interleaved)", () => {
    const x = tf.tensor([[1, 2, 3, 4]]);
    const r = rotateHalf(x);
    expect(Array.from(r.dataSync())).toEqual([-3, -4, 1, 2]);
    tf.dispose([x, r]);
  });

  it("rotates the pairs (j, j + d/2) by p·inv_freq[j]: a hand-worked case", () => {
    // d = 4, θ = 100, x = [1, 2, 3, 4] at position 2: angles [2·1, 2·0.1] = [2, 0.2]
    //   x'0 = x0 cos 2 − x2 sin 2     = −3.1440391170241875
    //   x'1 = x1 cos .2 − x3 sin .2   =  1.1654558325022384
    //   x'2 = x2 cos 2 + x0 sin 2     = −0.33914308281574557
    //   x'3 = x3 cos .2 + x1 sin .2   =  4.317604972955089
    const rope = new RotaryEmbedding(4, { theta: 100, maxPositions: 8 });
    const q = tf.tensor4d([1, 2, 3, 4], [1, 1, 1, 4]);
    const [qr, kr] = rope.apply(q, q, [[2]]);
    const expected = [-3.1440391170241875, 1.1654558325022384, -0.33914308281574557, 4.317604972955089];
    for (const t of [qr, kr]) Array.from(t.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    // position 0 is the identity
    const [q0, k0] = rope.apply(q, q, [[0]]);
    expect(Array.from(q0.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(rope.angles(2))).toEqual([2, 0.2]);
    tf.dispose([q, qr, kr, q0, k0]);
    rope.dispose();
  });

  it("preserves the norm of every head vector", () => {
    const rope = new RotaryEmbedding(16, { theta: 1e4 });
    const q = randn(1, [2, 3, 5, 16]);
    const k = randn(2, [2, 1, 5, 16]);
    const pos = [
      [0, 1, 2, 3, 4],
      [7, 100, 9, 2000, 3],
    ];
    const [qr, kr] = rope.apply(q, k, pos);
    const norms = (t: tf.Tensor) => tf.tidy(() => tf.norm(t, "euclidean", -1));
    for (const [a, b] of [
      [q, qr],
      [k, kr],
    ] as const) {
      const [na, nb] = [norms(a), norms(b)];
      expect(maxDiff(na, nb)).toBeLessThan(1e-5);
      tf.dispose([na, nb]);
    }
    tf.dispose([q, k, qr, kr]);
    rope.dispose();
  });

  it("q·k after rotation depends only on the position difference", () => {
    const rope = new RotaryEmbedding(8, { theta: 10 });
    const q = randn(3, [1, 1, 1, 8]);
    const k = randn(4, [1, 1, 1, 8]);
    const dot = (m: number, n: number) => {
      const [qm] = rope.apply(q, q, [[m]]);
      const [, kn] = rope.apply(k, k, [[n]]);
      const v = tf.tidy(() => tf.sum(tf.mul(qm, kn)).dataSync()[0]!);
      tf.dispose([qm, kn]);
      return v;
    };
    const d3 = [dot(3, 0), dot(5, 2), dot(13, 10), dot(40, 37)];
    for (const v of d3) expect(v).toBeCloseTo(d3[0]!, 4);
    // and it does depend on the difference (else the test above proves nothing)
    expect(Math.abs(dot(5, 2) - dot(5, 4))).toBeGreaterThan(1e-2);
    tf.dispose([q, k]);
    rope.dispose();
  });

  it(
    "explicit position ids: a left-padded row gets the rows " +
      "of its own positions; the table grows past maxPositions",
    () => {
      const rope = new RotaryEmbedding(6, { theta: 50, maxPositions: 4 });
      expect(rope.cachedLength).toBe(4);
      const before = tf.memory().numTensors;
      const a = rope.cosSin([[0, 1, 2, 3, 4, 5]]);
      const b = rope.cosSin([[1, 1, 0, 1, 2, 10]]); // padding (filled with 1), then 0, 1, 2; then 10
      expect(rope.cachedLength).toBe(16); // 4 → 8 → 16 to cover position 10
      expect(tf.memory().numTensors).toBe(before + 4); // the table was replaced, not duplicated
      const rowOf = (t: tf.Tensor, i: number) => Array.from(t.dataSync().slice(i * 6, i * 6 + 6));
      expect(rowOf(b.cos, 2)).toEqual(rowOf(a.cos, 0));
      expect(rowOf(b.sin, 4)).toEqual(rowOf(a.sin, 2));
      // position 10 by the formula: cos(10 · inv_freq[j]), in both halves
      const inv = ropeInverseFrequencies(6, 50);
      rowOf(b.cos, 5).forEach((v, i) => expect(v).toBeCloseTo(Math.cos(10 * inv[i % 3]!), 6));
      expect(() => rope.cosSin([[-1]])).toThrow(/>= 0/);
      tf.dispose([a.cos, a.sin, b.cos, b.sin]);
      rope.dispose();
    },
  );

  it("as core's positional hook: attention scores depend on relative positions only; no leaks", () => {
    const rope = new RotaryEmbedding(4, { theta: 100 });
    const attn = new MultiHeadAttention(8, 2, { nKvHeads: 1, bias: false, rng: new Rng(5) });
    const x = randn(6, [1, 4, 8]);
    const run = (offset: number) =>
      tf.tidy(() => {
        const { cos, sin } = rope.cosSin([[0, 1, 2, 3].map((p) => p + offset)]);
        return attn.forwardWithWeights(x, { positional: rotaryHook(cos, sin) }).weights;
      });
    run(0).dispose(); // warm up
    const before = tf.memory().numTensors;
    const w0 = run(0);
    const w7 = run(7);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(maxDiff(w0, w7)).toBeLessThan(1e-5); // shifting every position changes nothing
    tf.dispose([w0, w7, x]);
    attn.dispose();
    rope.dispose();
  });

  it("applyRotary broadcasts cos/sin over heads", () => {
    const x = randn(7, [1, 2, 1, 4]);
    const cos = tf.ones([1, 1, 1, 4]);
    const sin = tf.zeros([1, 1, 1, 4]);
    const y = applyRotary(x, cos, sin);
    expect(maxDiff(x, y)).toBe(0);
    tf.dispose([x, cos, sin, y]);
  });
});

describe("M-RoPE (transformers' apply_multimodal_rotary_pos_emb, mrope_section [16, 24, 24])", () => {
  const rope = new RotaryEmbedding(128, { theta: 1e6, maxPositions: 16 });

  it("slot j ∈ [0,16) follows t, [16,40) h, [40,64) w", () => {
    const axes = mropeSlotAxes(QWEN2_VL_MROPE_SECTION);
    expect(axes).toHaveLength(64);
    expect([axes[0], axes[15], axes[16], axes[39], axes[40], axes[63]]).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it("angles for a token at (t,h,w) = (4,5,6), worked out by hand", () => {
    const a = mropeAngles(rope, [4, 5, 6]);
    expect(a[0]).toBe(4.0);
    expect(Math.cos(a[0]!)).toBeCloseTo(-0.6536436208636119, 14);
    expect(a[15]).toBeCloseTo(0.15696759033938143, 14);
    expect(a[16]).toBeCloseTo(0.15811388300841894, 14);
    expect(Math.cos(a[16]!)).toBeCloseTo(0.9875260199749633, 14);
    expect(a[40]).toBeCloseTo(0.0010669676460233536, 16);
  });

  it("the mixed cos/sin table carries those angles in both halves", () => {
    const { cos, sin } = mropeCosSin(rope, [[[4]], [[5]], [[6]]]);
    const c = cos.dataSync();
    const s = sin.dataSync();
    const a = mropeAngles(rope, [4, 5, 6]);
    for (const j of [0, 15, 16, 39, 40, 63]) {
      expect(c[j]).toBeCloseTo(Math.cos(a[j]!), 6);
      expect(c[j + 64]).toBeCloseTo(Math.cos(a[j]!), 6);
      expect(s[j]).toBeCloseTo(Math.sin(a[j]!), 6);
    }
    expect(c[0]).toBeCloseTo(-0.6536436208636119, 6);
    expect(c[16]).toBeCloseTo(0.9875260199749633, 6);
    tf.dispose([cos, sin]);
  });

  it("text tokens (t = h = w) get exactly 1-D RoPE", () => {
    const pos = [
      [0, 1, 2, 3, 7, 8, 9],
      [1, 1, 0, 1, 2, 3, 4],
    ];
    const ids = tf.tensor3d([pos, pos, pos], [3, 2, 7], "int32");
    const before = tf.memory().numTensors;
    const m = mropeCosSin(rope, ids);
    expect(tf.memory().numTensors).toBe(before + 2); // cos and sin, nothing else
    ids.dispose();
    const r = rope.cosSin(pos);
    expect(maxDiff(m.cos, r.cos)).toBe(0);
    expect(maxDiff(m.sin, r.sin)).toBe(0);
    expect(mropeAngles(rope, [9, 9, 9])).toEqual(rope.angles(9));
    tf.dispose([m.cos, m.sin, r.cos, r.sin]);
    expect(() => mropeCosSin(rope, [pos, pos, pos], [16, 24, 20])).toThrow(/summing to head_dim\/2 = 64/);
  });
});
