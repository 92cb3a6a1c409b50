/**
 * Which input of a CLIP encoder takes the pixels or the token ids, and which output holds the
 * embeddings: Hugging Face's names when present (pixel_values, input_ids, attention_mask,
 * position_ids, image_embeds, text_embeds), otherwise the only plausible one, or the caller's `names`.
 */
import type { EncoderSession } from "./ort_session.js";
import { describeOnnxSession, formatShape, listNames, type OnnxValueInfo } from "./session_io.js";

export interface OnnxClipNames {
  /** Vision model input (default `pixel_values`, else its only input). */
  pixelValues?: string;
  /** Vision model output (default `image_embeds`, else the output ending in "embeds", else the only output). */
  imageEmbeds?: string;
  /** Text model token-id input (default `input_ids`, else its only integer input that is not a mask). */
  inputIds?: string;
  /** Text model mask input, when it has one (default `attention_mask`). */
  attentionMask?: string;
  /** Text model output (default `text_embeds`, ...). */
  textEmbeds?: string;
}

export interface VisionIO {
  pixels: OnnxValueInfo;
  output: OnnxValueInfo;
}

export interface TextIO {
  ids: OnnxValueInfo;
  mask?: OnnxValueInfo;
  positionIds?: OnnxValueInfo;
  output: OnnxValueInfo;
}

const INTEGER_TYPES = new Set(["int64", "int32", "uint8", "int8", "uint32", "uint64", "int16", "uint16"]);

export function visionIO(enc: EncoderSession, names: OnnxClipNames): VisionIO {
  const { inputs, outputs } = describeOnnxSession(enc.session);
  const where = `OnnxClip vision model (${enc.source})`;
  const isImage = (v: OnnxValueInfo) =>
    (v.type === undefined || /^float/.test(v.type)) && (v.shape === undefined || v.shape.length === 4);
  const pixels = named(where, "names.pixelValues", () => pick(inputs, names.pixelValues, ["pixel_values"], isImage));
  if (!pixels) {
    const hint = inputs.some((v) => v.type && INTEGER_TYPES.has(v.type))
      ? " (it takes integer inputs: is this the text model?)"
      : "";
    throw new Error(
      `${where}: cannot tell which input takes the pixels (inputs: ${listNames(inputs)})${hint}; pass ` +
        `names.pixelValues if it has one`,
    );
  }
  const extra = inputs.filter((v) => v !== pixels);
  if (extra.length)
    throw new Error(
      `${where}: it takes inputs besides "${pixels.name}" that OnnxClip does not know how to fill: ${listNames(extra)}`,
    );
  if (pixels.shape && pixels.shape.length !== 4)
    throw new Error(
      `${where}: input "${pixels.name}" has shape ${formatShape(pixels.shape)}; an image encoder takes [batch, 3, H, ` +
        `W]`,
    );
  const output = named(where, "names.imageEmbeds", () => pickOutput(outputs, names.imageEmbeds, ["image_embeds"]));
  if (!output)
    throw new Error(
      `${where}: cannot tell which output holds the image features (outputs: ${listNames(outputs)}); pass ` +
        `names.imageEmbeds`,
    );
  return { pixels, output };
}

export function textIO(enc: EncoderSession, names: OnnxClipNames): TextIO {
  const { inputs, outputs } = describeOnnxSession(enc.session);
  const where = `OnnxClip text model (${enc.source})`;
  const maskName = names.attentionMask ?? "attention_mask";
  const isIds = (v: OnnxValueInfo) =>
    v.name !== maskName && v.name !== "position_ids" && (v.type === undefined || INTEGER_TYPES.has(v.type));
  const ids = named(where, "names.inputIds", () => pick(inputs, names.inputIds, ["input_ids"], isIds));
  if (!ids) {
    const hint = inputs.some((v) => v.type && /^float/.test(v.type))
      ? " (it takes float inputs: is this the vision model?)"
      : "";
    throw new Error(
      `${where}: cannot tell which input takes the token ids (inputs: ${listNames(inputs)})${hint}; pass ` +
        `names.inputIds if it has one`,
    );
  }
  const mask = inputs.find((v) => v.name === maskName);
  const positionIds = inputs.find((v) => v.name === "position_ids");
  const extra = inputs.filter((v) => v !== ids && v !== mask && v !== positionIds);
  if (extra.length)
    throw new Error(
      `${where}: it takes inputs besides "${ids.name}" that OnnxClip does not know how to fill: ${listNames(extra)}`,
    );
  const output = named(where, "names.textEmbeds", () => pickOutput(outputs, names.textEmbeds, ["text_embeds"]));
  if (!output)
    throw new Error(
      `${where}: cannot tell which output holds the text features (outputs: ${listNames(outputs)}); pass ` +
        `names.textEmbeds`,
    );
  return { ids, ...(mask ? { mask } : {}), ...(positionIds ? { positionIds } : {}), output };
}

function pick(
  infos: OnnxValueInfo[],
  preferred: string | undefined,
  candidates: string[],
  test: (v: OnnxValueInfo) => boolean,
): OnnxValueInfo | undefined {
  if (preferred) {
    const hit = infos.find((v) => v.name === preferred);
    if (!hit) throw new Error(`there is no "${preferred}" (the model has ${listNames(infos)})`);
    return hit;
  }
  for (const c of candidates) {
    const hit = infos.find((v) => v.name === c);
    if (hit) return hit;
  }
  const matches = infos.filter(test);
  return matches.length === 1 ? matches[0] : undefined;
}

function pickOutput(
  outputs: OnnxValueInfo[],
  preferred: string | undefined,
  candidates: string[],
): OnnxValueInfo | undefined {
  return pick(outputs, preferred, candidates, (v) => outputs.length === 1 || /embeds?$/.test(v.name));
}

/** Runs a name lookup, prefixing its error with the model. */
function named<T>(where: string, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new Error(`${where}: ${what}: ${(e as Error).message}`, { cause: e });
  }
}
