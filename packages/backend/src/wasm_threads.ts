/**
 * Threads for the `wasm` backend in Node.
 *
 * Threads are off in Node as shipped (`WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired false there,
 * tfjs#3830): the pthread workers are started from `blob:` URLs, which Node's `worker_threads`
 * refuses. `initBackend("wasm", { threads: n })` works around that here: the worker script is written
 * to a temporary file (the workers are unref'd by backend.ts so the process can still exit). Even
 * then the wasm backend caps its pool at half the logical cores, so this reports 2n "cores" while it
 * starts. XNNPACK (2-D matmul, conv) uses the pool: a 512x512 matmul went from 14 ms to 7.5 ms with
 * 2 threads on 2 cores; element-wise kernels do not.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * Node's worker_threads cannot start a worker from the `blob:` URL tfjs-backend-wasm makes, so the
 * worker script goes to a temporary file; the worker loads the threaded module factory with
 * `require` instead of `importScripts(blob)`. Returns a function undoing the temporary patches.
 */
export function prepareWasmThreads(threads: number): (() => void) | null {
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
  } catch {
    return null;
  }
  const factoryPath = path.join(pkgDir, "wasm-out", "tfjs-backend-wasm-threaded-simd.js");
  const workerModule = path.join(pkgDir, "wasm-out", "tfjs-backend-wasm-threaded-simd.worker.js");
  if (!fs.existsSync(factoryPath) || !fs.existsSync(workerModule)) return null;
  const { wasmWorkerContents } = require(workerModule) as { wasmWorkerContents: string };
  const loadMain = /if\(typeof e\.data\.urlOrBlob=="string"\)\{importScripts\(e\.data\.urlOrBlob\)\}else\{[^}]*\}/;
  if (typeof wasmWorkerContents !== "string" || !loadMain.test(wasmWorkerContents)) return null;
  const workerSource = wasmWorkerContents
    .replace(/\n/g, "\\n") // the string holds a literal newline inside a JS string
    .replace(loadMain, `global.WasmBackendModuleThreadedSimd=require(${JSON.stringify(factoryPath)});`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-wasm-"));
  const workerFile = path.join(dir, "worker.cjs");
  fs.writeFileSync(workerFile, workerSource);

  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = os.cpus;
  URL.createObjectURL = () => workerFile;
  // The wasm backend uses at most logicalCores / 2 threads.
  const fakeCpus = () => {
    const cpus = originalCpus();
    if (cpus.length === 0) return cpus;
    const many: os.CpuInfo[] = [];
    while (many.length < 2 * threads) many.push(...cpus); // the real cores, repeated
    return many.slice(0, Math.max(2 * threads, cpus.length));
  };
  const osModule = require("node:os") as { cpus: typeof os.cpus };
  osModule.cpus = fakeCpus;
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  tfwasm.setThreadsCount(threads);
  // Workers read the file as they start: remove it only when the process ends.
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return () => {
    URL.createObjectURL = originalCreateObjectURL;
    osModule.cpus = originalCpus;
  };
}
