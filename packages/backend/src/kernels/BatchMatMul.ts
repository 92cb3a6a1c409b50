/**
 * `BatchMatMul` on wasm through XNNPACK for transposed and batched operands.
 *
 * tfjs-backend-wasm 4.22 sends a matmul to XNNPACK only when neither operand is transposed and both
 * have batch size 1; everything else (every transposed operand, so the backward pass of every
 * matmul, and every batched matmul, so attention) runs a naive scalar loop. 512x512: 11 ms plain,
 * 137 ms with B transposed, 297 ms with A transposed; [64, 256, 256] batched: 2.2 s. This kernel
 * transposes operands physically (cheap, O(size)) and splits batches into XNNPACK calls (all three
 * 512 cases ~12 ms, the batched one 122 ms), falling back to the original kernel for tiny problems
 * where its fixed costs dominate. A 2-layer, d=128 GPT training step (B=16, T=64) went from 3.1 s to
 * 0.35–0.5 s. (Where the native addon is built, native_kernels/BatchMatMul.ts runs in front of this.)
 *
 *   out[..., M, N] = op(a)[..., M, K] · op(b)[..., K, N]          op = transpose when asked
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  f32,
  input,
  kernelFuncOf,
  size,
  type KernelArgs,
  type ReplacedKernel,
  type TensorInfo,
} from "./kernel_utils.js";

/**
 * Below this many multiply-adds per batch entry the original kernel (scalar loop) is used: the
 * XNNPACK path pays a fixed cost per call (operator creation, weight packing, copies).
 */
let minWorkPerBatch = 24 * 1024;
/** Below this many multiply-adds in total, always use the original kernel. */
let minWorkTotal = 32 * 1024;
let fastMatMulEnabled = process.env.VLAB_WASM_FAST_MATMUL !== "0";

/** Tune (or with `enabled: false`, switch off) the XNNPACK routing of `BatchMatMul` on wasm. */
export function configureWasmMatMul(opts: {
  enabled?: boolean;
  minWorkPerBatch?: number;
  minWorkTotal?: number;
}): void {
  if (opts.enabled !== undefined) fastMatMulEnabled = opts.enabled;
  if (opts.minWorkPerBatch !== undefined) minWorkPerBatch = opts.minWorkPerBatch;
  if (opts.minWorkTotal !== undefined) minWorkTotal = opts.minWorkTotal;
}

function copyRows(be: BackendWasm, src: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const out = be.makeOutput(shape, "float32");
  const n = size(shape);
  f32(be, out).set(f32(be, src).subarray(offset, offset + n));
  return out;
}

/** Physically swaps the last two dims (wasm Transpose kernel). */
function transposeLast2(be: BackendWasm, t: TensorInfo): TensorInfo {
  const r = t.shape.length;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return kernelFuncOf("Transpose", "wasm")({ inputs: { x: t }, backend: be, attrs: { perm } }) as TensorInfo;
}

/** The last two dims of a rank >= 2 shape. */
function lastTwo(shape: readonly number[], what: string): [number, number] {
  const [rows, cols] = shape.slice(-2);
  if (rows === undefined || cols === undefined) throw new Error(`BatchMatMul: ${what} has rank ${shape.length} < 2`);
  return [rows, cols];
}

function fastBatchMatMul(orig: tf.KernelFunc, args: KernelArgs): TensorInfo | TensorInfo[] {
  const be = args.backend as BackendWasm;
  const a = input(args, "a", "BatchMatMul");
  const b = input(args, "b", "BatchMatMul");
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  if (!fastMatMulEnabled || a.dtype !== "float32" || b.dtype !== "float32") return orig(args);
  const [a0, a1] = lastTwo(a.shape, "a");
  const [b0, b1] = lastTwo(b.shape, "b");
  const M = transposeA ? a1 : a0;
  const K = transposeA ? a0 : a1;
  const N = transposeB ? b0 : b1;
  const batchA = size(a.shape.slice(0, -2));
  const batchB = size(b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  const plain = !transposeA && !transposeB && batchA === 1 && batchB === 1;
  const work = M * N * K;
  if (
    plain || // already the XNNPACK path
    (batchA !== batchB && batchA !== 1 && batchB !== 1) || // general broadcasting: leave to the original
    work * batch < minWorkTotal ||
    (batchB > 1 && work < minWorkPerBatch) ||
    M === 0 ||
    N === 0 ||
    K === 0
  ) {
    return orig(args);
  }
  const outBatchShape = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = [...outBatchShape, M, N];
  const temps: TensorInfo[] = [];
  const aN = transposeA ? transposeLast2(be, a) : a; // [..., M, K]
  const bN = transposeB ? transposeLast2(be, b) : b; // [..., K, N]
  if (transposeA) temps.push(aN);
  if (transposeB) temps.push(bN);
  const noT = { transposeA: false, transposeB: false };
  try {
    if (batchB === 1) {
      // One weight matrix for every batch entry: fold the batch into the rows of A.
      const out = orig({
        inputs: {
          a: { dataId: aN.dataId, shape: [batchA * M, K], dtype: "float32" },
          b: { dataId: bN.dataId, shape: [K, N], dtype: "float32" },
        },
        backend: be,
        attrs: noT,
      }) as TensorInfo;
      out.shape = outShape;
      return out;
    }
    const out = be.makeOutput(outShape, "float32");
    for (let i = 0; i < batch; i++) {
      const ai =
        batchA === 1
          ? { dataId: aN.dataId, shape: [M, K], dtype: "float32" as const }
          : copyRows(be, aN, i * M * K, [M, K]);
      const bi = copyRows(be, bN, i * K * N, [K, N]);
      const oi = orig({ inputs: { a: ai, b: bi }, backend: be, attrs: noT }) as TensorInfo;
      f32(be, out).set(f32(be, oi), i * M * N);
      if (batchA !== 1) be.disposeData(ai.dataId);
      be.disposeData(bi.dataId);
      be.disposeData(oi.dataId);
    }
    return out;
  } finally {
    for (const t of temps) be.disposeData(t.dataId);
  }
}

export const batchMatMulConfig: ReplacedKernel = {
  kind: "replaced",
  kernelName: "BatchMatMul",
  label: "XNNPACK for transposed and batched operands",
  replace: (original) => (args) => fastBatchMatMul(original, args),
};
