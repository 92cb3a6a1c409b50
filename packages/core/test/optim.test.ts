import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// tfjs-core alone registers no gradients; the union package does (as backend.ts imports it).
import "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, clipGradNorm, globalNorm, warmupCosine } from "../src/optim.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** float64 reference of torch.optim.AdamW for one tensor (flat arrays). */
function refAdamW(p0: number[], grads: number[][], o: { lr: number; wd: number; b1: number; b2: number; eps: number }) {
  const p = [...p0],
    m = p.map(() => 0),
    v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! * (1 - o.lr * o.wd);
      m[i] = o.b1 * m[i]! + (1 - o.b1) * g[i]!;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * g[i]! ** 2;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - o.b2 ** t) + o.eps;
      p[i] = p[i]! - (o.lr / (1 - o.b1 ** t)) * (m[i]! / denom);
    }
  });
  return p;
}

const P0 = [1, -2, 0.5];
const G = [
  [0.1, -0.2, 0.3],
  [0.2, 0.1, -0.1],
  [-0.3, 0.05, 0.0],
];

describe("AdamW", () => {
  it("matches torch.optim.AdamW for 3 steps (lr 0.1, wd 0.1)", () => {
    const p = tf.variable(tf.tensor1d(P0));
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.1 });
    // Expected values: torch.optim.AdamW's float32 arithmetic replayed in numpy float32
    // (p.mul_(1-lr*wd); m.lerp_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2); p.addcdiv_(m, v.sqrt()/sqrt(bc2)+eps,
    // -lr/bc1)).
    //
    // Step 1 by hand: m̂ = g and v̂ = g², so the Adam update is lr·g/(|g|+ε) ≈ lr·sign(g), and
    //   p1 = p0·(1 − 0.1·0.1) − 0.1·sign(g1) = [0.99 − 0.1, −1.98 + 0.1, 0.495 − 0.1] = [0.89, −1.88, 0.395].
    const expected = [
      [0.8899999856948853, -1.8799999952316284, 0.39500001072883606],
      [0.7845817804336548, -1.8345662355422974, 0.3510281443595886],
      [0.7833958864212036, -1.8100817203521729, 0.3165808618068695],
    ];
    const ref = refAdamW(P0, G, { lr: 0.1, wd: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8 });
    G.forEach((g, k) => {
      const gt = tf.tensor1d(g);
      opt.step([gt]);
      gt.dispose();
      const got = Array.from(p.dataSync());
      for (let i = 0; i < 3; i++) expect(got[i]).toBeCloseTo(expected[k]![i]!, 6);
    });
    const got = Array.from(p.dataSync());
    for (let i = 0; i < 3; i++) expect(got[i]).toBeCloseTo(ref[i]!, 6);
    expect(opt.stepCount).toBe(3);
    opt.dispose();
    p.dispose();
  });

  it("accepts grads keyed by given names or by variable.name; step lr override; no leaks", () => {
    const w = tf.variable(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
    );
    const b = tf.variable(tf.tensor1d([0.5, -0.5]));
    const opt = new AdamW(
      [
        ["w", w],
        ["b", b],
      ],
      { lr: 0.01, weightDecay: 0 },
    );
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.add(tf.matMul(w, w), b)) as tf.Scalar, [w, b]);
    opt.step(grads); // keyed by variable.name
    tf.dispose([value, grads]);
    const g2 = { w: tf.onesLike(w), b: tf.onesLike(b) };
    opt.step(g2, 0.02); // keyed by given names, lr override
    tf.dispose(g2);
    expect(tf.memory().numTensors).toBe(before);
    // d/dW Σ(W·W) at W = [[1,2],[3,4]]: ∂/∂W_ab = rowsum_b + colsum_a, so ∂/∂W_00 = 3 + 4 = 7;
    // b is broadcast over 2 rows, so ∂/∂b = 2. Second step: gradient 1 everywhere, lr 0.02.
    const o = { wd: 0, b1: 0.9, b2: 0.999, eps: 1e-8 };
    const w1 = refAdamW([1], [[7]], { ...o, lr: 0.01 })[0]!;
    const w2 = refAdamW([1], [[7], [1]], { ...o, lr: 0.01 })[0]!; // step 2 at lr 0.01 ...
    const wExpected = w1 + (w2 - w1) * 2; // ... scaled to lr 0.02 (no decay: the update is linear in lr)
    expect(w.dataSync()[0]).toBeCloseTo(wExpected, 5);
    expect(w1).toBeCloseTo(1 - 0.01, 6); // step 1 moves by lr·sign(g)
    opt.dispose();
    tf.dispose([w, b]);
  });

  it("skips params without grads and decay filter exempts params", () => {
    const a = tf.variable(tf.tensor1d([1, 1]));
    const c = tf.variable(tf.tensor1d([1, 1]));
    const opt = new AdamW(
      [
        ["a", a],
        ["c", c],
      ],
      { lr: 0.1, weightDecay: 0.5, decay: (name) => name !== "c" },
    );
    const z = tf.zerosLike(a);
    opt.step({ a: z, c: z });
    expect(Array.from(a.dataSync())).toEqual([0.95, 0.95].map(Math.fround)); // only decay (grad 0)
    expect(Array.from(c.dataSync())).toEqual([1, 1]);
    opt.step([z, null]);
    expect(opt.stateDict()["c.step"]!.dataSync()[0]).toBe(1);
    z.dispose();
    opt.dispose();
    tf.dispose([a, c]);
  });

  it("stateDict / loadStateDict resume exactly", () => {
    const mk = () => tf.variable(tf.tensor1d(P0));
    const p1 = mk();
    const o1 = new AdamW([["p", p1]], { lr: 0.1, weightDecay: 0.1 });
    for (const g of G) tf.tidy(() => o1.step([tf.tensor1d(g)]));

    const p2 = mk();
    const o2 = new AdamW([["p", p2]], { lr: 0.1, weightDecay: 0.1 });
    tf.tidy(() => o2.step([tf.tensor1d(G[0]!)]));
    const sd = o2.stateDict();
    expect(Object.keys(sd).sort()).toEqual(["p.exp_avg", "p.exp_avg_sq", "p.step"]);
    const p3 = tf.variable(p2.clone());
    const o3 = new AdamW([["p", p3]], { lr: 0.1, weightDecay: 0.1 });
    o3.loadStateDict(sd);
    tf.dispose(sd);
    for (const g of G.slice(1)) tf.tidy(() => o3.step([tf.tensor1d(g)]));
    expect(Array.from(p3.dataSync())).toEqual(Array.from(p1.dataSync()));
    expect(() => o3.loadStateDict({ "q.step": tf.scalar(1) })).toThrow(/match no parameter/);
    for (const o of [o1, o2, o3]) o.dispose();
    tf.dispose([p1, p2, p3]);
  });
});

