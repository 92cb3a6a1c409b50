/**
 * Exports a tfjs CLIP's two encoders to ONNX, as the vision_model.onnx / text_model.onnx pair that
 * `OnnxClip` (onnx_clip.ts) runs, with Hugging Face's input and output names:
 *
 *   vision_model.onnx   pixel_values [batch_size, 3, H, W] float32
 *                         → image_embeds [batch_size, embed], last_hidden_state [batch_size, 1+g², w]
 *   text_model.onnx     input_ids [batch_size, sequence_length] int64 (or int32)
 *                         → text_embeds [batch_size, embed], last_hidden_state [batch_size, sequence_length, w]
 *
 * The graphs compute what vit.ts and text.ts compute, op for op (opset 17):
 *
 *   patchify       Reshape [B,3,gh,p,gw,p] → Transpose [0,2,4,1,3,5] → Reshape [B,g²,3p²] → MatMul conv1ᵀ
 *   CLS token      Expand class_embedding to [B,1,w] (batch from Shape) → Concat with the patches
 *   positions      Add (vision: the whole table; text: Slice of the table to the input's length)
 *   tokens         Gather(token_embedding, input_ids)
 *   pre-LN block   LayerNormalization → q, k, v = MatMul + Add → Reshape/Transpose into heads
 *                  → MatMul(q·hd^-½, kᵀ) (+ causal mask, Sliced to [T, T]) → Softmax → MatMul v
 *                  → merge heads → out_proj → residual Add; LayerNormalization → c_fc → act → c_proj → Add
 *   QuickGELU      x · Sigmoid(1.702x)   (GELU: ½x(1 + Erf(x/√2)))
 *   vision pool    Gather the CLS row (index 0) → ln_post → MatMul proj
 *   text pool      ArgMax over the ids (first maximum; or over ids == eotTokenId) → GatherND
 *                  (batch_dims 1) → MatMul text_projection   (ln_final is applied before, to all positions)
 *
 * Weights are read from the modules' openai-named state dicts, with their shapes checked, and
 * stored as float32 initializers (Linear weights transposed once, so every projection is x @ W).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { MASK_MIN, atomicWrite, tf } from "@vlab/core";
import type { Clip, TextTransformer, VisionTransformer } from "@vlab/vision";
import { OnnxGraphBuilder } from "./graph_builder.js";
import { onnxAttr, type OnnxDataType } from "./onnx_types.js";

export interface OnnxExportOptions {
  /** Element type of the text model's `input_ids` (default "int64", as Hugging Face's exports). */
  idsType?: "int64" | "int32";
  /** Name of the batch dimension (default "batch_size"). */
  batchDim?: string;
  /** ai.onnx opset (default 17; at least 17, for LayerNormalization). */
  opsetVersion?: number;
}

/** The bytes of both models, and where they were written when a folder was given. */
export interface ClipOnnxExport {
  visionModel: Uint8Array;
  textModel: Uint8Array;
  visionPath?: string;
  textPath?: string;
}

/** One tensor of the state dict, read to the host. */
interface HostTensor {
  dims: number[];
  data: Float32Array;
}

/** The weights of one tower, by openai name, with shape checks. */
class Weights {
  constructor(
    private readonly sd: Record<string, tf.Tensor>,
    private readonly where: string,
  ) {}

  get(name: string, dims: number[]): HostTensor {
    const t = this.sd[name];
    if (!t) throw new Error(`${this.where}: the model has no parameter "${name}"`);
    if (t.shape.length !== dims.length || t.shape.some((d, i) => d !== dims[i])) {
      throw new Error(
        `${this.where}: parameter "${name}" has shape [${t.shape.join(", ")}], expected [${dims.join(", ")}]`,
      );
    }
    const data =
      t.dtype === "float32" ? (t.dataSync() as Float32Array) : Float32Array.from(t.dataSync() as ArrayLike<number>);
    return { dims, data: Float32Array.from(data) };
  }

  has(name: string): boolean {
    return name in this.sd;
  }
}

/** [rows, cols] row-major → its transpose [cols, rows]. */
function transpose2d(t: HostTensor): HostTensor {
  const [r, c] = t.dims;
  if (t.dims.length !== 2 || r === undefined || c === undefined || t.data.length !== r * c)
    throw new Error(
      `ONNX export: cannot transpose a tensor of dims [${t.dims.join(", ")}] holding ${t.data.length} values`,
    );
  const out = new Float32Array(r * c);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < r, j < c and data.length === r * c (checked
     above) */
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]!;
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return { dims: [c, r], data: out };
}

