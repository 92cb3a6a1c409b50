/**
 * Shapes of a native matrix multiply: [...batch, M, K] × [...batch, K, N] with transposes and batch
 * broadcasting, and the call into the addon on views of the wasm heap (BatchMatMul.ts, _FusedMatMul.ts).
 *
 * Broadcasting of batch dimensions follows NumPy (a [2, 1, M, K] times b [1, 3, K, N] gives
 * [2, 3, M, N]). tfjs-backend-cpu pairs batch entries by index modulo the batch size instead, which
 * agrees whenever one side's batch is 1 or both are equal, the cases tfjs's own ops produce.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { NativeAddon } from "../native_addon.js";
import { f32, size, type TensorInfo } from "../kernels/kernel_utils.js";

export interface MatMulPlan {
  m: number;
  n: number;
  k: number;
  batch: number;
  aStride: number;
  bStride: number;
  aIndex: Int32Array | null;
  bIndex: Int32Array | null;
  outShape: number[];
}

/**
 * For each entry of the broadcast batch `outBatch`, the index of the entry of an operand with batch
 * shape `batchShape` that it reads (NumPy broadcasting); null when a stride describes it (the
 * operand's batch is 1 or the whole output batch).
 */
export function batchIndex(batchShape: number[], outBatch: number[]): Int32Array | null {
  const own = size(batchShape);
  const total = size(outBatch);
  if (own === 1 || own === total) return null;
  const dims = [...Array<number>(outBatch.length - batchShape.length).fill(1), ...batchShape];
  const idx = new Int32Array(total);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- d < outBatch.length = dims.length */
  for (let o = 0; o < total; o++) {
    let rest = o;
    let src = 0;
    let stride = 1;
    for (let d = outBatch.length - 1; d >= 0; d--) {
      const coord = rest % outBatch[d]!;
      rest = Math.floor(rest / outBatch[d]!);
      if (dims[d] !== 1) src += coord * stride;
      stride *= dims[d]!;
    }
    idx[o] = src;
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return idx;
}

/** The last two dims of an operand of rank >= 2. */
function lastTwo(a: TensorInfo, b: TensorInfo, which: TensorInfo): [number, number] {
  const [rows, cols] = which.shape.slice(-2);
  if (rows === undefined || cols === undefined) {
    throw new Error(`BatchMatMul needs rank >= 2 operands, got [${a.shape}] and [${b.shape}]`);
  }
  return [rows, cols];
}

export function planMatMul(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan {
  const [a0, a1] = lastTwo(a, b, a);
  const [b0, b1] = lastTwo(a, b, b);
  const m = transposeA ? a1 : a0;
  const kA = transposeA ? a0 : a1;
  const kB = transposeB ? b1 : b0;
  const n = transposeB ? b0 : b1;
  if (kA !== kB) {
    throw new Error(
      `Error in matMul: inner shapes (${kA}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} and ` +
        `transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const batch = size(outBatch);
  return {
    m,
    n,
    k: kA,
    batch,
    aStride: size(batchA) === 1 ? 0 : m * kA,
    bStride: size(batchB) === 1 ? 0 : kA * n,
    aIndex: batchIndex(batchA, outBatch),
    bIndex: batchIndex(batchB, outBatch),
    outShape: [...outBatch, m, n],
  };
}

/** Runs the plan on the heap views; `out` must already be allocated. */
export function runMatMul(
  addon: NativeAddon,
  be: BackendWasm,
  p: MatMulPlan,
  a: TensorInfo,
  b: TensorInfo,
  out: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias: TensorInfo | null,
  activation: number,
  alpha: number,
): void {
  if (size(p.outShape) === 0) return;
  addon.matmul(
    f32(be, a),
    f32(be, b),
    f32(be, out),
    bias ? f32(be, bias) : null,
    p.m,
    p.n,
    p.k,
    transposeA ? 1 : 0,
    transposeB ? 1 : 0,
    p.batch,
    p.aStride,
    p.bStride,
    activation,
    alpha,
    p.aIndex,
    p.bIndex,
  );
}
