/**
 * The vision tower of Qwen2-VL (Wang et al. 2024, "Qwen2-VL: Enhancing Vision-Language Model's Perception of the
 * World at Any Resolution", §2.1) and of Qwen2.5-VL (Bai et al. 2025, "Qwen2.5-VL Technical Report", §2.1.1): a ViT
 * that takes an image (or video) at its native resolution as a variable number of patches, with 2-D RoPE instead of
 * learned positions, and merges each 2×2 block of patches into one token for the language model.
 *
 *   x    = pixel_values @ Wᵀ                             [N, D]     Conv3d(kernel = stride = T×P×P) as one matmul
 *   cos, sin = 2-D RoPE(row, column of each patch)       [N, hd]    slots 0…hd/4−1 turn with the row, the rest with
 *                                                                   the column (the paper's "2D-RoPE")
 *   for each block:                                                 pre-norm, bidirectional, block-diagonal attention
 *     x  = x + proj(Attn(RoPE(q), RoPE(k), v; cu_seqlens))          one segment per image (or per video frame pair)
 *     x  = x + MLP(norm2(x))                                        quick_gelu MLP (Qwen2-VL) or SwiGLU (Qwen2.5-VL)
 *   out  = mlp.2(GELU(mlp.0(concat₄(ln_q(x)))))          [N/4, E]   "an MLP compresses adjacent 2×2 tokens into one"
 *
 * N = Σ t·h·w patches over the images, in the processor's block-major row order (the m×m patches of each merge block
 * are consecutive rows), so the merger's concat of 4 consecutive rows is one 2×2 block and its output is one token
 * per block, in raster order of the merged grid.
 *
 * Qwen2.5-VL changes three things: RMSNorm for LayerNorm (`norm1`, `norm2`, `merger.ln_q`), a SwiGLU MLP with
 * biases, and window attention: all blocks but those in `fullattBlockIndexes` attend within windows of
 * `windowSize`×`windowSize` pixels. The patches are first reordered window by window (whole merge blocks at a time,
 * `windowIndex` of @vlab/rope), the cos/sin rows with them; the window blocks attend block-diagonally by the windows'
 * boundaries, the others by the images'; the merger's output rows are put back in raster order afterwards.
 *
 * Reference: transformers `models/qwen2_vl/modeling_qwen2_vl.py` (`Qwen2VisionTransformerPretrainedModel`,
 * `PatchEmbed`, `VisionRotaryEmbedding`, `Qwen2VLVisionBlock`, `PatchMerger`) and
 * `models/qwen2_5_vl/modeling_qwen2_5_vl.py` (`Qwen2_5_VisionTransformerPretrainedModel.get_window_index`,
 * `forward`). Parameter names are Hugging Face's under `visual.` (`patch_embed.proj.weight`,
 * `blocks.{i}.attn.qkv.weight`, `merger.mlp.0.weight`, ...), so a checkpoint's `visual.*` tensors load by name.
 *
 * Numerics: the RoPE angles row·inv_freq are products in float64, their cos/sin rounded once to float32;
 * transformers forms inv_freq and the products in float32, so its angles differ by about position·2⁻²⁴ (relative),
 * under 1e-5 for the few hundred rows and columns of real images. Initial weights are PyTorch's Linear / Conv3d
 * defaults (U(±1/√fan_in)), not Hugging Face's N(0, 0.02): they only matter before a checkpoint is loaded.
 */
import {
  LayerNorm,
  Linear,
  MLP,
  Module,
  MultiHeadAttention,
  RMSNorm,
  Rng,
  SwiGLU,
  gelu,
  tf,
  uniformInit,
} from "@vlab/core";
import {
  checkGridThw,
  ropeInverseFrequencies,
  rotaryHook,
  visionRotaryIds,
  windowIndex,
  type GridThw,
} from "@vlab/rope";
import { packRows, packSegments, unpackRows, type PackedSegments } from "./packed_segments.js";

export type Qwen2VisionVariant = "qwen2-vl" | "qwen2.5-vl";

