/**
 * What vlab's wasm kernels share (as tfjs-backend-wasm's src/kernels/kernel_utils.ts does for its own):
 * the kinds of kernel vlab registers, typed views of tensors on the wasm heap, and lookups of
 * inputs and of other registered kernels that fail with a message naming the kernel.
 *
 * The wasm backend keeps every tensor in its WebAssembly memory. `typedArrayFromHeap` gives a view
 * of one tensor there; growing the memory (any allocation may) detaches earlier views, so a kernel
 * takes its views after it has allocated its outputs.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { NativeAddon } from "../native_addon.js";

export type TensorInfo = tf.TensorInfo;
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** A kernel the wasm backend lacks, added under `kernelName`. Listed as `<kernelName> (wasm)`. */
export interface AddedKernel {
  kind: "added";
  kernelName: string;
  kernelFunc: tf.KernelFunc;
}

/**
 * A kernel put in place of the registered one, which it keeps as the fallback for the cases it does
 * not handle (`replace(original)` returns the new kernel function). Listed as `<kernelName> (wasm, <label>)`.
 */
export interface ReplacedKernel {
  kind: "replaced";
  kernelName: string;
  label: string;
  replace(original: tf.KernelFunc): tf.KernelFunc;
}

/**
 * A native kernel (../native_kernels/) put in front of the registered wasm kernel, given the loaded
 * addon and the previous kernel as its fallback. Listed as `<kernelName> (wasm, <label(addon kernel)>)`.
 */
export interface NativeKernel {
  kernelName: string;
  label: (microKernel: string) => string;
  make(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc;
}

/** Number of elements of a shape. */
export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes per element of the numeric dtypes kept on the wasm heap. */
export function bytesPer(dtype: tf.DataType): number {
  return dtype === "bool" ? 1 : 4;
}

/** A Float32Array view of a float32 tensor on the wasm heap (re-take after any allocation). */
export function f32(be: BackendWasm, t: TensorInfo): Float32Array {
  return be.typedArrayFromHeap(t) as Float32Array;
}

/** An Int32Array view of an int32 tensor on the wasm heap. */
export function i32(be: BackendWasm, t: TensorInfo): Int32Array {
  return be.typedArrayFromHeap(t) as Int32Array;
}

/** A view of a tensor on the wasm heap in its own element type. */
export function heap(be: BackendWasm, t: TensorInfo): Float32Array | Int32Array | Uint8Array {
  return be.typedArrayFromHeap(t) as Float32Array | Int32Array | Uint8Array;
}

/** The wasm backend's internals the copy kernels use (not part of its typed API). */
interface WasmInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

/** The whole wasm memory as bytes (re-read after allocations: growing the memory replaces it). */
export function heapBytes(be: BackendWasm): Uint8Array {
  // BackendWasm's declared type hides its module and data map.
  return (be as unknown as WasmInternals).wasm.HEAPU8;
}

/** Byte address of a tensor's data in the wasm memory. */
export function address(be: BackendWasm, t: TensorInfo): number {
  // BackendWasm's declared type hides its data map.
  const data = (be as unknown as WasmInternals).dataIdMap.get(t.dataId);
  if (!data) throw new Error(`vlab: a tensor of shape [${t.shape}] has no data on the wasm heap (disposed?)`);
  return data.memoryOffset;
}

/** The input `name` of a kernel call, or an error naming the kernel and the input. */
export function input(args: KernelArgs, name: string, kernelName: string): TensorInfo {
  const t = args.inputs[name];
  if (!t) throw new Error(`${kernelName}: input '${name}' is missing`);
  return t;
}

/** The kernel function registered for `name` on `backendName`. */
export function kernelFuncOf(name: string, backendName: string): tf.KernelFunc {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`vlab: kernel '${name}' is not registered for backend '${backendName}'`);
  return k.kernelFunc;
}
