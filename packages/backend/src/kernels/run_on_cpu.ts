/**
 * Running the cpu backend's kernel on wasm tensors, for kernels the wasm backend lacks and vlab's
 * models rarely run (tfjs-backend-wasm 4.22): `DepthwiseConv2dNativeBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropInput` and `Einsum`, and Conv2DBackpropFilter in NCHW. Inputs are
 * copied out of the wasm heap, outputs copied back in.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { kernelFuncOf, type AddedKernel, type KernelArgs, type TensorInfo } from "./kernel_utils.js";

/** The cpu backend instance, created (synchronously) if needed. */
function cpuBackend(): MathBackendCPU {
  const cpu = tf.engine().findBackend("cpu") as MathBackendCPU | null;
  if (!cpu) throw new Error("vlab: the cpu backend is needed to run this kernel on wasm but is not registered");
  // The cpu backend prints a "use tfjs-node" banner on first use; here it is only a helper.
  // (`firstUse` is private in MathBackendCPU's declared type.)
  (cpu as unknown as { firstUse: boolean }).firstUse = false;
  return cpu;
}

/** Runs the cpu backend's kernel `name`: copies inputs out of the wasm heap and outputs back in. */
export function runOnCpu(name: string, { inputs, backend, attrs }: KernelArgs): TensorInfo | TensorInfo[] {
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
    const wasmOuts = (Array.isArray(result) ? result : [result]).map((o) => {
      const vals = cpu.readSync(o.dataId) as tf.backend_util.TypedArray;
      return be.makeOutput(o.shape, o.dtype, undefined, vals);
    });
    const [first] = wasmOuts;
    if (Array.isArray(result)) return wasmOuts;
    if (!first) throw new Error(`vlab: the cpu kernel '${name}' returned no tensor`);
    return first;
  } finally {
    for (const info of made) cpu.disposeData(info.dataId);
    if (result) for (const o of Array.isArray(result) ? result : [result]) cpu.disposeData(o.dataId);
  }
}

/** The kernels that run this way (each added only where the cpu backend has it). */
export const CPU_FALLBACK_KERNELS = [
  "DepthwiseConv2dNativeBackpropFilter",
  "DepthwiseConv2dNativeBackpropInput",
  "Einsum",
] as const;

/** The wasm kernel `name` as the cpu backend's, copied in and out. */
export function cpuFallbackConfig(name: string): AddedKernel {
  return { kind: "added", kernelName: name, kernelFunc: (args) => runOnCpu(name, args) };
}
