/**
 * Test helpers: run the same computation on the `cpu` backend (tfjs's reference kernels) and on
 * `wasm` (with vlab's kernels), and compare outputs and gradients.
 */
import * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";

export type Case = () => tf.Tensor[];
export interface Result {
  shape: number[];
  values: Float32Array;
}

/** Deterministic normal values (tfjs's seeded generator runs in JavaScript: the same numbers on every backend). */
export function data(seed: number, n: number): Float32Array {
  const x = tf.randomNormal([n], 0, 1, "float32", seed);
  const values = Float32Array.from(x.dataSync());
  x.dispose();
  return values;
}

/** A float32 tensor of deterministic normal values. */
export const t = (seed: number, shape: number[]): tf.Tensor =>
  tf.tensor(
    data(
      seed,
      shape.reduce((a, b) => a * b, 1),
    ),
    shape,
  );

/** Runs `f` on a backend (in a tidy) and returns copies of its outputs. */
export async function runOn(backend: "cpu" | "wasm", f: Case): Promise<Result[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const res = outs.map((x) => ({ shape: x.shape, values: Float32Array.from(x.dataSync()) }));
  tf.dispose(outs);
  return res;
}

/** Every output of `got` equals `ref` within `rel` relative to the output's largest magnitude. */
export function expectClose(got: Result[], ref: Result[], rel: number, label = ""): void {
  expect(got.length).toBe(ref.length);
  ref.forEach((r, i) => {
    const g = got[i]!;
    expect(g.shape, `${label} output ${i} shape`).toEqual(r.shape);
    let scale = 0;
    let maxDiff = 0;
    for (let j = 0; j < r.values.length; j++) {
      scale = Math.max(scale, Math.abs(r.values[j]!));
      const d = Math.abs(r.values[j]! - g.values[j]!);
      maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
    }
    expect(maxDiff, `${label} output ${i}: max |got - ref| = ${maxDiff}, scale ${scale}`).toBeLessThanOrEqual(
      rel * Math.max(scale, 1e-3),
    );
  });
}

/** `f` on wasm equals `f` (or `reference`) on cpu within `rel`. Leaves wasm as the backend. */
export async function expectSameOnBoth(f: Case, rel = 1e-5, reference: Case = f, label = ""): Promise<void> {
  const ref = await runOn("cpu", reference);
  const got = await runOn("wasm", f);
  expectClose(got, ref, rel, label);
}

/** The outputs of `fn` followed by the gradients of a fixed random projection of them w.r.t. `inputs`. */
export function withGrads(inputs: () => tf.Tensor[], fn: (...xs: tf.Tensor[]) => tf.Tensor): Case {
  return () => {
    const xs = inputs();
    const y = fn(...xs);
    const r = tf.tensor(data(99, y.size), y.shape);
    const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(fn(...a), r)))(xs);
    return [y, ...g];
  };
}
