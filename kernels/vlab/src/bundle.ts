/**
 * What a cell's value looks like in Jupyter: a mime bundle (`{"text/html": ..., "text/plain": ...}`).
 * A value with Deno's `Symbol.for("Jupyter.display")` method renders itself; a tfjs tensor prints its own summary;
 * anything else is `util.inspect`ed. The kernel depends on no vlab package: it recognises tensors by their shape.
 */
import { inspect } from "node:util";

export type Bundle = Record<string, unknown>;

const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

/** Makes a mime bundle JSON-safe: bytes become base64 (as Jupyter expects for images), text stays text. */
export function normalizeBundle(bundle: Bundle): Bundle {
  const out: Bundle = {};
  for (const [mime, v] of Object.entries(bundle)) {
    if (v === undefined) continue;
    if (v instanceof Uint8Array) out[mime] = Buffer.from(v).toString("base64");
    else if (typeof v === "string" || /json/.test(mime)) out[mime] = v;
    else out[mime] = String(v);
  }
  return out;
}

function isObject(v: unknown): v is object {
  return (typeof v === "object" || typeof v === "function") && v !== null;
}

function isTensorLike(v: unknown): v is { shape: number[]; dtype: string; toString(): string } {
  return (
    isObject(v) &&
    Array.isArray(Reflect.get(v, "shape")) &&
    typeof Reflect.get(v, "dtype") === "string" &&
    typeof Reflect.get(v, "dataSync") === "function"
  );
}

/** The mime bundle for a cell's value: its own `Symbol.for("Jupyter.display")`, else plain text. */
export async function bundleOf(value: unknown): Promise<Bundle> {
  const own: unknown = isObject(value) ? Reflect.get(value, JUPYTER_DISPLAY) : undefined;
  if (typeof own === "function") {
    const bundle: unknown = await own.call(value);
    return normalizeBundle(isObject(bundle) ? { ...bundle } : {});
  }
  if (isTensorLike(value)) return { "text/plain": value.toString() };
  if (typeof value === "string") return { "text/plain": inspect(value) };
  return { "text/plain": inspect(value, { depth: 4, colors: false, maxArrayLength: 50 }) };
}
