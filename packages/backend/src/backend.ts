/**
 * Choosing a tfjs backend: `tensorflow` (tfjs-node-gpu, else tfjs-node) → `wasm` → `cpu`.
 *
 *   await initBackend();            // the fastest one present (or $VLAB_BACKEND)
 *   await initBackend("cpu");       // exactly this one, or an error saying why not
 *   describeBackend();              // { name, threads, gpu, simd, native, version, registeredByVlab }
 *
 * Notes on tfjs in Node (tfjs 4.22, Node 20), measured while writing this file:
 * - tfjs-core registers no gradients: the union package `@tensorflow/tfjs` does. It is imported here
 *   so that `tf.grads` / `variableGrads` work whichever backend runs (tfjs-node imports it too).
 * - `wasm` needs no configuration in Node: the node bundle reads its `.wasm` binaries from its own
 *   folder (no `setWasmPaths`). SIMD is detected and used (the SIMD binary is chosen automatically).
 * - Threads for wasm are off by default; opt in with `initBackend("wasm", { threads })` or
 *   `VLAB_WASM_THREADS` (wasm_threads.ts works around Node refusing tfjs's pthread workers).
 * - On wasm, matrix multiplies run in vlab's optional C++ addon when it was built (native_kernels/;
 *   `describeBackend().native` says whether; `VLAB_NATIVE=0` turns it off). It uses its own threads
 *   (`VLAB_NATIVE_THREADS`, default: every core), independent of the XNNPACK pool above.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers every gradient (tfjs-core alone has none)
import "@tensorflow/tfjs-backend-cpu";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";
import * as os from "node:os";
import {
  copyKernelRegistrations,
  registerCopyKernels,
  registerWasmKernels,
  vlabRegistrations,
} from "./kernels/register.js";
import { fusedRegistrations } from "./fused/kernel_util.js";
import "./fused/gelu.js";
import "./fused/layer_norm.js";
import "./fused/softmax_cross_entropy.js";
import "./fused/adamw.js";
import "./fused/masked_softmax.js";
import { nativeKernelsActive, nativeRegistrations, registerNativeKernels } from "./native_kernels/register.js";
import { nativeStatus } from "./native_addon.js";
import { prepareWasmThreads } from "./wasm_threads.js";

registerWasmKernels();
registerCopyKernels();
// After the wasm kernels: the native matmuls fall back to what is registered before them.
registerNativeKernels();

// Until initBackend() runs, tfjs would pick its highest-priority backend, wasm, whose start is
// asynchronous: the first op would throw "backend 'wasm' has not yet been initialized". The cpu
// backend starts synchronously, so make it the default now (only if nothing was chosen yet, e.g. by
// tfjs-node at import): code that forgets `await initBackend()` is slow, not broken.
if (tf.engine().backendName == null) {
  void tf.setBackend("cpu");
  // `firstUse` (the cpu backend's "install tfjs-node" banner) is private in its declared type.
  const cpu = tf.engine().registry["cpu"] as unknown as { firstUse?: boolean } | undefined;
  if (cpu) cpu.firstUse = false;
}

export type BackendName = "tensorflow" | "wasm" | "cpu";
const BACKENDS: readonly BackendName[] = ["tensorflow", "wasm", "cpu"];

export interface BackendInfo {
  /** The tfjs backend in use (`tf.getBackend()`), or "none" before any is initialised. */
  name: string;
  /** Threads the backend computes with (wasm: its XNNPACK pool; tensorflow: the cores it may use). */
  threads: number;
  /** The GPU in use, or null (only tfjs-node-gpu uses one). */
  gpu: string | null;
  /** wasm only: whether the SIMD build is running. */
  simd?: boolean;
  /** tfjs-core version. */
  version: string;
  /** Kernels and gradients vlab registered (see kernels/, native_kernels/, fused/). */
  registeredByVlab: string[];
  /**
   * wasm only: vlab's native C++ kernels (native_kernels.ts): whether they run, with which
   * micro-kernel and how many threads, or why not (not built, `VLAB_NATIVE=0`, switched off).
   */
  native?: NativeInfo;
}

