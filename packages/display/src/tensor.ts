/**
 * How a tensor looks in a notebook: one summary line (dtype, shape, min/max/mean/std, NaN and Inf counts)
 * and a preview of its values, abbreviated with `...` like PyTorch's print when it is large.
 *
 *   Tensor float32 [2, 3]  min -1.2 max 3.4 mean 0.5 std 1.1
 *   [[ 1.0000, -1.2000,  3.4000],
 *    [ 0.0000,  0.5000, -0.7000]]
 */
import type * as tf from "@tensorflow/tfjs-core";
import { escapeHtml, formatNumber, type MimeBundle } from "@vlab/core";

export interface TensorBundleOptions {
  /**
   * Above this many elements the preview shows only the first and last `edgeItems` of each dimension (default 1000).
   */
  maxValues?: number;
  /** How many leading and trailing entries per dimension an abbreviated preview keeps (default 3). */
  edgeItems?: number;
  /** Digits after the point for float values (default 4). */
  precision?: number;
  /** Wrap preview rows longer than this many characters (default 100). */
  lineWidth?: number;
}

type Values = ArrayLike<number> | ArrayLike<string>;

interface Stats {
  count: number;
  nan: number;
  inf: number;
  min: number;
  max: number;
  mean: number;
  std: number;
}

/** Min, max, mean and (population) standard deviation over the finite values, and counts of NaN and ±Inf. */
export function tensorStats(values: ArrayLike<number>): Stats {
  let n = 0,
    nan = 0,
    inf = 0,
    min = Infinity,
    max = -Infinity,
    mean = 0,
    m2 = 0;
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < values.length: every index is in range */
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else {
      n++;
      if (v < min) min = v;
      if (v > max) max = v;
      const d = v - mean; // Welford: stable in float64 for long tensors.
      mean += d / n;
      m2 += d * (v - mean);
    }
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return {
    count: n,
    nan,
    inf,
    min: n ? min : NaN,
    max: n ? max : NaN,
    mean: n ? mean : NaN,
    std: n ? Math.sqrt(m2 / n) : NaN,
  };
}

function shapeText(shape: number[]): string {
  return `[${shape.join(", ")}]`;
}

/** The one-line summary: `Tensor float32 [2, 3]  min -1.2 max 3.4 mean 0.5 std 1.1`. */
export function tensorSummary(t: tf.Tensor, values?: Values): string {
  const head = `Tensor ${t.dtype} ${shapeText(t.shape)}`;
  if (t.isDisposed) return `${head}  (disposed)`;
  if (t.size === 0) return `${head}  (empty)`;
  if (t.rank === 0 || t.dtype === "string" || t.dtype === "complex64") return head;
  const data = (values ?? t.dataSync()) as ArrayLike<number>;
  if (t.dtype === "bool") {
    let on = 0;
    for (let i = 0; i < data.length; i++) if (data[i]) on++;
    return `${head}  true ${on}/${data.length}`;
  }
  const s = tensorStats(data);
  const f = (v: number) => formatNumber(v, 4);
  let line = s.count ? `${head}  min ${f(s.min)} max ${f(s.max)} mean ${f(s.mean)} std ${f(s.std)}` : head;
  if (s.nan) line += `  nan ${s.nan}`;
  if (s.inf) line += `  inf ${s.inf}`;
  return line;
}

/** Which indices of a dimension of `size` are shown (-1 marks the `...`). */
function shownIndices(size: number, summarize: boolean, edge: number): number[] {
  if (!summarize || size <= 2 * edge) return Array.from({ length: size }, (_, i) => i);
  const head = Array.from({ length: edge }, (_, i) => i);
  const tail = Array.from({ length: edge }, (_, i) => size - edge + i);
  return [...head, -1, ...tail];
}

/** Each dimension's size and stride (row-major: the last dimension has stride 1). */
function axesOf(shape: number[]): Array<{ size: number; stride: number }> {
  const axes: Array<{ size: number; stride: number }> = [];
  let stride = 1;
  for (const size of [...shape].reverse()) {
    axes.unshift({ size, stride });
    stride *= size;
  }
  return axes;
}

/** Flat offsets of the elements the preview shows. */
function shownOffsets(shape: number[], summarize: boolean, edge: number): number[] {
  const out: number[] = [];
  const walk = (axes: Array<{ size: number; stride: number }>, offset: number) => {
    const [axis, ...inner] = axes;
    if (axis === undefined) {
      out.push(offset);
      return;
    }
    for (const i of shownIndices(axis.size, summarize, edge)) if (i >= 0) walk(inner, offset + i * axis.stride);
  };
  walk(axesOf(shape), 0);
  return out;
}

/** The element at flat offset `o`; offsets come from the tensor's shape, so one outside the data is a bug here. */
function valueAt(data: Values, o: number): number | string {
  const v = data[o];
  if (v === undefined) throw new RangeError(`tensor preview: offset ${o} is outside the ${data.length} values`);
  return v;
}

