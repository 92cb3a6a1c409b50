/**
 * Kernels that the `wasm` backend (tfjs-backend-wasm 4.22) lacks or runs very slowly for training,
 * registered on import of this file.
 *
 * What was measured (Node 20, 2 cores; forward + `tf.variableGrads` on wasm of every op the vlab
 * models use — gather, matMul with transposes, batched matMul, softmax / logSoftmax / cross-entropy,
 * layer norm from moments, GELU (erf and tanh), sigmoid, slice / concat / split / 4-D transpose,
 * where / maximum / minimum, cumsum, pad, tile, conv2d, pools):
 *
 * - Missing kernels (the tape stops with "Kernel 'X' not registered for backend 'wasm'"):
 *   - `UnsortedSegmentSum`: the gradient of `gather`, i.e. of every embedding lookup.
 *     (tfjs-backend-cpu's own version loops over all segments with full-size ops, O(V·N·D); this one
 *     is a single O(N·D) scatter-add.)
 *   - `Conv2DBackpropFilter`: the weight gradient of `conv2d` (a ViT patch embedding).
 *   - `DepthwiseConv2dNativeBackpropFilter` / `...BackpropInput`, `Einsum`: run through the cpu
 *     backend's kernel (inputs are copied out of the wasm heap, outputs copied back).
 * - Slow kernel: `BatchMatMul`. tfjs-backend-wasm sends a matmul to XNNPACK only when neither operand
 *   is transposed and both have batch size 1; everything else (every transposed operand, so the
 *   backward pass of every matmul, and every batched matmul, so attention) runs a naive scalar loop.
 *   512x512: 11 ms plain, 137 ms with B transposed, 297 ms with A transposed; [64, 256, 256] batched:
 *   2.2 s. The replacement below transposes operands physically (cheap, O(size)) and splits batches
 *   into XNNPACK calls (all three 512 cases ~12 ms, the batched one 122 ms), falling back to the
 *   original kernel for tiny problems where its fixed costs dominate. A 2-layer, d=128 GPT training
 *   step (B=16, T=64) went from 3.1 s to 0.35–0.5 s.
 * - Slow kernel: `GatherV2` (embedding lookups) computes each element's address in a generic loop;
 *   along axis 0 whole rows are copied instead (13 ms → well under 1 ms for 1024 rows of 128).
 * - Slow kernel: `Sum` over leading axes (every bias gradient) transposes before reducing; it is
 *   accumulated row by row instead.
 * - Wrong results: `_FusedMatMul` (`tf.fused.matMul`) with a bias and a transposed operand or a
 *   batch adds the bias to the wrong elements (e.g. [3, 4]ᵀ·[4, 2] + [1, 2]: 2,0,7,0,1,5 instead of
 *   2,0,6,0,0,5), and it rejects any bias that is not rank 1. Everything but one plain product with
 *   a rank-1 bias runs as BatchMatMul (so the XNNPACK route above), then Add and the activation.
 * - Gradients missing on every backend: comparisons and logical ops (`Greater`, `Equal`, ...) have no
 *   registered gradient, so `tf.where(tf.greater(x, 0), ...)` inside a loss throws. They are
 *   piecewise constant: their gradient is zero, which is what is registered here.
 */
import * as tf from "@tensorflow/tfjs-core";
// The backends first: the kernels wrapped below must be registered before this file runs.
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { address, heapBytes } from "./wasm_copy_kernels.js";

type TensorInfo = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** What vlab registered, as `Kernel (backend)` or `grad:Kernel` strings, in registration order. */
const registered: string[] = [];

/** Names of the kernels and gradients core registered (for `describeBackend().registeredByVlab`). */
export function vlabRegistrations(): string[] {
  return [...registered];
}

// ---------------------------------------------------------------------------------------------
// Helpers over the wasm heap
// ---------------------------------------------------------------------------------------------

/** A Float32Array/Int32Array view of a tensor on the wasm heap. Re-take views after any allocation:
 *  growing the heap detaches earlier views. */
