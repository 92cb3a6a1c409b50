/**
 * @vlab/onnx — vlab's models in ONNX, and ONNX models run beside them:
 *
 * - protobuf.ts        protobuf's wire format, written by hand (varints, length-delimited fields)
 * - onnx_types.ts      an ONNX model as plain data: tensors, value infos, attributes, nodes, graph
 * - onnx_encode.ts     that data to the bytes of a .onnx file (onnx/onnx.proto's field numbers)
 * - graph_builder.ts   OnnxGraphBuilder: write a graph by hand, values named automatically
 * - clip_export.ts     a tfjs CLIP's encoders as vision_model.onnx / text_model.onnx
 * - ort_session.ts     onnxruntime-node loaded on first use; sessions with clear errors and a CPU fallback
 * - session_io.ts      a session's inputs and outputs: names, element types, declared shapes
 * - ort_tensors.ts     tensors into and out of onnxruntime (float16 bits, int64 ids)
 * - clip_io.ts         which input takes the pixels or the ids, which output holds the embeddings
 * - onnx_clip.ts       OnnxClip: such a pair (or Hugging Face's) run through onnxruntime-node
 */
export { encodeVarint } from "./protobuf.js";
export * from "./onnx_types.js";
export * from "./onnx_encode.js";
export * from "./graph_builder.js";
export * from "./clip_export.js";
export {
  createEncoderSession,
  loadOnnxRuntime,
  type EncoderSession,
  type OnnxExecutionProvider,
  type OnnxModelSource,
  type OnnxSessionOptions,
} from "./ort_session.js";
export { describeOnnxSession, type OnnxValueInfo } from "./session_io.js";
export type { OnnxClipNames } from "./clip_io.js";
export * from "./onnx_clip.js";
