import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  attentionWeights,
  blockDiagonalMask,
  causalMask,
  combineMasks,
  KvCache,
  MASK_MIN,
  MultiHeadAttention,
  paddingMask,
  repeatKv,
  scaledDotProductAttention,
} from "../src/attention.js";
import { initBackend } from "../src/backend.js";
import { Rng, setSeed } from "../src/rng.js";

beforeAll(async () => {
  await initBackend("cpu");
});

const randn = (seed: number, shape: number[]) =>
  tf.tensor(new Rng(seed).normalArray(shape.reduce((a, b) => a * b, 1)), shape);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!), `index ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(expected[i]!)),
    );
  }
}

/** Rows [from, to) of a [1, T, D] tensor's data. */
function rows(t: tf.Tensor, from: number, to: number): Float32Array {
  const D = t.shape[t.rank - 1]!;
  return (t.dataSync() as Float32Array).slice(from * D, to * D);
}

describe("masks", () => {
  it("causalMask", () => {
    const m = causalMask(3);
    expect(m.shape).toEqual([1, 1, 3, 3]);
    expect(Array.from(m.dataSync())).toEqual([0, MASK_MIN, MASK_MIN, 0, 0, MASK_MIN, 0, 0, 0]);
    const withPast = causalMask(2, 4); // 2 new queries after 2 cached keys
    expect(Array.from(withPast.dataSync())).toEqual([0, 0, 0, MASK_MIN, 0, 0, 0, 0]);
    tf.dispose([m, withPast]);
  });

  it("paddingMask hides padded keys from every query", () => {
    const m = paddingMask([
      [1, 1, 0],
      [1, 0, 0],
    ]);
    expect(m.shape).toEqual([2, 1, 1, 3]);
    expect(Array.from(m.dataSync())).toEqual([0, 0, MASK_MIN, 0, MASK_MIN, MASK_MIN]);
    const fromTensor = paddingMask(tf.tensor2d([[1, 0]], [1, 2], "int32"));
    expect(Array.from(fromTensor.dataSync())).toEqual([0, MASK_MIN]);
    tf.dispose([m, fromTensor]);
  });

  it("blockDiagonalMask from lengths or cu_seqlens", () => {
    const a = blockDiagonalMask([2, 1, 2]);
    const b = blockDiagonalMask({ cuSeqlens: [0, 2, 3, 5] });
    const X = MASK_MIN;
    const expected = [0, 0, X, X, X, 0, 0, X, X, X, X, X, 0, X, X, X, X, X, 0, 0, X, X, X, 0, 0];
    expect(a.shape).toEqual([1, 1, 5, 5]);
    expect(Array.from(a.dataSync())).toEqual(expected);
    expect(Array.from(b.dataSync())).toEqual(expected);
    expect(() => blockDiagonalMask({ cuSeqlens: [1, 3] })).toThrow(/start at 0/);
    tf.dispose([a, b]);
  });

  it("combineMasks broadcasts, adds and clamps; -Infinity is safe", () => {
    const c = causalMask(3);
    const p = paddingMask([
      [1, 1, 0],
      [1, 1, 1],
    ]);
    const m = combineMasks(c, undefined, p)!;
    expect(m.shape).toEqual([2, 1, 3, 3]);
    const v = m.dataSync();
    expect(Math.min(...v)).toBe(MASK_MIN); // MASK_MIN + MASK_MIN clamped
    expect(Array.from(v.slice(0, 9))).toEqual([0, MASK_MIN, MASK_MIN, 0, 0, MASK_MIN, 0, 0, MASK_MIN]);
    expect(combineMasks()).toBeUndefined();
    const inf = tf.tensor4d([0, -Infinity], [1, 1, 1, 2]);
    expect(Array.from(combineMasks(inf)!.dataSync())).toEqual([0, MASK_MIN]);
    tf.dispose([c, p, m, inf]);
  });
});

describe("scaledDotProductAttention", () => {
  it("matches a hand computation", () => {
    // B = H = 1, T = 2, S = 3, hd = 2
    const q = tf.tensor4d([1, 0, 0, 2], [1, 1, 2, 2]);
    const k = tf.tensor4d([1, 0, 0, 1, 1, 1], [1, 1, 3, 2]);
    const v = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 3, 2]);
    const out = scaledDotProductAttention(q, k, v);
    const s = 1 / Math.sqrt(2);
    const expected: number[] = [];
    for (const scores of [
      [1 * s, 0, 1 * s],
      [0, 2 * s, 2 * s],
    ]) {
      const e = scores.map(Math.exp);
      const z = e[0]! + e[1]! + e[2]!;
      const w = e.map((x) => x / z);
      expected.push(w[0]! * 1 + w[1]! * 3 + w[2]! * 5, w[0]! * 2 + w[1]! * 4 + w[2]! * 6);
    }
    expect(out.shape).toEqual([1, 1, 2, 2]);
    close(out.dataSync(), expected);
    // with a mask hiding key 2 from query 0
    const mask = tf.tensor4d([0, 0, MASK_MIN, 0, 0, 0], [1, 1, 2, 3]);
    const masked = scaledDotProductAttention(q, k, v, mask);
    const e0 = [Math.exp(s), 1];
    const w0 = e0.map((x) => x / (e0[0]! + e0[1]!));
    close(masked.dataSync().slice(0, 2), [w0[0]! * 1 + w0[1]! * 3, w0[0]! * 2 + w0[1]! * 4]);
    tf.dispose([q, k, v, out, mask, masked]);
  });

  it("masked positions get exactly zero weight", () => {
    const q = randn(1, [2, 3, 4, 8]);
    const k = randn(2, [2, 3, 4, 8]);
    const m = combineMasks(
      causalMask(4),
      paddingMask([
        [1, 1, 1, 1],
        [1, 1, 1, 0],
      ]),
    )!;
    const w = attentionWeights(q, k, m);
    expect(w.shape).toEqual([2, 3, 4, 4]);
    const wv = w.dataSync();
    const mv = tf.broadcastTo(m, [2, 3, 4, 4]).dataSync();
    for (let i = 0; i < wv.length; i++) if (mv[i]! < 0) expect(wv[i]).toBe(0);
    // rows sum to one
    const sums = tf.sum(w, -1).dataSync();
    for (const s of sums) expect(s).toBeCloseTo(1, 5);
    tf.dispose([q, k, m, w]);
  });

  it("a fully masked row is finite (no NaN), also with -Infinity masks", () => {
    const q = randn(3, [1, 1, 2, 4]);
    const k = randn(4, [1, 1, 3, 4]);
    const v = randn(5, [1, 1, 3, 4]);
    const mask = tf.tensor4d([-Infinity, -Infinity, -Infinity, 0, -Infinity, 0], [1, 1, 2, 3]);
    const out = scaledDotProductAttention(q, k, v, mask);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    const w = attentionWeights(q, k, mask).dataSync();
    close(w.slice(0, 3), [1 / 3, 1 / 3, 1 / 3]); // fully masked: uniform, like Hugging Face
    expect(w[4]).toBe(0); // partly masked: the masked key gets exactly zero
    expect(w[3]! + w[5]!).toBeCloseTo(1, 6);
    tf.dispose([q, k, v, mask, out]);
  });

  it("repeatKv follows Hugging Face's head order", () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 1, 2]); // two kv heads: [1, 2] and [3, 4]
    const r = repeatKv(x, 2);
    expect(r.shape).toEqual([1, 4, 1, 2]);
    expect(Array.from(r.dataSync())).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
    tf.dispose([x, r]);
  });

  it("repeatKv equals tf.tile's repeat exactly, values and gradient, for 2 and 3 copies", () => {
    for (const nRep of [2, 3]) {
      const x = randn(nRep, [2, 3, 5, 4]); // [B, Hkv, S, hd]
      const w = randn(10 + nRep, [2, 3 * nRep, 5, 4]); // weights of the repeated heads, for a gradient
      const tiled = (t: tf.Tensor) =>
        tf.reshape(tf.tile(tf.reshape(t, [6, 1, 20]), [1, nRep, 1]), [2, 3 * nRep, 5, 4]) as tf.Tensor4D;
      const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(repeatKv(t, nRep), w)))(x);
      const reference = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tiled(t), w)))(x);
      const [a, b] = [repeatKv(x, nRep), tiled(x)];
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      close(ours.dataSync(), reference.dataSync(), 1e-6);
      tf.dispose([x, w, ours, reference, a, b]);
    }
  });
});

describe("MultiHeadAttention", () => {
  it("names its parameters explicitly (fused, separate, custom)", () => {
    const fused = new MultiHeadAttention(8, 2, { qkvFused: true });
    expect(fused.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ["qkv.weight", [24, 8]],
      ["qkv.bias", [24]],
      ["o_proj.weight", [8, 8]],
      ["o_proj.bias", [8]],
    ]);
    const qwen = new MultiHeadAttention(8, 4, { nKvHeads: 2, outBias: false });
    expect(qwen.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ["q_proj.weight", [8, 8]],
      ["q_proj.bias", [8]],
      ["k_proj.weight", [4, 8]],
      ["k_proj.bias", [4]],
      ["v_proj.weight", [4, 8]],
      ["v_proj.bias", [4]],
      ["o_proj.weight", [8, 8]],
    ]);
    const clip = new MultiHeadAttention(8, 2, { names: { out: "out_proj" } });
    expect(clip.namedParameters().map(([n]) => n)).toContain("out_proj.weight");
    [fused, qwen, clip].forEach((m) => m.dispose());
  });

  it("causal: the output at position t does not depend on later tokens", () => {
    setSeed(1);
    const attn = new MultiHeadAttention(8, 2);
    const x = randn(6, [1, 5, 8]);
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [1, 3, 8]), randn(7, [1, 2, 8])], 1); // tokens 3, 4 differ
    const mask = causalMask(5);
    const y1 = attn.forward(x, { mask });
    const y2 = attn.forward(changed, { mask });
    close(rows(y2, 0, 3), rows(y1, 0, 3), 1e-6);
    expect(Math.abs(rows(y2, 4, 5)[0]! - rows(y1, 4, 5)[0]!)).toBeGreaterThan(1e-4);
    tf.dispose([x, changed, mask, y1, y2]);
    attn.dispose();
  });

  it("block-diagonal: packed sequences do not see each other", () => {
    const attn = new MultiHeadAttention(8, 2, { qkvFused: true });
    const x = randn(8, [1, 6, 8]);
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [1, 2, 8]), randn(9, [1, 4, 8])], 1); // segment 2 differs
    const mask = blockDiagonalMask([2, 4]);
    const y1 = attn.forward(x, { mask });
    const y2 = attn.forward(changed, { mask });
    close(rows(y2, 0, 2), rows(y1, 0, 2), 1e-6);
    // and segment 1 alone gives the same output
    const alone = attn.forward(tf.slice(x, [0, 0, 0], [1, 2, 8]));
    close(alone.dataSync(), rows(y1, 0, 2), 1e-5);
    tf.dispose([x, changed, mask, y1, y2, alone]);
    attn.dispose();
  });

  it("padding: real tokens of a padded batch match the unpadded sequence", () => {
    const attn = new MultiHeadAttention(8, 2);
    const a = randn(10, [1, 3, 8]);
    const padded = tf.concat([a, randn(11, [1, 2, 8])], 1); // [1, 5, 8], last two are padding
    const b = randn(12, [1, 5, 8]);
    const batch = tf.concat([padded, b], 0); // [2, 5, 8]
    const mask = combineMasks(
      causalMask(5),
      paddingMask([
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1],
      ]),
    )!;
    const y = attn.forward(batch, { mask });
    const ya = attn.forward(a, { mask: causalMask(3) });
    close(rows(y, 0, 3), ya.dataSync(), 1e-5);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([a, padded, b, batch, mask, y, ya]);
    attn.dispose();
  });

  it("fused qkv equals separate projections with the same weights", () => {
    const sep = new MultiHeadAttention(8, 4, { nKvHeads: 2 });
    const fused = new MultiHeadAttention(8, 4, { nKvHeads: 2, qkvFused: true });
    const sd = sep.stateDict();
    const qkvW = tf.concat([sd["q_proj.weight"]!, sd["k_proj.weight"]!, sd["v_proj.weight"]!], 0);
    const qkvB = tf.concat([sd["q_proj.bias"]!, sd["k_proj.bias"]!, sd["v_proj.bias"]!], 0);
    fused.loadStateDict({
      "qkv.weight": qkvW,
      "qkv.bias": qkvB,
      "o_proj.weight": sd["o_proj.weight"]!,
      "o_proj.bias": sd["o_proj.bias"]!,
    });
    const x = randn(13, [2, 4, 8]);
    close(fused.forward(x).dataSync(), sep.forward(x).dataSync(), 1e-5);
    tf.dispose([qkvW, qkvB, x]);
    sep.dispose();
    fused.dispose();
  });

  it("grouped-query attention equals full attention with repeated kv heads", () => {
    const gqa = new MultiHeadAttention(8, 4, { nKvHeads: 2 }); // headDim 2, kv heads 0, 1
    const mha = new MultiHeadAttention(8, 4);
    const sd = gqa.stateDict();
    // kv head j serves query heads 2j and 2j+1: repeat each block of headDim rows twice
    const rep = (w: tf.Tensor) =>
      tf.concat(
        tf.split(w, 2, 0).flatMap((b) => [b, b]),
        0,
      );
    mha.loadStateDict({
      ...sd,
      "k_proj.weight": rep(sd["k_proj.weight"]!),
      "k_proj.bias": rep(sd["k_proj.bias"]!),
      "v_proj.weight": rep(sd["v_proj.weight"]!),
      "v_proj.bias": rep(sd["v_proj.bias"]!),
    });
    const x = randn(14, [1, 3, 8]);
    const mask = causalMask(3);
    close(gqa.forward(x, { mask }).dataSync(), mha.forward(x, { mask }).dataSync(), 1e-5);
    tf.dispose([x, mask]);
    gqa.dispose();
    mha.dispose();
  });

  it("cross-attention reads keys and values from a context of another width and length", () => {
    const attn = new MultiHeadAttention(8, 2, { kvDim: 6 });
    expect(attn.k!.weight.shape).toEqual([8, 6]);
    const x = randn(15, [2, 3, 8]);
    const ctx = randn(16, [2, 5, 6]);
    const { output, weights } = attn.forwardWithWeights(x, { context: ctx });
    expect(output.shape).toEqual([2, 3, 8]);
    expect(weights.shape).toEqual([2, 2, 3, 5]);
    tf.dispose([x, ctx, output, weights]);
    attn.dispose();
  });

  it("calls the positional hook on q and k after projection", () => {
    const attn = new MultiHeadAttention(8, 4, { nKvHeads: 2 });
    const seen: number[][] = [];
    const x = randn(17, [1, 3, 8]);
    const y = attn.forward(x, {
      positional: (q, k) => {
        seen.push(q.shape, k.shape);
        return [q, k];
      },
    });
    expect(seen).toEqual([
      [1, 4, 3, 2],
      [1, 2, 3, 2],
    ]);
    tf.dispose([x, y]);
    attn.dispose();
  });

  it("KV cache: decoding one token at a time equals one causal pass (grouped-query, with a positional hook)", () => {
    const attn = new MultiHeadAttention(8, 4, { nKvHeads: 2, rng: new Rng(3) });
    const T = 5;
    const x = randn(19, [2, T, 8]);
    // A position-dependent hook (adds 0.1·position to q and k), so a wrong position offset shows up.
    const shift =
      (offset: number) =>
      (q: tf.Tensor4D, k: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] => {
        const pos = tf.reshape(tf.add(tf.range(0, q.shape[2]!), offset), [1, 1, -1, 1]);
        return [tf.add(q, tf.mul(pos, 0.1)) as tf.Tensor4D, tf.add(k, tf.mul(pos, 0.1)) as tf.Tensor4D];
      };
    const full = tf.tidy(() => attn.forward(x, { mask: causalMask(T), positional: shift(0) })); // [2, T, 8]
    const cache = new KvCache();
    expect(cache.length).toBe(0);
    const before = tf.memory().numTensors;
    // Prefill the first 2 tokens, then 3 single-token steps.
    const steps: tf.Tensor[] = [];
    for (const [from, to] of [
      [0, 2],
      [2, 3],
      [3, 4],
      [4, 5],
    ] as const) {
      steps.push(
        tf.tidy(() => {
          const xs = tf.slice(x, [0, from, 0], [2, to - from, 8]);
          return attn.forward(xs, { mask: causalMask(to - from, to), positional: shift(from), cache });
        }),
      );
      expect(cache.length).toBe(to);
      expect(cache.k!.shape).toEqual([2, 2, to, 2]); // kv heads are stored before repetition
    }
    // What stays: the outputs, and the cache's k and v.
    expect(tf.memory().numTensors).toBe(before + steps.length + 2);
    const cached = tf.concat(steps, 1);
    close(cached.dataSync(), full.dataSync(), 1e-5);
    cache.dispose();
    expect(cache.length).toBe(0);
    expect(tf.memory().numTensors).toBe(before + steps.length + 1); // + the concatenated outputs
    tf.dispose([x, full, cached, ...steps]);
    attn.dispose();
  });

  it("KV cache refuses keys of another batch or head layout", () => {
    const cache = new KvCache();
    const a = tf.zeros([1, 2, 3, 4]) as tf.Tensor4D;
    const b = tf.zeros([2, 2, 1, 4]) as tf.Tensor4D;
    cache.update(a, a);
    expect(() => cache.update(b, b)).toThrow(/do not match the cached \[1,2,3,4\]/);
    cache.dispose();
    tf.dispose([a, b]);
  });

  for (const backend of ["cpu", "wasm"] as const) {
    it(`forward + backward in tidy leaks nothing (${backend})`, async () => {
      await initBackend(backend);
      for (const opts of [{}, { qkvFused: true }, { nKvHeads: 1 }]) {
        const attn = new MultiHeadAttention(16, 2, opts);
        const x = randn(18, [2, 5, 16]);
        const step = () =>
          tf.tidy(() => {
            const mask = combineMasks(
              causalMask(5),
              paddingMask([
                [1, 1, 1, 1, 0],
                [1, 1, 1, 1, 1],
              ]),
            );
            const { value, grads } = tf.variableGrads(
              () => tf.sum(tf.square(attn.forward(x, { mask }))) as tf.Scalar,
              attn.trainableParameters(),
            );
            expect(Object.values(grads).every((g) => Array.from(g.dataSync()).every(Number.isFinite))).toBe(true);
            tf.dispose(grads);
            return value;
          });
        step().dispose();
        const before = tf.memory().numTensors;
        step().dispose();
        expect(tf.memory().numTensors).toBe(before);
        x.dispose();
        attn.dispose();
      }
      await initBackend("cpu");
    });
  }
});