/** Defaults are a tiny tower for tests; the released values (Qwen2-VL-7B / Qwen2.5-VL-7B) are in brackets. */
export interface Qwen2VisionConfig {
  /** "qwen2-vl" (LayerNorm, quick_gelu MLP, full attention) or "qwen2.5-vl" (RMSNorm, SwiGLU, windows). Default
   *  "qwen2-vl". */
  variant?: Qwen2VisionVariant;
  /** Number of blocks (32). Default 2. */
  depth?: number;
  /** Width D of the tower (1280: `embed_dim` in Qwen2-VL, `hidden_size` in Qwen2.5-VL). Default 32. */
  embedDim?: number;
  /** Attention heads (16); head width hd = D / heads must be a multiple of 4 (2-D RoPE). Default 2. */
  numHeads?: number;
  /** Qwen2-VL's MLP width is mlpRatio·D (4 → 5120). Default 4. */
  mlpRatio?: number;
  /** Qwen2-VL's MLP activation (`hidden_act`, "quick_gelu"). Default "quick_gelu". */
  hiddenAct?: string;
  /** Qwen2.5-VL's SwiGLU width (3420). Default 64. */
  intermediateSize?: number;
  /** Input channels C (3). Default 3. */
  inChannels?: number;
  /** Patch side P in pixels (14). Default 14. */
  patchSize?: number;
  /** Frames per patch T (2; an image is its frame repeated). Default 2. */
  temporalPatchSize?: number;
  /** Side m of the merge block (2: 2×2 patches → one LLM token). Default 2. */
  spatialMergeSize?: number;
  /** Width E of the merger's output, the language model's width (3584 for the 7B models). Default 48. */
  outHiddenSize?: number;
  /** Qwen2.5-VL: window side in pixels (112 = 4 merged tokens of 28 px). Default 112. */
  windowSize?: number;
  /**
   * Qwen2.5-VL: the blocks with full attention ([7, 15, 23, 31]). Default: the released rule, every eighth block
   * (i % 8 = 7), and always the last block — [1] for the default depth 2, [7, 15, 23, 31] for 32.
   */
  fullattBlockIndexes?: number[];
  /** RoPE base θ (10 000). Default 10 000. */
  ropeTheta?: number;
  /** Epsilon of every norm (1e-6). Default 1e-6. */
  eps?: number;
  /** Seed of the initial weights (default 0); or pass an `Rng`. */
  seed?: number;
  rng?: Rng;
}

export type ResolvedQwen2VisionConfig = Required<Omit<Qwen2VisionConfig, "rng">>;

function defaultFullAttention(depth: number): number[] {
  const out = Array.from({ length: depth }, (_, i) => i).filter((i) => i % 8 === 7);
  if (depth > 0 && !out.includes(depth - 1)) out.push(depth - 1);
  return out;
}

export function resolveQwen2VisionConfig(cfg: Qwen2VisionConfig = {}): ResolvedQwen2VisionConfig {
  const depth = cfg.depth ?? 2;
  const r: ResolvedQwen2VisionConfig = {
    variant: cfg.variant ?? "qwen2-vl",
    depth,
    embedDim: cfg.embedDim ?? 32,
    numHeads: cfg.numHeads ?? 2,
    mlpRatio: cfg.mlpRatio ?? 4,
    hiddenAct: cfg.hiddenAct ?? "quick_gelu",
    intermediateSize: cfg.intermediateSize ?? 64,
    inChannels: cfg.inChannels ?? 3,
    patchSize: cfg.patchSize ?? 14,
    temporalPatchSize: cfg.temporalPatchSize ?? 2,
    spatialMergeSize: cfg.spatialMergeSize ?? 2,
    outHiddenSize: cfg.outHiddenSize ?? 48,
    windowSize: cfg.windowSize ?? 112,
    fullattBlockIndexes: cfg.fullattBlockIndexes ?? defaultFullAttention(depth),
    ropeTheta: cfg.ropeTheta ?? 10000,
    eps: cfg.eps ?? 1e-6,
    seed: cfg.seed ?? 0,
  };
  if (r.variant !== "qwen2-vl" && r.variant !== "qwen2.5-vl")
    throw new Error(`Qwen2VisionTransformer: variant must be "qwen2-vl" or "qwen2.5-vl", got "${String(r.variant)}"`);
  if (r.embedDim % r.numHeads !== 0 || (r.embedDim / r.numHeads) % 4 !== 0)
    throw new Error(
      `Qwen2VisionTransformer: embedDim ${r.embedDim} / numHeads ${r.numHeads} must be a head width divisible by 4`,
    );
  const bad = r.fullattBlockIndexes.find((i) => !Number.isInteger(i) || i < 0 || i >= depth);
  if (bad !== undefined) throw new RangeError(`Qwen2VisionTransformer: fullattBlockIndexes has ${bad}, depth ${depth}`);
  return r;
}

