/**
 * Optimisation: AdamW, global-norm gradient clipping, warmup + cosine learning-rate schedule.
 *
 * AdamW follows `torch.optim.AdamW` (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019)
 * step for step. For each parameter p with gradient g, at step t = 1, 2, ...:
 *
 *   p ← p − lr·λ·p                           decoupled weight decay, applied before the Adam update
 *   m ← β1·m + (1 − β1)·g                    first moment
 *   v ← β2·v + (1 − β2)·g²                   second moment
 *   p ← p − (lr / (1 − β1^t)) · m / ( √v / √(1 − β2^t) + ε )     bias-corrected; ε outside the sqrt
 */
import * as tf from "@tensorflow/tfjs-core";
import { faster } from "./faster.js";

/** Gradients by name (as `tf.variableGrads` returns them), or an array aligned with the parameters. */
export type Grads = Map<string, tf.Tensor> | Record<string, tf.Tensor> | (tf.Tensor | null | undefined)[];

export interface AdamWOptions {
  /** Learning rate (default 1e-3). Can be overridden per step: `opt.step(grads, lr)`. */
  lr?: number;
  /** Moment decay rates (β1, β2) (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator, outside the square root (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay λ (default 0.01, as in PyTorch). */
  weightDecay?: number;
  /**
   * Which parameters get weight decay (default: all, as `torch.optim.AdamW` with one param group).
   * nanoGPT's choice is `(name, p) => p.rank >= 2` (no decay on biases and norm gains).
   */
  decay?: (name: string, p: tf.Variable) => boolean;
}

/** Per-parameter optimizer state: the two moments and how many updates this parameter received. */
interface ParamState {
  expAvg: tf.Variable;
  expAvgSq: tf.Variable;
  step: number;
}

export class AdamW {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Parameters with stable names: given names, or their index ("0", "1", ...) for a plain array. */
  readonly params: [string, tf.Variable][];
  private readonly decayMask: boolean[];
  private readonly state = new Map<string, ParamState>();

