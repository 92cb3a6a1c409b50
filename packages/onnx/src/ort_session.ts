/**
 * onnxruntime-node sessions with clear errors: a missing, empty or non-ONNX file is refused before
 * onnxruntime parses it, and a GPU execution provider that cannot load falls back to the next one.
 *
 * Execution providers: "cpu" is bundled with onnxruntime-node. "cuda" needs the CUDA 12 provider
 * libraries, which onnxruntime-node's install step downloads unless told to skip (this repository's
 * .npmrc skips it: `onnxruntime-node-install=skip`); asking for ["cuda", "cpu"] without them falls
 * back to the CPU with a warning. onnxruntime-node is loaded on first use, so importing
 * `@vlab/onnx` never loads the native library.
 */
import { open, stat } from "node:fs/promises";
import type * as Ort from "onnxruntime-node";

/** The onnxruntime-node module, as `loadOnnxRuntime` returns it. */
export type OrtModule = typeof Ort;
let ortPromise: Promise<OrtModule> | undefined;

/** onnxruntime-node, imported on first use (a clear error if it is not installed). */
export async function loadOnnxRuntime(): Promise<OrtModule> {
  ortPromise ??= import("onnxruntime-node").catch((e: unknown) => {
    ortPromise = undefined;
    throw new Error(
      `onnxruntime-node could not be loaded (${(e as Error).message}). It is a dependency of @vlab/onnx: ` +
        "run `npm install` (its CPU build is bundled; no download is needed).",
    );
  });
  return ortPromise;
}

/** An execution provider: "cpu", "cuda", or onnxruntime's option object (e.g. { name: "cuda", deviceId: 1 }). */
export type OnnxExecutionProvider = "cpu" | "cuda" | (string & {}) | { name: string; [option: string]: unknown };

/** A model: a path to a .onnx file, or its bytes. */
export type OnnxModelSource = string | Uint8Array | ArrayBuffer;

export interface OnnxSessionOptions {
  /**
   * In order of preference (default ["cpu"]). A "cuda" that cannot load falls back to the providers after it, else
   * "cpu".
   */
  executionProviders?: readonly OnnxExecutionProvider[];
  /** Threads for one operator (default: onnxruntime's choice, one per core). */
  intraOpNumThreads?: number;
  /** Graph optimisation level (default "all"). */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  /**
   * Least severe onnxruntime log line printed by the session: 0 verbose, 1 info, 2 warning,
   * 3 error (default), 4 fatal. Run failures are rethrown with context either way.
   */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Called with a message when a requested provider is unavailable (default console.warn). */
  onWarning?: (message: string) => void;
}

/** A session and the providers it really runs on. */
export interface EncoderSession {
  session: Ort.InferenceSession;
  /** The provider names the session was created with, after any fallback (e.g. ["cpu"]). */
  executionProviders: string[];
  /** What the model was loaded from ("<bytes>" for a buffer). */
  source: string;
}

/**
 * Providers that failed to load in this process, with the reason: later sessions skip them at once
 * (onnxruntime prints its own error line on every failed attempt).
 */
const unavailableProviders = new Map<string, string>();

function providerName(p: OnnxExecutionProvider): string {
  return typeof p === "string" ? p : p.name;
}

/**
 * Resolves a model source: bytes are used as they are; a path is checked (missing, a directory,
 * empty) and only its first bytes are read, for `sniffNonOnnx` — onnxruntime then opens the file
 * itself, so external-data files next to it (`model.onnx_data`, used above 2 GiB) are found.
 */