/**
 * The tower's config from a Hugging Face `vision_config` (config.json). Qwen2-VL names the tower's width `embed_dim`
 * and the output `hidden_size`; Qwen2.5-VL names them `hidden_size` and `out_hidden_size`. The variant is read from
 * `model_type` or, failing that, from Qwen2.5-VL's window fields.
 */
export function qwen2VisionConfigFromHf(vc: Record<string, unknown>): Qwen2VisionConfig {
  const num = (k: string): number | undefined => (typeof vc[k] === "number" ? (vc[k] as number) : undefined);
  const type = typeof vc.model_type === "string" ? vc.model_type : "";
  const is25 = type.startsWith("qwen2_5") || "fullatt_block_indexes" in vc || "out_hidden_size" in vc;
  const common: Qwen2VisionConfig = {
    depth: num("depth"),
    numHeads: num("num_heads"),
    inChannels: num("in_chans") ?? num("in_channels"),
    patchSize: num("patch_size"),
    temporalPatchSize: num("temporal_patch_size"),
    spatialMergeSize: num("spatial_merge_size"),
  };
  if (!is25) {
    const act = typeof vc.hidden_act === "string" ? vc.hidden_act : undefined;
    const out = { embedDim: num("embed_dim"), outHiddenSize: num("hidden_size"), mlpRatio: num("mlp_ratio") };
    return { ...common, ...out, variant: "qwen2-vl", hiddenAct: act };
  }
  if (vc.hidden_act !== undefined && vc.hidden_act !== "silu")
    throw new Error(
      `qwen2VisionConfigFromHf: Qwen2.5-VL's SwiGLU needs hidden_act "silu", got ${String(vc.hidden_act)}`,
    );
  const full = vc.fullatt_block_indexes;
  return {
    ...common,
    variant: "qwen2.5-vl",
    embedDim: num("hidden_size"),
    outHiddenSize: num("out_hidden_size"),
    intermediateSize: num("intermediate_size"),
    windowSize: num("window_size"),
    fullattBlockIndexes: Array.isArray(full) ? full.map(Number) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Positions: cu_seqlens and the 2-D RoPE
// ---------------------------------------------------------------------------------------------

/** Segment boundaries of the full-attention blocks: [0] + cumsum of h·w, repeated t times per image. */
export function visionCuSeqlens(gridThw: GridThw): number[] {
  const cu = [0];
  let end = 0;
  for (const [t = 1, h = 0, w = 0] of gridThw) {
    for (let i = 0; i < t; i++) cu.push((end += h * w));
  }
  return cu;
}

/**
 * cos and sin [N, hd] of the ViT's 2-D RoPE (transformers `VisionRotaryEmbedding(hd/2)` and `rot_pos_emb`):
 *
 *   inv_freq[j] = 1 / θ^(2j/(hd/2))                 j < hd/4
 *   rot[k]      = [row_k · inv_freq | col_k · inv_freq]     hd/2 angles per patch
 *   cos[k]      = cos(concat(rot[k], rot[k]))         the half-split (NeoX) layout of @vlab/rope's rotate_half
 *
 * Rows are the patches in `visionRotaryIds` order (block-major, image after image).
 */
export function visionRotaryCosSin(
  gridThw: GridThw,
  headDim: number,
  opts: { spatialMergeSize?: number; theta?: number } = {},
): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  if (!Number.isInteger(headDim) || headDim % 4 !== 0)
    throw new RangeError(`visionRotaryCosSin: head width must be a multiple of 4, got ${headDim}`);
  const invFreq = ropeInverseFrequencies(headDim / 2, opts.theta ?? 10000); // [hd/4], float64
  const { h, w } = visionRotaryIds(gridThw, opts.spatialMergeSize ?? 2);
  const N = h.length;
  const quarter = headDim / 4;
  const half = headDim / 2;
  const c = new Float32Array(N * headDim);
  const s = new Float32Array(N * headDim);
  for (let k = 0; k < N; k++) {
    const row = k * headDim;
    invFreq.forEach((f, j) => {
      const byRow = (h[k] as number) * f; // float64 angle, rounded once by the Float32Array
      const byCol = (w[k] as number) * f;
      c[row + j] = c[row + half + j] = Math.cos(byRow);
      s[row + j] = s[row + half + j] = Math.sin(byRow);
      c[row + quarter + j] = c[row + half + quarter + j] = Math.cos(byCol);
      s[row + quarter + j] = s[row + half + quarter + j] = Math.sin(byCol);
    });
  }
  return { cos: tf.tensor2d(c, [N, headDim]), sin: tf.tensor2d(s, [N, headDim]) };
}

// ---------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------

/** A Conv3d with kernel = stride = [T, P, P] and no bias, as a parameter of Conv3d's shape applied as one matmul. */
export class Conv3dPatchProjection extends Module {
  readonly weight: tf.Variable; // [D, C, T, P, P]
  readonly inFeatures: number; // C·T·P·P

  constructor(embedDim: number, inChannels: number, temporalPatchSize: number, patchSize: number, rng?: Rng) {
    super();
    this.inFeatures = inChannels * temporalPatchSize * patchSize * patchSize;
    const shape = [embedDim, inChannels, temporalPatchSize, patchSize, patchSize];
    this.weight = this.param("weight", shape, uniformInit(1 / Math.sqrt(this.inFeatures), rng)); // Conv3d's init
  }

  /** [N, C·T·P·P] (each row a patch flattened as (c, t, y, x)) → [N, D]: the convolution of non-overlapping windows. */
  forward(patches: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const w = tf.reshape(this.weight, [this.weight.shape[0] as number, this.inFeatures]); // [D, C·T·P·P]
      return tf.matMul(patches, w, false, true); // [N, D]
    });
  }
}

