// @vlab/core's face of the backend: initBackend and describeBackend from @vlab/backend, with the
// Jupyter display added here (the backend's own tests are in packages/backend/test).
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { configureNativeKernels, describeBackend, initBackend } from "../src/backend.js";
import { JUPYTER_DISPLAY } from "../src/kernel_hook.js";

describe("describeBackend", () => {
  it("displays itself in Jupyter", async () => {
    await initBackend("wasm", { threads: 2 });
    const info = describeBackend();
    const bundle = info[JUPYTER_DISPLAY]() as Record<string, string>;
    expect(bundle["text/plain"]).toMatch(/backend wasm · 2 threads · SIMD/);
    expect(bundle["text/plain"]).toContain("UnsortedSegmentSum");
    expect(bundle["text/html"]).toMatch(/<table/);
    expect(bundle["text/html"]).toContain("UnsortedSegmentSum (wasm)<br>");
    // the display method does not pollute JSON or key listings
    expect(Object.keys(info)).toEqual(
      expect.arrayContaining(["name", "threads", "gpu", "version", "registeredByVlab"]),
    );
    expect(Object.keys(info)).toHaveLength(Object.keys(JSON.parse(JSON.stringify(info)) as object).length);
    expect(JSON.parse(JSON.stringify(info)).name).toBe("wasm");
  });

  it("initBackend returns the same, displayable", async () => {
    const info = await initBackend("cpu");
    expect(info).toMatchObject({ name: "cpu", threads: 1, gpu: null });
    expect(tf.getBackend()).toBe("cpu");
    expect((info[JUPYTER_DISPLAY]() as Record<string, string>)["text/plain"]).toMatch(
      /^backend cpu · 1 thread · no GPU/,
    );
    await initBackend("wasm");
  });

  it("says whether the native kernels run, in text and in the table", async () => {
    await initBackend("wasm");
    const { native } = describeBackend();
    expect(native).toBeDefined();
    const bundle = describeBackend()[JUPYTER_DISPLAY]() as Record<string, string>;
    if (native?.active) {
      expect(bundle["text/plain"]).toMatch(/native kernels \(/);
      configureNativeKernels({ enabled: false });
      const off = describeBackend()[JUPYTER_DISPLAY]() as Record<string, string>;
      expect(off["text/plain"]).toContain("no native kernels: switched off (configureNativeKernels)");
      expect(off["text/html"]).toContain('<th style="text-align:left;padding-right:1em">native</th>');
      configureNativeKernels({ enabled: true });
    } else {
      expect(bundle["text/plain"]).toContain("no native kernels:");
    }
  });
});
