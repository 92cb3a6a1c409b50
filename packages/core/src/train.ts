/**
 * The training loop, in the spirit of nanoGPT's train.py: one loop you can read top to bottom, shared by
 * every trainer in vlab. `trainLoop` runs a step hook; `train` is that loop with the classic step.
 *
 *   for step in [start, steps):
 *     stop cleanly if an interrupt was asked for (Jupyter's interrupt button, or Ctrl-C)
 *     m = stepHook(step)                 train: one update (update.ts); GRPO: sample → score → advantages → update
 *     progress bar, or a log line every `logEvery` steps
 *     checkpoint every `checkpoint.every` steps
 *     onStep(m, step); yield to the event loop (so an interrupt can arrive)
 *   checkpoint at the end, and after an interrupt
 *
 * `train`'s step hook: loss, grads = value_and_grad(loss_fn)(params); stop on a NaN/Inf loss or gradient
 * norm (the bad update is NOT applied); clip to `clip` (global norm); AdamW at lr(step); evaluate every
 * `evalEvery` steps. Its checkpoint holds the weights, the AdamW moments, the step and the history, so a
 * resumed run continues exactly as an uninterrupted one.
 *
 * Memory: every tensor a step makes is freed by the end of the step (`tf.memory().numTensors` is the
 * same after each step).
 */
import * as tf from "@tensorflow/tfjs-core";
import { existsSync } from "node:fs";
import { loadCheckpoint, saveCheckpoint, assignByName } from "./checkpoint.js";
import { formatNumber } from "./format.js";
import { interruptRequested, watchInterrupt } from "./kernel_hook.js";
import { warnIfSlowDefault } from "./backend.js";
import { AdamW } from "./optim.js";
import { updateStep, type LossOutput } from "./update.js";

/** A progress display; `@vlab/display`'s progress bar implements it. */
export interface Progress {
  /** Called after each step with the number of completed steps and the latest metrics. */
  update(step: number, metrics?: Record<string, number>): void;
  /** Called once when training ends (done, interrupted, or failed). */
  done?(): void;
}

// --- the loop -----------------------------------------------------------------------------------

export interface LoopOptions<M> {
  /** Who runs the loop, for its errors: "train", "GrpoTrainer.train". */
  label: string;
  /** The first step to run: the steps a resumed run has already completed (0 for a new run). */
  start: number;
  /** Run until this many steps are completed. */
  steps: number;
  /** The step hook: runs step `step`, its update included, and returns what the step logged. */
  step: (step: number) => Promise<M> | M;
  /** The numbers of a step's result that the progress display and the log lines show. */
  show: (m: M) => Record<string, number>;
  /** Called after each step and its checkpoint. */
  onStep?: (m: M, step: number) => void | Promise<void>;
  /** Writes a checkpoint every `every` completed steps, at the end, and after an interrupt. */
  checkpoint?: { every: number; save: (completed: number) => void };
  /** Progress display (default: a log line every `logEvery` steps on stdout). */
  progress?: Progress;
  /** Log every this many steps when there is no `progress` (default: about 10 lines per run). */
  logEvery?: number;
}

export interface LoopResult {
  /** Completed steps (including those done before a resume). */
  completed: number;
  stopped: "done" | "interrupted";
}

/** One log line: `step 20/100 | loss 0.4127 | lr 1e-3 | 12.5 ms/step`. */
export function progressLine(completed: number, steps: number, shown: Record<string, number>, msPerStep: number) {
  const fields = Object.entries(shown).map(([k, v]) => `${k} ${formatNumber(v)}`);
  return [`step ${completed}/${steps}`, ...fields, `${formatNumber(msPerStep, 3)} ms/step`].join(" | ");
}