describe("clipGradNorm", () => {
  it("scales by maxNorm/(norm+1e-6) only above maxNorm and returns the pre-clip norm", () => {
    const g = [tf.tensor1d([3, 0]), tf.tensor1d([0, 4])]; // global norm 5
    const { grads, norm } = clipGradNorm(g, 1);
    expect(norm).toBeCloseTo(5, 6);
    const s = 1 / (5 + 1e-6);
    expect(grads[0]!.dataSync()[0]).toBeCloseTo(3 * s, 6);
    expect(grads[1]!.dataSync()[1]).toBeCloseTo(4 * s, 6);
    const n2 = globalNorm(grads);
    expect(n2.dataSync()[0]).toBeCloseTo(1, 5);
    const same = clipGradNorm(g, 10);
    expect(same.norm).toBeCloseTo(5, 6);
    expect(same.grads).toBe(g);
    tf.dispose([...g, ...grads, n2]);
  });

  it("works on records and maps", () => {
    const rec = { a: tf.tensor1d([6, 8]) };
    const r = clipGradNorm(rec, 5);
    expect(r.norm).toBeCloseTo(10, 5);
    expect(r.grads.a.dataSync()[0]).toBeCloseTo(3, 5);
    const map = new Map([["a", rec.a]]);
    const m = clipGradNorm(map, 5);
    expect(m.grads.get("a")!.dataSync()[1]).toBeCloseTo(4, 5);
    tf.dispose([rec.a, r.grads.a, m.grads.get("a")!]);
  });
});

describe("warmupCosine", () => {
  it("warms up linearly from 0 then follows a cosine to minLr", () => {
    const f = warmupCosine({ lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 });
    expect(f(0)).toBe(0);
    expect(f(5)).toBeCloseTo(0.5);
    expect(f(10)).toBeCloseTo(1);
    expect(f(60)).toBeCloseTo(0.1 + 0.9 * 0.5); // half-way through the cosine
    expect(f(110)).toBeCloseTo(0.1);
    expect(f(500)).toBeCloseTo(0.1);
    const g = warmupCosine({ lr: 3e-4, warmupSteps: 0, totalSteps: 100 });
    expect(g(0)).toBeCloseTo(3e-4);
    expect(g(100)).toBeCloseTo(0);
    for (let s = 11; s < 110; s++) expect(f(s)).toBeLessThanOrEqual(f(s - 1));
  });
});
