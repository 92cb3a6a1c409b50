/**
 * `UnsortedSegmentSum` for the wasm backend, which lacks it (tfjs-backend-wasm 4.22): the gradient of
 * `gather`, so of every embedding lookup; without it the tape stops with "Kernel 'UnsortedSegmentSum'
 * not registered for backend 'wasm'".
 *
 *   out[segmentIds[i], ...] += x[i, ...]          out: [numSegments, ...x.shape[ids.rank:]]
 *
 * One O(N·D) scatter-add (tfjs-backend-cpu's own version loops over all segments with full-size ops,
 * O(V·N·D)). Out-of-range ids are dropped, as TensorFlow does.
 */
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { heap, input, size, type AddedKernel, type KernelArgs, type TensorInfo } from "./kernel_utils.js";

function unsortedSegmentSum(args: KernelArgs): TensorInfo {
  const be = args.backend as BackendWasm;
  const x = input(args, "x", "UnsortedSegmentSum");
  const ids = input(args, "segmentIds", "UnsortedSegmentSum");
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  // segmentIds covers the leading dims of x; each id selects a row of `inner` values.
  const nIds = size(ids.shape);
  const inner = size(x.shape.slice(ids.shape.length));
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const out = be.makeOutput(outShape, x.dtype);
  const o = heap(be, out);
  o.fill(0);
  const xv = heap(be, x);
  const idv = heap(be, ids);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- i < nIds = ids' size; rows s < numSegments and
     j < inner lie inside out [numSegments, inner] and x [nIds, inner] */
  for (let i = 0; i < nIds; i++) {
    const s = idv[i]!;
    if (s < 0 || s >= numSegments) continue; // like TensorFlow: out-of-range ids are dropped
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += xv[src + j]!;
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return out;
}

export const unsortedSegmentSumConfig: AddedKernel = {
  kind: "added",
  kernelName: "UnsortedSegmentSum",
  kernelFunc: unsortedSegmentSum,
};
