/**
 * The M-RoPE position ids of a Qwen2-VL prompt (Wang et al. 2024, "Qwen2-VL", §2.1 "Multimodal Rotary Position
 * Embedding"): every token gets three ids (t, h, w). Text tokens count up with the same value on all three; an
 * image's merged tokens take its grid — t fixed, h and w its row and column — starting after the text before it;
 * text after an image continues at the largest id so far + 1, so an image of T×H×W tokens uses only max(T, H, W)
 * position values. transformers v4.4x `Qwen2VLForConditionalGeneration.get_rope_index`, per batch row, on the
 * tokens its attention mask keeps:
 *
 *   st = 0; for each image / video in order (found after each <|vision_start|>):
 *     ed = next <|image_pad|> / <|video_pad|> at or after st; (T, H, W) = (t, h / m, w / m) of its grid
 *     s = max(ids so far) + 1 (0 at first)
 *     text st … ed − 1                     → s + 0, 1, …                  on all three axes
 *     vision token (ti, hi, wi), raster    → s + (ed − st) + (ti, hi, wi)
 *     st = ed + T·H·W
 *   the text after the last one likewise; padding gets 1
 *   ropeDelta = max(ids) + 1 − L (L = the padded row's length); decoding continues at cachePosition + ropeDelta
 *
 * Qwen2.5-VL (v4.5x, `mode: "qwen2.5-vl"`) aligns a video's t with time: t = trunc(ti · secondPerGridT ·
 * tokensPerSecond) in float32 (images: secondPerGridT = 0). Without any grid, or with only text, the ids are
 * cumsum(mask) − 1 on all three axes (padding 1) and ropeDelta = max + 1 − L; without a mask 0 … L − 1, delta 0.
 */
import { checkGridThw, type GridThw } from "./vision_rope.js";

export interface RopeIndexOptions {
  /** [t, h, w] in patches of each image, in order over the batch's rows. */
  imageGridThw?: GridThw;
  /** [t, h, w] of each video, likewise. */
  videoGridThw?: GridThw;
  /** [B][L], 1 = token, 0 = padding (default all ones). */
  attentionMask?: readonly (readonly number[])[];
  /** Patches a side merged into one token (default 2). */
  spatialMergeSize?: number;
  /** `<|image_pad|>` (default 151655). */
  imageTokenId?: number;
  /** `<|video_pad|>` (default 151656). */
  videoTokenId?: number;
  /** `<|vision_start|>` (default 151652). */
  visionStartTokenId?: number;
  /** "qwen2-vl" (default): a video's t counts its temporal patches; "qwen2.5-vl": t follows the time. */
  mode?: "qwen2-vl" | "qwen2.5-vl";
  /** Qwen2.5-VL: seconds per temporal patch of each video (default 1; the processor gives temporal_patch_size/fps). */
  secondPerGridTs?: readonly number[];
  /** Qwen2.5-VL: position units per second (default 2, the released config's; the class default is 4). */
  tokensPerSecond?: number;
}

export interface RopeIndex {
  /** [3][B][L]: the t, h and w ids of every token. */
  positionIds: number[][][];
  /** [B]: what decoding adds to the cache position (the same on all three axes). */
  ropeDeltas: number[];
}

