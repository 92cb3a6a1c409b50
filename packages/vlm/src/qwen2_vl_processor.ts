/**
 * Qwen2-VL's image processor and prompt expansion (Wang et al. 2024, "Qwen2-VL", §2.1; transformers
 * `models/qwen2_vl/image_processing_qwen2_vl.py` and `processing_qwen2_vl.py`):
 *
 *   1. each image keeps its aspect ratio: resized (bicubic) to `smartResize`'s multiple of 28 per side
 *   2. ÷ 255, normalised with CLIP's mean and std, channel-first
 *   3. frames are grouped by 2 (an image is its own copy: the duplicated frame), cut into 14 × 14 patches and laid
 *      out block-major — the 2 × 2 patches that the merger will join are adjacent rows:
 *
 *        frames [F, C, H, W] → [t, 2, C, h/2, 2, 14, w/2, 2, 14]  (grid t = F/2, h = H/14, w = W/14)
 *        permute (t, bh, bw, ih, iw, C, tp, py, px) → pixelValues [t·h·w, C·2·14·14]
 *
 *      so row k is patch (row 2·bh + ih, column 2·bw + iw) and column j = ((c·2 + tp)·14 + py)·14 + px: the
 *      flattened Conv3d weight [D, C, 2, 14, 14] makes the patch embedding one matmul
 *   4. `gridThw` = [t, h, w] in patches; the prompt's one `<|image_pad|>` per image becomes t·h·w / 4 of them
 *
 * A video is a stack of frames, all resized to the first frame's size; an odd count repeats the last frame.
 */
import { asRgbImage, CLIP_MEAN, CLIP_STD, resizeBicubic, type ImageInput, type RgbImage } from "@vlab/data";
import { tf } from "@vlab/core";
import { smartResize, type SmartResizeOptions } from "@vlab/rope";