  constructor(params: tf.Variable[] | [string, tf.Variable][], options: AdamWOptions = {}) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01, decay } = options;
    this.lr = lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.params = params.map((p, i): [string, tf.Variable] => (Array.isArray(p) ? [p[0], p[1]] : [String(i), p]));
    const seen = new Set<string>();
    for (const [name] of this.params) {
      if (seen.has(name)) throw new Error(`AdamW: duplicate parameter name "${name}"`);
      seen.add(name);
    }
    this.decayMask = this.params.map(([name, p]) => (decay ? decay(name, p) : true));
    // Allocate the moments now (PyTorch does it lazily) so that a training step's tensor count
    // does not change between the first step and the next: leak checks hold from step one.
    for (const [name, p] of this.params) this.stateFor(name, p);
  }

  private stateFor(name: string, p: tf.Variable): ParamState {
    let st = this.state.get(name);
    if (!st) {
      st = {
        expAvg: ownedVariable(tf.zeros(p.shape, "float32")),
        expAvgSq: ownedVariable(tf.zeros(p.shape, "float32")),
        step: 0,
      };
      this.state.set(name, st);
    }
    return st;
  }

  /** Number of optimizer steps taken (the largest per-parameter step count). */
  get stepCount(): number {
    let s = 0;
    for (const st of this.state.values()) s = Math.max(s, st.step);
    return s;
  }

  /**
   * One AdamW update. `grads` may be keyed by the parameter names given to the constructor or by
   * `variable.name` (what `tf.variableGrads` returns), or be an array aligned with the parameters.
   * Parameters without a gradient are skipped (their step count does not advance), as in PyTorch.
   * The gradients are not disposed: they belong to the caller.
   */
  step(grads: Grads, lr: number = this.lr): void {
    const [b1, b2] = this.betas;
    const { eps } = this;
    for (const [i, [name, p]] of this.params.entries()) {
      const g = lookupGrad(grads, i, name, p);
      if (g == null) continue;
      if (!arraysEqual(g.shape, p.shape)) {
        throw new Error(`AdamW: gradient for "${name}" has shape [${g.shape}], parameter has [${p.shape}]`);
      }
      const st = this.stateFor(name, p);
      st.step += 1;
      const t = st.step;
      const wd = this.decayMask[i] ? this.weightDecay : 0;
      const stepSize = lr / (1 - Math.pow(b1, t));
      const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
      const s = st;
      tf.tidy(() => {
        const g32 = g.dtype === "float32" ? g : tf.cast(g, "float32");
        // A faster kernel may do the whole update in one pass (faster.ts), same arithmetic as below.
        const fused =
          p.dtype === "float32"
            ? faster("adamwUpdate", p, g32, s.expAvg, s.expAvgSq, {
                beta1: b1,
                beta2: b2,
                eps,
                lrDecay: lr * wd,
                stepSize,
                bc2Sqrt,
              })
            : null;
        if (fused) {
          s.expAvg.assign(fused[1]);
          s.expAvgSq.assign(fused[2]);
          p.assign(fused[0]);
          return;
        }
        const m = tf.add(tf.mul(s.expAvg, b1), tf.mul(g32, 1 - b1)); // [..p.shape]
        const v = tf.add(tf.mul(s.expAvgSq, b2), tf.mul(tf.square(g32), 1 - b2));
        const decayed = wd !== 0 ? tf.mul(p, 1 - lr * wd) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        const update = tf.mul(tf.div(m, denom), stepSize);
        s.expAvg.assign(m);
        s.expAvgSq.assign(v);
        p.assign(tf.sub(decayed, update));
      });
    }
  }

  /**
   * The optimizer state as named tensors, for checkpoints: `<param>.exp_avg`, `<param>.exp_avg_sq`
   * (float32, the parameter's shape) and `<param>.step` (int32 scalar). The returned tensors are
   * fresh handles owned by the caller: dispose them (cheap: they share data with the live state).
   */
  stateDict(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name] of this.params) {
      const st = this.state.get(name);
      if (!st || st.step === 0) continue;
      out[`${name}.exp_avg`] = tf.clone(st.expAvg);
      out[`${name}.exp_avg_sq`] = tf.clone(st.expAvgSq);
      out[`${name}.step`] = tf.scalar(st.step, "int32");
    }
    return out;
  }

  /**
   * Restores state saved by `stateDict()` (the tensors are copied; the caller still owns them).
   * With `strict` (default), keys that match no parameter are an error.
   */
  loadStateDict(state: Record<string, tf.Tensor>, { strict = true }: { strict?: boolean } = {}): void {
    const used = new Set<string>();
    for (const [name, p] of this.params) {
      const m = state[`${name}.exp_avg`];
      const v = state[`${name}.exp_avg_sq`];
      const s = state[`${name}.step`];
      if (!m && !v && !s) continue;
      if (!m || !v || !s) {
        throw new Error(`AdamW.loadStateDict: incomplete state for "${name}" (need exp_avg, exp_avg_sq and step)`);
      }
      for (const [k, t] of [
        ["exp_avg", m],
        ["exp_avg_sq", v],
      ] as const) {
        if (!arraysEqual(t.shape, p.shape)) {
          throw new Error(`AdamW.loadStateDict: "${name}.${k}" has shape [${t.shape}], parameter has [${p.shape}]`);
        }
      }
      const [stepValue] = s.dataSync();
      if (stepValue === undefined) throw new Error(`AdamW.loadStateDict: "${name}.step" holds no value`);
      const step = Math.round(stepValue);
      const old = this.state.get(name);
      if (old) {
        old.expAvg.dispose();
        old.expAvgSq.dispose();
      }
      this.state.set(name, {
        expAvg: ownedVariable(tf.tidy(() => tf.cast(m, "float32").clone())),
        expAvgSq: ownedVariable(tf.tidy(() => tf.cast(v, "float32").clone())),
        step,
      });
      for (const k of ["exp_avg", "exp_avg_sq", "step"]) used.add(`${name}.${k}`);
    }
    if (strict) {
      const unknown = Object.keys(state).filter((k) => !used.has(k));
      if (unknown.length) {
        throw new Error(
          `AdamW.loadStateDict: keys match no parameter: ` +
            `${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ", ..." : ""}`,
        );
      }
    }
  }

  /** Frees the moment buffers (the parameters are not touched). */
  dispose(): void {
    for (const st of this.state.values()) {
      st.expAvg.dispose();
      st.expAvgSq.dispose();
    }
    this.state.clear();
  }
}