function heap(backend: BackendWasm, t: TensorInfo): Float32Array | Int32Array | Uint8Array {
  return backend.typedArrayFromHeap(t) as Float32Array | Int32Array | Uint8Array;
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function kernelFuncOf(name: string, backendName: string): tf.KernelFunc {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`vlab: kernel '${name}' is not registered for backend '${backendName}'`);
  return k.kernelFunc;
}

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum: out[segmentIds[i], ...] += x[i, ...]
// ---------------------------------------------------------------------------------------------

function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const be = backend as BackendWasm;
  const x = inputs.x!;
  const ids = inputs.segmentIds!;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  // segmentIds covers the leading dims of x; each id selects a row of `inner` values.
  const nIds = size(ids.shape);
  const inner = size(x.shape.slice(ids.shape.length));
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const out = be.makeOutput(outShape, x.dtype);
  const o = heap(be, out);
  o.fill(0);
  const xv = heap(be, x);
  const idv = heap(be, ids);
  for (let i = 0; i < nIds; i++) {
    const s = idv[i]!;
    if (s < 0 || s >= numSegments) continue; // like TensorFlow: out-of-range ids are dropped
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += xv[src + j]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter (NHWC): dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, ih, iw, ci] · dy[n, oh, ow, co]
// with ih = oh·sh + kh·dh − padTop, iw = ow·sw + kw·dw − padLeft.
// ---------------------------------------------------------------------------------------------

interface Conv2DBackpropFilterAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  filterShape: [number, number, number, number];
}