export interface Qwen2VlProcessorOptions {
  /** Patch side in pixels (default 14). */
  patchSize?: number;
  /** Frames per temporal patch (default 2). */
  temporalPatchSize?: number;
  /** Patches a side merged into one LM token (default 2). */
  mergeSize?: number;
  /** Pixel budget and flavour of `smartResize` (defaults: 3136 … 12,845,056, transformers'). */
  resize?: Omit<SmartResizeOptions, "factor">;
  /** Per-channel mean and std (default CLIP's, as Qwen2-VL uses). */
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

export interface Qwen2VlVisionInputs {
  /** [N, C·T·P·P] rows of every image (or video) in turn, block-major (see the file comment). */
  pixelValues: Float32Array;
  /** The row width C·T·P·P (3 · 2 · 14 · 14 = 1176 by default). */
  rowWidth: number;
  /** [t, h, w] in patches, one per image or video. */
  gridThw: [number, number, number][];
}

/**
 * Several processor outputs as one, in order: images processed one at a time (once, ahead of training) joined into
 * a batch's input, as the processor would have returned for the whole list at once.
 */
export function joinVisionInputs(parts: readonly Qwen2VlVisionInputs[]): Qwen2VlVisionInputs {
  const first = parts[0];
  if (first === undefined) throw new RangeError("joinVisionInputs: nothing to join");
  const bad = parts.findIndex((p) => p.rowWidth !== first.rowWidth);
  if (bad >= 0)
    throw new RangeError(
      `joinVisionInputs: part ${bad} has rows of ${parts[bad]?.rowWidth}, part 0 of ${first.rowWidth}`,
    );
  const pixelValues = new Float32Array(parts.reduce((n, p) => n + p.pixelValues.length, 0));
  let at = 0;
  for (const p of parts) {
    pixelValues.set(p.pixelValues, at);
    at += p.pixelValues.length;
  }
  return { pixelValues, rowWidth: first.rowWidth, gridThw: parts.flatMap((p) => p.gridThw) };
}

/** Frames [F] of C·H·W channel-first floats → block-major patch rows and their grid (step 3 of the file comment). */
export function patchifyFrames(
  frames: readonly Float32Array[],
  height: number,
  width: number,
  opts: Pick<Qwen2VlProcessorOptions, "patchSize" | "temporalPatchSize" | "mergeSize"> & { channels?: number } = {},
): { rows: Float32Array; gridThw: [number, number, number]; rowWidth: number } {
  const { patchSize: P = 14, temporalPatchSize: TP = 2, mergeSize: M = 2, channels: C = 3 } = opts;
  if (frames.length === 0) throw new RangeError("patchifyFrames: no frames");
  if (height % (P * M) || width % (P * M))
    throw new RangeError(`patchifyFrames: ${height}×${width} is not a multiple of ${P * M} on each side`);
  frames.forEach((f, i) => {
    if (f.length !== C * height * width)
      throw new RangeError(`patchifyFrames: frame ${i} holds ${f.length} values, not ${C}·${height}·${width}`);
  });
  // Repeat the last frame up to a multiple of the temporal patch (an image: its duplicate).
  const all = [...frames];
  while (all.length % TP) all.push(frames[frames.length - 1] as Float32Array);
  const [t, h, w] = [all.length / TP, height / P, width / P];
  const rowWidth = C * TP * P * P;
  const rows = new Float32Array(t * h * w * rowWidth);
  let k = 0;
  for (let ti = 0; ti < t; ti++)
    for (let bh = 0; bh < h / M; bh++)
      for (let bw = 0; bw < w / M; bw++)
        for (let ih = 0; ih < M; ih++)
          for (let iw = 0; iw < M; iw++, k++) {
            const y0 = (bh * M + ih) * P; // the patch's top-left pixel
            const x0 = (bw * M + iw) * P;
            let j = k * rowWidth;
            for (let c = 0; c < C; c++)
              for (let tp = 0; tp < TP; tp++) {
                const frame = all[ti * TP + tp] as Float32Array;
                for (let py = 0; py < P; py++) {
                  const from = (c * height + y0 + py) * width + x0;
                  rows.set(frame.subarray(from, from + P), j);
                  j += P;
                }
              }
          }
  return { rows, gridThw: [t, h, w], rowWidth };
}

/**
 * A batch of same-size images already normalised, channel-first [B, C, H, W] (e.g. `data.normalize` of a dataset's
 * images) → each image's patch rows, stacked [B, t·h·w, C·T·P·P], and the grid [t, h, w] every image has. The
 * sides must be multiples of patchSize · mergeSize (no resizing here: `qwen2VlProcess` resizes). Row b holds what
 * `qwen2VlProcess` gives for image b, so `joinVisionInputs` of those equals the rows laid end to end.
 */
export function patchifyImages(
  images: tf.Tensor4D,
  opts: Pick<Qwen2VlProcessorOptions, "patchSize" | "temporalPatchSize" | "mergeSize"> = {},
): { pixels: tf.Tensor3D; grid: [number, number, number] } {
  const [B, C, H, W] = images.shape;
  const values = images.dataSync() as Float32Array;
  const frame = C * H * W;
  const parts = Array.from({ length: B }, (_, b) =>
    patchifyFrames([values.subarray(b * frame, (b + 1) * frame)], H, W, { ...opts, channels: C }),
  );
  const first = parts[0] ?? patchifyFrames([new Float32Array(frame)], H, W, { ...opts, channels: C });
  const rows = first.rows.length / first.rowWidth;
  const all = new Float32Array(B * first.rows.length);
  parts.forEach((p, b) => all.set(p.rows, b * p.rows.length));
  return { pixels: tf.tensor3d(all, [B, rows, first.rowWidth]), grid: first.gridThw };
}

/** An RGB image [H, W, 3] bytes → channel-first floats, ÷ 255 and normalised. */
function normalizeRgb(img: RgbImage, mean: readonly number[], std: readonly number[]): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const [m, s] = [mean[c] as number, std[c] as number];
    for (let i = 0; i < n; i++) out[c * n + i] = ((img.data[i * 3 + c] as number) / 255 - m) / s;
  }
  return out;
}

/**
 * Images, each on its own grid → the vision tower's input (Hugging Face's `pixel_values` and `image_grid_thw`);
 * `qwen2VlProcessVideos` gives `pixel_values_videos` and `video_grid_thw`.
 */
export async function qwen2VlProcess(
  images: readonly ImageInput[],
  opts: Qwen2VlProcessorOptions = {},
): Promise<Qwen2VlVisionInputs> {
  return processStacks(
    images.map((im) => [im]),
    "image",
    opts,
  );
}

/** Videos as frame stacks → the vision tower's input; every frame takes the first frame's size. */
export async function qwen2VlProcessVideos(
  videos: readonly (readonly ImageInput[])[],
  opts: Qwen2VlProcessorOptions = {},
): Promise<Qwen2VlVisionInputs> {
  return processStacks(videos, "video", opts);
}