/** `patch_embed`: holds `proj` (the Conv3d weight). */
export class Qwen2VisionPatchEmbed extends Module {
  readonly proj: Conv3dPatchProjection;
  constructor(cfg: ResolvedQwen2VisionConfig, rng?: Rng) {
    super();
    const { embedDim, inChannels, temporalPatchSize, patchSize } = cfg;
    this.proj = this.module("proj", new Conv3dPatchProjection(embedDim, inChannels, temporalPatchSize, patchSize, rng));
  }
  forward(pixelValues: tf.Tensor2D): tf.Tensor2D {
    return this.proj.forward(pixelValues); // [N, D]
  }
}

/** One pre-norm block: x += proj(attn(norm1 x)); x += mlp(norm2 x). Bidirectional, masked block-diagonally. */
export class Qwen2VisionBlock extends Module {
  readonly norm1: LayerNorm | RMSNorm;
  readonly norm2: LayerNorm | RMSNorm;
  readonly attn: MultiHeadAttention;
  readonly mlp: MLP | SwiGLU;

  constructor(cfg: ResolvedQwen2VisionConfig, rng?: Rng) {
    super();
    const D = cfg.embedDim;
    const norm = () =>
      cfg.variant === "qwen2.5-vl" ? new RMSNorm(D, { eps: cfg.eps }) : new LayerNorm(D, { eps: cfg.eps });
    this.norm1 = this.module("norm1", norm());
    this.norm2 = this.module("norm2", norm());
    // qkv [3D, D] splits as [q | k | v], each H heads of hd: transformers' reshape(N, 3, H, hd).
    const attnOpts = { qkvFused: true, bias: true, names: { qkv: "qkv", out: "proj" }, rng };
    this.attn = this.module("attn", new MultiHeadAttention(D, cfg.numHeads, attnOpts));
    this.mlp = this.module(
      "mlp",
      cfg.variant === "qwen2.5-vl"
        ? new SwiGLU(D, cfg.intermediateSize, { bias: true, rng }) // down(silu(gate x) · up x)
        : new MLP(D, Math.floor(cfg.mlpRatio * D), { activation: cfg.hiddenAct, rng }), // fc2(quick_gelu(fc1 x))
    );
  }

  /**
   * x [N, D] → [N, D]. Attention runs within each segment of `segments` (an image, a frame, or a window) as a batch
   * of segments padded to the longest, so its cost is Σ segment² rather than N² — what makes Qwen2.5-VL's windows
   * linear in the image's area. `positional` is the RoPE hook on cos / sin packed the same way.
   */
  forward(
    x: tf.Tensor2D,
    segments: PackedSegments,
    positional: (q: tf.Tensor4D, k: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D],
  ): tf.Tensor2D {
    return tf.tidy(() => {
      const packed = packRows(this.norm1.forward(x) as tf.Tensor2D, segments); // [S, L, D]
      const a = this.attn.forward(packed, { mask: segments.mask, positional }); // [S, L, D]
      const h = tf.add(x, unpackRows(a, segments)); // [N, D]
      return tf.add(h, this.mlp.forward(this.norm2.forward(h))) as tf.Tensor2D; // [N, D]
    });
  }
}

