/**
 * A line plot that grows while training runs: each `push` adds a point per series, and inside the kernel one
 * display is updated in place (throttled), first as the static SVG, then as the interactive figure on `done()`.
 */
import { JUPYTER_DISPLAY, kernelHook, type MimeBundle } from "@vlab/core";
import { sendBundle } from "./display.js";
import { figureText } from "./figure_text.js";
import { figureBundle } from "./html.js";
import { linePlot, type AxisOptions, type Plot } from "./plot.js";
import { figureSvg } from "./svg.js";
import { newDisplayId } from "./util.js";

export interface LivePlotOptions extends AxisOptions {
  /** Minimum milliseconds between display updates (default 500). */
  throttleMs?: number;
}

/**
 * A line plot that grows while training runs: `const lp = livePlot({ title: "loss", logY: true });
 * lp.push({ train: loss }, step); ... lp.done();`. In a kernel it updates one display in place
 * (the static SVG while running, the interactive figure once `done()`); elsewhere `done()` prints a summary.
 */
export class LivePlot {
  readonly x: Record<string, number[]> = {};
  readonly y: Record<string, number[]> = {};
  private readonly displayId = newDisplayId("vlab-live");
  private shown = false;
  private last = 0;
  private count = 0;

  constructor(private readonly opts: LivePlotOptions = {}) {}

  /** The figure so far. */
  get figure(): Plot {
    return linePlot({ ...this.opts, x: this.x, y: this.y });
  }

  /** Adds one point to each named series (x defaults to the number of pushes so far). */
  push(values: Record<string, number>, x?: number): void {
    const at = x ?? this.count;
    this.count++;
    for (const [name, v] of Object.entries(values)) {
      (this.x[name] ??= []).push(at);
      (this.y[name] ??= []).push(v);
    }
    const hook = kernelHook();
    if (!hook) return;
    const now = Date.now();
    if (this.shown && now - this.last < (this.opts.throttleMs ?? 500)) return;
    this.last = now;
    const fig = this.figure;
    sendBundle(
      { "image/svg+xml": figureSvg(fig), "text/plain": figureText(fig) },
      { displayId: this.displayId, update: this.shown },
    );
    this.shown = true;
  }

  /** Final rendering: the full interactive figure in a kernel, the text summary in a terminal. */
  done(): void {
    const fig = this.figure;
    if (kernelHook()) sendBundle(figureBundle(fig), { displayId: this.displayId, update: this.shown });
    else sendBundle({ "text/plain": figureText(fig) });
    this.shown = true;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return figureBundle(this.figure);
  }
}

export function livePlot(opts: LivePlotOptions = {}): LivePlot {
  return new LivePlot(opts);
}
