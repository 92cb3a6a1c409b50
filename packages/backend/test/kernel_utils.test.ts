// The helpers every wasm kernel shares (kernels/kernel_utils.ts), the leading-axes test of both Sum
// kernels (kernels/Sum.ts) and the registration of added and replacing kernels (kernels/register.ts).
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import "../src/backend.js";
import { bytesPer, input, size, type KernelArgs } from "../src/kernels/kernel_utils.js";
import { leadingAxes } from "../src/kernels/Sum.js";
import { registerWasmKernel } from "../src/kernels/register.js";

describe("kernel_utils", () => {
  it("sizes shapes and dtypes", () => {
    expect(size([])).toBe(1);
    expect(size([2, 3, 4])).toBe(24);
    expect(size([5, 0])).toBe(0);
    expect(bytesPer("float32")).toBe(4);
    expect(bytesPer("int32")).toBe(4);
    expect(bytesPer("bool")).toBe(1);
  });

  it("input names the kernel and the input that is missing", () => {
    const x = { dataId: {}, shape: [2], dtype: "float32" as const };
    const args = { inputs: { x }, backend: {}, attrs: {} } as unknown as KernelArgs;
    expect(input(args, "x", "Sum")).toBe(x);
    expect(() => input(args, "dy", "Conv2DBackpropFilter")).toThrow("Conv2DBackpropFilter: input 'dy' is missing");
  });
});

describe("leadingAxes", () => {
  it("normalises, deduplicates and sorts the axes, and says whether they lead", () => {
    expect(leadingAxes(0, 2)).toEqual({ axes: [0], leading: true });
    expect(leadingAxes([1, 0, -3], 3)).toEqual({ axes: [0, 1], leading: true });
    expect(leadingAxes(-1, 2)).toEqual({ axes: [1], leading: false });
    expect(leadingAxes([0, 1], 2)).toEqual({ axes: [0, 1], leading: false }); // every axis: not "leading"
    expect(leadingAxes([], 2)).toEqual({ axes: [], leading: false });
  });
});

describe("registerWasmKernel", () => {
  it("adds a kernel once, and replaces one keeping the original as its fallback", () => {
    const name = "VlabTestOnlyKernel";
    const kernelFunc: tf.KernelFunc = () => ({ dataId: {}, shape: [], dtype: "float32" });
    expect(registerWasmKernel({ kind: "added", kernelName: name, kernelFunc })).toBe(`${name} (wasm)`);
    expect(registerWasmKernel({ kind: "added", kernelName: name, kernelFunc })).toBeNull(); // already there
    let fallback: tf.KernelFunc | null = null;
    const label = registerWasmKernel({
      kind: "replaced",
      kernelName: name,
      label: "test",
      replace: (original) => {
        fallback = original;
        return original;
      },
    });
    expect(label).toBe(`${name} (wasm, test)`);
    expect(fallback).toBe(kernelFunc);
    const missing = {
      kind: "replaced" as const,
      kernelName: "VlabNoSuchKernel",
      label: "x",
      replace: (f: tf.KernelFunc) => f,
    };
    expect(registerWasmKernel(missing)).toBeNull();
    tf.unregisterKernel(name, "wasm");
  });
});