/** `merger.mlp`: a torch Sequential(Linear, GELU, Linear), so its Linears are named `0` and `2`. */
export class Qwen2VisionMergerMlp extends Module {
  readonly fc0: Linear;
  readonly fc2: Linear;
  constructor(width: number, out: number, rng?: Rng) {
    super();
    this.fc0 = this.module("0", new Linear(width, width, { rng }));
    this.fc2 = this.module("2", new Linear(width, out, { rng }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(gelu(this.fc0.forward(x)))); // exact (erf) GELU
  }
}

/** `merger`: ln_q per patch, then the m² consecutive rows of a merge block concatenated and mapped to E. */
export class Qwen2VisionPatchMerger extends Module {
  readonly ln_q: LayerNorm | RMSNorm;
  readonly mlp: Qwen2VisionMergerMlp;
  readonly unit: number; // m²

  constructor(cfg: ResolvedQwen2VisionConfig, rng?: Rng) {
    super();
    const D = cfg.embedDim;
    this.unit = cfg.spatialMergeSize ** 2;
    const ln = cfg.variant === "qwen2.5-vl" ? new RMSNorm(D, { eps: cfg.eps }) : new LayerNorm(D, { eps: cfg.eps });
    this.ln_q = this.module("ln_q", ln);
    this.mlp = this.module("mlp", new Qwen2VisionMergerMlp(this.unit * D, cfg.outHiddenSize, rng));
  }

  /** [N, D] → [N/m², E]. */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [N, D] = x.shape;
      const blocks = tf.reshape(this.ln_q.forward(x), [N / this.unit, this.unit * D]); // [N/m², m²·D]
      return this.mlp.forward(blocks) as tf.Tensor2D; // [N/m², E]
    });
  }
}

export interface Qwen2VisionOutputs {
  /** One token per merge block, images in order, raster order of each merged grid: [N/m², E]. */
  output: tf.Tensor2D;
  /** With `hiddenStates`: the patch embedding and every block's output, depth + 1 tensors [N, D], rows in the input's
   *  (block-major) order even for Qwen2.5-VL's windows. */
  hiddenStates?: tf.Tensor2D[];
}

/**
 * Hugging Face's `Qwen2VisionTransformerPretrainedModel` (and Qwen2.5-VL's, with `variant: "qwen2.5-vl"`):
 *
 *   const visual = new Qwen2VisionTransformer({ variant: "qwen2.5-vl", depth: 32, embedDim: 1280, ... });
 *   const tokens = visual.forward(pixelValues, [[1, 34, 46]]);   // [34·46/4, E]
 */
export class Qwen2VisionTransformer extends Module {
  readonly config: ResolvedQwen2VisionConfig;
  readonly patch_embed: Qwen2VisionPatchEmbed;
  readonly blocks: Qwen2VisionBlock[];
  readonly merger: Qwen2VisionPatchMerger;

  constructor(cfg: Qwen2VisionConfig = {}) {
    super();
    this.config = resolveQwen2VisionConfig(cfg);
    const rng = cfg.rng ?? new Rng(this.config.seed);
    this.patch_embed = this.module("patch_embed", new Qwen2VisionPatchEmbed(this.config, rng));
    const blocks = Array.from({ length: this.config.depth }, () => new Qwen2VisionBlock(this.config, rng));
    this.blocks = this.moduleList("blocks", blocks);
    this.merger = this.module("merger", new Qwen2VisionPatchMerger(this.config, rng));
  }

  /** Head width hd = D / heads. */
  get headDim(): number {
    return this.config.embedDim / this.config.numHeads;
  }

  /** Whether block `i` attends over whole images (always for Qwen2-VL) rather than windows. */
  isFullAttention(i: number): boolean {
    return this.config.variant === "qwen2-vl" || this.config.fullattBlockIndexes.includes(i);
  }

  /** pixelValues [N, C·T·P·P] (block-major rows), gridThw [[t, h, w], ...] in patches → [N/m², E]. */
  forward(pixelValues: tf.Tensor2D, gridThw: GridThw): tf.Tensor2D {
    return tf.tidy(() => this.forwardOutputs(pixelValues, gridThw).output);
  }

