/**
 * Training checkpoints: one safetensors file holding everything needed to resume exactly.
 *
 *   <name>                 model tensors, by their stateDict names (so the file doubles as a weights file)
 *   optim.<param>.exp_avg  optimizer state (AdamW moments and per-parameter step counts)
 *   __metadata__           { format, step, history (JSON), extra (JSON), optim.hparams (JSON) }
 *
 * Writes are atomic (temporary file, fsync, rename): a crash mid-save leaves the previous
 * checkpoint intact, and its orphaned temporary file is removed by the next save or load.
 */
import * as tf from "@tensorflow/tfjs-core";
import { AdamW } from "./optim.js";
import {
  atomicWrite,
  encodeSafetensors,
  loadSafetensors,
  quoteName,
  readSafetensorsHeader,
  removeStaleTempFiles,
  tensorToEncode,
  type TensorToEncode,
} from "./safetensors.js";

export const CHECKPOINT_FORMAT = "vlab.checkpoint/1";
const OPTIM = "optim.";

export interface CheckpointState {
  /** Model tensors by name (a `stateDict()`); they are read, not disposed. */
  model: Record<string, tf.Tensor>;
  /** The optimizer (its state is saved under `optim.`), or its `stateDict()` directly. */
  optimizer?: AdamW | Record<string, tf.Tensor>;
  /** Number of completed training steps. */
  step: number;
  /** Anything JSON-able (loss curves ...). */
  history?: unknown;
  /** More JSON-able values (config, RNG seeds, data position ...). */
  extra?: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  /** Model tensors (owned by the caller: dispose them, or let `restoreCheckpoint` do it). */
  tensors: Record<string, tf.Tensor>;
  /** Optimizer state with the `optim.` prefix removed, ready for `AdamW.loadStateDict` (caller owns). */
  optimizerState: Record<string, tf.Tensor>;
  step: number;
  history: unknown;
  extra: Record<string, unknown>;
  /** The optimizer's hyper-parameters when saved (informational). */
  optimizerHparams?: Record<string, unknown>;
}

/** Saves a training checkpoint to `path` atomically (`dtype` applies to the model's float tensors). */
export function saveCheckpoint(
  path: string,
  state: CheckpointState,
  { dtype = "F32" }: { dtype?: "F32" | "F16" | "BF16" } = {},
): void {
  const { model, optimizer, step, history, extra } = state;
  if (!Number.isInteger(step) || step < 0)
    throw new Error(`saveCheckpoint: step must be a non-negative integer, got ${step}`);
  tf.tidy(() => {
    // Inside a tidy: an optimizer's stateDict() hands out fresh handles, freed when we are done.
    const enc = Object.create(null) as Record<string, TensorToEncode>; // no prototype: any name is a key
    for (const [k, t] of Object.entries(model)) {
      if (k.startsWith(OPTIM))
        throw new Error(`saveCheckpoint: model tensor ${quoteName(k)} uses the reserved prefix "${OPTIM}"`);
      enc[k] = tensorToEncode(k, t, dtype);
    }
    const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT, step: String(step) };
    if (optimizer) {
      const sd = optimizer instanceof AdamW ? optimizer.stateDict() : optimizer;
      // Optimizer moments always stay F32 so that a resume is exact.
      for (const [k, t] of Object.entries(sd)) enc[OPTIM + k] = tensorToEncode(OPTIM + k, t, "F32");
      if (optimizer instanceof AdamW) {
        const { lr, betas, eps, weightDecay } = optimizer;
        metadata["optim.hparams"] = JSON.stringify({ type: "AdamW", lr, betas, eps, weightDecay });
      }
    }
    if (history !== undefined) metadata.history = JSON.stringify(history);
    if (extra !== undefined) metadata.extra = JSON.stringify(extra);
    atomicWrite(path, encodeSafetensors(enc, metadata));
  });
}

function parseJson(path: string, key: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`checkpoint ${path}: __metadata__.${key} is not valid JSON (${(e as Error).message})`, {
      cause: e,
    });
  }
}