/** Rows [from, to) of a [rows, cols] matrix (or a slice of a vector). */
function rows(t: HostTensor, from: number, to: number): HostTensor {
  const cols = t.dims[1] ?? 1; // a vector is one column
  const dims = t.dims.length === 2 ? [to - from, cols] : [to - from];
  return { dims, data: t.data.slice(from * cols, to * cols) };
}

/** Graph-building helpers shared by both towers. */
class Emitter {
  readonly g: OnnxGraphBuilder;

  constructor(
    name: string,
    readonly w: Weights,
  ) {
    this.g = new OnnxGraphBuilder(name);
  }

  weight(name: string, t: HostTensor): string {
    return this.g.initializer(name, "float32", t.dims, t.data);
  }

  /** x @ Wᵀ + b for a Linear stored as weight [out, in], bias [out]. */
  linear(x: string, prefix: string, dIn: number, dOut: number): string {
    const W = this.weight(`${prefix}.weight`, transpose2d(this.w.get(`${prefix}.weight`, [dOut, dIn]))); // [in, out]
    const y = this.g.op("MatMul", [x, W]);
    if (!this.w.has(`${prefix}.bias`)) return y;
    const b = this.weight(`${prefix}.bias`, this.w.get(`${prefix}.bias`, [dOut]));
    return this.g.op("Add", [y, b]);
  }

  /**
   * The graph output `output` [batch, outputDim] = pooled @ P for the raw projection P [width, outputDim]
   * (openai's `proj` / `text_projection`); with outputDim 0 (no projection) the pooled features themselves.
   */
  project(pooled: string, name: string, width: number, outputDim: number, output: string, batch: string): void {
    if (outputDim > 0) {
      const proj = this.weight(name, this.w.get(name, [width, outputDim]));
      this.g.op("MatMul", [pooled, proj], {}, output);
    } else {
      this.g.op("Identity", [pooled], {}, output);
    }
    this.g.output(output, "float32", [batch, outputDim > 0 ? outputDim : width]);
  }

  layerNorm(x: string, prefix: string, width: number, eps: number, output?: string): string {
    const scale = this.weight(`${prefix}.weight`, this.w.get(`${prefix}.weight`, [width]));
    const bias = this.weight(`${prefix}.bias`, this.w.get(`${prefix}.bias`, [width]));
    return this.g.op(
      "LayerNormalization",
      [x, scale, bias],
      { axis: onnxAttr.int(-1), epsilon: onnxAttr.float(eps) },
      output,
    );
  }

  activation(x: string, name: string): string {
    const g = this.g;
    switch (name) {
      case "quick_gelu":
        return g.op("Mul", [x, g.op("Sigmoid", [g.op("Mul", [x, g.scalar(1.702)])])]);
      case "gelu":
        return g.op("Mul", [
          g.op("Mul", [x, g.scalar(0.5)]),
          g.op("Add", [g.op("Erf", [g.op("Mul", [x, g.scalar(Math.SQRT1_2)])]), g.scalar(1)]),
        ]);
      case "gelu_tanh":
      case "gelu_new":
      case "gelu_pytorch_tanh": {
        const cube = g.op("Mul", [g.op("Mul", [x, x]), x]);
        const inner = g.op("Mul", [
          g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715)])]),
          g.scalar(Math.sqrt(2 / Math.PI)),
        ]);
        return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [g.op("Tanh", [inner]), g.scalar(1)])]);
      }
      case "relu":
        return g.op("Relu", [x]);
      case "silu":
      case "swish":
        return g.op("Mul", [x, g.op("Sigmoid", [x])]);
      default:
        throw new Error(`ONNX export: activation "${name}" is not supported (quick_gelu, gelu, gelu_tanh, relu, silu)`);
    }
  }

  /** Multi-head self-attention of openai's nn.MultiheadAttention (fused in_proj [3w, w]); x [B, T, w]. */
  attention(x: string, prefix: string, width: number, heads: number, mask?: string): string {
    const g = this.g;
    const hd = width / heads;
    const inW = this.w.get(`${prefix}.in_proj_weight`, [3 * width, width]); // [Wq; Wk; Wv]
    const inB = this.w.get(`${prefix}.in_proj_bias`, [3 * width]);
    const project = (i: number, which: string): string => {
      // [w, w]
      const W = this.weight(`${prefix}.in_proj_weight.${which}`, transpose2d(rows(inW, i * width, (i + 1) * width)));
      const b = this.weight(`${prefix}.in_proj_bias.${which}`, rows(inB, i * width, (i + 1) * width)); // [w]
      return g.op("Reshape", [g.op("Add", [g.op("MatMul", [x, W]), b]), g.int64s([0, 0, heads, hd])]); // [B, T, H, hd]
    };
    const q = g.op("Transpose", [project(0, "q")], { perm: onnxAttr.ints([0, 2, 1, 3]) }); // [B, H, T, hd]
    const kT = g.op("Transpose", [project(1, "k")], { perm: onnxAttr.ints([0, 2, 3, 1]) }); // [B, H, hd, T]
    const v = g.op("Transpose", [project(2, "v")], { perm: onnxAttr.ints([0, 2, 1, 3]) }); // [B, H, T, hd]
    let scores = g.op("MatMul", [g.op("Mul", [q, g.scalar(1 / Math.sqrt(hd))]), kT]); // [B, H, T, T]
    if (mask) scores = g.op("Add", [scores, mask]); // mask [T, T] broadcasts
    const probs = g.op("Softmax", [scores], { axis: onnxAttr.int(-1) });
    const merged = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: onnxAttr.ints([0, 2, 1, 3]) }),
      g.int64s([0, 0, width]),
    ]); // [B, T, w]
    return this.linear(merged, `${prefix}.out_proj`, width, width);
  }

  /** openai's ResidualAttentionBlock stack; eps and activation per block from the tfjs modules. */
  transformer(
    x: string,
    tower: VisionTransformer | TextTransformer,
    width: number,
    heads: number,
    act: string,
    mask?: string,
  ): string {
    let h = x;
    tower.transformer.resblocks.forEach((block, i) => {
      const p = `transformer.resblocks.${i}`;
      h = this.g.op("Add", [
        h,
        this.attention(this.layerNorm(h, `${p}.ln_1`, width, block.ln_1.eps), `${p}.attn`, width, heads, mask),
      ]);
      const hidden = this.activation(
        this.linear(this.layerNorm(h, `${p}.ln_2`, width, block.ln_2.eps), `${p}.mlp.c_fc`, width, 4 * width),
        act,
      );
      h = this.g.op("Add", [h, this.linear(hidden, `${p}.mlp.c_proj`, 4 * width, width)]);
    });
    return h;
  }
}

