/**
 * A flat training loop, in the spirit of nanoGPT's train.py: one function you can read top to bottom.
 *
 *   for step in [start, steps):
 *     loss, grads = value_and_grad(loss_fn)(params)      (inside a tidy scope)
 *     stop if loss or ‖grads‖ is NaN/Inf                  (the bad update is NOT applied)
 *     clip grads to `clip` (global norm); AdamW step at lr(step)
 *     log / progress, eval every `evalEvery`, checkpoint every `checkpoint.every`
 *     yield to the event loop, stop cleanly on an interrupt (Jupyter interrupt or Ctrl-C)
 *
 * Memory: every tensor a step makes is freed by the end of the step (`tf.memory().numTensors` is the
 * same after each step). Tensor values are read after the scope that made them: reading inside a
 * tidy is several times slower on the wasm backend.
 */
import * as tf from "@tensorflow/tfjs-core";
import { existsSync } from "node:fs";
import { loadCheckpoint, saveCheckpoint, assignByName } from "./checkpoint.js";
import { interruptRequested, watchInterrupt } from "./kernel_hook.js";
import { AdamW, globalNorm, scaleGrads } from "./optim.js";

/** A progress display; `@vlab/display`'s progress bar implements it. */
export interface Progress {
  /** Called after each step with the number of completed steps and the latest metrics. */
  update(step: number, metrics?: Record<string, number>): void;
  /** Called once when training ends (done, interrupted, or failed). */
  done?(): void;
}

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
  /** The loss at `step` (pick the batch from `step`). Runs inside a tidy scope; must be synchronous. */
  loss: (step: number) => tf.Scalar;
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

const fmt = (x: number) => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(3));

/** Trains `params` to minimise `loss`; see the file comment for the loop. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { loss, steps, clip, evalEvery, evalFn, checkpoint, resume, progress } = opts;
  const t0 = performance.now();
  const named = namedTrainable(opts.params);
  const vars = named.map(([, v]) => v);
  if (vars.length === 0) throw new Error("train: no trainable parameters");
  const optimizer = opts.optimizer ?? new AdamW(named, { lr: typeof opts.lr === "number" ? opts.lr : 1e-3 });
  const lrAt = (step: number) => (typeof opts.lr === "function" ? opts.lr(step) : (opts.lr ?? optimizer.lr));
  const logEvery = opts.logEvery ?? Math.max(1, Math.round(steps / 10));

  let history: HistoryEntry[] = [];
  let evals: TrainResult["evals"] = [];
  let start = 0;

  // What a checkpoint saves as the model, and how a resume puts it back.
  const modelState = (): Record<string, tf.Tensor> => {
    if (checkpoint?.state) return checkpoint.state();
    if (isTrainableModule(opts.params) && typeof opts.params.stateDict === "function") return opts.params.stateDict();
    return Object.fromEntries(optimizer.params);
  };
  const save = (completed: number) => {
    if (!checkpoint) return;
    // A tidy: tensors that state() creates (copies, casts) are freed once written.
    tf.tidy(() =>
      saveCheckpoint(checkpoint.path, { model: modelState(), optimizer, step: completed, history: { history, evals } }),
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

  let stopped = "done" as TrainResult["stopped"];
  let completed = start;
  let tLog = performance.now();
  let lastEval: Record<string, number> = {};

  const loop = async () => {
    for (let step = start; step < steps; step++) {
      if (interruptRequested()) {
        stopped = "interrupted";
        break;
      }
      const lr = lrAt(step);

      // 1. Forward and backward in one scope; keep only the loss, the gradients and their norm.
      const { value, grads, norm } = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => loss(step), vars);
        return { value, grads, norm: globalNorm(grads) };
      });

      // 2. Read the two scalars outside the scope, then guard against NaN / Inf.
      let lossVal: number, normVal: number;
      try {
        const [l, n] = await Promise.all([value.data(), norm.data()]);
        lossVal = l[0]!;
        normVal = n[0]!;
      } catch (e) {
        tf.dispose([value, grads, norm]);
        throw e;
      }
      if (!Number.isFinite(lossVal) || !Number.isFinite(normVal)) {
        tf.dispose([value, grads, norm]);
        const what = !Number.isFinite(lossVal) ? `loss is ${lossVal}` : `gradient norm is ${normVal} (loss ${lossVal})`;
        throw new Error(
          `train: ${what} at step ${step}; stopped before applying that update (parameters keep their step-${step} values)`,
        );
      }

      // 3. Clip (as clip_grad_norm_: scale by clip / (norm + 1e-6) when norm > clip) and update.
      tf.tidy(() => {
        const g = clip !== undefined && normVal > clip ? scaleGrads(grads, clip / (normVal + 1e-6)) : grads;
        optimizer.step(g, lr);
      });
      tf.dispose([value, grads, norm]);

      completed = step + 1;
      const entry: HistoryEntry = { step, loss: lossVal, lr, gradNorm: normVal };
      history.push(entry);

      // 4. Evaluate, report, checkpoint.
      if (evalFn && ((evalEvery && completed % evalEvery === 0) || completed === steps)) {
        lastEval = await evalFn(step);
        evals.push({ step, ...lastEval });
      }
      if (progress) {
        progress.update(completed, { loss: lossVal, lr, gradNorm: normVal, ...lastEval });
      } else if (completed % logEvery === 0 || completed === steps) {
        const now = performance.now();
        const n = completed % logEvery === 0 ? logEvery : completed % logEvery;
        const ev = Object.entries(lastEval)
          .map(([k, v]) => ` | ${k} ${fmt(v)}`)
          .join("");
        console.log(
          `step ${completed}/${steps} | loss ${fmt(lossVal)} | lr ${lr.toExponential(2)} | gnorm ${fmt(normVal)}${ev} | ${((now - tLog) / n).toFixed(1)} ms/step`,
        );
        tLog = now;
      }
      if (checkpoint && completed % checkpoint.every === 0 && completed !== steps) save(completed);

      // 5. Let the event loop run, so an interrupt (or anything else queued) can be delivered.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (checkpoint && completed > start) save(completed);
  };

  try {
    await watchInterrupt(loop);
  } finally {
    progress?.done?.();
  }
  if (stopped === "interrupted" && !progress) console.log(`interrupted after step ${completed}`);
  return { steps: completed, history, evals, stopped, wallMs: performance.now() - t0, optimizer };
}
