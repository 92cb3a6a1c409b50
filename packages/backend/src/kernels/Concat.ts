/**
 * `Concat` (the gradient of split) on wasm: one memmove per row and input inside the wasm memory.
 *
 * tfjs-backend-wasm 4.22's Concat copies row by row through `subarray` + `set`, allocating a view
 * per row; here each row of each input is one `HEAPU8.copyWithin`.
 *
 *   out[r, :] = [x0[r, :], x1[r, :], ...]          r over the axes before `axis`
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  address,
  bytesPer,
  heapBytes,
  size,
  type KernelArgs,
  type ReplacedKernel,
  type TensorInfo,
} from "./kernel_utils.js";

function makeConcat(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    // Concat takes its inputs as an array (typed as a named map).
    const inputs = args.inputs as unknown as TensorInfo[];
    const [first] = inputs;
    if (!first || inputs.some((t) => t.dtype === "string" || t.dtype !== first.dtype)) return original(args);
    const be = args.backend as BackendWasm;
    // tfjs types a kernel's attrs as a generic map.
    const [axis] = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, first.shape);
    if (axis === undefined) throw new Error(`Concat: no axis in [${first.shape}]`);
    tf.backend_util.assertParamsConsistent(
      inputs.map((t) => t.shape),
      axis,
    );
    const outShape = tf.backend_util.computeOutShape(
      inputs.map((t) => t.shape),
      axis,
    );
    const out = be.makeOutput(outShape, first.dtype);
    if (size(outShape) === 0) return out;
    const bytes = heapBytes(be);
    const eb = bytesPer(first.dtype);
    const rows = size(outShape.slice(0, axis));
    const rowBytes = inputs.reduce((a, t) => a + size(t.shape.slice(axis)) * eb, 0);
    const dst = address(be, out);
    let col = 0;
    for (const t of inputs) {
      const run = size(t.shape.slice(axis)) * eb; // bytes per row of this input
      if (run > 0) {
        const src = address(be, t);
        for (let r = 0; r < rows; r++) bytes.copyWithin(dst + r * rowBytes + col, src + r * run, src + (r + 1) * run);
      }
      col += run;
    }
    return out;
  };
}

export const concatConfig: ReplacedKernel = {
  kind: "replaced",
  kernelName: "Concat",
  label: "one memmove per row and input",
  replace: makeConcat,
};
