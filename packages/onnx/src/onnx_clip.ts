/**
 * CLIP's encoders exported to ONNX, run through onnxruntime-node, behind the same API as the tfjs
 * `Clip`: `encodeImage(pixels [B, 3, H, W]) → [B, embed]`, `encodeText(ids [B, T]) → [B, embed]`,
 * both unnormalised projected features (async, because onnxruntime's `run` is).
 *
 *   const clip = await OnnxClip.load({ visionModel: "onnx/vision_model.onnx", textModel: "onnx/text_model.onnx" });
 *   const img = await clip.encodeImage(pixels);    // tf.Tensor2D [B, 512]
 *   const txt = await clip.encodeText(ids);        // tf.Tensor2D [B, 512]
 *   clip.dispose();
 *
 * The pair is what Hugging Face's exporters write for `CLIPVisionModelWithProjection` /
 * `CLIPTextModelWithProjection` (e.g. Xenova/clip-vit-base-patch32's `onnx/` folder):
 *
 *   vision_model.onnx   pixel_values [batch, 3, H, W] float32   →  image_embeds [batch, embed]  (+ last_hidden_state)
 *   text_model.onnx     input_ids [batch, seq] int64            →  text_embeds [batch, embed]   (+ last_hidden_state)
 *                       (+ attention_mask [batch, seq] int64, optional)
 *
 * Input and output names are read from the session (`pixel_values`, `input_ids`, `image_embeds`,
 * `text_embeds` when present; otherwise the single input / the output whose name ends in "embeds";
 * `names` overrides). Token ids are converted to the integer type the model declares (int32 ids
 * become a BigInt64Array for int64 models). If the model takes an `attention_mask`, it is all ones:
 * CLIP's text encoder is causal and pools at the end-of-text token, so tokens after it (padding)
 * cannot change the result; pass `attentionMask` to `encodeText` to use your own.
 *
 * graph.ts writes ONNX models by hand (protobuf); clip_export.ts exports a tfjs `Clip` to the
 * same vision_model.onnx / text_model.onnx pair.
 *
 * Execution providers: "cpu" is bundled with onnxruntime-node. "cuda" needs the CUDA 12 provider
 * libraries, which onnxruntime-node's install step downloads unless told to skip (this repository's
 * .npmrc skips it: `onnxruntime-node-install=skip`); asking for ["cuda", "cpu"] without them falls
 * back to the CPU with a warning. onnxruntime-node is loaded on first use, so importing
 * `@vlab/onnx` never loads the native library.
 */
import { open, stat } from "node:fs/promises";
import { f16BitsToF32, f32ToF16Bits, tf } from "@vlab/core";
import type * as Ort from "onnxruntime-node";

// ---------------------------------------------------------------------------------------------
// Loading onnxruntime-node and creating sessions
// ---------------------------------------------------------------------------------------------

