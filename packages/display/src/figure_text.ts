/**
 * The text/plain view of a figure, for terminals and logs: the title and axes, then one line per trace with its
 * size and the range of its values (`line "train": 200 points, x 0..199, y 0.01..2.3, last 0.012`).
 */
import { formatNumber } from "@vlab/core";
import { num, titleText, traceMode, traceType, type Figure, type Trace } from "./figure.js";
import { extent } from "./scales.js";

function range(values: number[]): string {
  const e = extent(values, false);
  return e ? `${formatNumber(e[0])}..${formatNumber(e[1])}` : "no finite values";
}

function traceLine(t: Trace, i: number): string {
  const name = t.name ? ` "${t.name}"` : "";
  switch (traceType(t)) {
    case "heatmap": {
      const z = t.z ?? [];
      return (
        `  heatmap${name}: ${z.length}x${z[0]?.length ?? 0}, ` +
        `z ${range(z.flat().map((v) => (v === null ? NaN : v)))}`
      );
    }
    case "bar": {
      const y = t.y ?? [];
      const items = y.slice(0, 8).map((v, j) => `${t.x?.[j] ?? j}=${typeof v === "number" ? formatNumber(v) : v}`);
      return `  bar${name}: ${items.join(", ")}${y.length > 8 ? `, … (${y.length} bars)` : ""}`;
    }
    case "scatter": {
      const y = (t.y ?? []).map(num);
      const x = (t.x ?? y.map((_, j) => j)).map(num);
      const kind = traceMode(t).includes("lines") ? "line" : "scatter";
      const lastY = y.at(-1);
      const last = lastY !== undefined ? `, last ${formatNumber(lastY)}` : "";
      return `  ${kind}${name}: ${y.length} points, x ${range(x)}, y ${range(y)}${kind === "line" ? last : ""}`;
    }
    default:
      return `  ${t.type ?? "trace"}${name} (trace ${i})`;
  }
}

/** Title plus one line per trace: `line "train": 200 points, x 0..199, y 0.01..2.3, last 0.012`. */
export function figureText(fig: Figure): string {
  const layout = fig.layout ?? {};
  const title = titleText(layout.title);
  const xTitle = titleText(layout.xaxis?.title);
  const yTitle = titleText(layout.yaxis?.title);
  const axes = [xTitle && `x: ${xTitle}`, yTitle && `y: ${yTitle}`].filter(Boolean).join(", ");
  const logY = layout.yaxis?.type === "log" ? ", log y" : "";
  const head = `Figure${title ? ` "${title}"` : ""}${axes ? ` (${axes}${logY})` : ""}`;
  return [head, ...fig.data.map(traceLine)].join("\n");
}