/** Loads a checkpoint written by `saveCheckpoint`. Errors name the file and the fault. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  removeStaleTempFiles(path); // temp files of saves killed mid-write (see atomicWrite)
  const header = readSafetensorsHeader(path);
  const meta = header.metadata ?? {};
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `checkpoint ${path}: not a vlab checkpoint (__metadata__.format is ${JSON.stringify(meta.format)}, expected ` +
        `"${CHECKPOINT_FORMAT}")`,
    );
  }
  const step = Number(meta.step);
  if (!Number.isInteger(step) || step < 0)
    throw new Error(`checkpoint ${path}: invalid step ${JSON.stringify(meta.step)}`);
  const history = parseJson(path, "history", meta.history);
  const extra = (parseJson(path, "extra", meta.extra) ?? {}) as Record<string, unknown>;
  const optimizerHparams = parseJson(path, "optim.hparams", meta["optim.hparams"]) as
    Record<string, unknown> | undefined;
  const all = loadSafetensors(path);
  // No prototype: a tensor named "__proto__" or "constructor" is kept like any other.
  const tensors = Object.create(null) as Record<string, tf.Tensor>;
  const optimizerState = Object.create(null) as Record<string, tf.Tensor>;
  for (const [k, t] of Object.entries(all)) {
    if (k.startsWith(OPTIM)) optimizerState[k.slice(OPTIM.length)] = t;
    else tensors[k] = t;
  }
  return { tensors, optimizerState, step, history, extra, ...(optimizerHparams ? { optimizerHparams } : {}) };
}

/** Something whose weights a checkpoint can restore: a Module, or named / positional variables. */
export type Restorable =
  | { loadStateDict(tensors: Record<string, tf.Tensor>, options?: { strict?: boolean }): unknown }
  | [string, tf.Variable][]
  | tf.Variable[];

/**
 * Assigns tensors to variables by name (`[name, variable]` pairs, or a plain array named "0", "1", ...
 * as `AdamW` names it). With `strict` (default), every variable must be present and every tensor used.
 */
export function assignByName(
  vars: [string, tf.Variable][] | tf.Variable[],
  tensors: Record<string, tf.Tensor>,
  { strict = true, label = "assignByName" }: { strict?: boolean; label?: string } = {},
): void {
  const named = vars.map((v, i): [string, tf.Variable] =>
    Array.isArray(v) ? (v as [string, tf.Variable]) : [String(i), v as tf.Variable],
  );
  const used = new Set<string>();
  for (const [name, v] of named) {
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined; // never an inherited "constructor"
    if (!t) {
      if (strict) throw new Error(`${label}: missing tensor ${quoteName(name)}`);
      continue;
    }
    if (t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) {
      throw new Error(
        `${label}: ${quoteName(name)} has shape [${t.shape}] in the checkpoint, [${v.shape}] in the model`,
      );
    }
    v.assign(t.dtype === v.dtype ? t : tf.tidy(() => tf.cast(t, v.dtype)));
    used.add(name);
  }
  if (strict) {
    const unused = Object.keys(tensors).filter((k) => !used.has(k));
    if (unused.length)
      throw new Error(
        `${label}: unexpected tensors ${unused
          .slice(0, 5)
          .map((k) => quoteName(k))
          .join(", ")}${unused.length > 5 ? ", ..." : ""}`,
      );
  }
}

/**
 * Restores a checkpoint (a path, or what `loadCheckpoint` returned) into a model and optimizer,
 * then frees the loaded tensors. Returns the step, history and extras.
 */
export function restoreCheckpoint(
  source: string | LoadedCheckpoint,
  { model, optimizer, strict = true }: { model?: Restorable; optimizer?: AdamW; strict?: boolean } = {},
): { step: number; history: unknown; extra: Record<string, unknown> } {
  const ck = typeof source === "string" ? loadCheckpoint(source) : source;
  const label = typeof source === "string" ? `checkpoint ${source}` : "restoreCheckpoint";
  try {
    if (model) {
      if (Array.isArray(model)) assignByName(model, ck.tensors, { strict, label });
      else model.loadStateDict(ck.tensors, { strict });
    }
    if (optimizer) optimizer.loadStateDict(ck.optimizerState, { strict });
  } finally {
    tf.dispose(ck.tensors);
    tf.dispose(ck.optimizerState);
  }
  return { step: ck.step, history: ck.history, extra: ck.extra };
}
