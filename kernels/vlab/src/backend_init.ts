/**
 * Fast by default: the kernel chooses the tfjs backend before it runs the first cell, so that
 * `import { core } from "vlab"` in a notebook runs on the fastest backend present (or $VLAB_BACKEND)
 * without the user calling `await core.initBackend()`.
 *
 * Why here and not in @vlab/core's entry: tslab compiles cells to CommonJS and `require()`s our ES
 * modules, and `require()` refuses an ES module graph with top-level await (ERR_REQUIRE_ASYNC_MODULE),
 * so no module a cell imports may await the backend itself.
 *
 * The kernel depends on no model package, so @vlab/core is looked up at run time, exactly as a cell's
 * `require("@vlab/core")` resolves it (from the notebook's folder, then the kernel's installation: see
 * resolve.ts). `import()` of the file `require.resolve` names gives the same module instance the cell
 * gets, so the backend it initialises is the one the cell uses. Without @vlab/core nothing happens.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** What the kernel says about the backend (in kernel_info's banner and on its terminal). */
export interface BackendSummary {
  name: string;
  threads: number;
  simd?: boolean;
  /** What the backend runs with besides tfjs's own kernels: vlab's wasm, native and fused kernels. */
  kernels: string[];
  native?: string;
  gpu?: string | null;
  /** Why no backend was initialised (no @vlab/core, or initBackend failed). */
  error?: string;
}

interface CoreLike {
  initBackend(): Promise<unknown>;
}

interface InfoLike {
  name?: unknown;
  threads?: unknown;
  simd?: unknown;
  gpu?: unknown;
  registeredByVlab?: unknown;
  native?: { active?: unknown; kernel?: unknown; threads?: unknown; reason?: unknown };
}

/** Where a cell run from `cwd` finds @vlab/core, or undefined when it cannot. */
export function resolveCore(cwd: string): string | undefined {
  try {
    return createRequire(path.join(cwd, "src.js")).resolve("@vlab/core");
  } catch {
    return undefined;
  }
}

function summarize(raw: unknown): BackendSummary {
  const info = (raw ?? {}) as InfoLike;
  const kernels = Array.isArray(info.registeredByVlab) ? info.registeredByVlab.map(String) : [];
  const n = info.native;
  const native =
    n === undefined ? undefined : n.active ? `${String(n.kernel)}, ${String(n.threads)} threads` : String(n.reason);
  return {
    name: String(info.name ?? "none"),
    threads: typeof info.threads === "number" ? info.threads : 1,
    ...(typeof info.simd === "boolean" ? { simd: info.simd } : {}),
    kernels,
    ...(native !== undefined ? { native } : {}),
    ...(typeof info.gpu === "string" ? { gpu: info.gpu } : {}),
  };
}

/**
 * Initialises the backend of the @vlab/core that cells in `cwd` import. Returns undefined when there is
 * no @vlab/core; never throws (a failure is reported in the summary's `error`, and cells still run).
 */
export async function initCellBackend(cwd: string): Promise<BackendSummary | undefined> {
  const file = resolveCore(cwd);
  if (!file) return undefined;
  try {
    const core = (await import(pathToFileURL(file).href)) as CoreLike;
    return summarize(await core.initBackend());
  } catch (e) {
    return { name: "none", threads: 0, kernels: [], error: e instanceof Error ? e.message : String(e) };
  }
}

/** One line: "wasm · 4 threads · SIMD · 31 vlab kernels (native: …)". */
export function describeSummary(s: BackendSummary | undefined): string {
  if (!s) return "no @vlab/core found: tfjs chooses its own backend";
  if (s.error) return `backend not initialised: ${s.error}`;
  const parts = [`backend ${s.name}`, `${s.threads} thread${s.threads === 1 ? "" : "s"}`];
  if (s.simd !== undefined) parts.push(s.simd ? "SIMD" : "no SIMD");
  if (s.gpu) parts.push(`GPU ${s.gpu}`);
  parts.push(`${s.kernels.length} vlab kernel${s.kernels.length === 1 ? "" : "s"}`);
  if (s.native !== undefined) parts.push(`native: ${s.native}`);
  return parts.join(" · ");
}