/** Builds the formatter for single elements, choosing fixed, scientific or integer-valued notation like PyTorch. */
function elementFormatter(
  dtype: string,
  values: Values,
  offsets: number[],
  precision: number,
): (v: number | string) => string {
  if (dtype === "string") return (v) => JSON.stringify(v);
  if (dtype === "bool") return (v) => (v ? "true" : "false");
  if (dtype === "int32") return (v) => String(v);
  let allInt = true,
    maxAbs = 0,
    minAbs = Infinity;
  for (const o of offsets) {
    const v = values[o] as number;
    if (!Number.isFinite(v)) continue;
    if (!Number.isInteger(v)) allInt = false;
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
    if (a > 0 && a < minAbs) minAbs = a;
  }
  const special = (v: number) => (Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");
  if (allInt && maxAbs < 1e8) return (v) => (Number.isFinite(v as number) ? `${v}.` : special(v as number));
  const sci = maxAbs >= 1e8 || (minAbs !== Infinity && (minAbs < 1e-4 || maxAbs / minAbs > 1e3));
  return (v) => {
    const x = v as number;
    if (!Number.isFinite(x)) return special(x);
    return sci ? x.toExponential(precision).replace(/e([+-])(\d)$/, "e$10$2") : x.toFixed(precision);
  };
}

/** The PyTorch-like value preview (without the summary line). */
export function formatTensorValues(t: tf.Tensor, opts: TensorBundleOptions = {}, values?: Values): string {
  const { maxValues = 1000, edgeItems = 3, precision = 4, lineWidth = 100 } = opts;
  if (t.dtype === "complex64") return "(complex values not shown)";
  const data = values ?? (t.dataSync() as Values);
  const shape = t.shape;
  if (t.size === 0) return "[]";
  const summarize = t.size > maxValues;
  const offsets = shownOffsets(shape, summarize, edgeItems);
  const fmt = elementFormatter(t.dtype, data, offsets, precision);
  if (shape.length === 0) return fmt(valueAt(data, 0));
  const width = Math.max(...offsets.map((o) => fmt(valueAt(data, o)).length));
  const cell = (o: number) => fmt(valueAt(data, o)).padStart(width);

  // axes: this dimension and the ones inside it; dim: how deep this one is (for the indent)
  const render = (axes: Array<{ size: number; stride: number }>, dim: number, offset: number): string => {
    const [axis, ...inner] = axes;
    if (axis === undefined) return cell(offset);
    const idx = shownIndices(axis.size, summarize, edgeItems);
    const indent = " ".repeat(dim + 1);
    if (inner.length === 0) {
      const items = idx.map((i) => (i < 0 ? "..." : cell(offset + i * axis.stride)));
      const perLine = Math.max(1, Math.floor((lineWidth - dim - 2) / (width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(", "));
      return `[${lines.join(`,\n${indent}`)}]`;
    }
    const parts = idx.map((i) => (i < 0 ? "..." : render(inner, dim + 1, offset + i * axis.stride)));
    return `[${parts.join(`,${"\n".repeat(inner.length)}${indent}`)}]`;
  };
  return render(axesOf(shape), 0, 0);
}

const STYLE =
  "<style>.vlab-tensor table{border-collapse:collapse;margin-top:4px}" +
  ".vlab-tensor td{padding:1px 6px;text-align:right;border:1px solid #ddd;font-family:monospace}</style>";

function htmlTable(t: tf.Tensor, data: Values, opts: TensorBundleOptions): string {
  const { precision = 4 } = opts;
  // HTML tables get narrower than the text preview: at most 12 rows and columns shown.
  const edge = 6;
  const [d0, d1, ...more] = t.shape;
  if (d0 === undefined || more.length) throw new Error(`tensor html table: expected rank 1 or 2, got ${t.rank}`);
  const [rows, cols] = d1 === undefined ? [1, d0] : [d0, d1];
  const ri = shownIndices(rows, rows > 2 * edge, edge);
  const ci = shownIndices(cols, cols > 2 * edge, edge);
  const offsets: number[] = [];
  for (const r of ri) for (const c of ci) if (r >= 0 && c >= 0) offsets.push(r * cols + c);
  const fmt = elementFormatter(t.dtype, data, offsets, precision);
  const body = ri
    .map((r) => {
      const tds = ci
        .map((c) => `<td>${r < 0 || c < 0 ? "…" : escapeHtml(fmt(valueAt(data, r * cols + c)))}</td>`)
        .join("");
      return `<tr>${tds}</tr>`;
    })
    .join("");
  return `<table>${body}</table>`;
}

/**
 * The mime bundle of a tensor: `text/plain` (summary + preview) and `text/html` (summary + a small table
 * for rank 1 and 2, the text preview otherwise). Reads the data with `dataSync()`: call it outside `tf.tidy`.
 */
export function tensorBundle(t: tf.Tensor, opts: TensorBundleOptions = {}): MimeBundle {
  if (t.isDisposed) {
    const s = tensorSummary(t);
    return { "text/plain": s, "text/html": `<div style="font-family:monospace">${escapeHtml(s)}</div>` };
  }
  const data = t.dtype === "complex64" ? [] : (t.dataSync() as Values);
  const summary = tensorSummary(t, data);
  const preview = formatTensorValues(t, opts, data);
  const head = `<div style="color:#444;font-family:monospace">${escapeHtml(summary)}</div>`;
  const tableable = (t.rank === 1 || t.rank === 2) && t.size > 0 && t.dtype !== "complex64";
  const bodyHtml = tableable ? htmlTable(t, data, opts) : `<pre style="margin:4px 0">${escapeHtml(preview)}</pre>`;
  return {
    "text/plain": `${summary}\n${preview}`,
    "text/html": `<div class="vlab-tensor">${tableable ? STYLE : ""}${head}${bodyHtml}</div>`,
  };
}
