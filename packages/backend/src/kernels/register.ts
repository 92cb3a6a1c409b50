/**
 * Registers vlab's wasm kernels (one per file in this folder, as tfjs-backend-wasm keeps its own in
 * src/kernels/<Name>.ts): the kernels the wasm backend lacks for training, the ones it runs very
 * slowly or wrongly, and the copy kernels that move more memory than they need to. Measured on
 * tfjs-backend-wasm 4.22, Node 20, 2 cores, with forward + `tf.variableGrads` of every op the vlab
 * models use; each file says what it fixes and by how much.
 *
 * Kernel registrations are keyed by backend name, so this works before or after `wasm` is
 * initialised. The native kernels (../native_kernels/) are registered after these and fall back to them.
 */
import * as tf from "@tensorflow/tfjs-core";
// The backends first: the kernels replaced here must be registered before this file runs.
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import type { AddedKernel, ReplacedKernel } from "./kernel_utils.js";
import { unsortedSegmentSumConfig } from "./UnsortedSegmentSum.js";
import { conv2DBackpropFilterConfig } from "./Conv2DBackpropFilter.js";
import { CPU_FALLBACK_KERNELS, cpuFallbackConfig } from "./run_on_cpu.js";
import { batchMatMulConfig } from "./BatchMatMul.js";
import { gatherV2Config } from "./GatherV2.js";
import { fusedMatMulConfig } from "./_FusedMatMul.js";
import { sumConfig } from "./Sum.js";
import { registerZeroGradients } from "./zero_gradients.js";
import { identityConfig } from "./Identity.js";
import { sliceConfig } from "./Slice.js";
import { splitVConfig } from "./SplitV.js";
import { concatConfig } from "./Concat.js";
import { transposeConfig } from "./Transpose.js";

/** Registers one added or replacing kernel for wasm; returns its `describeBackend()` label, or null if skipped. */
export function registerWasmKernel(config: AddedKernel | ReplacedKernel): string | null {
  const current = tf.getKernel(config.kernelName, "wasm");
  if (config.kind === "added") {
    if (current) return null; // tfjs gained it, or already registered
    tf.registerKernel({ kernelName: config.kernelName, backendName: "wasm", kernelFunc: config.kernelFunc });
    return `${config.kernelName} (wasm)`;
  }
  if (!current) return null;
  tf.unregisterKernel(config.kernelName, "wasm");
  tf.registerKernel({ ...current, kernelFunc: config.replace(current.kernelFunc) });
  return `${config.kernelName} (wasm, ${config.label})`;
}

function registerAll(configs: (AddedKernel | ReplacedKernel)[], into: string[]): void {
  for (const config of configs) {
    const label = registerWasmKernel(config);
    if (label) into.push(label);
  }
}

/** What registerWasmKernels registered, as `Kernel (backend, ...)` or `grad:Kernel`, in order. */
const registered: string[] = [];
/** What registerCopyKernels registered. */
const copyRegistered: string[] = [];
let kernelsDone = false;
let copiesDone = false;

/** Names of the kernels and gradients registerWasmKernels registered (for `describeBackend().registeredByVlab`). */
export function vlabRegistrations(): string[] {
  return [...registered];
}

/** What registerCopyKernels registered, for `describeBackend().registeredByVlab`. */
export function copyKernelRegistrations(): string[] {
  return [...copyRegistered];
}

/**
 * The missing, slow and wrong kernels: UnsortedSegmentSum, Conv2DBackpropFilter, the depthwise
 * convolution gradients and Einsum (on the cpu backend), BatchMatMul, GatherV2, _FusedMatMul, Sum,
 * and the zero gradients of comparisons. Idempotent.
 */
export function registerWasmKernels(): string[] {
  if (kernelsDone) return vlabRegistrations();
  kernelsDone = true;
  registerAll(
    [
      unsortedSegmentSumConfig,
      conv2DBackpropFilterConfig,
      ...CPU_FALLBACK_KERNELS.filter((name) => tf.getKernel(name, "cpu")).map(cpuFallbackConfig),
      batchMatMulConfig,
      gatherV2Config,
      fusedMatMulConfig,
      sumConfig,
    ],
    registered,
  );
  registered.push(...registerZeroGradients());
  return vlabRegistrations();
}

/** Identity, Slice, SplitV, Concat and (identity) Transpose without needless copies. Idempotent. */
export function registerCopyKernels(): string[] {
  if (copiesDone) return copyKernelRegistrations();
  copiesDone = true;
  registerAll([identityConfig, sliceConfig, splitVConfig, concatConfig, transposeConfig], copyRegistered);
  return copyKernelRegistrations();
}