function checkOpset(opts: OnnxExportOptions): number {
  const opset = opts.opsetVersion ?? 17;
  if (opset < 17) throw new Error(`ONNX export: opset ${opset} is too old; LayerNormalization needs opset 17 or later`);
  return opset;
}

/** A `VisionTransformer` (CLIP's image tower) as the bytes of vision_model.onnx. */
export function visionTransformerToOnnx(vit: VisionTransformer, opts: OnnxExportOptions = {}): Uint8Array {
  const opsetVersion = checkOpset(opts);
  const { imageSize, patchSize: p, width, heads, outputDim, activation } = vit.config;
  const [H, W] = imageSize;
  const [gh, gw] = vit.grid;
  const N = gh * gw;
  const batch = opts.batchDim ?? "batch_size";
  const e = new Emitter("clip_vision", new Weights(vit.stateDict(), "ONNX export (vision)"));
  const g = e.g;

  const pixels = g.input("pixel_values", "float32", [batch, 3, H, W]);
  // Patchify: every p×p square of every channel becomes one row, in the conv weight's (c, y, x) order.
  const grid = g.op("Reshape", [pixels, g.int64s([0, 3, gh, p, gw, p])]); // [B, 3, gh, p, gw, p]
  const byPatch = g.op("Transpose", [grid], { perm: onnxAttr.ints([0, 2, 4, 1, 3, 5]) }); // [B, gh, gw, 3, p, p]
  const patches = g.op("Reshape", [byPatch, g.int64s([0, N, 3 * p * p])]); // [B, g², 3p²]
  const conv = e.w.get("conv1.weight", [width, 3, p, p]);
  const convT = e.weight("conv1.weight", transpose2d({ dims: [width, 3 * p * p], data: conv.data })); // [3p², w]
  const tokens = g.op("MatMul", [patches, convT]); // [B, g², w]

  // CLS token first, broadcast over the batch: Expand to [B, 1, w] with B read from the input.
  const cls = e.weight("class_embedding", { dims: [1, 1, width], data: e.w.get("class_embedding", [width]).data });
  const B = g.op("Shape", [pixels], { start: onnxAttr.int(0), end: onnxAttr.int(1) }); // [1] int64
  const clsShape = g.op("Concat", [B, g.int64s([1, width])], { axis: onnxAttr.int(0) }); // [3]
  const clsB = g.op("Expand", [cls, clsShape]); // [B, 1, w]
  const seq = g.op("Concat", [clsB, tokens], { axis: onnxAttr.int(1) }); // [B, 1+g², w]
  const pos = e.weight("positional_embedding", e.w.get("positional_embedding", [1 + N, width]));
  const x = e.layerNorm(g.op("Add", [seq, pos]), "ln_pre", width, vit.ln_pre.eps);

  const last = e.transformer(x, vit, width, heads, activation);
  g.op("Identity", [last], {}, "last_hidden_state");
  const clsOut = g.op("Gather", [last, g.constant("int64", [], [0], "cls_index")], { axis: onnxAttr.int(1) }); // [B, w]
  const pooled = e.layerNorm(clsOut, "ln_post", width, vit.ln_post.eps);
  e.project(pooled, "proj", width, outputDim, "image_embeds", batch);
  g.output("last_hidden_state", "float32", [batch, 1 + N, width]);
  return g.encode({
    opsetVersion,
    docString: `CLIP image encoder exported by @vlab/onnx: ${H}x${W}, patch ${p}, width ${width}`,
  });
}

