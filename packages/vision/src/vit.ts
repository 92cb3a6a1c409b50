/**
 * The Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") as openai/CLIP
 * builds it (`model.py: VisionTransformer`):
 *
 *   patches   = patchify(x)                          [B, g², 3·p·p]   cut the image into p×p squares
 *   tokens    = patches @ conv1ᵀ                     [B, g², w]       one linear map per patch
 *   x         = [class_embedding; tokens] + pos      [B, 1+g², w]     CLS token FIRST, learned positions
 *   x         = transformer(ln_pre(x))               [B, 1+g², w]     pre-LN residual blocks
 *   out       = ln_post(x[:, 0]) @ proj              [B, embed]       the CLS token, projected (no bias)
 *
 * openai writes the patch embedding as a Conv2d with kernel = stride = p and no bias. A convolution
 * whose windows do not overlap IS a matrix product: each output pixel is the dot product of one
 * patch with each filter. So here the image is reshaped into patches and multiplied by the conv
 * weight viewed as [w, 3·p·p] — the same parameter (`conv1.weight` [w, 3, p, p]), no convolution.
 *
 * Images may be rectangular (H ≠ W) when both sides are multiples of p; the grid is then gh × gw.
 */
import { LayerNorm, Module, normalInit, tf, uniformInit, Rng } from "@vlab/core";
import { Transformer, openaiStateDict } from "./transformer.js";

export interface VisionTransformerConfig {
  /** Input size: a side (square, openai's `input_resolution`, e.g. 224) or [H, W]. */
  imageSize: number | [number, number];
  /** Patch side p (e.g. 32 for ViT-B/32). Both image sides must be multiples of it. */
  patchSize: number;
  /** Residual width w (768 for ViT-B). */
  width: number;
  /** Number of blocks (12 for ViT-B). */
  layers: number;
  /** Attention heads (default max(1, ⌊w/64⌋), openai's width // 64). */
  heads?: number;
  /** Size of `proj`, the output (CLIP's embed_dim, 512 for ViT-B/32); 0 = no projection, output ln_post(CLS) [B, w]. */
  outputDim: number;
  /** MLP activation (default "quick_gelu", as openai; "gelu" for the exact erf form). */
  activation?: string;
  /** Seed of the initial weights (default 0); or pass an `Rng`. */
  seed?: number;
  rng?: Rng;
}

export type VisionOutputs = {
  /** ln_post(CLS) @ proj: [B, outputDim] (or [B, w] without a projection). */
  pooled: tf.Tensor2D;
  /** The transformer's output before ln_post, CLS first: [B, 1+g², w]. */
  lastHiddenState: tf.Tensor3D;
  /** The input of block 0 (after ln_pre) and every block's output: layers + 1 tensors [B, 1+g², w]. */
  hiddenStates?: tf.Tensor3D[];
  /** Every block's attention weights [B, H, 1+g², 1+g²] (rows: queries, CLS = row 0). */
  attentions?: tf.Tensor4D[];
};

export function defaultHeads(width: number): number {
  return Math.max(1, Math.floor(width / 64));
}

function sides(size: number | [number, number]): [number, number] {
  return typeof size === "number" ? [size, size] : [size[0], size[1]];
}

/**
 * [B, C, H, W] → [B, gh·gw, C·p·p], each row one patch in (channel, row, column) order — the order
 * of a Conv2d weight [out, C, p, p] flattened. Only 4-D transposes (fast on every backend).
 */
export function patchify(x: tf.Tensor, p: number): tf.Tensor3D {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const gh = H / p;
  const gw = W / p;
  if (!Number.isInteger(gh) || !Number.isInteger(gw))
    throw new Error(`patchify: image ${H}×${W} is not a multiple of the patch ${p}`);
  return tf.tidy(() => {
    const rows = tf.transpose(tf.reshape(x, [B * C * gh, p, gw, p]), [0, 2, 1, 3]); // [B·C·gh, gw, p, p]
    const byPatch = tf.transpose(tf.reshape(rows, [B, C, gh * gw, p * p]), [0, 2, 1, 3]); // [B, g², C, p·p]
    return tf.reshape(byPatch, [B, gh * gw, C * p * p]) as tf.Tensor3D; // [B, g², C·p·p]
  });
}

