import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { bundleText, display, html, isDisplayable, markdown, md, svg, toMimeBundle } from "../src/display.js";
import { installFakeKernel } from "./helpers.js";

const JD = Symbol.for("Jupyter.display");
const PNG_1x1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});

describe("toMimeBundle", () => {
  it("uses an object's own Jupyter.display method", () => {
    const obj = { [JD]: () => ({ "text/markdown": "# hi" }) };
    expect(isDisplayable(obj)).toBe(true);
    expect(toMimeBundle(obj)).toEqual({ "text/markdown": "# hi" });
  });

  it("renders tensors through the protocol installed on tf.Tensor.prototype", () => {
    const t = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(typeof Reflect.get(t, JD)).toBe("function");
    const b = toMimeBundle(t);
    expect(Object.keys(b).sort()).toEqual(["text/html", "text/plain"]);
    expect(b["text/plain"]).toMatch(/^Tensor float32 \[2, 3\] {2}min 1 max 6 mean 3\.5/);
    // non-enumerable: keys, JSON and tfjs' own printing are unchanged
    expect(Object.keys(t)).not.toContain(JD);
    expect(Object.getOwnPropertyDescriptor(tf.Tensor.prototype, JD)?.enumerable).toBe(false);
    expect(t.toString()).toContain("Tensor");
    expect(tf.add(t, 1).arraySync()).toEqual([
      [2, 3, 4],
      [5, 6, 7],
    ]);
    // variables are tensors too
    const v = tf.variable(tf.zeros([2]));
    expect(toMimeBundle(v)["text/plain"]).toMatch(/^Tensor float32 \[2\]/);
    tf.dispose([t, v]);
  });

  it("recognises PNG bytes", () => {
    const b = toMimeBundle(new Uint8Array(PNG_1x1));
    expect(b["image/png"]).toBe(PNG_1x1.toString("base64"));
    expect(b["text/plain"]).toBe("<image 1x1>");
  });

  it("recognises JPEG bytes", async () => {
    const sharp = (await import("sharp")).default;
    const jpg = await sharp({ create: { width: 5, height: 3, channels: 3, background: "#f00" } })
      .jpeg()
      .toBuffer();
    const b = toMimeBundle(jpg);
    expect(b["image/jpeg"]).toBe(jpg.toString("base64"));
    expect(b["text/plain"]).toBe("<image 5x3>");
  });

  it("shows strings as themselves and other values through util.inspect", () => {
    expect(toMimeBundle("hello")).toEqual({ "text/plain": "hello" });
    expect(toMimeBundle({ a: 1, b: [1, 2] })).toEqual({ "text/plain": "{ a: 1, b: [ 1, 2 ] }" });
    expect(toMimeBundle(undefined)).toEqual({ "text/plain": "undefined" });
    expect(toMimeBundle(new Uint8Array([1, 2]))["text/plain"]).toContain("Uint8Array");
  });

  it("rejects an async display method with a clear message", () => {
    expect(() => toMimeBundle({ [JD]: async () => ({}) })).toThrow(/async.*await display/);
  });
});

describe("display()", () => {
  let kernel: ReturnType<typeof installFakeKernel> | undefined;
  afterEach(() => {
    kernel?.remove();
    kernel = undefined;
    vi.restoreAllMocks();
  });

  it("sends the bundle through the kernel hook with displayId and update", () => {
    kernel = installFakeKernel();
    display(html("<b>x</b>"), { displayId: "d1" });
    display(markdown("**y**"), { displayId: "d1", update: true, metadata: { a: 1 } });
    expect(kernel.sent).toHaveLength(2);
    expect(kernel.sent[0]).toEqual({
      bundle: { "text/html": "<b>x</b>", "text/plain": "x" },
      opts: { displayId: "d1" },
    });
    expect(kernel.sent[1]!.opts).toEqual({ displayId: "d1", update: true, metadata: { a: 1 } });
    expect(kernel.sent[1]!.bundle["text/markdown"]).toBe("**y**");
  });

  it("sends raw bundles as they are", () => {
    kernel = installFakeKernel();
    display({ "text/plain": "p", "application/json": { a: 1 } }, { raw: true });
    expect(kernel.sent[0]!.bundle).toEqual({ "text/plain": "p", "application/json": { a: 1 } });
  });

  it("awaits promises before displaying", async () => {
    kernel = installFakeKernel();
    await display(Promise.resolve("later"));
    expect(kernel.sent[0]!.bundle).toEqual({ "text/plain": "later" });
  });

  it("prints text/plain to stdout outside a kernel", () => {
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    display({ [JD]: () => ({ "text/html": "<i>z</i>", "text/plain": "plain z" }) });
    display(markdown("# only markdown"), { raw: false });
    display({ "image/png": "AAAA" }, { raw: true });
    expect(write.mock.calls.map((c) => c[0])).toEqual(["plain z\n", "# only markdown\n", "[image/png]\n"]);
  });
});

describe("html / markdown / svg", () => {
  it("work as functions and tagged templates", () => {
    const n = 3;
    expect(toMimeBundle(html`<p>${n} &amp; more</p>`)).toEqual({
      "text/html": "<p>3 &amp; more</p>",
      "text/plain": "3 & more",
    });
    expect(toMimeBundle(md`# ${n}`)).toEqual({ "text/markdown": "# 3", "text/plain": "# 3" });
    const s = svg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20"></svg>');
    expect(toMimeBundle(s)["image/svg+xml"]).toContain("<svg");
    expect(String(s)).toBe("<svg 10x20>");
    expect(bundleText({})).toBe("[empty display]");
  });
});
