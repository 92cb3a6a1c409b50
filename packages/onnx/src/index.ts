/**
 * @vlab/onnx — vlab's models in ONNX: a hand-written ONNX writer, CLIP's encoders exported with it, and
 * onnxruntime-node sessions that run such encoders behind the tfjs `Clip`'s API.
 */
export * from "./graph.js";
export * from "./clip_export.js";
export * from "./onnx_clip.js";
