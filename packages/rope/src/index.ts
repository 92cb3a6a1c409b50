/**
 * @vlab/rope — rotary position embeddings.
 *
 * - rope.ts   1-D RoPE in the half-split (NeoX) layout: inv_freq, rotate_half, a cos/sin table
 *             gathered at explicit position ids [B, T] (left padding, KV-cache decoding), the
 *             `positional` hook for core's MultiHeadAttention
 * - mrope.ts  Qwen2-VL's multimodal RoPE: per-axis (t, h, w) positions, frequency slots mixed by
 *             `mrope_section`
 * - smart_resize.ts   Qwen2-VL's native resolution: the size an image is resized to (`smartResize`)
 * - vision_rope.ts    each vision patch's row and column for the ViT's 2-D RoPE (`visionRotaryIds`)
 * - rope_index.ts     the M-RoPE (t, h, w) ids of a prompt with images and videos (`getRopeIndex`)
 * - window_index.ts   Qwen2.5-VL's window attention order (`windowIndex`)
 */
export * from "./rope.js";
export * from "./mrope.js";
export * from "./smart_resize.js";
export * from "./vision_rope.js";
export * from "./rope_index.js";
export * from "./window_index.js";
