/**
 * `GatherV2` along axis 0 (embedding lookups) on wasm: whole rows copied.
 *
 * tfjs-backend-wasm 4.22's Gather computes every element's address in a generic loop (~100 ns per
 * element: 13 ms for 1024 rows of 128); copying whole rows (one memmove each inside the wasm memory)
 * is ~50x faster. Other axes, batch dims and dtypes keep the original kernel.
 *
 *   out[i, ...] = x[indices[i], ...]
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  address,
  heap,
  heapBytes,
  input,
  size,
  type KernelArgs,
  type ReplacedKernel,
  type TensorInfo,
} from "./kernel_utils.js";

function gatherRows(original: tf.KernelFunc, args: KernelArgs): TensorInfo | TensorInfo[] {
  const be = args.backend as BackendWasm;
  const x = input(args, "x", "GatherV2");
  const indices = input(args, "indices", "GatherV2");
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const parsedAxis = axis < 0 ? axis + x.shape.length : axis;
  const [rowsIn] = x.shape;
  if (
    parsedAxis !== 0 ||
    (batchDims ?? 0) !== 0 ||
    (x.dtype !== "float32" && x.dtype !== "int32") ||
    rowsIn === undefined
  ) {
    return original(args);
  }
  const inner = size(x.shape.slice(1));
  const n = size(indices.shape);
  const out = be.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const idx = heap(be, indices); // views and addresses after makeOutput (it may grow the memory)
  const bytes = heapBytes(be);
  const rowBytes = inner * 4;
  const src = address(be, x);
  const dst = address(be, out);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < n = the number of indices */
  for (let i = 0; i < n; i++) {
    const r = idx[i]!;
    if (!(r >= 0 && r < rowsIn)) {
      be.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${r} is not in [0, ${rowsIn - 1}]`);
    }
    bytes.copyWithin(dst + i * rowBytes, src + r * rowBytes, src + (r + 1) * rowBytes);
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return out;
}

export const gatherV2Config: ReplacedKernel = {
  kind: "replaced",
  kernelName: "GatherV2",
  label: "row copies for axis 0",
  replace: (original) => (args) => gatherRows(original, args),
};
