/**
 * Plumbing shared by vlab's fused ops (gelu.ts, layer_norm.ts, masked_softmax.ts, softmax_cross_entropy.ts,
 * adamw.ts). Heap views and kernel types are ../kernels/kernel_utils.ts's.
 *
 * A fused op is a tfjs kernel of vlab's own (named `Vlab...`) registered for the `wasm` backend,
 * with a registered gradient that is itself one kernel. The kernels compute in the native addon
 * (native_addon.ts) on views of the wasm heap, so they exist only where the addon was built; they
 * are used while it is switched on (`configureNativeKernels`) and fused ops are on
 * (`configureFusedOps`, `VLAB_FUSED=0`). Everywhere else (no addon, cpu, tensorflow) the same call
 * composes ordinary tfjs ops, so results agree everywhere and the cpu backend remains the reference
 * the tests compare against.
 *
 * Why: a model written from small ops runs one kernel per op, and on wasm each kernel pays a fixed
 * cost plus a pass over memory; exact GELU's backward pass alone was ~10 kernels over a
 * [2048, 512] activation (40 ms of a 350 ms training step). As one native kernel it is ~1 ms.
 * (Plain JavaScript versions were tried as a fallback without the addon and measured slower than
 * tfjs's own kernels — V8's Math.exp alone costs ~20 ns — so there is none.)
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { activeAddon, nativeAddon, type NativeAddon } from "../native_addon.js";

const registered: string[] = [];
let fusedEnabled = process.env.VLAB_FUSED !== "0";

/** What the fused ops registered, for `describeBackend().registeredByVlab`. */
export function fusedRegistrations(): string[] {
  return [...registered];
}

/**
 * Switches the fused ops off (every op then composes tfjs ops, as on the cpu backend) or on again.
 * `VLAB_FUSED=0` starts with them off.
 */
export function configureFusedOps(opts: { enabled?: boolean }): void {
  if (opts.enabled !== undefined) fusedEnabled = opts.enabled;
}

/** Registers a fused kernel for wasm (once), if the addon is there to compute it. */
export function registerFusedKernel(name: string, kernelFunc: tf.KernelFunc, label: string): void {
  if (tf.getKernel(name, "wasm") || !nativeAddon()) return;
  tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc });
  registered.push(`${name} (wasm, native ${label})`);
}

/** Whether the current backend has the fused kernel `name`, and fused and native kernels are on. */
export function fusedAvailable(name: string): boolean {
  if (!fusedEnabled || !activeAddon()) return false;
  const backend = tf.engine().backendName;
  return backend != null && tf.getKernel(name, backend) != null;
}

/** The addon, for a fused kernel (registered only when it loaded). */
export function addon(): NativeAddon {
  const a = nativeAddon();
  if (!a) throw new Error("vlab: a fused kernel ran without the native addon");
  return a;
}
