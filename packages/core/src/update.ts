/**
 * One optimiser update, the step every vlab training loop shares (core's `train`, GRPO's trainer, the SFT
 * baseline): PyTorch's `loss.backward(); clip_grad_norm_(params, clip); optimizer.step()`, with a guard.
 *
 *   loss, g = value_and_grad(loss_fn)(params)        inside one tidy scope (tf.variableGrads)
 *   ‖g‖ = √(Σ ‖g_k‖²)                                 the global L2 norm (optim.ts `globalNorm`)
 *   stop if loss or ‖g‖ is NaN/Inf                    the bad update is NOT applied: the parameters keep
 *                                                      the values they had before it
 *   if ‖g‖ > clip: g ← g · clip / (‖g‖ + 1e-6)      as torch.nn.utils.clip_grad_norm_
 *   AdamW step at lr
 *
 * The loss function may also return `aux`, named scalars computed in the same forward pass (GRPO's KL,
 * clip ratios and entropy): they take no part in the gradient and are read with the loss.
 *
 * Memory: every tensor the update makes is freed before it returns, on an error too. Tensor values are read
 * after the scope that made them: reading inside a tidy is several times slower on the wasm backend.
 */
import * as tf from "@tensorflow/tfjs-core";
import { globalNorm, scaleGrads, type AdamW } from "./optim.js";

/** What a loss function returns: the scalar to minimise, or it and named side values (scalars) read with it. */
export type LossOutput<K extends string = never> = tf.Scalar | { loss: tf.Scalar; aux: Record<K, tf.Scalar> };

export interface UpdateOptions {
  /** The variables to differentiate and update (the optimizer's parameters). */
  vars: tf.Variable[];
  optimizer: AdamW;
  /** The learning rate of this update. */
  lr: number;
  /** Clip gradients to this global L2 norm; undefined: no clipping. */
  clip?: number;
  /** Who updates and where, for the error of a non-finite update: "train" and "step 3". */
  label: string;
  where: string;
}

export interface UpdateResult<K extends string = never> {
  loss: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  /** The values of the loss function's side scalars, by name. */
  aux: Record<K, number>;
}

/** Computes the gradients of `lossFn`, checks them, clips them and applies the optimizer step; see the file comment. */
export async function updateStep<K extends string = never>(
  lossFn: () => LossOutput<K>,
  opts: UpdateOptions,
): Promise<UpdateResult<K>> {
  const { vars, optimizer, lr, clip, label, where } = opts;
  // 1. Forward and backward in one scope; keep only the loss, the gradients, their norm and the side values
  //    (stacked into one tensor, to read them at once).
  let names: K[] = [];
  const { value, grads, norm, side } = tf.tidy(() => {
    let side: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const out = lossFn();
      if (!("aux" in out)) return out;
      names = Object.keys(out.aux) as K[];
      side = tf.keep(tf.stack(names.map((k) => out.aux[k])));
      return out.loss;
    }, vars);
    return { value, grads, norm: globalNorm(grads), side };
  });
  const made = [value, norm, ...Object.values(grads), ...(side ? [side] : [])];

  // 2. Read the scalars outside the scope, then guard against NaN / Inf.
  let loss: number, gradNorm: number;
  const aux = {} as Record<K, number>;
  try {
    const [l, n, s] = await Promise.all([value.data(), norm.data(), side?.data()]);
    [loss = NaN] = l;
    [gradNorm = NaN] = n;
    names.forEach((k, j) => {
      const v = s?.[j];
      if (v === undefined) throw new Error(`${label}: side value "${k}" of the loss at ${where} is missing`);
      aux[k] = v;
    });
  } catch (e) {
    tf.dispose(made);
    throw e;
  }
  if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
    tf.dispose(made);
    const what = !Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${gradNorm} (loss ${loss})`;
    throw new Error(
      `${label}: ${what} at ${where}; stopped before applying that update (the parameters keep their values)`,
    );
  }

  // 3. Clip (as clip_grad_norm_) and step.
  tf.tidy(() => {
    const g = clip !== undefined && gradNorm > clip ? scaleGrads(grads, clip / (gradNorm + 1e-6)) : grads;
    optimizer.step(g, lr);
  });
  tf.dispose(made);
  return { loss, gradNorm, aux };
}
