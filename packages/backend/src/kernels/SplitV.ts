/**
 * `SplitV` (`tf.split`) on wasm: one heap-to-heap slice per output (Slice.ts).
 *
 * tfjs-backend-wasm 4.22's SplitV calls its slow Slice (a copy of the whole input first) once per
 * output: splitting attention's fused qkv projection [32, 64, 384] took 35 ms, now well under 1 ms.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { input, type KernelArgs, type ReplacedKernel } from "./kernel_utils.js";
import { sliceFromHeap } from "./Slice.js";

function makeSplitV(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = input(args, "x", "SplitV");
    if (x.dtype === "string") return original(args);
    // tfjs types a kernel's attrs as a generic map.
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const [ax] = tf.util.parseAxisParam(axis, x.shape);
    if (ax === undefined) throw new Error(`SplitV: no axis ${axis} in x [${x.shape}]`);
    // prepareSplitSize takes a Tensor where a TensorInfo suffices.
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    let offset = 0;
    return sizes.map((s) => {
      const extent = [...x.shape];
      extent[ax] = s;
      begin[ax] = offset;
      const part = sliceFromHeap(args.backend as BackendWasm, x, [...begin], extent);
      offset += s;
      return part;
    });
  };
}

export const splitVConfig: ReplacedKernel = {
  kind: "replaced",
  kernelName: "SplitV",
  label: "memmove per contiguous run",
  replace: makeSplitV,
};
