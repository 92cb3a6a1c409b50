/**
 * Native matrix multiplies for the `wasm` backend: `BatchMatMul` and `_FusedMatMul` computed by the
 * C++ addon (native_addon.ts) directly on the wasm heap, with no copies.
 *
 * Why: tfjs-backend-wasm 4.22 multiplies with XNNPACK only for 2-D operands without transposes, on
 * one thread, at ~20 GFLOP/s; every transposed operand (the whole backward pass) and every batched
 * product (attention) either runs a scalar loop or, through wasm_kernels.ts, pays a physical
 * transpose first. The addon's packed SGEMM (AVX-512 / AVX2+FMA micro-kernel, both cores) reads
 * transposed operands through its packing and handles batches and broadcasting itself: a 512x512
 * product runs at well over 100 GFLOP/s, transposed or not.
 *
 * How: the wasm backend keeps each tensor in its WebAssembly memory; `typedArrayFromHeap` gives a
 * Float32Array view of it, which the addon reads and writes in place (views are taken after the
 * output is allocated, since growing the heap detaches older views). `_FusedMatMul` applies a
 * per-column or scalar bias and the linear / relu / relu6 / leakyrelu / sigmoid / elu activations
 * in the same pass; other biases and prelu go through the wasm Add / Prelu kernels afterwards.
 * Anything that is not float32 goes to the kernel that was registered before (wasm_kernels.ts's
 * XNNPACK routing, then tfjs's own).
 *
 * Broadcasting of batch dimensions follows NumPy (a [2, 1, M, K] times b [1, 3, K, N] gives
 * [2, 3, M, N]). tfjs-backend-cpu pairs batch entries by index modulo the batch size instead, which
 * agrees whenever one side's batch is 1 or both are equal, the cases tfjs's own ops produce.
 *
 * Registered by `registerNativeKernels()` (backend.ts calls it on import) when the addon loads;
 * `configureNativeKernels({ enabled: false })` (native_addon.ts) routes back to the previous
 * kernels at run time. Also here: `Sum` over leading axes (bias gradients) as native column sums,
 * and `Transpose` (wasm's costs ~20 µs for 8K elements, the native one is a memcpy per row).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { activeAddon, nativeAddon, type NativeAddon } from "./native_addon.js";
import { applyBiasAndActivation } from "./wasm_kernels.js";

type TensorInfo = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** tfjs activation names → the addon's codes (tfjs-backend-wasm's FusableActivation numbering). */
const ACTIVATION_CODES: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 4, sigmoid: 5, elu: 6 };

const registered: string[] = [];

/** What this file registered, for `describeBackend().registeredByVlab`. */
export function nativeRegistrations(): string[] {
  return [...registered];
}