function conv2DBackpropFilter(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (a.dataFormat === "NCHW") return runOnCpu("Conv2DBackpropFilter", args);
  const be = backend as BackendWasm;
  const x = inputs.x!;
  const dy = inputs.dy!;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    "channelsLast",
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { outChannels: CO, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = be.makeOutput(a.filterShape, "float32");
  const dW = heap(be, out) as Float32Array;
  dW.fill(0);
  const xv = heap(be, x) as Float32Array;
  const dyv = heap(be, dy) as Float32Array;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const wBase = (kh * KW + kw) * CI * CO;
      for (let n = 0; n < N; n++) {
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh + kh * dh - top;
          if (ih < 0 || ih >= H) continue;
          for (let ow = 0; ow < OW; ow++) {
            const iw = ow * sw + kw * dw - left;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((n * H + ih) * W + iw) * CI;
            const dyBase = ((n * OH + oh) * OW + ow) * CO;
            for (let ci = 0; ci < CI; ci++) {
              const xval = xv[xBase + ci]!;
              if (xval === 0) continue;
              const row = wBase + ci * CO;
              for (let co = 0; co < CO; co++) dW[row + co] += xval * dyv[dyBase + co]!;
            }
          }
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running a cpu kernel on wasm tensors (for rarely used kernels)
// ---------------------------------------------------------------------------------------------

/** The cpu backend instance, created (synchronously) if needed. */
function cpuBackend(): MathBackendCPU {
  const cpu = tf.engine().findBackend("cpu") as MathBackendCPU | null;
  if (!cpu) throw new Error("vlab: the cpu backend is needed to run this kernel on wasm but is not registered");
  // The cpu backend prints a "use tfjs-node" banner on first use; here it is only a helper.
  (cpu as unknown as { firstUse: boolean }).firstUse = false;
  return cpu;
}

/** Runs the cpu backend's kernel `name`: copies inputs out of the wasm heap and outputs back in. */
function runOnCpu(name: string, { inputs, backend, attrs }: KernelArgs): TensorInfo | TensorInfo[] {
  const be = backend as BackendWasm;
  const cpu = cpuBackend();
  const kernel = kernelFuncOf(name, "cpu");
  // Most kernels take named inputs; a few (Einsum, AddN, Concat) take an array.
  const cpuInputs: Record<string, TensorInfo> | TensorInfo[] = Array.isArray(inputs) ? [] : {};
  const made: TensorInfo[] = [];
  for (const [key, t] of Object.entries(inputs)) {
    if (!t) continue;
    const values = be.readSync(t.dataId) as tf.backend_util.TypedArray; // a copy
    const info = cpu.makeTensorInfo(t.shape, t.dtype, values);
    (cpuInputs as Record<string, TensorInfo>)[key] = info;
    made.push(info);
  }
  let result: TensorInfo | TensorInfo[] | undefined;
  try {
    result = kernel({ inputs: cpuInputs as tf.NamedTensorInfoMap, backend: cpu, attrs });
    const outs = Array.isArray(result) ? result : [result];
    const wasmOuts = outs.map((o) => {
      const vals = cpu.readSync(o.dataId) as tf.backend_util.TypedArray;
      return be.makeOutput(o.shape, o.dtype, undefined, vals);
    });
    return Array.isArray(result) ? wasmOuts : wasmOuts[0]!;
  } finally {
    for (const info of made) cpu.disposeData(info.dataId);
    if (result) for (const o of Array.isArray(result) ? result : [result]) cpu.disposeData(o.dataId);
  }
}

// ---------------------------------------------------------------------------------------------
// BatchMatMul through XNNPACK
// ---------------------------------------------------------------------------------------------

/**
 * Below this many multiply-adds per batch entry the original kernel (scalar loop) is used: the
 * XNNPACK path pays a fixed cost per call (operator creation, weight packing, copies).
 */
let minWorkPerBatch = 24 * 1024;
/** Below this many multiply-adds in total, always use the original kernel. */
let minWorkTotal = 32 * 1024;

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
let fastMatMulEnabled = process.env.VLAB_WASM_FAST_MATMUL !== "0";

let originalBatchMatMul: tf.KernelFunc | null = null;

function copyRows(be: BackendWasm, src: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const out = be.makeOutput(shape, "float32");
  const n = size(shape);
  (heap(be, out) as Float32Array).set((heap(be, src) as Float32Array).subarray(offset, offset + n));
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

function fastBatchMatMul(args: KernelArgs): TensorInfo | TensorInfo[] {
  const orig = originalBatchMatMul!;
  const be = args.backend as BackendWasm;
  const a = args.inputs.a!;
  const b = args.inputs.b!;
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  if (!fastMatMulEnabled || a.dtype !== "float32" || b.dtype !== "float32") return orig(args);
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
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
      (heap(be, out) as Float32Array).set(heap(be, oi) as Float32Array, i * M * N);
      if (batchA !== 1) be.disposeData(ai.dataId);
      be.disposeData(bi.dataId);
      be.disposeData(oi.dataId);
    }
    return out;
  } finally {
    for (const t of temps) be.disposeData(t.dataId);
  }
}

// ---------------------------------------------------------------------------------------------
// GatherV2 along axis 0 (embedding lookups): whole rows copied in JS
// ---------------------------------------------------------------------------------------------

let originalGatherV2: tf.KernelFunc | null = null;

/** tfjs-backend-wasm's Gather computes every element's address in a generic loop (~100 ns per
 *  element: 13 ms for 1024 rows of 128); copying whole rows (one memmove each) is ~50x faster. */
function gatherRows(args: KernelArgs): TensorInfo | TensorInfo[] {
  const be = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const indices = args.inputs.indices!;
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const parsedAxis = axis < 0 ? axis + x.shape.length : axis;
  if (
    parsedAxis !== 0 ||
    (batchDims ?? 0) !== 0 ||
    (x.dtype !== "float32" && x.dtype !== "int32") ||
    x.shape.length === 0
  ) {
    return originalGatherV2!(args);
  }
  const rowsIn = x.shape[0]!;
  const inner = size(x.shape.slice(1));
  const n = size(indices.shape);
  const out = be.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const idx = heap(be, indices); // views and addresses after makeOutput (it may grow the memory)
  const bytes = heapBytes(be);
  const rowBytes = inner * 4;
  const src = address(be, x);
  const dst = address(be, out);
  for (let i = 0; i < n; i++) {
    const r = idx[i]!;
    if (!(r >= 0 && r < rowsIn)) {
      be.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${r} is not in [0, ${rowsIn - 1}]`);
    }
    bytes.copyWithin(dst + i * rowBytes, src + r * rowBytes, src + (r + 1) * rowBytes);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// _FusedMatMul with a bias and transposes: BatchMatMul, Add, activation
// ---------------------------------------------------------------------------------------------

let originalFusedMatMul: tf.KernelFunc | null = null;

/** wasm kernels applying each fusable activation. */
const ACTIVATION_KERNELS: Record<string, string> = {
  relu: "Relu",
  relu6: "Relu6",
  elu: "Elu",
  sigmoid: "Sigmoid",
  leakyrelu: "LeakyRelu",
  prelu: "Prelu",
};

/**
 * y + bias, then the activation, with the registered wasm kernels; `y` is consumed (disposed when
 * replaced). Shared with native_kernels.ts for the cases its addon does not fuse.
 */
export function applyBiasAndActivation(
  be: BackendWasm,
  y: TensorInfo,
  bias: TensorInfo | undefined,
  activation: string,
  prelu: TensorInfo | undefined,
  leakyAlpha: number,
): TensorInfo {
  if (bias) {
    const withBias = kernelFuncOf("Add", "wasm")({ inputs: { a: y, b: bias }, backend: be, attrs: {} }) as TensorInfo;
    be.disposeData(y.dataId);
    y = withBias;
  }
  if (activation && activation !== "linear") {
    const kernelName = ACTIVATION_KERNELS[activation];
    if (!kernelName) {
      be.disposeData(y.dataId);
      throw new Error(`_FusedMatMul: unknown activation '${activation}'`);
    }
    const inputs = activation === "prelu" ? { x: y, alpha: prelu! } : { x: y };
    const attrs: tf.NamedAttrMap = activation === "leakyrelu" ? { alpha: leakyAlpha } : {};
    const activated = kernelFuncOf(kernelName, "wasm")({ inputs, backend: be, attrs }) as TensorInfo;
    be.disposeData(y.dataId);
    y = activated;
  }
  return y;
}

function fusedMatMul(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: TensorInfo;
    b: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as {
    transposeA: boolean;
    transposeB: boolean;
    activation: string;
    leakyreluAlpha?: number;
  };
  // The original is right (and uses XNNPACK) for one plain product; with transposes or batches it
  // is wrong as soon as there is a bias, and slow either way.
  const single = size(a.shape.slice(0, -2)) === 1 && size(b.shape.slice(0, -2)) === 1;
  if (!transposeA && !transposeB && single && (!bias || bias.shape.length === 1)) return originalFusedMatMul!(args);
  const be = args.backend as BackendWasm;
  const y = kernelFuncOf(
    "BatchMatMul",
    "wasm",
  )({ inputs: { a, b }, backend: be, attrs: { transposeA, transposeB } }) as TensorInfo;
  return applyBiasAndActivation(be, y, bias, activation, preluActivationWeights, leakyreluAlpha ?? 0.2);
}

// ---------------------------------------------------------------------------------------------
// Sum over leading axes (bias and norm-weight gradients)
// ---------------------------------------------------------------------------------------------

let originalSum: tf.KernelFunc | null = null;

/** tfjs-backend-wasm reduces only the innermost axes: for leading ones it transposes first (6 ms
 *  for a [1024, 512] → [512] bias gradient). Accumulating rows in JS takes under 1 ms. */
function sumLeading(args: KernelArgs): TensorInfo | TensorInfo[] {
  const be = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort(
    (a, b) => a - b,
  );
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== "float32") return originalSum!(args);
  const k = axes.length;
  const rows = size(x.shape.slice(0, k));
  const inner = size(x.shape.slice(k));
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
  const acc = new Float64Array(inner);
  const xv = heap(be, x) as Float32Array;
  for (let r = 0; r < rows; r++) {
    const base = r * inner;
    for (let j = 0; j < inner; j++) acc[j] += xv[base + j]!;
  }
  const out = be.makeOutput(outShape, "float32");
  (heap(be, out) as Float32Array).set(acc);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

function registerWasmKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, "wasm")) return; // tfjs gained it, or already registered
  tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
  registered.push(`${kernelName} (wasm)`);
}

/** Comparisons and logical ops (with their input names): piecewise constant, so their gradient is zero. */
const ZERO_GRAD_KERNELS: Record<string, string[]> = {
  Equal: ["a", "b"],
  NotEqual: ["a", "b"],
  Greater: ["a", "b"],
  GreaterEqual: ["a", "b"],
  Less: ["a", "b"],
  LessEqual: ["a", "b"],
  LogicalAnd: ["a", "b"],
  LogicalOr: ["a", "b"],
  LogicalXor: ["a", "b"],
  LogicalNot: ["x"],
  IsNan: ["x"],
  IsInf: ["x"],
  IsFinite: ["x"],
};

let done = false;

/**
 * Registers everything listed at the top of this file. Idempotent; runs on import. Kernel
 * registrations are keyed by backend name, so this works before or after `wasm` is initialised.
 */
export function registerWasmKernels(): string[] {
  if (done) return vlabRegistrations();
  done = true;
  registerWasmKernel("UnsortedSegmentSum", unsortedSegmentSum);
  registerWasmKernel("Conv2DBackpropFilter", conv2DBackpropFilter);
  for (const name of ["DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput", "Einsum"]) {
    if (tf.getKernel(name, "cpu")) registerWasmKernel(name, (args) => runOnCpu(name, args));
  }

  const bmm = tf.getKernel("BatchMatMul", "wasm");
  if (bmm && !originalBatchMatMul) {
    originalBatchMatMul = bmm.kernelFunc;
    tf.unregisterKernel("BatchMatMul", "wasm");
    tf.registerKernel({ ...bmm, kernelFunc: fastBatchMatMul });
    registered.push("BatchMatMul (wasm, XNNPACK for transposed and batched operands)");
  }

  const gather = tf.getKernel("GatherV2", "wasm");
  if (gather && !originalGatherV2) {
    originalGatherV2 = gather.kernelFunc;
    tf.unregisterKernel("GatherV2", "wasm");
    tf.registerKernel({ ...gather, kernelFunc: gatherRows });
    registered.push("GatherV2 (wasm, row copies for axis 0)");
  }

  const fused = tf.getKernel("_FusedMatMul", "wasm");
  if (fused && !originalFusedMatMul) {
    originalFusedMatMul = fused.kernelFunc;
    tf.unregisterKernel("_FusedMatMul", "wasm");
    tf.registerKernel({ ...fused, kernelFunc: fusedMatMul });
    registered.push("_FusedMatMul (wasm, BatchMatMul + Add + activation unless one plain product)");
  }

  const sum = tf.getKernel("Sum", "wasm");
  if (sum && !originalSum) {
    originalSum = sum.kernelFunc;
    tf.unregisterKernel("Sum", "wasm");
    tf.registerKernel({ ...sum, kernelFunc: sumLeading });
    registered.push("Sum (wasm, JS for leading axes)");
  }

  for (const [kernelName, inputNames] of Object.entries(ZERO_GRAD_KERNELS)) {
    if (tf.getGradient(kernelName)) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: inputNames,
      gradFunc: (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const grads: Record<string, () => tf.Tensor> = {};
        inputNames.forEach((name, i) => (grads[name] = () => tf.zeros(saved[i]!.shape, "float32")));
        return grads;
      },
    });
    registered.push(`grad:${kernelName}`);
  }
  return vlabRegistrations();
}

registerWasmKernels();
