/**
 * Qwen2.5-VL's window attention in the vision tower (Bai et al. 2025, "Qwen2.5-VL Technical Report", §2.1.1: most
 * ViT layers attend within 112×112-pixel windows, so their cost grows linearly with the image's area; a few layers
 * keep full attention). transformers `models/qwen2_5_vl/modeling_qwen2_5_vl.py` `get_window_index`:
 *
 *   vm = windowSize / spatialMergeSize / patchSize       (112 / 2 / 14 = 4 merged tokens a side)
 *   per image, on its merged grid H × W = h/m × w/m: pad bottom and right to multiples of vm (a full empty window
 *   when already divisible), cut into vm × vm windows in raster order, and list each window's merged-token indices
 *   (raster order inside the window, padding dropped); `cuWindowSeqlens` are the windows' cumulative lengths in
 *   patch units (× m²), from 0.
 *
 * The model reorders the patches by `windowIndex` (whole m×m merge units at a time), attends block-diagonally by
 * `cuWindowSeqlens` in the window layers, and undoes the order after the merger. transformers applies
 * `torch.unique_consecutive` to the boundaries, which drops the empty padding windows; so does this function.
 */
import { checkGridThw, type GridThw } from "./vision_rope.js";

export interface WindowIndexOptions {
  /** Window side in pixels (default 112). */
  windowSize?: number;
  /** Patch side in pixels (default 14). */
  patchSize?: number;
  /** Merge block side in patches (default 2). */
  spatialMergeSize?: number;
}

/** The window order of the merged tokens and the windows' boundaries in patches (see the file comment). */
export function windowIndex(
  gridThw: GridThw,
  opts: WindowIndexOptions = {},
): { windowIndex: number[]; cuWindowSeqlens: number[] } {
  const { windowSize = 112, patchSize = 14, spatialMergeSize: m = 2 } = opts;
  const vm = Math.floor(windowSize / m / patchSize);
  if (!(vm >= 1)) throw new RangeError(`windowIndex: windowSize ${windowSize} is below one merged token`);
  const order: number[] = [];
  const cu = [0];
  let offset = 0; // merged tokens of the images before
  for (const [t, h, w] of checkGridThw(gridThw, m)) {
    const H = h / m;
    const W = w / m;
    const windowsH = Math.ceil((H + 1) / vm); // (H + vm − H % vm) / vm: one extra when H divides
    const windowsW = Math.ceil((W + 1) / vm);
    for (let ti = 0; ti < t; ti++) {
      for (let wh = 0; wh < windowsH; wh++) {
        for (let ww = 0; ww < windowsW; ww++) {
          let count = 0;
          for (let r = wh * vm; r < Math.min(H, (wh + 1) * vm); r++) {
            for (let c = ww * vm; c < Math.min(W, (ww + 1) * vm); c++) {
              order.push(offset + (ti * H + r) * W + c);
              count++;
            }
          }
          const last = cu[cu.length - 1] as number;
          const next = last + count * m * m;
          if (next !== last) cu.push(next); // unique_consecutive: an empty window repeats the boundary
        }
      }
    }
    offset += t * H * W;
  }
  return { windowIndex: order, cuWindowSeqlens: cu };
}