/** A `TextTransformer` (CLIP's text tower) as the bytes of text_model.onnx. */
export function textTransformerToOnnx(text: TextTransformer, opts: OnnxExportOptions = {}): Uint8Array {
  const opsetVersion = checkOpset(opts);
  const { contextLength: ctx, vocabSize, width, heads, outputDim, activation, eotTokenId } = text.config;
  const idsType: OnnxDataType = opts.idsType ?? "int64";
  const batch = opts.batchDim ?? "batch_size";
  const e = new Emitter("clip_text", new Weights(text.stateDict(), "ONNX export (text)"));
  const g = e.g;

  const ids = g.input("input_ids", idsType, [batch, "sequence_length"]);
  const table = e.weight("token_embedding.weight", e.w.get("token_embedding.weight", [vocabSize, width]));
  const tok = g.op("Gather", [table, ids], { axis: onnxAttr.int(0) }); // [B, T, w]
  const T = g.op("Shape", [ids], { start: onnxAttr.int(1), end: onnxAttr.int(2) }); // [1] int64
  const posTable = e.weight("positional_embedding", e.w.get("positional_embedding", [ctx, width]));
  const pos = g.op("Slice", [posTable, g.int64s([0]), T, g.int64s([0])]); // [T, w]
  const x = g.op("Add", [tok, pos]); // [B, T, w]

  // Causal mask: 0 on and below the diagonal, MASK_MIN above (as core's causalMask), cut to [T, T].
  const full = new Float32Array(ctx * ctx);
  for (let i = 0; i < ctx; i++) for (let j = i + 1; j < ctx; j++) full[i * ctx + j] = MASK_MIN;
  const maskTable = g.initializer("causal_mask", "float32", [ctx, ctx], full);
  const mask = g.op("Slice", [
    maskTable,
    g.int64s([0, 0]),
    g.op("Concat", [T, T], { axis: onnxAttr.int(0) }),
    g.int64s([0, 1]),
  ]); // [T, T]

  const h = e.transformer(x, text, width, heads, activation, mask);
  const last = e.layerNorm(h, "ln_final", width, text.ln_final.eps, "last_hidden_state"); // [B, T, w]

  // End-of-text position: the first maximum of each row (openai: ids.argmax(-1)), or the first eotTokenId.
  const key =
    eotTokenId === undefined
      ? g.op("Cast", [ids], { to: onnxAttr.int(1) }) // float: ids < 2^24 are exact
      : g.op("Cast", [g.op("Equal", [ids, g.constant(idsType, [], [eotTokenId], "eot_token_id")])], {
          to: onnxAttr.int(1),
        });
  const eot = g.op("ArgMax", [key], {
    axis: onnxAttr.int(1),
    keepdims: onnxAttr.int(1),
    select_last_index: onnxAttr.int(0),
  }); // [B, 1] int64
  const pooled = g.op("GatherND", [last, eot], { batch_dims: onnxAttr.int(1) }); // [B, w]
  e.project(pooled, "text_projection", width, outputDim, "text_embeds", batch);
  g.output("last_hidden_state", "float32", [batch, "sequence_length", width]);
  return g.encode({
    opsetVersion,
    docString: `CLIP text encoder exported by @vlab/onnx: context ${ctx}, vocab ${vocabSize}, width ${width}`,
  });
}

/**
 * Both encoders of a tfjs `Clip` as ONNX models; with `dir`, also written there as
 * vision_model.onnx and text_model.onnx (the folder is created). `OnnxClip.load` runs the pair.
 */
export async function exportClipEncodersToOnnx(
  clip: Clip,
  opts: OnnxExportOptions & { dir?: string } = {},
): Promise<ClipOnnxExport> {
  const visionModel = visionTransformerToOnnx(clip.visual, opts);
  const textModel = textTransformerToOnnx(clip.text, opts);
  if (!opts.dir) return { visionModel, textModel };
  await mkdir(opts.dir, { recursive: true });
  const visionPath = join(opts.dir, "vision_model.onnx");
  const textPath = join(opts.dir, "text_model.onnx");
  atomicWrite(visionPath, visionModel);
  atomicWrite(textPath, textModel);
  return { visionModel, textModel, visionPath, textPath };
}