/** The M-RoPE position ids of `inputIds` [B][L] and their decoding deltas (see the file comment). */
export function getRopeIndex(inputIds: readonly (readonly number[])[], opts: RopeIndexOptions = {}): RopeIndex {
  const m = opts.spatialMergeSize ?? 2;
  const imageToken = opts.imageTokenId ?? 151655;
  const videoToken = opts.videoTokenId ?? 151656;
  const visionStart = opts.visionStartTokenId ?? 151652;
  const mode = opts.mode ?? "qwen2-vl";
  if (mode !== "qwen2-vl" && mode !== "qwen2.5-vl")
    throw new RangeError(`getRopeIndex: mode must be "qwen2-vl" or "qwen2.5-vl", got "${String(mode)}"`);
  const tokensPerSecond = opts.tokensPerSecond ?? 2;
  const L = inputIds[0]?.length ?? 0;
  if (inputIds.some((r) => r.length !== L)) throw new RangeError("getRopeIndex: rows of inputIds differ in length");
  const mask = opts.attentionMask ?? inputIds.map((r) => r.map(() => 1));
  if (mask.length !== inputIds.length || mask.some((r) => r.length !== L))
    throw new RangeError(`getRopeIndex: attentionMask must be [${inputIds.length}, ${L}] like inputIds`);
  const images = checkGridThw(opts.imageGridThw ?? [], m, "imageGridThw");
  const videos = checkGridThw(opts.videoGridThw ?? [], m, "videoGridThw");
  const positionIds = [0, 1, 2].map(() => inputIds.map(() => new Array<number>(L).fill(1)));
  const ropeDeltas: number[] = [];

  if (opts.imageGridThw === undefined && opts.videoGridThw === undefined) {
    // Text only: cumsum(mask) − 1 on every axis, padding 1 (no mask: 0 … L − 1).
    mask.forEach((row, b) => {
      let count = 0;
      let max = -Infinity;
      row.forEach((keep, j) => {
        const p = keep ? count++ : 1;
        for (const axis of positionIds) (axis[b] as number[])[j] = p;
        max = Math.max(max, p);
      });
      ropeDeltas.push(opts.attentionMask ? max + 1 - L : 0);
    });
    return { positionIds, ropeDeltas };
  }

  let imageIndex = 0;
  let videoIndex = 0;
  inputIds.forEach((fullRow, b) => {
    const kept = fullRow.map((_, j) => j).filter((j) => (mask[b] as readonly number[])[j]); // columns of real tokens
    const tokens = kept.map((j) => fullRow[j] as number);
    const ids: [number, number, number][] = [];
    const next = () => (ids.length ? Math.max(...ids.map((p) => Math.max(...p))) + 1 : 0);
    let remainImages = 0;
    let remainVideos = 0;
    tokens.forEach((t, j) => {
      if (t !== visionStart) return;
      if (tokens[j + 1] === imageToken) remainImages++;
      else if (tokens[j + 1] === videoToken) remainVideos++;
    });
    let st = 0;
    while (remainImages + remainVideos > 0) {
      const find = (token: number, remain: number) => {
        const at = remain > 0 ? tokens.indexOf(token, st) : -1;
        return at < 0 ? tokens.length + 1 : at;
      };
      const edImage = find(imageToken, remainImages);
      const edVideo = find(videoToken, remainVideos);
      const isImage = edImage < edVideo;
      const ed = Math.min(edImage, edVideo);
      const grid = isImage ? images[imageIndex] : videos[videoIndex];
      const kind = isImage ? "image" : "video";
      const listed = isImage ? images.length : videos.length;
      if (!grid || ed > tokens.length)
        throw new RangeError(`getRopeIndex: row ${b} has more ${kind}s than ${kind}GridThw lists (${listed})`);
      let secondPerGridT = 0;
      if (isImage) {
        imageIndex++;
        remainImages--;
      } else {
        secondPerGridT = opts.secondPerGridTs?.[videoIndex] ?? 1;
        videoIndex++;
        remainVideos--;
      }
      const [T, H, W] = [grid[0], grid[1] / m, grid[2] / m];
      const pad = isImage ? imageToken : videoToken;
      for (let k = ed; k < ed + T * H * W; k++) {
        if (tokens[k] !== pad)
          throw new RangeError(
            `getRopeIndex: row ${b}: the ${kind} of grid [${grid.join(", ")}] needs ${T * H * W} pad tokens from ` +
              `position ${kept[ed]}, but position ${kept[k] ?? L} holds ${tokens[k] ?? "nothing"}`,
          );
      }
      const s = next(); // the text before it, then the grid, count on from here
      for (let i = 0; i < ed - st; i++) ids.push([s + i, s + i, s + i]);
      const start = s + ed - st;
      for (let ti = 0; ti < T; ti++) {
        const tId =
          mode === "qwen2.5-vl"
            ? Math.trunc(Math.fround(Math.fround(ti * Math.fround(secondPerGridT)) * Math.fround(tokensPerSecond)))
            : ti;
        for (let hi = 0; hi < H; hi++) for (let wi = 0; wi < W; wi++) ids.push([start + tId, start + hi, start + wi]);
      }
      st = ed + T * H * W;
    }
    const s = next(); // the text after the last image or video
    for (let i = 0; i < tokens.length - st; i++) ids.push([s + i, s + i, s + i]);
    ids.forEach((p, i) => {
      const j = kept[i] as number;
      for (let axis = 0; axis < 3; axis++) ((positionIds[axis] as number[][])[b] as number[])[j] = p[axis] as number;
    });
    ropeDeltas.push((ids.length ? Math.max(...ids.map((p) => Math.max(...p))) + 1 : 0) - L);
  });
  const [usedImages, usedVideos] = [imageIndex, videoIndex];
  if (usedImages !== images.length || usedVideos !== videos.length)
    throw new RangeError(
      `getRopeIndex: the prompts hold ${usedImages} images and ${usedVideos} videos, the grids list ` +
        `${images.length} and ${videos.length}`,
    );
  return { positionIds, ropeDeltas };
}