/** The patch embedding: a parameter named like openai's Conv2d (`conv1.weight` [w, 3, p, p]), applied as one matmul. */
export class PatchEmbedding extends Module {
  readonly weight: tf.Variable; // [w, 3, p, p]

  constructor(
    readonly width: number,
    readonly patchSize: number,
    rng?: Rng,
  ) {
    super();
    // Conv2d's default init: U(±1/√fan_in), fan_in = 3·p·p.
    this.weight = this.param(
      "weight",
      [width, 3, patchSize, patchSize],
      uniformInit(1 / Math.sqrt(3 * patchSize * patchSize), rng),
    );
  }

  /** [B, 3, H, W] → [B, g², w]. */
  forward(x: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const p = this.patchSize;
      const patches = patchify(x, p); // [B, g², 3·p·p]
      const [B, N, K] = patches.shape;
      const w = tf.reshape(this.weight, [this.width, K]); // [w, 3·p·p]
      const tokens = tf.matMul(tf.reshape(patches, [B * N, K]), w, false, true); // [B·g², w]
      return tf.reshape(tokens, [B, N, this.width]) as tf.Tensor3D; // [B, g², w]
    });
  }

  protected override extraRepr(): string {
    return `3 → ${this.width}, patch ${this.patchSize}`;
  }
}

export class VisionTransformer extends Module {
  readonly config: Required<Omit<VisionTransformerConfig, "rng" | "imageSize">> & { imageSize: [number, number] };
  /** Patch grid [gh, gw]. */
  readonly grid: [number, number];
  readonly conv1: PatchEmbedding;
  readonly class_embedding: tf.Variable; // [w]
  readonly positional_embedding: tf.Variable; // [1 + gh·gw, w]
  readonly ln_pre: LayerNorm;
  readonly transformer: Transformer;
  readonly ln_post: LayerNorm;
  readonly proj: tf.Variable | null; // [w, outputDim], used as x @ proj

  constructor(cfg: VisionTransformerConfig) {
    super();
    const [H, W] = sides(cfg.imageSize);
    const p = cfg.patchSize;
    if (H % p !== 0 || W % p !== 0)
      throw new Error(`VisionTransformer: image ${H}×${W} is not a multiple of the patch size ${p}`);
    this.config = {
      imageSize: [H, W],
      patchSize: p,
      width: cfg.width,
      layers: cfg.layers,
      heads: cfg.heads ?? defaultHeads(cfg.width),
      outputDim: cfg.outputDim,
      activation: cfg.activation ?? "quick_gelu",
      seed: cfg.seed ?? 0,
    };
    const { width: w, heads, layers, outputDim, activation } = this.config;
    const rng = cfg.rng ?? new Rng(this.config.seed);
    this.grid = [H / p, W / p];
    const scale = w ** -0.5; // openai: class, positions and proj are scale·randn
    this.conv1 = this.module("conv1", new PatchEmbedding(w, p, rng));
    this.class_embedding = this.param("class_embedding", [w], normalInit(scale, rng));
    this.positional_embedding = this.param(
      "positional_embedding",
      [1 + this.grid[0] * this.grid[1], w],
      normalInit(scale, rng),
    );
    this.ln_pre = this.module("ln_pre", new LayerNorm(w));
    this.transformer = this.module("transformer", new Transformer({ width: w, layers, heads, activation, rng }));
    this.ln_post = this.module("ln_post", new LayerNorm(w));
    this.proj = outputDim > 0 ? this.param("proj", [w, outputDim], normalInit(scale, rng)) : null;
  }