/** wasm only: whether vlab's native kernels run, with which micro-kernel and how many threads, or why not. */
export interface NativeInfo {
  active: boolean;
  kernel?: string;
  threads?: number;
  reason?: string;
}

export interface InitBackendOptions {
  /** wasm only: threads for XNNPACK (default `$VLAB_WASM_THREADS` or 1). Fixed once wasm has started. */
  threads?: number;
}

/** What initBackend learnt, for describeBackend. */
const state: { gpu: string | null; simd?: boolean; chosen?: BackendName } = { gpu: null };
/** One initialisation per backend name, shared by concurrent callers. */
const pending = new Map<BackendName, Promise<boolean>>();
const failures = new Map<BackendName, string>();

function parseName(value: string | undefined, where: string): BackendName | undefined {
  if (value === undefined || value === "") return undefined;
  const v = value.trim().toLowerCase();
  if (v === "node" || v === "tfjs-node") return "tensorflow";
  if ((BACKENDS as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(`${where}: unknown backend "${value}"; expected one of ${BACKENDS.join(", ")}`);
}

/** Imports a package that may be absent, without the bundler or type checker resolving it. */
async function optionalImport(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

async function startTensorflow(): Promise<boolean> {
  const errors: string[] = [];
  for (const [pkg, gpu] of [
    ["@tensorflow/tfjs-node-gpu", true],
    ["@tensorflow/tfjs-node", false],
  ] as const) {
    try {
      await optionalImport(pkg);
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split("\n")[0]}`);
      continue;
    }
    if (tf.findBackendFactory("tensorflow") == null) {
      errors.push(`${pkg} was imported but registered no 'tensorflow' backend (a second copy of tfjs-core?)`);
      continue;
    }
    if (!(await tf.setBackend("tensorflow"))) {
      errors.push(`${pkg}: the 'tensorflow' backend failed to initialise`);
      continue;
    }
    state.gpu = gpu ? "CUDA (tfjs-node-gpu)" : null;
    return true;
  }
  failures.set("tensorflow", errors.join("; "));
  return false;
}

async function startWasm(threads: number): Promise<boolean> {
  const already = tf.engine().registry["wasm"] != null;
  let undo: (() => void) | null = null;
  if (!already && threads > 1) undo = prepareWasmThreads(threads);
  let ok = false;
  try {
    ok = await tf.setBackend("wasm");
  } catch (e) {
    failures.set("wasm", (e as Error).message);
  } finally {
    undo?.();
  }
  if (!ok && undo) {
    // Threaded start failed: fall back to the single-threaded build.
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    tfwasm.setThreadsCount(1);
    try {
      ok = await tf.setBackend("wasm");
    } catch (e) {
      failures.set("wasm", (e as Error).message);
    }
  }
  if (!ok) {
    if (!failures.has("wasm")) failures.set("wasm", "tf.setBackend('wasm') returned false");
    return false;
  }
  // Pthread workers would keep Node alive after the script ends.
  const pthread = (
    tf.backend() as unknown as {
      wasm?: { PThread?: { unusedWorkers: { unref?: () => void }[]; runningWorkers: { unref?: () => void }[] } };
    }
  ).wasm?.PThread;
  if (pthread) for (const w of [...pthread.unusedWorkers, ...pthread.runningWorkers]) w.unref?.();
  state.simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  state.gpu = null;
  return true;
}

async function startCpu(): Promise<boolean> {
  const ok = await tf.setBackend("cpu");
  if (!ok) {
    failures.set("cpu", "tf.setBackend('cpu') returned false");
    return false;
  }
  // The cpu backend's "install tfjs-node" banner: describeBackend() already says what runs.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  state.gpu = null;
  return true;
}

async function start(name: BackendName, opts: InitBackendOptions): Promise<boolean> {
  let p = pending.get(name);
  if (!p) {
    if (name === "tensorflow") p = startTensorflow();
    else if (name === "wasm") {
      const envThreads = Number(process.env.VLAB_WASM_THREADS ?? "");
      // The wasm build pre-creates 8 workers: more threads than that cannot start.
      const threads = Math.min(
        8,
        Math.max(1, Math.floor(opts.threads ?? (Number.isFinite(envThreads) && envThreads > 0 ? envThreads : 1))),
      );
      p = startWasm(threads);
    } else p = startCpu();
    pending.set(name, p);
  }
  const ok = await p;
  if (ok && name === "wasm" && opts.threads !== undefined && opts.threads !== wasmThreads()) {
    console.warn(
      `vlab: wasm is already running with ${wasmThreads()} thread(s); threads can only be chosen before it starts`,
    );
  }
  if (!ok) {
    pending.delete(name); // a later call may try again (e.g. after installing tfjs-node)
    return false;
  }
  // Initialised before: make it current again (cheap; no re-initialisation).
  if (tf.getBackend() !== name) await tf.setBackend(name);
  return true;
}

/**
 * Picks and initialises a backend and returns `describeBackend()`.
 *
 * Order of choice: the `name` argument, else `$VLAB_BACKEND`, else the fastest present:
 * `tensorflow` (tfjs-node-gpu, then tfjs-node; both optional), `wasm`, `cpu`. A backend asked for by
 * name that cannot start is an error. Idempotent: a second call returns at once.
 */
export async function initBackend(name?: BackendName, opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = parseName(name, "initBackend") ?? parseName(process.env.VLAB_BACKEND, "VLAB_BACKEND");
  if (requested) {
    if (!(await start(requested, opts))) {
      const why = failures.get(requested) ?? "unknown reason";
      const hint =
        requested === "tensorflow"
          ? " Install @tensorflow/tfjs-node (or -gpu) to use it, or choose 'wasm' or 'cpu'."
          : "";
      throw new Error(`Backend '${requested}' is not available: ${why}.${hint}`);
    }
    state.chosen = requested;
    return describeBackend();
  }
  if (state.chosen && tf.engine().backendName === state.chosen) return describeBackend();
  for (const candidate of BACKENDS) {
    if (await start(candidate, opts)) {
      state.chosen = candidate;
      return describeBackend();
    }
  }
  throw new Error(`No tfjs backend could start: ${[...failures].map(([k, v]) => `${k}: ${v}`).join("; ")}`);
}

/** Whether a backend was chosen on purpose: by `initBackend()` (any name) or by env `VLAB_BACKEND`. */
export function backendChosen(): boolean {
  return state.chosen !== undefined || Boolean(process.env.VLAB_BACKEND?.trim());
}

function wasmThreads(): number {
  try {
    return tfwasm.getThreadsCount();
  } catch {
    return 1;
  }
}

/** The backend in use, what it runs with, and what vlab added to it (plain data; @vlab/core's describeBackend
 *  adds its Jupyter display). */
export function describeBackend(): BackendInfo {
  const name = tf.engine().backendName ?? "none";
  const threads =
    name === "wasm" ? wasmThreads() : name === "tensorflow" ? (os.availableParallelism?.() ?? os.cpus().length) : 1;
  return {
    name,
    threads,
    gpu: name === "tensorflow" ? state.gpu : null,
    ...(name === "wasm" && state.simd !== undefined ? { simd: state.simd } : {}),
    version: tf.version_core,
    registeredByVlab: [
      ...vlabRegistrations(),
      ...copyKernelRegistrations(),
      ...nativeRegistrations(),
      ...fusedRegistrations(),
    ],
    ...(name === "wasm" ? { native: nativeInfo() } : {}),
  };
}

function nativeInfo(): NativeInfo {
  const st = nativeStatus();
  if (!st.loaded) return { active: false, reason: st.reason };
  if (!nativeKernelsActive())
    return { active: false, kernel: st.kernel, threads: st.threads, reason: "switched off (configureNativeKernels)" };
  return { active: true, kernel: st.kernel, threads: st.threads };
}