async function processStacks(
  stacks: readonly (readonly ImageInput[])[],
  what: string,
  opts: Qwen2VlProcessorOptions,
): Promise<Qwen2VlVisionInputs> {
  const { patchSize: P = 14, mergeSize: M = 2, mean = CLIP_MEAN, std = CLIP_STD } = opts;
  const parts: Float32Array[] = [];
  const gridThw: [number, number, number][] = [];
  let rowWidth = 0;
  for (const [s, stack] of stacks.entries()) {
    if (stack.length === 0) throw new RangeError(`qwen2VlProcess: ${what} ${s} has no frames`);
    const frames = await Promise.all(stack.map((f, i) => asRgbImage(f, `qwen2VlProcess: ${what} ${s} frame ${i}`)));
    const first = frames[0] as RgbImage;
    const [h, w] = smartResize(first.height, first.width, { ...opts.resize, factor: P * M });
    const resized = await Promise.all(frames.map((f) => resizeBicubic(f, w, h)));
    const out = patchifyFrames(
      resized.map((f) => normalizeRgb(f, mean, std)),
      h,
      w,
      opts,
    );
    parts.push(out.rows);
    gridThw.push(out.gridThw);
    rowWidth = out.rowWidth;
  }
  const pixelValues = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    pixelValues.set(p, at);
    at += p.length;
  }
  return { pixelValues, rowWidth, gridThw };
}

/** LM tokens one image or video takes: t·h·w / mergeSize². */
export function visionTokenCount(grid: readonly number[], mergeSize = 2): number {
  const [t = 0, h = 0, w = 0] = grid;
  return (t * h * w) / (mergeSize * mergeSize);
}

/**
 * The processor's `replace_image_token`: the i-th pad token of `ids` (one per image, in order) becomes
 * `visionTokenCount(gridThw[i])` copies of it. Works on ids; `expandVisionPadText` does the same on text.
 */
export function expandVisionPads(
  ids: readonly number[],
  gridThw: readonly (readonly number[])[],
  padTokenId: number,
  mergeSize = 2,
): number[] {
  const out: number[] = [];
  let i = 0;
  for (const id of ids) {
    if (id !== padTokenId) {
      out.push(id);
      continue;
    }
    const grid = gridThw[i++];
    if (!grid)
      throw new RangeError(`expandVisionPads: the prompt has more pad tokens than the ${gridThw.length} grids`);
    for (let k = 0; k < visionTokenCount(grid, mergeSize); k++) out.push(padTokenId);
  }
  if (i !== gridThw.length)
    throw new RangeError(`expandVisionPads: ${gridThw.length} grids but ${i} pad tokens in the prompt`);
  return out;
}

/** `expandVisionPads` on text: each `pad` string (default `<|image_pad|>`) becomes its grid's count of copies. */
export function expandVisionPadText(
  text: string,
  gridThw: readonly (readonly number[])[],
  pad = "<|image_pad|>",
  mergeSize = 2,
): string {
  const pieces = text.split(pad);
  if (pieces.length - 1 !== gridThw.length)
    throw new RangeError(`expandVisionPadText: ${gridThw.length} grids but ${pieces.length - 1} "${pad}" in the text`);
  return pieces.reduce((acc, piece, i) => acc + pad.repeat(visionTokenCount(gridThw[i - 1] ?? [], mergeSize)) + piece);
}

export type Qwen2VlContent = { type: "text"; text: string } | { type: "image" } | { type: "video" };
export interface Qwen2VlMessage {
  role: "system" | "user" | "assistant";
  content: string | readonly Qwen2VlContent[];
}

/**
 * Qwen2-VL's chat template: a default system turn unless the first message is one, each image as
 * `<|vision_start|><|image_pad|><|vision_end|>` (with `Picture N: ` before it when `addVisionId`), each video with
 * `<|video_pad|>`, `<|im_start|>role\n … <|im_end|>\n` per turn, and `<|im_start|>assistant\n` to generate.
 */
export function qwen2VlChatText(
  messages: readonly Qwen2VlMessage[],
  opts: { addGenerationPrompt?: boolean; addVisionId?: boolean } = {},
): string {
  let text = "";
  let images = 0;
  let videos = 0;
  messages.forEach((m, i) => {
    if (i === 0 && m.role !== "system") text += "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
    text += `<|im_start|>${m.role}\n`;
    const parts: readonly Qwen2VlContent[] =
      typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    for (const p of parts) {
      if (p.type === "text") text += p.text;
      else if (p.type === "image") {
        images++;
        if (opts.addVisionId) text += `Picture ${images}: `;
        text += "<|vision_start|><|image_pad|><|vision_end|>";
      } else {
        videos++;
        if (opts.addVisionId) text += `Video ${videos}: `;
        text += "<|vision_start|><|video_pad|><|vision_end|>";
      }
    }
    text += "<|im_end|>\n";
  });
  if (opts.addGenerationPrompt ?? true) text += "<|im_start|>assistant\n";
  return text;
}
