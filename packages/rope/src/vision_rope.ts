/**
 * Where each patch of Qwen2-VL's vision tower sits, for its 2-D RoPE (Wang et al. 2024, "Qwen2-VL", §2.1: the ViT
 * has no absolute position embedding; "2D-RoPE" encodes each patch's row and column). transformers
 * `models/qwen2_vl/modeling_qwen2_vl.py` `Qwen2VisionTransformerPretrainedModel.rot_pos_emb`:
 *
 *   hpos = arange(h)[:, None].expand(h, w).reshape(h/m, m, w/m, m).permute(0, 2, 1, 3).flatten()
 *   wpos = arange(w)[None, :].expand(h, w).reshape(h/m, m, w/m, m).permute(0, 2, 1, 3).flatten()
 *   repeated t times, image after image
 *
 * The order is the processor's block-major row order (the m×m patches of each merge block next to each other), so
 * patch k of `pixelValues` gets (h[k], w[k]). The head's first d/4 frequency slots turn with h, the next d/4 with w.
 */

/** [t, h, w] in patches, one per image or video (Hugging Face's `image_grid_thw`). */
export type GridThw = readonly (readonly number[])[];

/** Checks a grid list and returns it as [t, h, w] triples; `what` names the argument in errors. */
export function checkGridThw(gridThw: GridThw, spatialMergeSize: number, what = "gridThw"): [number, number, number][] {
  if (!(Number.isInteger(spatialMergeSize) && spatialMergeSize >= 1))
    throw new RangeError(`spatialMergeSize must be a positive integer, got ${spatialMergeSize}`);
  return gridThw.map((g, i) => {
    const [t, h, w] = g;
    if (g.length !== 3 || ![t, h, w].every((v) => Number.isInteger(v) && (v as number) >= 1))
      throw new RangeError(`${what}[${i}] must be three positive integers [t, h, w], got [${g.join(", ")}]`);
    if ((h as number) % spatialMergeSize || (w as number) % spatialMergeSize)
      throw new RangeError(`${what}[${i}] = [${g.join(", ")}]: h and w must be multiples of ${spatialMergeSize}`);
    return [t, h, w] as [number, number, number];
  });
}

/** Each patch's row `h` and column `w`, in the order the vision tower sees the patches (see the file comment). */
export function visionRotaryIds(gridThw: GridThw, spatialMergeSize = 2): { h: number[]; w: number[] } {
  const m = spatialMergeSize;
  const h: number[] = [];
  const w: number[] = [];
  for (const [t, gh, gw] of checkGridThw(gridThw, m)) {
    for (let ti = 0; ti < t; ti++)
      for (let bh = 0; bh < gh / m; bh++)
        for (let bw = 0; bw < gw / m; bw++)
          for (let ih = 0; ih < m; ih++)
            for (let iw = 0; iw < m; iw++) {
              h.push(bh * m + ih);
              w.push(bw * m + iw);
            }
  }
  return { h, w };
}