/** A non-trainable variable holding `init`'s data; `init` itself is disposed. */
function ownedVariable(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init, false);
  init.dispose();
  return v;
}

function lookupGrad(grads: Grads, i: number, name: string, p: tf.Variable): tf.Tensor | null | undefined {
  if (Array.isArray(grads)) return grads[i];
  if (grads instanceof Map) return grads.get(name) ?? grads.get(p.name);
  return Object.prototype.hasOwnProperty.call(grads, name) ? grads[name] : grads[p.name];
}

function arraysEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function gradList(grads: Grads): tf.Tensor[] {
  const list = Array.isArray(grads) ? grads : grads instanceof Map ? [...grads.values()] : Object.values(grads);
  return list.filter((g): g is tf.Tensor => g != null);
}

/** The global L2 norm over all gradients, √(Σ‖g‖²), as a scalar tensor (no GPU/CPU sync). */
export function globalNorm(grads: Grads): tf.Scalar {
  return tf.tidy(() => {
    const list = gradList(grads);
    if (list.length === 0) return tf.scalar(0);
    const sq = list.map((g) => tf.sum(tf.square(tf.cast(g, "float32"))));
    return tf.sqrt(tf.addN(sq)) as tf.Scalar;
  });
}

/** Multiplies every gradient by `factor`, keeping the container's shape (new tensors; inputs untouched). */
export function scaleGrads<G extends Grads>(grads: G, factor: number | tf.Scalar): G {
  const f = (g: tf.Tensor) => tf.mul(g, factor);
  if (Array.isArray(grads)) return grads.map((g) => (g == null ? g : f(g))) as G;
  if (grads instanceof Map) {
    const out = new Map<string, tf.Tensor>();
    for (const [k, g] of grads as Map<string, tf.Tensor>) out.set(k, f(g));
    return out as G;
  }
  const out: Record<string, tf.Tensor> = {};
  for (const [k, g] of Object.entries(grads)) out[k] = f(g);
  return out as G;
}

/**
 * Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`: when the global norm exceeds
 * `maxNorm`, every gradient is multiplied by maxNorm / (norm + 1e-6). Returns the (possibly new)
 * gradients in the same container type and the norm before clipping.
 *
 * Ownership: the input gradients are never disposed. When no clipping was needed the returned
 * container holds the very same tensors; otherwise new ones the caller must dispose (or call this
 * inside `tf.tidy`). Reading the norm is a sync point; `train` instead uses `globalNorm` and reads it
 * outside its tidy scope (reads inside a tidy are much slower on wasm).
 */
export function clipGradNorm<G extends Grads>(grads: G, maxNorm: number): { grads: G; norm: number } {
  const normT = globalNorm(grads);
  const [norm] = normT.dataSync();
  normT.dispose();
  if (norm === undefined) throw new Error("clipGradNorm: the global norm came back empty");
  if (!(norm > maxNorm)) return { grads, norm };
  return { grads: scaleGrads(grads, maxNorm / (norm + 1e-6)), norm };
}

export interface WarmupCosineOptions {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Steps of linear warmup from 0 (lr(0) = 0, lr(warmupSteps) = lr). */
  warmupSteps: number;
  /** Step at which the cosine reaches `minLr`; later steps stay at `minLr`. */
  totalSteps: number;
  /** Final learning rate (default 0). */
  minLr?: number;
}

/**
 * Linear warmup then cosine decay (as Hugging Face's `get_cosine_schedule_with_warmup`, plus a floor):
 *   step < warmup:  lr · step / warmup
 *   otherwise:      minLr + (lr − minLr) · ½ (1 + cos(π · min(1, (step − warmup) / (total − warmup))))
 */
export function warmupCosine({
  lr,
  warmupSteps,
  totalSteps,
  minLr = 0,
}: WarmupCosineOptions): (step: number) => number {
  return (step: number) => {
    if (step < warmupSteps) return (lr * step) / warmupSteps;
    const span = totalSteps - warmupSteps;
    const progress = span > 0 ? Math.min(1, (step - warmupSteps) / span) : 1;
    return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
