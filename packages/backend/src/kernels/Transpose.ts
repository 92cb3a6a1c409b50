/**
 * `Transpose` with the identity permutation on wasm shares the buffer (Identity.ts) instead of
 * copying it; gather's gradient makes such transposes. Other permutations keep the original kernel
 * (where the native addon is built, native_kernels/Transpose.ts runs in front of this).
 */
import type * as tf from "@tensorflow/tfjs-core";
import { makeIdentity } from "./Identity.js";
import type { KernelArgs, ReplacedKernel } from "./kernel_utils.js";

function makeTranspose(original: tf.KernelFunc): tf.KernelFunc {
  const identity = makeIdentity(original);
  return (args: KernelArgs) => {
    // tfjs types a kernel's attrs as a generic map.
    const { perm } = args.attrs as unknown as { perm: number[] };
    return perm.every((p, i) => p === i) ? identity(args) : original(args);
  };
}

export const transposeConfig: ReplacedKernel = {
  kind: "replaced",
  kernelName: "Transpose",
  label: "identity permutation shares the buffer",
  replace: makeTranspose,
};
