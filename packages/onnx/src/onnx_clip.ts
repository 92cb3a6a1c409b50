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
 * clip_export.ts exports a tfjs `Clip` to the same vision_model.onnx / text_model.onnx pair. Sessions are
 * created in ort_session.ts, tensors converted in ort_tensors.ts, inputs and outputs found in clip_io.ts.
 */
import { tf } from "@vlab/core";
import type * as Ort from "onnxruntime-node";
import { textIO, visionIO, type OnnxClipNames, type TextIO, type VisionIO } from "./clip_io.js";
import {
  createEncoderSession,
  loadOnnxRuntime,
  type EncoderSession,
  type OnnxModelSource,
  type OnnxSessionOptions,
  type OrtModule,
} from "./ort_session.js";
import { floatInput, idsData, integerInput, toTf2D } from "./ort_tensors.js";
import { checkShape, describeOnnxSession, listNames } from "./session_io.js";

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
        "OnnxClip.load: pass { visionModel, textModel }: paths to vision_model.onnx and text_model.onnx, or their " +
          "bytes",
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
        `${where}: pixels look channels-last [B, H, W, 3] (shape [${dims.join(", ")}]); transpose with ` +
          `tf.transpose(x, [0, 3, 1, 2])`,
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
    const [, T] = dims;
    const io = this.textIO;
    if (this.contextLength !== undefined && T > this.contextLength) {
      throw new Error(
        `${where}: ids have ${T} tokens per row but the context length is ${this.contextLength}; shorten or truncate ` +
          `the text (keep the end-of-text token last)`,
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
      for (let i = 0; i < pos.length; i++) pos[i] = i % T;
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
          ? " (is the text longer than the model's context length? pass contextLength to OnnxClip.load to check it " +
            "up front)"
          : "";
      throw new Error(
        `${where}: onnxruntime failed on ${got} (the model takes ${listNames(want)})${hint}: ${(e as Error).message}`,
        { cause: e },
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
