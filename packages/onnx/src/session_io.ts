/**
 * What an onnxruntime session says about its inputs and outputs (names, element types, declared
 * shapes), a check of a tensor against a declared shape, and the messages that list them.
 */
import type * as Ort from "onnxruntime-node";

/** What a session says about one input or output. */
export interface OnnxValueInfo {
  name: string;
  /** onnxruntime's element type ("float32", "int64", ...), when the session reports it. */
  type?: string;
  /** Declared dims: numbers, symbolic names, or null (unknown); undefined when not reported. */
  shape?: (number | string | null)[];
}

function metadataOf(session: Ort.InferenceSession, kind: "input" | "output"): OnnxValueInfo[] {
  const names = kind === "input" ? session.inputNames : session.outputNames;
  const meta = (kind === "input" ? session.inputMetadata : session.outputMetadata) as
    readonly Ort.InferenceSession.ValueMetadata[] | undefined;
  return names.map((name, i) => {
    const m = meta?.[i];
    if (!m || !m.isTensor) return { name };
    return {
      name,
      type: m.type,
      shape: m.shape.length
        ? m.shape.map((d) => (d === -1 || d === "" || d === null || d === undefined ? null : d))
        : undefined,
    };
  });
}

/** The inputs and outputs of a session, with their declared types and shapes. */
export function describeOnnxSession(session: Ort.InferenceSession): {
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
} {
  return { inputs: metadataOf(session, "input"), outputs: metadataOf(session, "output") };
}

export function formatShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

/** Checks a tensor's dims against an input's declared shape; throws naming the input and both shapes. */
export function checkShape(where: string, info: OnnxValueInfo, got: readonly number[]): void {
  if (!info.shape) return;
  const expected = info.shape;
  const bad =
    expected.length !== got.length
      ? `rank ${got.length}, expected rank ${expected.length}`
      : expected
          .map((d, i) =>
            typeof d === "number" && d >= 0 && d !== got[i] ? `dim ${i}: expected ${d}, got ${got[i]}` : "",
          )
          .find((s) => s);
  if (bad)
    throw new Error(
      `${where}: input "${info.name}" expects shape ${formatShape(expected)}, got ${formatShape(got)} (${bad})`,
    );
}

export function listNames(infos: OnnxValueInfo[]): string {
  return infos
    .map((v) => `${v.name}${v.type ? ` (${v.type}${v.shape ? ` ${formatShape(v.shape)}` : ""})` : ""}`)
    .join(", ");
}
