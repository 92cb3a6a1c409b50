/**
 * Registers the native kernels (one per file in this folder) for `wasm` when the C++ addon loads
 * (native_addon.ts): BatchMatMul and _FusedMatMul (matmul_plan.ts), Sum over leading axes and
 * Transpose, each computing on views of the wasm heap with no copies. Each is put in front of the
 * kernel registered before it (../kernels/), which it calls for what it does not handle and while
 * `configureNativeKernels({ enabled: false })` has switched the addon off.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { activeAddon, nativeAddon, type NativeAddon } from "../native_addon.js";
import type { NativeKernel } from "../kernels/kernel_utils.js";
import { nativeBatchMatMul } from "./BatchMatMul.js";
import { nativeFusedMatMul } from "./_FusedMatMul.js";
import { nativeSum } from "./Sum.js";
import { nativeTranspose } from "./Transpose.js";

const registered: string[] = [];

/** What registerNativeKernels registered, for `describeBackend().registeredByVlab`. */
export function nativeRegistrations(): string[] {
  return [...registered];
}

/** Whether the native kernels are registered and switched on (configureNativeKernels). */
export function nativeKernelsActive(): boolean {
  return registered.length > 0 && activeAddon() !== null;
}

/** Puts `kernel.make(addon, previous kernel)` in place of the wasm kernel, keeping its setup. */
function override(kernel: NativeKernel, addon: NativeAddon, microKernel: string): void {
  const current = tf.getKernel(kernel.kernelName, "wasm");
  if (!current) return;
  tf.unregisterKernel(kernel.kernelName, "wasm");
  tf.registerKernel({ ...current, kernelFunc: kernel.make(addon, current.kernelFunc) });
  registered.push(`${kernel.kernelName} (wasm, ${kernel.label(microKernel)})`);
}

/**
 * Registers the native kernels for `wasm` if the addon is available, after the wasm kernels
 * (../kernels/register.ts), which they fall back to. Idempotent; returns what was registered
 * (empty without the addon).
 */
export function registerNativeKernels(): string[] {
  if (registered.length > 0) return nativeRegistrations();
  const addon = nativeAddon();
  if (!addon) return [];
  const microKernel = addon.info().kernel;
  for (const kernel of [nativeBatchMatMul, nativeFusedMatMul, nativeSum, nativeTranspose]) {
    override(kernel, addon, microKernel);
  }
  return nativeRegistrations();
}
