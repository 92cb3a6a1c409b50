/**
 * @vlab/backend — the speed machinery under @vlab/core: which tfjs backend runs, and the kernels vlab
 * adds to it. It depends on tfjs only; @vlab/core (the neural-network library) depends on it and
 * re-exports its public names, so models never import this package directly.
 *
 * Importing it registers vlab's kernels and makes `cpu` the default until `initBackend()` runs.
 *
 * - backend.ts        choose tensorflow → wasm → cpu, `VLAB_BACKEND`, `describeBackend()` (plain data)
 * - wasm_threads.ts   threads for wasm in Node (`VLAB_WASM_THREADS`)
 * - kernels/          wasm kernels, one per file as in tfjs-backend-wasm: the ones wasm lacks for training
 *                     (UnsortedSegmentSum, Conv2DBackpropFilter, ...), slow or wrong ones (BatchMatMul,
 *                     GatherV2, _FusedMatMul, Sum), copies without needless copying (Identity, Slice,
 *                     SplitV, Concat, Transpose); register.ts registers them
 * - native_addon.ts   finding and loading the optional C++ addon (native/, built by scripts/build-native.js)
 * - native_kernels/   wasm kernels computed by the addon: matmuls (bias and activation fused), leading-axis
 *                     sums, transposes
 * - decoder.ts        a Llama / Qwen2 decoding step in one native call over preallocated KV caches (the fast
 *                     path of @vlab/llm's generate)
 * - fused/            one-kernel GELU, layer norm, attention softmax, softmax cross-entropy, AdamW (native);
 *                     each `...Fused` function returns null where it does not apply, and @vlab/core's
 *                     faster.ts routes its layers to them
 */
export {
  backendChosen,
  describeBackend,
  initBackend,
  type BackendInfo,
  type BackendName,
  type InitBackendOptions,
  type NativeInfo,
} from "./backend.js";
export { vlabRegistrations } from "./kernels/register.js";
export { configureWasmMatMul } from "./kernels/BatchMatMul.js";
export { nativeKernelsActive } from "./native_kernels/register.js";
export { configureNativeKernels, nativeAddon, nativeStatus, setNativeThreads } from "./native_addon.js";
export type { NativeAddon, NativeStatus } from "./native_addon.js";
export { floatToHalf, nativeDecoder, type DecoderShape, type KvCacheType, type NativeDecoder } from "./decoder.js";
export { configureFusedOps } from "./fused/kernel_util.js";
export { geluFused } from "./fused/gelu.js";
export { layerNormFused } from "./fused/layer_norm.js";
export { scaledMaskedSoftmaxAvailable, scaledMaskedSoftmaxFused } from "./fused/masked_softmax.js";
export { softmaxCrossEntropyFused } from "./fused/softmax_cross_entropy.js";
export { adamwUpdateFused, type AdamWUpdateAttrs } from "./fused/adamw.js";
