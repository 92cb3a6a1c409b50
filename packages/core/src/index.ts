/**
 * @vlab/core — the neural-network library every vlab package builds on. The speed machinery under it
 * (backend choice, wasm kernels, the native C++ addon, fused ops) is @vlab/backend; importing @vlab/core
 * imports it, so the backend is chosen and its kernels registered as before.
 *
 * - backend.ts      `initBackend()` / `describeBackend()` (with its Jupyter display) and the switches
 *                   of @vlab/backend (configureNativeKernels, configureFusedOps, ...), re-exported
 * - faster.ts       where a faster kernel of @vlab/backend may stand in for the reference math
 * - rng.ts          seeded random numbers and initialisers
 * - module.ts       `Module`: named parameters, stateDict / loadStateDict, freeze, counts
 * - layers.ts       Linear, Embedding, LayerNorm, RMSNorm, MLP, SwiGLU, activations
 * - losses.ts       crossEntropy (F.cross_entropy)
 * - attention.ts    multi-head attention with causal, padding and block-diagonal masks, KV cache
 * - optim.ts        AdamW, global-norm clipping, warmup + cosine schedule
 * - update.ts       one optimiser update: gradients, NaN/Inf guard, global-norm clip, AdamW step
 * - train.ts        the training loop: `trainLoop` runs a step hook; `train` is it with one update per step
 * - safetensors.ts  safetensors read / write (F32, F16, BF16), over safetensors_header.ts (parsing and
 *                   validation), safetensors_dtypes.ts (dtype sizes and conversions),
 *                   safetensors_encode.ts (writing) and atomic_write.ts; safetensors_shards.ts writes
 *                   sharded checkpoints with their index
 * - checkpoint.ts   save / resume training state
 * - memory.ts       tensor-leak checks
 * - kernel_hook.ts  the link to the Jupyter kernel (display, interrupts)
 * - format.ts       one number formatter (and HTML escaping) for logs, tables and reports
 */
export * as tf from "@tensorflow/tfjs-core";
export * from "./backend.js";
export * from "./kernel_hook.js";
export * from "./rng.js";
export * from "./module.js";
export * from "./layers.js";
export * from "./losses.js";
export * from "./attention.js";
export * from "./optim.js";
export * from "./update.js";
export * from "./train.js";
export * from "./safetensors.js";
export * from "./safetensors_shards.js";
export * from "./checkpoint.js";
export * from "./memory.js";
export * from "./format.js";