/** Runs `step` for the steps [start, steps) with progress, checkpoints and a clean stop; see the file comment. */
export async function trainLoop<M>(opts: LoopOptions<M>): Promise<LoopResult> {
  const { label, start, steps, step: runStep, show, onStep, checkpoint, progress } = opts;
  if (checkpoint && !(Number.isInteger(checkpoint.every) && checkpoint.every >= 1))
    throw new Error(`${label}: checkpoint.every must be a positive integer, got ${checkpoint.every}`);
  warnIfSlowDefault(label);
  const logEvery = opts.logEvery ?? Math.max(1, Math.round(steps / 10));
  let completed = start;
  let tLog = performance.now();

  const loop = async (): Promise<LoopResult["stopped"]> => {
    let stopped: LoopResult["stopped"] = "done";
    for (let step = start; step < steps; step++) {
      if (interruptRequested()) {
        stopped = "interrupted";
        break;
      }
      const m = await runStep(step);
      completed = step + 1;
      const shown = show(m);
      if (progress) {
        progress.update(completed, shown);
      } else if (completed % logEvery === 0 || completed === steps) {
        const now = performance.now();
        const n = completed % logEvery === 0 ? logEvery : completed % logEvery;
        console.log(progressLine(completed, steps, shown, (now - tLog) / n));
        tLog = now;
      }
      if (checkpoint && completed % checkpoint.every === 0 && completed !== steps) checkpoint.save(completed);
      await onStep?.(m, step);
      await new Promise<void>((resolve) => setImmediate(resolve)); // let an interrupt (or anything queued) arrive
    }
    if (checkpoint && completed > start) checkpoint.save(completed);
    return stopped;
  };

  let stopped: LoopResult["stopped"];
  try {
    stopped = await watchInterrupt(loop);
  } finally {
    progress?.done?.();
  }
  if (stopped === "interrupted" && !progress) console.log(`interrupted after step ${completed}`);
  return { completed, stopped };
}

// --- train: the loop with one update per step ---------------------------------------------------

/** What `train` accepts as the parameters: variables, or a Module-like object. */
export interface TrainableModule {
  trainableParameters(): tf.Variable[];
  namedParameters?(): [string, tf.Variable][];
  stateDict?(): Record<string, tf.Tensor>;
  loadStateDict?(tensors: Record<string, tf.Tensor>, options?: { strict?: boolean }): unknown;
}

export interface TrainOptions {
  /** The parameters to train: variables, or a Module (its trainable parameters, with their names). */
  params: tf.Variable[] | TrainableModule;
  /**
   * The loss at `step` (pick the batch from `step`). Runs inside a tidy scope; must be synchronous. It may also return
   * named side scalars (`{ loss, aux }`, update.ts): their values are recorded in each step's history entry.
   */
  loss: (step: number) => LossOutput<string>;
  /** Total number of steps (a resumed run continues up to this many). */
  steps: number;
  /** Default: `new AdamW(params, { lr: 1e-3 })` (or `lr` if it is a number); returned in the result. */
  optimizer?: AdamW;
  /** Learning rate: a constant, or a schedule `step => lr` such as `warmupCosine(...)`. Default: the optimizer's. */
  lr?: number | ((step: number) => number);
  /** Clip gradients to this global L2 norm (`clip_grad_norm_`). */
  clip?: number;
  /** Run `evalFn` after every `evalEvery` steps, and after the last step. */
  evalEvery?: number;
  evalFn?: (step: number) => Promise<Record<string, number>> | Record<string, number>;
  /** Save a checkpoint every `every` steps, at the end, and on interrupt. */
  checkpoint?: {
    path: string;
    every: number;
    /** The model tensors to save (default: the Module's `stateDict()`, or the named variables). */
    state?: () => Record<string, tf.Tensor>;
  };
  /** Continue from `checkpoint.path` if it exists: weights, optimizer moments, step and history. */
  resume?: boolean;
  /** Progress display (default: a log line every `logEvery` steps on stdout). */
  progress?: Progress;
  /** Log every this many steps when there is no `progress` (default: about 10 lines per run). */
  logEvery?: number;
}

export interface HistoryEntry {
  step: number;
  loss: number;
  lr: number;
  gradNorm?: number;
  [k: string]: number | undefined;
}

export interface TrainResult {
  /** Completed steps (including those done before a resume). */
  steps: number;
  /** One entry per completed step. */
  history: HistoryEntry[];
  /** One entry per evaluation: `{ step, ...metrics }`. */
  evals: ({ step: number } & Record<string, number>)[];
  stopped: "done" | "interrupted";
  /** Wall time of this call, in ms. */
  wallMs: number;
  /** The optimizer used (the default one is created here: dispose it when you are done with it). */
  optimizer: AdamW;
}