  /** The pass, optionally keeping the hidden states (see `Qwen2VisionOutputs`). */
  forwardOutputs(
    pixelValues: tf.Tensor2D,
    gridThw: GridThw,
    opts: { hiddenStates?: boolean } = {},
  ): Qwen2VisionOutputs {
    const grid = this.checkInputs(pixelValues, gridThw);
    const { spatialMergeSize: m, windowSize, patchSize, ropeTheta: theta } = this.config;
    const unit = m * m;
    // Qwen2.5-VL: the window order of the merged tokens, spelled out per patch (whole merge blocks move together).
    const windows =
      this.config.variant === "qwen2.5-vl" ? windowIndex(grid, { windowSize, patchSize, spatialMergeSize: m }) : null;
    const order = windows?.windowIndex.flatMap((b) => Array.from({ length: unit }, (_, j) => b * unit + j)) ?? null;
    return tf.tidy(() => {
      let h = this.patch_embed.forward(pixelValues); // [N, D]
      let { cos, sin } = visionRotaryCosSin(grid, this.headDim, { spatialMergeSize: m, theta }); // [N, hd]
      let restore: tf.Tensor1D | null = null; // window order → input order, per patch
      if (order) {
        const idx = tf.tensor1d(order, "int32");
        [h, cos, sin] = [tf.gather(h, idx), tf.gather(cos, idx), tf.gather(sin, idx)]; // rows in window order
        restore = tf.tensor1d(inversePermutation(order), "int32");
      }
      // Attention within each image / frame (full blocks) or window (Qwen2.5-VL's other blocks), packed as batches.
      const full = packSegments(visionCuSeqlens(grid));
      const windowed = windows ? packSegments(windows.cuWindowSeqlens) : full;
      const hookFor = (seg: PackedSegments) => rotaryHook(packRows(cos, seg), packRows(sin, seg)); // [S, L, hd]
      const [fullHook, windowHook] = [hookFor(full), windows ? hookFor(windowed) : null];
      const inInputOrder = (x: tf.Tensor2D) => (restore ? (tf.gather(x, restore) as tf.Tensor2D) : x);
      const hiddenStates = opts.hiddenStates ? [inInputOrder(h)] : undefined;
      this.blocks.forEach((block, i) => {
        const isFull = this.isFullAttention(i) || !windowHook;
        h = block.forward(h, isFull ? full : windowed, isFull ? fullHook : (windowHook as typeof fullHook)); // [N, D]
        hiddenStates?.push(inInputOrder(h));
      });
      let output = this.merger.forward(h); // [N/m², E], merged tokens in window order
      if (windows) output = tf.gather(output, inversePermutation(windows.windowIndex)) as tf.Tensor2D; // raster order
      return hiddenStates ? { output, hiddenStates } : { output };
    });
  }

  /** Checks pixelValues against the config and the grid; returns the grid as [t, h, w] triples. */
  private checkInputs(pixelValues: tf.Tensor, gridThw: GridThw): [number, number, number][] {
    const { inChannels: C, temporalPatchSize: T, patchSize: P, spatialMergeSize: m } = this.config;
    const width = C * T * P * P;
    if (pixelValues.rank !== 2 || pixelValues.shape[1] !== width)
      throw new Error(
        `Qwen2VisionTransformer: pixelValues must be [N, C·T·P·P] = [N, ${C}·${T}·${P}·${P} = ${width}], ` +
          `got [${pixelValues.shape.join(", ")}]`,
      );
    if (gridThw.length === 0) throw new Error("Qwen2VisionTransformer: gridThw lists no image");
    let grid: [number, number, number][];
    try {
      grid = checkGridThw(gridThw, m);
    } catch (e) {
      throw new RangeError(`Qwen2VisionTransformer: ${(e as Error).message}`, { cause: e });
    }
    const rows = grid.reduce((n, [t, h, w]) => n + t * h * w, 0);
    if (pixelValues.shape[0] !== rows)
      throw new Error(
        `Qwen2VisionTransformer: pixelValues has ${pixelValues.shape[0]} rows but gridThw ` +
          `[${grid.map((g) => `[${g.join(", ")}]`).join(", ")}] holds Σ t·h·w = ${rows} patches`,
      );
    return grid;
  }

  protected override extraRepr(): string {
    const c = this.config;
    const sizes = `D=${c.embedDim}, heads=${c.numHeads}, patch=${c.patchSize}, out=${c.outHiddenSize}`;
    return `${c.variant}, depth=${c.depth}, ${sizes}`;
  }
}

/** argsort of a permutation: inv[p[k]] = k. */
function inversePermutation(p: readonly number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((v, k) => (inv[v] = k));
  return inv;
}
