/**
 * Finding and loading `vlab_native.node`, the optional C++ addon with vlab's native CPU kernels
 * (sources in packages/backend/native, built by scripts/build-native.js from the package's `build`).
 *
 * The addon is optional: a machine without a compiler builds the package without it, and everything
 * then runs on tfjs's own kernels. `VLAB_NATIVE=0` disables it even when it is present, and
 * `VLAB_NATIVE_THREADS` sets its thread count (default: the cores this process may use).
 *
 *   nativeAddon();     // the loaded addon, or null
 *   activeAddon();     // the addon if loaded and not switched off by configureNativeKernels
 *   nativeStatus();    // { loaded, kernel, threads, path } or { loaded: false, reason }
 */
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The functions the addon exports (see native/src/addon.cc). */
export interface NativeAddon {
  /**
   * out[b] = act(op(a[ia]) · op(b[ib]) + bias) for b < batch, in place on the given arrays.
   * op transposes when transA / transB is 1. Batch entries of a (b) are aStride (bStride) elements
   * apart (0 = the same matrix for all), unless aIndex (bIndex) lists which entry each one uses.
   * activation: 0 linear, 1 relu, 2 relu6, 4 leakyrelu (slope alpha), 5 sigmoid, 6 elu.
   */
  matmul(
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    bias: Float32Array | null,
    m: number,
    n: number,
    k: number,
    transA: number,
    transB: number,
    batch: number,
    aStride: number,
    bStride: number,
    activation: number,
    alpha: number,
    aIndex?: Int32Array | null,
    bIndex?: Int32Array | null,
  ): void;
  /** y = gelu(x) (exact, erf form). */
  gelu(x: Float32Array, y: Float32Array): void;
  /** dx = dy · gelu'(x). */
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** Layer norm of each of `rows` rows of `cols` values; gamma / beta may be null. */
  layerNorm(
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    y: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  /** Its gradient; dgamma / dbeta (overwritten) may be null. */
  layerNormGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array | null,
    dx: Float32Array,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  /** loss[r] = logsumexp(logits[r]) − logits[r, labels[r]]; throws if a label is outside [0, cols). */
  softmaxXent(logits: Float32Array, labels: Int32Array, loss: Float32Array, rows: number, cols: number): void;
  /** dlogits[r] = dloss[r] · (softmax(logits[r]) − onehot(labels[r])). */
  softmaxXentGrad(
    dloss: Float32Array,
    logits: Float32Array,
    labels: Int32Array,
    dlogits: Float32Array,
    rows: number,
    cols: number,
  ): void;
  /** out[j] = Σ_r x[r, j]. */
  columnSum(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** One AdamW update into pOut, mOut, vOut; keep = 1 − lr·λ (fused/adamw.ts). */
  adamw(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    beta1: number,
    beta2: number,
    eps: number,
    keep: number,
    stepSize: number,
    bc2Sqrt: number,
  ): void;
  /** y = softmax(scale·x + max(mask, maskMin)) per row; row r adds mask row maskRows[r] (fused/masked_softmax.ts). */
  maskedSoftmax(
    x: Float32Array,
    mask: Float32Array | null,
    maskRows: Int32Array | null,
    y: Float32Array,
    rows: number,
    cols: number,
    scale: number,
    maskMin: number,
  ): void;
  /** dx = scale · y ⊙ (dy − Σ dy⊙y) per row. */
  maskedSoftmaxGrad(
    dy: Float32Array,
    y: Float32Array,
    dx: Float32Array,
    rows: number,
    cols: number,
    scale: number,
  ): void;
  /** y = x with axes permuted (output axis d is input axis perm[d]); 4-byte elements. */
  transpose(x: Float32Array | Int32Array, y: Float32Array | Int32Array, shape: Int32Array, perm: Int32Array): void;
  /**
   * A Llama / Qwen2 decoder for one-call decoding steps (native/src/decode.h; decoder.ts wraps it). config is
   * [vocab, dim, inter, layers, heads, kvHeads, headDim, tied, qkvBias]; the weights are copied.
   */
  decoderCreate(config: Int32Array, eps: number, invFreq: Float64Array, weights: Float32Array[]): object;
  /**
   * One step of B new tokens: writes their keys/values at column `past` of each row's own caches and their logits.
   * The rows attend over their prompt's prefix (`prefix` columns, shared by `repeats` consecutive rows) and then
   * their own columns.
   */
  decoderStep(
    decoder: object,
    tokens: Int32Array,
    positions: Int32Array,
    prefixK: Float32Array | Uint16Array, // [L, B / repeats, Hkv, hd, prefix]: keys transposed
    prefixV: Float32Array | Uint16Array, // [L, B / repeats, Hkv, prefix, hd]
    prefixMask: Uint8Array, // [B / repeats, prefix]
    kCache: Float32Array | Uint16Array, // [L, B, Hkv, hd, capacity]; Uint16Array: IEEE halves (all four the same)
    vCache: Float32Array | Uint16Array, // [L, B, Hkv, capacity, hd]
    mask: Uint8Array, // [B, capacity]
    batch: number,
    repeats: number,
    prefix: number,
    past: number,
    capacity: number,
    logits: Float32Array,
  ): void;
  /** Frees a decoder's weights now (a freed decoder refuses to step). */
  decoderFree(decoder: object): void;
  /** The micro-kernel chosen for this CPU (e.g. "avx2+fma 6x16"), the thread count, the decoder's vector code. */
  info(): { kernel: string; threads: number; decode?: string };
  setThreads(n: number): void;
}

export type NativeStatus =
  { loaded: true; kernel: string; threads: number; path: string } | { loaded: false; reason: string };

const FILE = "vlab_native.node";
/** Every function the TypeScript side calls: an addon built from older sources lacks some. */
const REQUIRED = [
  "matmul",
  "gelu",
  "geluGrad",
  "layerNorm",
  "layerNormGrad",
  "softmaxXent",
  "softmaxXentGrad",
  "columnSum",
  "adamw",
  "maskedSoftmax",
  "maskedSoftmaxGrad",
  "transpose",
  "decoderCreate",
  "decoderStep",
  "decoderFree",
  "info",
  "setThreads",
] as const;

/** Where the addon may be, relative to this file (which runs from src/ in tests, dist/ otherwise). */
function candidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return [
    path.join(here, "native", FILE), // dist/native/ (copied there by build-native.js)
    path.join(here, "..", "dist", "native", FILE), // from src/
    path.join(here, "..", "native", "build", "Release", FILE), // node-gyp's own output
  ];
}

let addon: NativeAddon | null | undefined;
let status: NativeStatus = { loaded: false, reason: "not loaded yet" };

function defaultThreads(): number {
  const env = Number(process.env.VLAB_NATIVE_THREADS ?? "");
  if (Number.isFinite(env) && env >= 1) return Math.floor(env);
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** The addon, loaded on first call; null when disabled, not built, or failing to load. */
export function nativeAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.VLAB_NATIVE === "0") {
    status = { loaded: false, reason: "disabled by VLAB_NATIVE=0" };
    return addon;
  }
  const file = candidates().find((p) => fs.existsSync(p));
  if (!file) {
    status = { loaded: false, reason: "not built (no C++ toolchain when @vlab/backend was built?)" };
    return addon;
  }
  try {
    const loaded = createRequire(import.meta.url)(file) as NativeAddon;
    const missing = REQUIRED.filter(
      (name) => typeof (loaded as unknown as Record<string, unknown>)[name] !== "function",
    );
    if (missing.length) {
      status = { loaded: false, reason: `${file} is out of date (no ${missing.join(", ")}): rebuild @vlab/backend` };
      return addon;
    }
    loaded.setThreads(defaultThreads());
    const info = loaded.info();
    addon = loaded;
    status = { loaded: true, kernel: info.kernel, threads: info.threads, path: file };
  } catch (e) {
    status = { loaded: false, reason: `failed to load ${file}: ${(e as Error).message.split("\n")[0]}` };
  }
  return addon;
}

let enabled = true;

/** Switches every native kernel off (tfjs's or vlab's JavaScript kernels run instead) or on again. */
export function configureNativeKernels(opts: { enabled?: boolean }): void {
  if (opts.enabled !== undefined) enabled = opts.enabled;
}

/** The addon when it is loaded and switched on: what kernels call before computing natively. */
export function activeAddon(): NativeAddon | null {
  return enabled ? nativeAddon() : null;
}

/** Whether the addon is loaded, with what micro-kernel and threads, or why not. */
export function nativeStatus(): NativeStatus {
  nativeAddon();
  if (status.loaded && addon) return { ...status, threads: addon.info().threads };
  return { ...status };
}

/** Changes the addon's thread count (no effect without the addon). */
export function setNativeThreads(n: number): void {
  nativeAddon()?.setThreads(Math.max(1, Math.floor(n)));
}
