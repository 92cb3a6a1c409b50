/**
 * @vlab/core — the shared tensor core every vlab package builds on.
 *
 * - backend.ts      choose tensorflow → wasm → cpu, `VLAB_BACKEND`, `describeBackend()`
 * - wasm_kernels.ts kernels the wasm backend lacks for training (registered on import)
 * - wasm_copy_kernels.ts  Identity / Slice / SplitV / Concat on wasm without needless copies
 * - native_addon.ts, native_kernels.ts  the optional C++ addon (native/) and the wasm kernels it
 *                   computes: matmuls (fused bias + activation), leading-axis sums
 * - fused/          one-kernel GELU, layer norm, attention softmax, softmax cross-entropy, AdamW
 *                   on wasm (native)
 * - rng.ts          seeded random numbers and initialisers
 * - module.ts       `Module`: named parameters, stateDict / loadStateDict, freeze, counts
 * - layers.ts       Linear, Embedding, LayerNorm, RMSNorm, MLP, SwiGLU
 * - losses.ts       crossEntropy (F.cross_entropy)
 * - attention.ts    multi-head attention with causal, padding and block-diagonal masks, KV cache
 * - optim.ts        AdamW, global-norm clipping, warmup + cosine schedule
 * - train.ts        a flat training loop helper
 * - safetensors.ts  safetensors read / write (F32, F16, BF16), atomic writes
 * - checkpoint.ts   save / resume training state
 * - memory.ts       tensor-leak checks
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
export * from "./train.js";
export * from "./safetensors.js";
export * from "./checkpoint.js";
export * from "./memory.js";
export * from "./format.js";