function isTrainableModule(p: TrainOptions["params"]): p is TrainableModule {
  return !Array.isArray(p) && typeof (p as TrainableModule).trainableParameters === "function";
}

/** The trainable parameters with stable names (Module names, or "0", "1", ... for an array). */
function namedTrainable(params: TrainOptions["params"]): [string, tf.Variable][] {
  if (!isTrainableModule(params)) return params.map((v, i): [string, tf.Variable] => [String(i), v]);
  if (typeof params.namedParameters === "function") return params.namedParameters().filter(([, v]) => v.trainable);
  return params.trainableParameters().map((v, i): [string, tf.Variable] => [String(i), v]);
}

/** Trains `params` to minimise `loss`; see the file comment. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { loss, steps, clip, evalEvery, evalFn, checkpoint, resume, progress } = opts;
  const t0 = performance.now();
  const named = namedTrainable(opts.params);
  const vars = named.map(([, v]) => v);
  if (vars.length === 0) throw new Error("train: no trainable parameters");
  const optimizer = opts.optimizer ?? new AdamW(named, { lr: typeof opts.lr === "number" ? opts.lr : 1e-3 });
  const lrAt = (step: number) => (typeof opts.lr === "function" ? opts.lr(step) : (opts.lr ?? optimizer.lr));

  let history: HistoryEntry[] = [];
  let evals: TrainResult["evals"] = [];
  let start = 0;

  // What a checkpoint saves as the model, and how a resume puts it back.
  const modelState = (): Record<string, tf.Tensor> => {
    if (checkpoint?.state) return checkpoint.state();
    if (isTrainableModule(opts.params) && typeof opts.params.stateDict === "function") return opts.params.stateDict();
    return Object.fromEntries(optimizer.params);
  };
  const save = (path: string, completed: number) => {
    // A tidy: tensors that state() creates (copies, casts) are freed once written.
    tf.tidy(() =>
      saveCheckpoint(path, { model: modelState(), optimizer, step: completed, history: { history, evals } }),
    );
  };

  if (resume && checkpoint && existsSync(checkpoint.path)) {
    const ck = loadCheckpoint(checkpoint.path);
    try {
      const p = opts.params;
      if (isTrainableModule(p) && typeof p.loadStateDict === "function") p.loadStateDict(ck.tensors, { strict: true });
      else
        assignByName(optimizer.params, ck.tensors, {
          strict: !checkpoint.state,
          label: `checkpoint ${checkpoint.path}`,
        });
      optimizer.loadStateDict(ck.optimizerState);
    } finally {
      tf.dispose(ck.tensors);
      tf.dispose(ck.optimizerState);
    }
    start = ck.step;
    const h = ck.history as { history?: HistoryEntry[]; evals?: TrainResult["evals"] } | undefined;
    history = h?.history ?? [];
    evals = h?.evals ?? [];
    if (!progress) console.log(`resumed from ${checkpoint.path} at step ${start}`);
  }

  let lastEval: Record<string, number> = {};
  const { completed, stopped } = await trainLoop<HistoryEntry & { gradNorm: number }>({
    label: "train",
    start,
    steps,
    progress,
    logEvery: opts.logEvery,
    checkpoint: checkpoint && { every: checkpoint.every, save: (completed) => save(checkpoint.path, completed) },
    step: async (step) => {
      const lr = lrAt(step);
      const u = await updateStep(() => loss(step), {
        vars,
        optimizer,
        lr,
        clip,
        label: "train",
        where: `step ${step}`,
      });
      const entry = { ...u.aux, step, loss: u.loss, lr, gradNorm: u.gradNorm };
      history.push(entry);
      const completed = step + 1;
      if (evalFn && ((evalEvery && completed % evalEvery === 0) || completed === steps)) {
        lastEval = await evalFn(step);
        evals.push({ step, ...lastEval });
      }
      return entry;
    },
    show: (e) => ({ loss: e.loss, lr: e.lr, gradNorm: e.gradNorm, ...lastEval }),
  });
  return { steps: completed, history, evals, stopped, wallMs: performance.now() - t0, optimizer };
}