type OrtModule = typeof Ort;
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
  /** In order of preference (default ["cpu"]). A "cuda" that cannot load falls back to the providers after it, else "cpu". */
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
): Promise<{ model: string | Uint8Array; head: Uint8Array; source: string }> {
  if (src instanceof Uint8Array) return { model: src, head: src.subarray(0, 256), source: "<bytes>" };
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
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${what}: no such file: ${src}`);
    throw e;
  }
  if (size === 0) throw new Error(`${what}: ${src} is empty (0 bytes), not an ONNX model`);
  const fh = await open(src, "r");
  try {
    const head = new Uint8Array(Math.min(256, size));
    await fh.read(head, 0, head.length, 0);
    return { model: src, head, source: src };
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
  if (MODEL_PROTO_TAGS.has(bytes[0]!)) return undefined; // plausible: let onnxruntime parse it
  const head = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 200));
  if (head.startsWith("version https://git-lfs")) return "it is a git-lfs pointer, not the model (run `git lfs pull`)";
  if (/^\s*</.test(head)) return "it looks like HTML or XML (a web page saved instead of the model?)";
  if (/^\s*[{[]/.test(head)) return "it looks like JSON";
  if (bytes.length >= 9 && bytes[8] === 0x7b /* { */)
    return "it looks like a safetensors file (load it with Clip.fromSafetensors instead)";
  return `its first byte, 0x${(bytes[0] ?? 0).toString(16).padStart(2, "0")}, does not start any field of an ONNX ModelProto (normally 0x08, ir_version)`;
}

/** First bytes a ModelProto can start with: the tags of its fields 1-8 and 14 (ir_version … opset_import, metadata_props). */
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
  const { model: loadable, head, source } = await modelSource(model, what);
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
        `${what}: execution provider "${providerName(p)}" is not available in onnxruntime-node on this platform (available: ${[...known].join(", ")})`,
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
      `${what}: the "${name}" execution provider is unavailable (${reason}); running on ${next.map(providerName).join(", ")}.${hint}`,
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
        const reason = msg.split("\n")[0]!;
        unavailableProviders.set(providerName(gpu), reason);
        fallBack(gpu, reason);
        continue;
      }
      if (/protobuf|parsing|ModelProto|Load model/i.test(msg))
        throw new Error(`${what}: ${label} is not a valid ONNX model: ${msg}`);
      throw new Error(`${what}: onnxruntime could not load ${label}: ${msg}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Input / output metadata
// ---------------------------------------------------------------------------------------------

/** What a session says about one input or output. */
export interface OnnxValueInfo {
  name: string;
  /** onnxruntime's element type ("float32", "int64", ...), when the session reports it. */
  type?: string;
  /** Declared dims: numbers, symbolic names, or null (unknown); undefined when not reported. */
  shape?: (number | string | null)[];
}

function metadataOf(session: Ort.InferenceSession, kind: "input" | "output"): OnnxValueInfo[] {
  const names = kind === "input" ? session.inputNames : session.outputNames;
  const meta = (kind === "input" ? session.inputMetadata : session.outputMetadata) as
    readonly Ort.InferenceSession.ValueMetadata[] | undefined;
  return names.map((name, i) => {
    const m = meta?.[i];
    if (!m || !m.isTensor) return { name };
    return {
      name,
      type: m.type,
      shape: m.shape.length
        ? m.shape.map((d) => (d === -1 || d === "" || d === null || d === undefined ? null : d))
        : undefined,
    };
  });
}

/** The inputs and outputs of a session, with their declared types and shapes. */
export function describeOnnxSession(session: Ort.InferenceSession): {
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
} {
  return { inputs: metadataOf(session, "input"), outputs: metadataOf(session, "output") };
}

function formatShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

/** Checks a tensor's dims against an input's declared shape; throws naming the input and both shapes. */
function checkShape(where: string, info: OnnxValueInfo, got: readonly number[]): void {
  if (!info.shape) return;
  const expected = info.shape;
  const bad =
    expected.length !== got.length
      ? `rank ${got.length}, expected rank ${expected.length}`
      : expected
          .map((d, i) =>
            typeof d === "number" && d >= 0 && d !== got[i] ? `dim ${i}: expected ${d}, got ${got[i]}` : "",
          )
          .find((s) => s);
  if (bad)
    throw new Error(
      `${where}: input "${info.name}" expects shape ${formatShape(expected)}, got ${formatShape(got)} (${bad})`,
    );
}

function pick(
  infos: OnnxValueInfo[],
  preferred: string | undefined,
  candidates: string[],
  test: (v: OnnxValueInfo) => boolean,
): OnnxValueInfo | undefined {
  if (preferred) {
    const hit = infos.find((v) => v.name === preferred);
    if (!hit) throw new Error(`there is no "${preferred}" (the model has ${listNames(infos)})`);
    return hit;
  }
  for (const c of candidates) {
    const hit = infos.find((v) => v.name === c);
    if (hit) return hit;
  }
  const matches = infos.filter(test);
  return matches.length === 1 ? matches[0] : undefined;
}

function listNames(infos: OnnxValueInfo[]): string {
  return infos
    .map((v) => `${v.name}${v.type ? ` (${v.type}${v.shape ? ` ${formatShape(v.shape)}` : ""})` : ""}`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------------
// Tensor conversion
// ---------------------------------------------------------------------------------------------

const INTEGER_TYPES = new Set(["int64", "int32", "uint8", "int8", "uint32", "uint64", "int16", "uint16"]);

/** float32 values as the element type an input wants (float32 or float16). */
function floatInput(
  ort: OrtModule,
  where: string,
  info: OnnxValueInfo,
  data: Float32Array,
  dims: number[],
): Ort.Tensor {
  const type = info.type ?? "float32";
  if (type === "float32") return new ort.Tensor("float32", data, dims);
  if (type === "float16") {
    const bits = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) bits[i] = f32ToF16Bits(data[i]!);
    return new ort.Tensor("float16", bits, dims);
  }
  throw new Error(
    `${where}: input "${info.name}" has element type ${type}; only float32 and float16 image inputs are supported`,
  );
}

/** Token ids (int32 values) as the integer type an input wants. */
function integerInput(
  ort: OrtModule,
  where: string,
  info: OnnxValueInfo,
  data: Int32Array,
  dims: number[],
): Ort.Tensor {
  const type = info.type ?? "int64";
  switch (type) {
    case "int64":
      return new ort.Tensor(
        "int64",
        BigInt64Array.from(data, (v) => BigInt(v)),
        dims,
      );
    case "int32":
      return new ort.Tensor("int32", data, dims);
    default:
      throw new Error(
        `${where}: input "${info.name}" has element type ${type}; token ids can be given as int64 or int32 only`,
      );
  }
}

/** An output tensor [B, D] as a float32 tf tensor. */
function toTf2D(where: string, name: string, t: Ort.Tensor): tf.Tensor2D {
  if (t.dims.length !== 2)
    throw new Error(`${where}: output "${name}" has shape [${t.dims.join(", ")}]; expected [batch, embed]`);
  const [B, D] = t.dims as [number, number];
  let data: Float32Array;
  if (t.type === "float32")
    data = new Float32Array(t.data as Float32Array); // copy: the session owns its buffer
  else if (t.type === "float16") data = Float32Array.from(t.data as Uint16Array, (h) => f16BitsToF32(h));
  else if (t.type === "float64") data = Float32Array.from(t.data as Float64Array);
  else throw new Error(`${where}: output "${name}" has element type ${t.type}; expected a float tensor`);
  return tf.tensor2d(data, [B, D], "float32");
}

// ---------------------------------------------------------------------------------------------
// OnnxClip
// ---------------------------------------------------------------------------------------------

export interface OnnxClipNames {
  /** Vision model input (default `pixel_values`, else its only input). */
  pixelValues?: string;
  /** Vision model output (default `image_embeds`, else the output ending in "embeds", else the only output). */
  imageEmbeds?: string;
  /** Text model token-id input (default `input_ids`, else its only integer input that is not a mask). */
  inputIds?: string;
  /** Text model mask input, when it has one (default `attention_mask`). */
  attentionMask?: string;
  /** Text model output (default `text_embeds`, ...). */
  textEmbeds?: string;
}

export interface OnnxClipLoadOptions extends OnnxSessionOptions {
  /** The image encoder: a path to vision_model.onnx or its bytes. */
  visionModel: OnnxModelSource;
  /** The text encoder: a path to text_model.onnx or its bytes. */
  textModel: OnnxModelSource;
  /** Input / output names, when the models do not use Hugging Face's. */
  names?: OnnxClipNames;
  /**
   * The text model's context length (77 for openai's CLIP). With it, longer ids are refused with a
   * clear error before onnxruntime runs (the exported graphs declare the sequence length symbolic).
   */
  contextLength?: number;
}

interface VisionIO {
  pixels: OnnxValueInfo;
  output: OnnxValueInfo;
}

interface TextIO {
  ids: OnnxValueInfo;
  mask?: OnnxValueInfo;
  positionIds?: OnnxValueInfo;
  output: OnnxValueInfo;
}

export class OnnxClip {
  private disposed = false;

  private constructor(
    private readonly ort: OrtModule,
    readonly vision: EncoderSession,
    readonly textSession: EncoderSession,
    private readonly visionIO: VisionIO,
    private readonly textIO: TextIO,
    readonly contextLength: number | undefined,
  ) {}

  /** Loads the vision_model.onnx / text_model.onnx pair (paths or bytes). */
  static async load(opts: OnnxClipLoadOptions): Promise<OnnxClip> {
    if (!opts || opts.visionModel === undefined || opts.textModel === undefined) {
      throw new Error(
        "OnnxClip.load: pass { visionModel, textModel }: paths to vision_model.onnx and text_model.onnx, or their bytes",
      );
    }
    const ort = await loadOnnxRuntime();
    // One warning per unavailable provider, not one per model.
    const warned = new Set<string>();
    const warn = opts.onWarning ?? ((m: string) => console.warn(m));
    const sessionOpts: OnnxSessionOptions = {
      ...opts,
      onWarning: (m) => {
        const key = m.replace(/^[^:]*: /, "");
        if (!warned.has(key)) warn(m.replace(/^OnnxClip (vision|text) model: /, "OnnxClip: "));
        warned.add(key);
      },
    };
    const vision = await createEncoderSession(opts.visionModel, sessionOpts, "OnnxClip vision model");
    let text: EncoderSession;
    try {
      text = await createEncoderSession(opts.textModel, sessionOpts, "OnnxClip text model");
    } catch (e) {
      await vision.session.release();
      throw e;
    }
    try {
      return new OnnxClip(
        ort,
        vision,
        text,
        visionIO(vision, opts.names ?? {}),
        textIO(text, opts.names ?? {}),
        opts.contextLength,
      );
    } catch (e) {
      await vision.session.release();
      await text.session.release();
      throw e;
    }
  }

  /** The providers each encoder runs on, after any fallback. */
  get executionProviders(): { vision: string[]; text: string[] } {
    return { vision: this.vision.executionProviders, text: this.textSession.executionProviders };
  }

  /** The inputs and outputs of both models, as their sessions describe them. */
  describe(): { vision: ReturnType<typeof describeOnnxSession>; text: ReturnType<typeof describeOnnxSession> } {
    this.checkAlive("describe");
    return { vision: describeOnnxSession(this.vision.session), text: describeOnnxSession(this.textSession.session) };
  }

  /** pixels [B, 3, H, W] float32, already normalised → image features [B, embed] (unnormalised). */
  async encodeImage(pixels: tf.Tensor4D): Promise<tf.Tensor2D> {
    const where = "OnnxClip.encodeImage";
    this.checkAlive(where);
    if (!(pixels instanceof tf.Tensor)) throw new Error(`${where}: pixels must be a tf.Tensor [B, 3, H, W]`);
    if (pixels.rank !== 4)
      throw new Error(`${where}: pixels must be a 4-D tensor [B, 3, H, W], got shape [${pixels.shape.join(", ")}]`);
    if (pixels.dtype !== "float32")
      throw new Error(`${where}: pixels must be float32 (normalised with CLIP's mean and std), got ${pixels.dtype}`);
    const { pixels: input, output } = this.visionIO;
    const dims = [...pixels.shape];
    if (dims[1] !== 3 && dims[3] === 3) {
      throw new Error(
        `${where}: pixels look channels-last [B, H, W, 3] (shape [${dims.join(", ")}]); transpose with tf.transpose(x, [0, 3, 1, 2])`,
      );
    }
    checkShape(where, input, dims);
    const data = (await pixels.data()) as Float32Array;
    const feeds = { [input.name]: floatInput(this.ort, where, input, data, dims) };
    return this.run(this.vision, where, feeds, output.name);
  }

  /**
   * ids [B, T] int32 token ids (a tensor or number[][]) → text features [B, embed] (unnormalised).
   * `attentionMask` [B, T] (1 = token, 0 = padding) is passed to models that take one; default all ones.
   */
  async encodeText(
    ids: tf.Tensor2D | number[][],
    opts: { attentionMask?: tf.Tensor2D | number[][] } = {},
  ): Promise<tf.Tensor2D> {
    const where = "OnnxClip.encodeText";
    this.checkAlive(where);
    const { data, dims } = await idsData(where, ids);
    const io = this.textIO;
    if (this.contextLength !== undefined && dims[1]! > this.contextLength) {
      throw new Error(
        `${where}: ids have ${dims[1]} tokens per row but the context length is ${this.contextLength}; shorten or truncate the text (keep the end-of-text token last)`,
      );
    }
    checkShape(where, io.ids, dims);
    const feeds: Record<string, Ort.Tensor> = { [io.ids.name]: integerInput(this.ort, where, io.ids, data, dims) };
    if (io.mask) {
      let mask: Int32Array;
      if (opts.attentionMask !== undefined) {
        const m = await idsData(`${where} (attentionMask)`, opts.attentionMask);
        if (m.dims[0] !== dims[0] || m.dims[1] !== dims[1]) {
          throw new Error(`${where}: attentionMask has shape [${m.dims.join(", ")}] but ids have [${dims.join(", ")}]`);
        }
        mask = m.data;
      } else {
        mask = new Int32Array(data.length).fill(1);
      }
      feeds[io.mask.name] = integerInput(this.ort, where, io.mask, mask, dims);
    }
    if (io.positionIds) {
      const pos = new Int32Array(data.length);
      for (let i = 0; i < pos.length; i++) pos[i] = i % dims[1]!;
      feeds[io.positionIds.name] = integerInput(this.ort, where, io.positionIds, pos, dims);
    }
    return this.run(this.textSession, where, feeds, io.output.name);
  }

  /** Releases both sessions. Further calls throw. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.vision.session.release();
    await this.textSession.session.release();
  }

  private async run(
    enc: EncoderSession,
    where: string,
    feeds: Record<string, Ort.Tensor>,
    outputName: string,
  ): Promise<tf.Tensor2D> {
    let result: Ort.InferenceSession.ReturnType;
    try {
      result = await enc.session.run(feeds, [outputName]);
    } catch (e) {
      const got = Object.entries(feeds)
        .map(([k, t]) => `${k} ${t.type} [${t.dims.join(", ")}]`)
        .join(", ");
      const want = describeOnnxSession(enc.session).inputs;
      const hint =
        enc === this.textSession && this.contextLength === undefined
          ? " (is the text longer than the model's context length? pass contextLength to OnnxClip.load to check it up front)"
          : "";
      throw new Error(
        `${where}: onnxruntime failed on ${got} (the model takes ${listNames(want)})${hint}: ${(e as Error).message}`,
      );
    }
    const out = result[outputName];
    if (!out) throw new Error(`${where}: the model returned no "${outputName}"`);
    try {
      return toTf2D(where, outputName, out);
    } finally {
      for (const t of Object.values(result)) t.dispose();
    }
  }

  private checkAlive(where: string): void {
    if (this.disposed) throw new Error(`${where}: this OnnxClip has been disposed`);
  }
}

async function idsData(where: string, ids: tf.Tensor | number[][]): Promise<{ data: Int32Array; dims: number[] }> {
  if (ids instanceof tf.Tensor) {
    if (ids.rank !== 2) throw new Error(`${where}: ids must be 2-D [B, T], got shape [${ids.shape.join(", ")}]`);
    if (ids.dtype !== "int32")
      throw new Error(`${where}: ids must be int32 token ids, got a ${ids.dtype} tensor (use tf.cast(ids, "int32"))`);
    return { data: (await ids.data()) as Int32Array, dims: [...ids.shape] };
  }
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((r) => Array.isArray(r)))
    throw new Error(`${where}: ids must be an int32 tensor [B, T] or a non-empty number[][]`);
  const T = ids[0]!.length;
  if (ids.some((r) => r.length !== T)) throw new Error(`${where}: every row of ids must have the same length`);
  const data = new Int32Array(ids.length * T);
  ids.forEach((row, b) =>
    row.forEach((v, j) => {
      if (!Number.isInteger(v)) throw new Error(`${where}: ids must be integers, got ${v} at [${b}, ${j}]`);
      data[b * T + j] = v;
    }),
  );
  return { data, dims: [ids.length, T] };
}

function visionIO(enc: EncoderSession, names: OnnxClipNames): VisionIO {
  const { inputs, outputs } = describeOnnxSession(enc.session);
  const where = `OnnxClip vision model (${enc.source})`;
  const isImage = (v: OnnxValueInfo) =>
    (v.type === undefined || /^float/.test(v.type)) && (v.shape === undefined || v.shape.length === 4);
  const pixels = named(where, "names.pixelValues", () => pick(inputs, names.pixelValues, ["pixel_values"], isImage));
  if (!pixels) {
    const hint = inputs.some((v) => v.type && INTEGER_TYPES.has(v.type))
      ? " (it takes integer inputs: is this the text model?)"
      : "";
    throw new Error(
      `${where}: cannot tell which input takes the pixels (inputs: ${listNames(inputs)})${hint}; pass names.pixelValues if it has one`,
    );
  }
  const extra = inputs.filter((v) => v !== pixels);
  if (extra.length)
    throw new Error(
      `${where}: it takes inputs besides "${pixels.name}" that OnnxClip does not know how to fill: ${listNames(extra)}`,
    );
  if (pixels.shape && pixels.shape.length !== 4)
    throw new Error(
      `${where}: input "${pixels.name}" has shape ${formatShape(pixels.shape)}; an image encoder takes [batch, 3, H, W]`,
    );
  const output = named(where, "names.imageEmbeds", () => pickOutput(outputs, names.imageEmbeds, ["image_embeds"]));
  if (!output)
    throw new Error(
      `${where}: cannot tell which output holds the image features (outputs: ${listNames(outputs)}); pass names.imageEmbeds`,
    );
  return { pixels, output };
}

function textIO(enc: EncoderSession, names: OnnxClipNames): TextIO {
  const { inputs, outputs } = describeOnnxSession(enc.session);
  const where = `OnnxClip text model (${enc.source})`;
  const maskName = names.attentionMask ?? "attention_mask";
  const isIds = (v: OnnxValueInfo) =>
    v.name !== maskName && v.name !== "position_ids" && (v.type === undefined || INTEGER_TYPES.has(v.type));
  const ids = named(where, "names.inputIds", () => pick(inputs, names.inputIds, ["input_ids"], isIds));
  if (!ids) {
    const hint = inputs.some((v) => v.type && /^float/.test(v.type))
      ? " (it takes float inputs: is this the vision model?)"
      : "";
    throw new Error(
      `${where}: cannot tell which input takes the token ids (inputs: ${listNames(inputs)})${hint}; pass names.inputIds if it has one`,
    );
  }
  const mask = inputs.find((v) => v.name === maskName);
  const positionIds = inputs.find((v) => v.name === "position_ids");
  const extra = inputs.filter((v) => v !== ids && v !== mask && v !== positionIds);
  if (extra.length)
    throw new Error(
      `${where}: it takes inputs besides "${ids.name}" that OnnxClip does not know how to fill: ${listNames(extra)}`,
    );
  const output = named(where, "names.textEmbeds", () => pickOutput(outputs, names.textEmbeds, ["text_embeds"]));
  if (!output)
    throw new Error(
      `${where}: cannot tell which output holds the text features (outputs: ${listNames(outputs)}); pass names.textEmbeds`,
    );
  return { ids, ...(mask ? { mask } : {}), ...(positionIds ? { positionIds } : {}), output };
}

function pickOutput(
  outputs: OnnxValueInfo[],
  preferred: string | undefined,
  candidates: string[],
): OnnxValueInfo | undefined {
  return pick(outputs, preferred, candidates, (v) => outputs.length === 1 || /embeds?$/.test(v.name));
}

/** Runs a name lookup, prefixing its error with the model. */
function named<T>(where: string, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new Error(`${where}: ${what}: ${(e as Error).message}`);
  }
}
