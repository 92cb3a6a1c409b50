/**
 * `Conv2DBackpropFilter` for the wasm backend, which lacks it (tfjs-backend-wasm 4.22): the weight
 * gradient of `conv2d` (a ViT patch embedding). NHWC:
 *
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, ih, iw, ci] · dy[n, oh, ow, co]
 *   with ih = oh·sh + kh·dh − padTop, iw = ow·sw + kw·dw − padLeft
 *
 * NCHW runs the cpu backend's kernel (run_on_cpu.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { f32, input, type AddedKernel, type KernelArgs, type TensorInfo } from "./kernel_utils.js";
import { runOnCpu } from "./run_on_cpu.js";

interface Conv2DBackpropFilterAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  filterShape: [number, number, number, number];
}

function conv2DBackpropFilter(args: KernelArgs): TensorInfo | TensorInfo[] {
  // tfjs types a kernel's attrs as a generic map.
  const a = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  if (a.dataFormat === "NCHW") return runOnCpu("Conv2DBackpropFilter", args);
  const be = args.backend as BackendWasm;
  const x = input(args, "x", "Conv2DBackpropFilter");
  const dy = input(args, "dy", "Conv2DBackpropFilter");
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    "channelsLast",
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { outChannels: CO, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = be.makeOutput(a.filterShape, "float32");
  const dW = f32(be, out);
  dW.fill(0);
  const xv = f32(be, x);
  const dyv = f32(be, dy);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- computeConv2DInfo checked the shapes: ih < H,
     iw < W, ci < CI, co < CO, oh < OH, ow < OW index inside x [N, H, W, CI], dy [N, OH, OW, CO] and
     dW [KH, KW, CI, CO] */
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const wBase = (kh * KW + kw) * CI * CO;
      for (let n = 0; n < N; n++) {
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh + kh * dh - top;
          if (ih < 0 || ih >= H) continue;
          for (let ow = 0; ow < OW; ow++) {
            const iw = ow * sw + kw * dw - left;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((n * H + ih) * W + iw) * CI;
            const dyBase = ((n * OH + oh) * OW + ow) * CO;
            for (let ci = 0; ci < CI; ci++) {
              const xval = xv[xBase + ci]!;
              if (xval === 0) continue;
              const row = wBase + ci * CO;
              for (let co = 0; co < CO; co++) dW[row + co] += xval * dyv[dyBase + co]!;
            }
          }
        }
      }
    }
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  return out;
}

export const conv2DBackpropFilterConfig: AddedKernel = {
  kind: "added",
  kernelName: "Conv2DBackpropFilter",
  kernelFunc: conv2DBackpropFilter,
};