  /** pixels [B, 3, H, W] (normalised) → [B, outputDim]. */
  forward(pixels: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.forwardOutputs(pixels).pooled);
  }

  /** The full pass, optionally keeping every hidden state and attention map. */
  forwardOutputs(pixels: tf.Tensor, opts: { hiddenStates?: boolean; attentions?: boolean } = {}): VisionOutputs {
    this.checkPixels(pixels, "VisionTransformer");
    return tf.tidy(() => {
      const x = this.embed(pixels); // [B, 1+g², w]
      const t = this.transformer.forward(x, undefined, opts);
      const cls = tf.squeeze(tf.slice(t.last, [0, 0, 0], [-1, 1, -1]), [1]); // [B, w]
      const pooled = this.project(this.ln_post.forward(cls)); // [B, embed]
      const out: VisionOutputs = { pooled, lastHiddenState: t.last };
      if (t.hiddenStates) out.hiddenStates = t.hiddenStates;
      if (t.attentions) out.attentions = t.attentions;
      return out;
    });
  }

  /**
   * Patch features of one layer without the CLS token, what LLaVA feeds its projector
   * (`mm_vision_select_layer = -2`, `select_feature = "patch"`): [B, g², w]. `layer` indexes the
   * hidden states (0 = after ln_pre, L = last block; negative counts from the end, -1 = last).
   * Only the blocks needed are run.
   */
  patchFeatures(pixels: tf.Tensor, layer = -2): tf.Tensor3D {
    this.checkPixels(pixels, "patchFeatures");
    const L = this.config.layers;
    const idx = layer < 0 ? L + 1 + layer : layer;
    if (!Number.isInteger(idx) || idx < 0 || idx > L)
      throw new Error(`patchFeatures: layer ${layer} is out of range for ${L} blocks (use -${L + 1}..${L})`);
    return tf.tidy(() => {
      const h = this.transformer.forward(this.embed(pixels), undefined, { upTo: idx }).last; // [B, 1+g², w]
      return tf.slice(h, [0, 1, 0], [-1, -1, -1]) as tf.Tensor3D; // [B, g², w]
    });
  }

  /** Patch tokens, CLS, positions, ln_pre: [B, 3, H, W] → [B, 1+g², w]. */
  private embed(pixels: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const x = this.conv1.forward(pixels); // [B, g², w]
      const B = x.shape[0];
      const cls = tf.tile(tf.reshape(this.class_embedding, [1, 1, -1]), [B, 1, 1]); // [B, 1, w]
      const tokens = tf.add(tf.concat([cls, x], 1), this.positional_embedding); // [B, 1+g², w]
      return this.ln_pre.forward(tokens) as tf.Tensor3D;
    });
  }

  private project(x: tf.Tensor): tf.Tensor2D {
    return (this.proj ? tf.matMul(x, this.proj) : tf.clone(x)) as tf.Tensor2D; // [B, embed]
  }

  /** Clear errors for the common mistakes: wrong rank, channels last, wrong size, integer pixels. */
  checkPixels(pixels: tf.Tensor, where: string): void {
    const s = pixels.shape;
    const [H, W] = this.config.imageSize;
    const p = this.config.patchSize;
    const [gh, gw] = this.grid;
    const expected = `[B, 3, ${H}, ${W}]`;
    if (s.length !== 4)
      throw new Error(`${where}: pixels must be a 4-D tensor ${expected}, got shape [${s.join(", ")}]`);
    if (s[1] !== 3) {
      const hint =
        s[3] === 3 ? " (it looks channels-last [B, H, W, 3]: transpose it with tf.transpose(x, [0, 3, 1, 2]))" : "";
      throw new Error(
        `${where}: pixels must have 3 colour channels (RGB) on axis 1, got ${s[1]} in shape [${s.join(", ")}]${hint}`,
      );
    }
    if (s[2] !== H || s[3] !== W) {
      throw new Error(
        `${where}: image is ${s[2]}×${s[3]} but this model takes ${H}×${W} (a ${gh}×${gw} grid of ${p}-px patches + ` +
          `CLS = ` +
          `${gh * gw + 1} positions); resize the image to ${H}×${W}`,
      );
    }
    if (pixels.dtype !== "float32") {
      throw new Error(`${where}: pixels must be float32 (normalised with CLIP's mean and std), got ${pixels.dtype}`);
    }
  }

  /** Parameters under openai/CLIP's names (`conv1.weight`, `transformer.resblocks.0.attn.in_proj_weight`, ...). */
  // (the inherited loadStateDict checks names against stateDict(), so it takes openai's names too)
  override stateDict(): Record<string, tf.Tensor> {
    return openaiStateDict(this);
  }

  protected override extraRepr(): string {
    const { imageSize, patchSize, width, layers, heads, outputDim } = this.config;
    return (
      `${imageSize[0]}×${imageSize[1]}, patch ${patchSize}, width ${width}, ` +
      `layers ${layers}, heads ${heads}, out ${outputDim || width}`
    );
  }
}
