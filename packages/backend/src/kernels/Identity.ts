/**
 * `Identity` on wasm shares its input's buffer instead of copying it.
 *
 * tfjs-backend-wasm 4.22's Identity copies its input into a new buffer. The engine runs it for every
 * tensor a gradient needs later (`saveTensorsForBackwardMode` clones inputs and outputs of each
 * recorded op), so a training step made ~90 copies of activations (18 ms of a 350 ms step). Tensors
 * are immutable (a Variable's `assign` swaps its buffer), so sharing the buffer is safe: the output
 * takes a reference to the input's data, as the cpu backend's Identity and wasm's own Reshape do.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { input, type KernelArgs, type ReplacedKernel } from "./kernel_utils.js";

/** Identity sharing the buffer (strings keep `original`). */
export function makeIdentity(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = input(args, "x", "Identity");
    if (x.dtype === "string") return original(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

export const identityConfig: ReplacedKernel = {
  kind: "replaced",
  kernelName: "Identity",
  label: "shares the buffer",
  replace: makeIdentity,
};