/** Whether the native kernels are registered and switched on (configureNativeKernels). */
export function nativeKernelsActive(): boolean {
  return registered.length > 0 && activeAddon() !== null;
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function f32(be: BackendWasm, t: TensorInfo): Float32Array {
  return be.typedArrayFromHeap(t) as Float32Array;
}

// ---------------------------------------------------------------------------------------------
// Shapes: [...batch, M, K] x [...batch, K, N] with transposes and batch broadcasting
// ---------------------------------------------------------------------------------------------

interface MatMulPlan {
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
function batchIndex(batchShape: number[], outBatch: number[]): Int32Array | null {
  const own = size(batchShape);
  const total = size(outBatch);
  if (own === 1 || own === total) return null;
  const dims = [...Array(outBatch.length - batchShape.length).fill(1), ...batchShape];
  const idx = new Int32Array(total);
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
  return idx;
}

function planMatMul(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) throw new Error(`BatchMatMul needs rank >= 2 operands, got [${a.shape}] and [${b.shape}]`);
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const kA = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (kA !== kB) {
    throw new Error(
      `Error in matMul: inner shapes (${kA}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
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
function run(
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

// ---------------------------------------------------------------------------------------------
// The kernels
// ---------------------------------------------------------------------------------------------

function makeBatchMatMul(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (!activeAddon() || a.dtype !== "float32" || b.dtype !== "float32") return fallback(args);
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const be = args.backend as BackendWasm;
    const p = planMatMul(a, b, transposeA, transposeB);
    const out = be.makeOutput(p.outShape, "float32");
    run(addon, be, p, a, b, out, transposeA, transposeB, null, 0, 0);
    return out;
  };
}

function makeFusedMatMul(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: TensorInfo;
      b: TensorInfo;
      bias?: TensorInfo;
      preluActivationWeights?: TensorInfo;
    };
    if (!activeAddon() || a.dtype !== "float32" || b.dtype !== "float32" || (bias && bias.dtype !== "float32"))
      return fallback(args);
    const attrs = args.attrs as unknown as {
      transposeA: boolean;
      transposeB: boolean;
      activation: string;
      leakyreluAlpha?: number;
    };
    const { transposeA, transposeB } = attrs;
    const activation = attrs.activation ?? "linear";
    const alpha = attrs.leakyreluAlpha ?? 0.2;
    const be = args.backend as BackendWasm;
    const p = planMatMul(a, b, transposeA, transposeB);
    const outRank = p.outShape.length;
    // A bias the addon adds itself: one value per column ([N], [1, N], ...) or a single value.
    const biasSize = bias ? size(bias.shape) : 0;
    const simpleBias =
      !bias ||
      (bias.shape.length <= outRank &&
        (biasSize === 1 || (biasSize === p.n && bias.shape[bias.shape.length - 1] === p.n)));
    const code = ACTIVATION_CODES[activation];
    if (code !== undefined && simpleBias) {
      const out = be.makeOutput(p.outShape, "float32");
      run(addon, be, p, a, b, out, transposeA, transposeB, bias ?? null, code, alpha);
      return out;
    }
    // General bias or prelu: multiply natively, then the wasm kernels for the rest.
    const y = be.makeOutput(p.outShape, "float32");
    run(addon, be, p, a, b, y, transposeA, transposeB, null, 0, 0);
    return applyBiasAndActivation(be, y, bias, activation, preluActivationWeights, alpha);
  };
}

/** `Sum` over leading axes (bias and norm-weight gradients) as native column sums. */
function makeSum(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x!;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort(
      (p, q) => p - q,
    );
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (!activeAddon() || !leading || x.dtype !== "float32") return fallback(args);
    const be = args.backend as BackendWasm;
    const k = axes.length;
    const rows = size(x.shape.slice(0, k));
    const cols = size(x.shape.slice(k));
    const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
    const out = be.makeOutput(outShape, "float32");
    if (cols > 0) addon.columnSum(f32(be, x), f32(be, out), rows, cols);
    return out;
  };
}

/** `Transpose` of 4-byte tensors (attention's head splits and merges): memcpy of whole rows when the
 *  last axis stays last. Identity permutations keep the previous kernel (it shares the buffer). */
function makeTranspose(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x!;
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (
      !activeAddon() ||
      (x.dtype !== "float32" && x.dtype !== "int32") ||
      perm.every((p, i) => p === i) ||
      x.shape.length > 16
    )
      return fallback(args);
    const be = args.backend as BackendWasm;
    const out = be.makeOutput(
      perm.map((p) => x.shape[p]!),
      x.dtype,
    );
    if (size(x.shape) > 0) {
      const view = (t: TensorInfo) => be.typedArrayFromHeap(t) as Float32Array | Int32Array;
      addon.transpose(view(x), view(out), Int32Array.from(x.shape), Int32Array.from(perm));
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

/** Puts `make(addon, previous kernel)` in place of the wasm kernel `name`, keeping its setup. */
function override(
  name: string,
  addon: NativeAddon,
  make: (addon: NativeAddon, fallback: tf.KernelFunc) => tf.KernelFunc,
  label: string,
): void {
  const current = tf.getKernel(name, "wasm");
  if (!current) return;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ ...current, kernelFunc: make(addon, current.kernelFunc) });
  registered.push(`${name} (wasm, ${label})`);
}

/**
 * Registers the native matmuls for `wasm` if the addon is available (see native_addon.ts).
 * Idempotent; returns what was registered (empty without the addon).
 */
export function registerNativeKernels(): string[] {
  if (registered.length > 0) return nativeRegistrations();
  const addon = nativeAddon();
  if (!addon) return [];
  const label = `native ${addon.info().kernel}`;
  override("BatchMatMul", addon, makeBatchMatMul, label);
  override("_FusedMatMul", addon, makeFusedMatMul, `${label}, bias and activation fused`);
  override("Sum", addon, makeSum, "native column sums for leading axes");
  override("Transpose", addon, makeTranspose, "native row copies");
  return nativeRegistrations();
}