async function modelSource(
  src: OnnxModelSource,
  what: string,
): Promise<{ model: string | Uint8Array; head: Uint8Array; source: string; size: number }> {
  if (src instanceof Uint8Array) return { model: src, head: src.subarray(0, 256), source: "<bytes>", size: src.length };
  if (src instanceof ArrayBuffer) return modelSource(new Uint8Array(src), what);
  if (typeof src !== "string")
    throw new Error(`${what}: expected a path to a .onnx file or its bytes (Uint8Array), got ${typeof src}`);
  let size: number;
  try {
    const s = await stat(src);
    if (s.isDirectory()) {
      throw new Error(
        `${what}: ${src} is a directory; pass the .onnx file inside it (e.g. ${src.replace(/\/$/, "")}/vision_model.onnx)`,
      );
    }
    size = s.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${what}: no such file: ${src}`, { cause: e });
    throw e;
  }
  if (size === 0) throw new Error(`${what}: ${src} is empty (0 bytes), not an ONNX model`);
  const fh = await open(src, "r");
  try {
    const head = new Uint8Array(Math.min(256, size));
    await fh.read(head, 0, head.length, 0);
    return { model: src, head, source: src, size };
  } finally {
    await fh.close();
  }
}

/**
 * A first look at the bytes: an ONNX file is a protobuf ModelProto, whose first field is
 * ir_version (tag 0x08) in every exporter we know of; any ModelProto field tag is let through.
 * Catches the usual wrong files (a git-lfs pointer, an HTML error page, a safetensors file, JSON)
 * with a useful message before onnxruntime says only "protobuf parsing failed".
 */
function sniffNonOnnx(bytes: Uint8Array): string | undefined {
  const [first] = bytes;
  if (first !== undefined && MODEL_PROTO_TAGS.has(first)) return undefined; // plausible: let onnxruntime parse it
  const head = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 200));
  if (head.startsWith("version https://git-lfs")) return "it is a git-lfs pointer, not the model (run `git lfs pull`)";
  if (/^\s*</.test(head)) return "it looks like HTML or XML (a web page saved instead of the model?)";
  if (/^\s*[{[]/.test(head)) return "it looks like JSON";
  if (bytes.length >= 9 && bytes[8] === 0x7b /* { */)
    return "it looks like a safetensors file (load it with loadClipSafetensors from @vlab/vision instead)";
  return (
    `its first byte, 0x${(bytes[0] ?? 0).toString(16).padStart(2, "0")}, ` +
    "does not start any field of an ONNX ModelProto (normally 0x08, ir_version)"
  );
}

/**
 * First bytes a ModelProto can start with: the tags of its fields 1-8 and 14 (ir_version … opset_import,
 * metadata_props).
 */
const MODEL_PROTO_TAGS = new Set([0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72]);

/**
 * Creates an onnxruntime session for one model, with clear errors for a missing or non-ONNX file
 * and the CPU fallback for an unavailable CUDA provider.
 */
export async function createEncoderSession(
  model: OnnxModelSource,
  opts: OnnxSessionOptions = {},
  what = "ONNX model",
): Promise<EncoderSession> {
  const ort = await loadOnnxRuntime();
  const { model: loadable, head, source, size } = await modelSource(model, what);
  const notOnnx = sniffNonOnnx(head);
  const label = source === "<bytes>" ? "the given bytes" : source;
  if (notOnnx) throw new Error(`${what}: ${label} is not an ONNX model: ${notOnnx}`);

  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
  const requested = [...(opts.executionProviders ?? ["cpu"])];
  if (requested.length === 0) throw new Error(`${what}: executionProviders is empty (use ["cpu"], or ["cuda", "cpu"])`);
  const known = new Set(ort.listSupportedBackends().map((b) => b.name));
  for (const p of requested) {
    if (!known.has(providerName(p))) {
      throw new Error(
        `${what}: execution provider "${providerName(p)}" is not available in onnxruntime-node on this platform ` +
          `(available: ${[...known].join(", ")})`,
      );
    }
  }
  const base: Ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.graphOptimizationLevel ?? "all",
    logSeverityLevel: opts.logSeverityLevel ?? 3,
    ...(opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
  };

  // Try the preference list; drop a GPU provider whose libraries cannot load and try the rest.
  let providers = requested;
  const fallBack = (gpu: OnnxExecutionProvider, reason: string) => {
    const rest = providers.filter((p) => p !== gpu);
    const next = rest.length > 0 ? rest : ["cpu" as const];
    const name = providerName(gpu);
    const hint = /^(cuda|tensorrt)$/.test(name)
      ? " onnxruntime-node's CUDA and TensorRT providers need the CUDA 12 libraries its install step downloads " +
        "(this repository's .npmrc skips that download; reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 to get them)."
      : "";
    warn(
      `${what}: the "${name}" execution provider is unavailable (${reason}); running on ` +
        `${next.map(providerName).join(", ")}.${hint}`,
    );
    providers = next;
  };
  for (const p of [...providers]) {
    const reason = unavailableProviders.get(providerName(p));
    if (reason !== undefined) fallBack(p, reason);
  }
  for (;;) {
    try {
      const options = { ...base, executionProviders: providers as Ort.InferenceSession.ExecutionProviderConfig[] };
      const session =
        typeof loadable === "string"
          ? await ort.InferenceSession.create(loadable, options)
          : await ort.InferenceSession.create(loadable, options);
      return { session, executionProviders: providers.map(providerName), source };
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      const gpu = providers.find((p) => providerName(p) !== "cpu");
      const providerFailure = /shared library|providers_|ExecutionProvider|CUDA|cudnn|TensorRT/i.test(msg);
      if (gpu && providerFailure) {
        const [reason = msg] = msg.split("\n"); // its first line
        unavailableProviders.set(providerName(gpu), reason);
        fallBack(gpu, reason);
        continue;
      }
      if (/protobuf|parsing|ModelProto|Load model/i.test(msg)) {
        const hint = `${size} bytes: truncated, damaged, or not an ONNX file?`;
        throw new Error(`${what}: ${label} is not a valid ONNX model (${hint}): ${msg}`, { cause: e });
      }
      throw new Error(`${what}: onnxruntime could not load ${label}: ${msg}`, { cause: e });
    }
  }
}
