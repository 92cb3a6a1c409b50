/**
 * Copy kernels of the `wasm` backend that move far more memory than they need to (tfjs-backend-wasm
 * 4.22), replaced on import of this file.
 *
 * - `Identity` copies its input into a new buffer. The engine runs it for every tensor a gradient
 *   needs later (`saveTensorsForBackwardMode` clones inputs and outputs of each recorded op), so a
 *   training step made ~90 copies of activations (18 ms of a 350 ms step). Tensors are immutable
 *   (a Variable's `assign` swaps its buffer), so sharing the buffer is safe: the output takes a
 *   reference to the input's data, as the cpu backend's Identity and wasm's own Reshape do.
 * - `Slice` starts with `readSync`, a copy of the whole input out of the heap, before copying the
 *   slice: taking two 128-wide column blocks of a [2048, 384] matrix copied 6 MB. Here the slice is
 *   copied straight from a heap view, one contiguous run at a time.
 * - `SplitV` (`tf.split`) is one such slice per output and calls the slow one directly: splitting
 *   attention's fused qkv projection [32, 64, 384] took 35 ms, now well under 1 ms.
 * - `Concat` (the gradient of split) copies row by row through `subarray` + `set`, allocating a
 *   view per row; `Transpose` with the identity permutation (gather's gradient makes them) copies.
 *
 * Every copy here is `HEAPU8.copyWithin` inside the wasm memory: a memmove per contiguous run, with
 * no view allocated per row (measured 0.16 ms vs 0.24 ms for 6144 rows of 128 floats, and no
 * garbage for the collector).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

type TensorInfo = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

const registered: string[] = [];

/** What this file registered, for `describeBackend().registeredByVlab`. */
export function copyKernelRegistrations(): string[] {
  return [...registered];
}

interface WasmInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

/** The whole wasm memory as bytes (re-read after allocations: growing the memory replaces it). */
export function heapBytes(be: BackendWasm): Uint8Array {
  return (be as unknown as WasmInternals).wasm.HEAPU8;
}

/** Byte address of a tensor's data in the wasm memory. */
export function address(be: BackendWasm, t: TensorInfo): number {
  return (be as unknown as WasmInternals).dataIdMap.get(t.dataId)!.memoryOffset;
}

/** Bytes per element of the numeric dtypes kept on the wasm heap. */
function bytesPer(dtype: tf.DataType): number {
  return dtype === "bool" ? 1 : 4;
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Identity: share the buffer
// ---------------------------------------------------------------------------------------------

function makeIdentity(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x!;
    if (x.dtype === "string") return original(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

// ---------------------------------------------------------------------------------------------
// Slice, SplitV, Concat: contiguous runs moved inside the heap
// ---------------------------------------------------------------------------------------------

/** x[begin : begin + extent] (per axis) into a new tensor; begin / extent already resolved. */
function sliceFromHeap(be: BackendWasm, x: TensorInfo, begin: number[], extent: number[]): TensorInfo {
  const rank = x.shape.length;
  const out = be.makeOutput(extent, x.dtype);
  const total = size(extent);
  if (total === 0) return out;
  const bytes = heapBytes(be); // taken after makeOutput: allocation may grow (and replace) the memory
  const eb = bytesPer(x.dtype);
  const src = address(be, x);
  const dst = address(be, out);
  const strides = tf.util.computeStrides(x.shape);
  // Trailing axes taken whole join the innermost partial axis into one contiguous run.
  let d = rank - 1;
  let inner = 1;
  while (d >= 0 && begin[d] === 0 && extent[d] === x.shape[d]) inner *= x.shape[d--]!;
  if (d < 0) {
    bytes.copyWithin(dst, src, src + total * eb);
    return out;
  }
  const run = extent[d]! * inner;
  const rows = total / run;
  const idx = new Array<number>(d).fill(0); // position along the axes before d
  let base = begin[d]! * inner; // element offset of the current run in x
  for (let j = 0; j < d; j++) base += begin[j]! * strides[j]!;
  for (let r = 0; r < rows; r++) {
    bytes.copyWithin(dst + r * run * eb, src + base * eb, src + (base + run) * eb);
    // Next run: advance the innermost outer axis, carrying into the ones before it.
    for (let j = d - 1; j >= 0; j--) {
      idx[j]!++;
      base += strides[j]!;
      if (idx[j]! < extent[j]!) break;
      base -= extent[j]! * strides[j]!;
      idx[j] = 0;
    }
  }
  return out;
}

function makeSlice(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x! as tf.TensorInfo;
    if (x.dtype === "string") return original(args);
    const { begin, size: sz } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, sz);
    if (b === undefined || s === undefined) throw new Error("Slice: parseSliceParams gave no begin/size");
    return sliceFromHeap(args.backend as BackendWasm, x, b, s);
  };
}

function makeSplitV(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs.x!;
    if (x.dtype === "string") return original(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const extent = [...x.shape];
      extent[ax] = s;
      const part = sliceFromHeap(args.backend as BackendWasm, x, [...begin], extent);
      begin[ax]! += s;
      return part;
    });
  };
}

function makeConcat(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    if (inputs.length === 0 || inputs.some((t) => t.dtype === "string" || t.dtype !== inputs[0]!.dtype))
      return original(args);
    const be = args.backend as BackendWasm;
    const axis = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, inputs[0]!.shape)[0]!;
    tf.backend_util.assertParamsConsistent(
      inputs.map((t) => t.shape),
      axis,
    );
    const outShape = tf.backend_util.computeOutShape(
      inputs.map((t) => t.shape),
      axis,
    );
    const out = be.makeOutput(outShape, inputs[0]!.dtype);
    if (size(outShape) === 0) return out;
    const bytes = heapBytes(be);
    const eb = bytesPer(inputs[0]!.dtype);
    const rows = size(outShape.slice(0, axis));
    const runs = inputs.map((t) => size(t.shape.slice(axis)) * eb); // bytes per row of each input
    const rowBytes = runs.reduce((a, b) => a + b, 0);
    const dst = address(be, out);
    let col = 0;
    inputs.forEach((t, i) => {
      const run = runs[i]!;
      if (run > 0) {
        const src = address(be, t);
        for (let r = 0; r < rows; r++) bytes.copyWithin(dst + r * rowBytes + col, src + r * run, src + (r + 1) * run);
      }
      col += run;
    });
    return out;
  };
}

function makeTranspose(original: tf.KernelFunc): tf.KernelFunc {
  const identity = makeIdentity(original);
  return (args: KernelArgs) => {
    const { perm } = args.attrs as unknown as { perm: number[] };
    return perm.every((p, i) => p === i) ? identity(args) : original(args);
  };
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

function override(name: string, make: (original: tf.KernelFunc) => tf.KernelFunc, label: string): void {
  const current = tf.getKernel(name, "wasm");
  if (!current) return;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ ...current, kernelFunc: make(current.kernelFunc) });
  registered.push(`${name} (wasm, ${label})`);
}

let done = false;

/** Replaces Identity, Slice, SplitV, Concat and (identity) Transpose on wasm. Idempotent; backend.ts calls it on import. */
export function registerCopyKernels(): string[] {
  if (done) return copyKernelRegistrations();
  done = true;
  override("Identity", makeIdentity, "shares the buffer");
  override("Slice", makeSlice, "memmove per contiguous run");
  override("SplitV", makeSplitV, "memmove per contiguous run");
  override("Concat", makeConcat, "one memmove per row and input");
  override("Transpose", makeTranspose, "identity permutation shares the buffer");
  return copyKernelRegistrations();
}
