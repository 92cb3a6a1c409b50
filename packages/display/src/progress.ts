/**
 * A progress bar for training loops (the shape of @vlab/core's `Progress`: `update(step, metrics)` and `done()`).
 *
 * In the vlab kernel it is ONE display updated in place (at most ~5 updates a second, plus the final one):
 * a bar, step/total, elapsed time, ETA, rate and the latest metrics. In a terminal it is a single line
 * rewritten with `\r` (TTY), or a line every ~10% (logs, CI).
 */
import { escapeHtml, formatDuration, formatNumber, kernelHook } from "@vlab/core";
import { sendBundle } from "./display.js";
import { newDisplayId } from "./util.js";

export interface ProgressBar {
  update(step: number, metrics?: Record<string, number>): void;
  done(): void;
}

export interface ProgressOptions {
  title?: string;
  /** Minimum milliseconds between notebook updates (default 200, i.e. ~5 per second). */
  throttleMs?: number;
  /** Terminal output stream (default process.stderr, like tqdm). */
  stream?: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

interface State {
  step: number;
  total: number;
  elapsed: number; // seconds
  metrics: Record<string, number>;
  finished: boolean;
}

function rateText(step: number, elapsed: number): string {
  if (step <= 0 || elapsed <= 0) return "? it/s";
  const r = step / elapsed;
  return r >= 1
    ? `${formatNumber(Number(r.toPrecision(3)))} it/s`
    : `${formatNumber(Number((1 / r).toPrecision(3)))} s/it`;
}

function metricsText(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${formatNumber(v, 4)}`)
    .join(" ");
}

/** `title 45/100 [00:12<00:15, 3.6 it/s] loss=0.123` */
export function progressText(s: State, title?: string): string {
  const known = Number.isFinite(s.total) && s.total > 0;
  const eta = known && s.step > 0 ? (s.elapsed / s.step) * Math.max(0, s.total - s.step) : NaN;
  const count = known ? `${s.step}/${s.total}` : `${s.step}`;
  const pct = known ? `${String(Math.floor((100 * Math.min(s.step, s.total)) / s.total)).padStart(3)}% ` : "";
  const time =
    known && !s.finished && s.step < s.total
      ? `${formatDuration(s.elapsed)}<${formatDuration(eta)}`
      : formatDuration(s.elapsed);
  const m = metricsText(s.metrics);
  const stopped = s.finished && known && s.step < s.total ? " (stopped)" : "";
  return (
    `${title ? `${title}: ` : ""}${pct}${count} ` +
    `[${time}, ${rateText(s.step, s.elapsed)}]${m ? ` ${m}` : ""}${stopped}`
  );
}

function progressHtml(s: State, title?: string): string {
  const known = Number.isFinite(s.total) && s.total > 0;
  const frac = known ? Math.min(1, Math.max(0, s.step / s.total)) : s.finished ? 1 : 0;
  const color = s.finished ? (known && s.step < s.total ? "#d9822b" : "#2da44e") : "#4c8bf5";
  const bar =
    `<div style="display:inline-block;width:240px;height:12px;background:#e8e8e8;border-radius:3px;` +
    `vertical-align:middle;overflow:hidden">` +
    `<div style="width:${(frac * 100).toFixed(1)}%;height:100%;background:${color}"></div></div>`;
  const text = escapeHtml(progressText(s));
  const head = title ? `<b>${escapeHtml(title)}</b> ` : "";
  return `<div class="vlab-progress" style="font-family:monospace;font-size:12px">${head}${bar} ${text}</div>`;
}

/**
 * A progress bar over `total` steps:
 * `const p = progressBar(steps, { title: "train" }); p.update(i, { loss }); p.done();`.
 * `total` ≤ 0 or non-finite means unknown (no bar or ETA).
 */
export function progressBar(total: number, opts: ProgressOptions = {}): ProgressBar {
  const now = opts.now ?? (() => performance.now());
  const throttle = opts.throttleMs ?? 200;
  const start = now();
  const displayId = newDisplayId("vlab-progress");
  const state: State = { step: 0, total, elapsed: 0, metrics: {}, finished: false };
  let shown = false;
  let lastSent = -Infinity;
  let lastDecile = -1;
  let lastPrintedStep = -1;
  let lineLength = 0;
  let finished = false;

  const inKernel = () => kernelHook() !== undefined;
  const stream = () => opts.stream ?? process.stderr;

  const sendKernel = () => {
    sendBundle(
      { "text/html": progressHtml(state, opts.title), "text/plain": progressText(state, opts.title) },
      { displayId, ...(shown && { update: true }) },
    );
    shown = true;
  };

  const writeTerminal = (final: boolean) => {
    const out = stream();
    const text = progressText(state, opts.title);
    if (out.isTTY) {
      const cols = out.columns ?? 100;
      const line = text.length >= cols ? text.slice(0, cols - 1) : text;
      out.write(`\r${line}${" ".repeat(Math.max(0, lineLength - line.length))}${final ? "\n" : ""}`);
      lineLength = line.length;
      return;
    }
    const known = Number.isFinite(total) && total > 0;
    const decile = known
      ? Math.floor((10 * Math.min(state.step, total)) / total)
      : Math.floor(Math.log2(Math.max(1, state.step)));
    if (decile > lastDecile || (final && state.step !== lastPrintedStep)) {
      lastDecile = decile;
      lastPrintedStep = state.step;
      out.write(text + "\n");
    }
  };

  const render = (force: boolean) => {
    const t = now();
    if (!force && t - lastSent < throttle) return;
    lastSent = t;
    state.elapsed = (t - start) / 1000;
    if (inKernel()) sendKernel();
    else writeTerminal(state.finished);
  };

  if (inKernel()) render(true); // show the empty bar straight away

  return {
    update(step: number, metrics?: Record<string, number>) {
      if (finished) return;
      state.step = step;
      if (metrics) state.metrics = { ...metrics };
      render(Number.isFinite(total) && total > 0 && step >= total);
    },
    done() {
      if (finished) return;
      finished = true;
      state.finished = true;
      render(true);
    },
  };
}
