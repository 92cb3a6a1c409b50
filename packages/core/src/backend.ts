/**
 * The backend as @vlab/core's users see it: @vlab/backend chooses the tfjs backend and adds vlab's
 * kernels (importing @vlab/core imports it, which registers them and makes `cpu` the default until
 * `initBackend()` runs); this file re-exports its public names and gives `describeBackend()` a Jupyter
 * display.
 *
 *   await initBackend();            // the fastest one present (or $VLAB_BACKEND)
 *   await initBackend("cpu");       // exactly this one, or an error saying why not
 *   describeBackend();              // { name, threads, gpu, simd, native, version, registeredByVlab }
 */
import * as backend from "@vlab/backend";
import { escapeHtml } from "./format.js";
import { JUPYTER_DISPLAY, type MimeBundle } from "./kernel_hook.js";

export {
  backendChosen,
  configureFusedOps,
  configureNativeKernels,
  configureWasmMatMul,
  nativeDecoder,
  nativeKernelsActive,
  nativeStatus,
  setNativeThreads,
  vlabRegistrations,
  type BackendName,
  type DecoderShape,
  type InitBackendOptions,
  type KvCacheType,
  type NativeDecoder,
  type NativeInfo,
  type NativeStatus,
} from "@vlab/backend";

/** What `describeBackend()` says (@vlab/backend's plain data), displaying itself in Jupyter as a table. */
export interface BackendInfo extends backend.BackendInfo {
  [JUPYTER_DISPLAY](): MimeBundle;
}

/**
 * Picks and initialises a backend and returns `describeBackend()`.
 *
 * Order of choice: the `name` argument, else `$VLAB_BACKEND`, else the fastest present:
 * `tensorflow` (tfjs-node-gpu, then tfjs-node; both optional), `wasm`, `cpu`. A backend asked for by
 * name that cannot start is an error. Idempotent: a second call returns at once.
 */
export async function initBackend(
  name?: backend.BackendName,
  opts: backend.InitBackendOptions = {},
): Promise<BackendInfo> {
  return withDisplay(await backend.initBackend(name, opts));
}

/** The backend in use, what it runs with, and what vlab added to it. Displays itself in Jupyter. */
export function describeBackend(): BackendInfo {
  return withDisplay(backend.describeBackend());
}

let warnedSlowDefault = false;

/**
 * Says once, on stderr, that `where` is about to run on tfjs's slow `cpu` backend only because nobody chose one:
 * plain Node code that imports @vlab/core without `await initBackend()` (the kernel and `import … from "vlab"`
 * choose for you). A small MLP step measured 1632 ms on `cpu` against 23.9 ms on `wasm`. Choosing `cpu` on
 * purpose (`initBackend("cpu")`, `VLAB_BACKEND=cpu`) silences it.
 */
export function warnIfSlowDefault(where: string): void {
  if (warnedSlowDefault || backend.backendChosen() || backend.describeBackend().name !== "cpu") return;
  warnedSlowDefault = true;
  console.warn(
    `vlab: ${where} runs on tfjs's slow "cpu" backend because no backend was chosen; ` +
      "`await core.initBackend()` picks the fastest present (VLAB_BACKEND=cpu keeps cpu without this warning)",
  );
}

/** `data` with a non-enumerable display method (JSON and key listings stay the plain data). */
function withDisplay(data: backend.BackendInfo): BackendInfo {
  const info = { ...data, [JUPYTER_DISPLAY]: () => backendBundle(info) };
  Object.defineProperty(info, JUPYTER_DISPLAY, { enumerable: false });
  return info;
}

function nativeText(n: backend.NativeInfo): string {
  return n.active
    ? `native kernels (${n.kernel}, ${n.threads} thread${n.threads === 1 ? "" : "s"})`
    : `no native kernels: ${n.reason}`;
}

function backendBundle(info: backend.BackendInfo): MimeBundle {
  const parts = [`backend ${info.name}`, `${info.threads} thread${info.threads === 1 ? "" : "s"}`];
  if (info.simd !== undefined) parts.push(info.simd ? "SIMD" : "no SIMD");
  if (info.native) parts.push(nativeText(info.native));
  parts.push(info.gpu ? `GPU: ${info.gpu}` : "no GPU", `tfjs ${info.version}`);
  const kernels = info.registeredByVlab;
  const text = `${parts.join(" · ")}\nregistered by vlab: ${kernels.length ? kernels.join(", ") : "(none)"}`;
  const rows: [string, string][] = [
    ["backend", escapeHtml(info.name)],
    ["threads", String(info.threads)],
    ...(info.simd !== undefined ? [["SIMD", info.simd ? "yes" : "no"] as [string, string]] : []),
    ...(info.native ? [["native", escapeHtml(nativeText(info.native))] as [string, string]] : []),
    ["GPU", escapeHtml(info.gpu ?? "none")],
    ["tfjs", escapeHtml(info.version)],
    ["registered by vlab", kernels.length ? kernels.map(escapeHtml).join("<br>") : "(none)"],
  ];
  const cells = rows.map(
    ([k, v]) => `<tr><th style="text-align:left;padding-right:1em">${k}</th><td style="text-align:left">${v}</td></tr>`,
  );
  return { "text/plain": text, "text/html": `<table style="text-align:left">${cells.join("")}</table>` };
}
