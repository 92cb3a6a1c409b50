/**
 * @vlab/rope — rotary position embeddings.
 *
 * - rope.ts   1-D RoPE in the half-split (NeoX) layout: inv_freq, rotate_half, a cos/sin table
 *             gathered at explicit position ids [B, T] (left padding, KV-cache decoding), the
 *             `positional` hook for core's MultiHeadAttention
 * - mrope.ts  Qwen2-VL's multimodal RoPE: per-axis (t, h, w) positions, frequency slots mixed by
 *             `mrope_section`
 */
export * from "./rope.js";
export * from "./mrope.js";
