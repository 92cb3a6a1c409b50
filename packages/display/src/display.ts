/**
 * `display(obj)`: show anything in the notebook, or print it in a terminal.
 *
 * The protocol is Deno's: an object with a `[Symbol.for("Jupyter.display")]()` method returns a mime
 * bundle (`{"text/html": ..., "text/plain": ...}`) and every frontend picks the richest entry it can show.
 * Inside the vlab kernel the bundle goes out through `kernelHook().display`; anywhere else its
 * `text/plain` entry is printed to stdout.
 *
 * Importing this module also teaches tfjs tensors the protocol, so a tensor that ends a cell renders
 * as a summary (dtype, shape, min/max/mean/std) with a preview of its values.
 */
import { inspect } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { JUPYTER_DISPLAY, kernelHook, type MimeBundle } from "@vlab/core";
import { tensorBundle } from "./tensor.js";
import { imageSize, isJpeg, isPng, toBase64 } from "./util.js";

/** Anything that renders itself: `obj[Symbol.for("Jupyter.display")]()` returns a mime bundle. */
export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle;
}

export interface DisplayOpts {
  /** Name this display so a later `display(..., { displayId, update: true })` replaces it in place. */
  displayId?: string;
  /** Replace the display named by `displayId` (in a terminal the new text is simply printed). */
  update?: boolean;
  /** Jupyter display metadata, e.g. `{ "image/png": { width: 200 } }`. */
  metadata?: Record<string, unknown>;
  /** `obj` is already a mime bundle: send it as it is (as Deno's `display(obj, { raw: true })`). */
  raw?: boolean;
}

export function isDisplayable(v: unknown): v is Displayable {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as { [JUPYTER_DISPLAY]?: unknown })[JUPYTER_DISPLAY] === "function"
  );
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as { then?: unknown }).then === "function"
  );
}

/**
 * The mime bundle for any value:
 * its own `[Symbol.for("Jupyter.display")]()`; a tfjs tensor → dtype/shape/stats summary with a value preview;
 * PNG or JPEG bytes → the image; a string → itself as text/plain; anything else → `util.inspect` as text/plain.
 * Promises must be awaited first (`display()` does that for you).
 */
export function toMimeBundle(obj: unknown): MimeBundle {
  if (isDisplayable(obj)) {
    const bundle = obj[JUPYTER_DISPLAY]();
    if (isThenable(bundle))
      throw new TypeError("toMimeBundle: this object's Jupyter.display method is async; use `await display(obj)`");
    if (typeof bundle !== "object" || bundle === null)
      throw new TypeError("toMimeBundle: Jupyter.display must return a mime bundle object");
    return bundle;
  }
  if (obj instanceof tf.Tensor) return tensorBundle(obj);
  if (obj instanceof Uint8Array && (isPng(obj) || isJpeg(obj))) {
    const mime = isPng(obj) ? "image/png" : "image/jpeg";
    const size = imageSize(obj);
    return {
      [mime]: toBase64(obj),
      "text/plain": size ? `<image ${size.width}x${size.height}>` : `<${mime}, ${obj.length} bytes>`,
    };
  }
  if (typeof obj === "string") return { "text/plain": obj };
  if (isThenable(obj)) return { "text/plain": "Promise { <pending> } (await it to display its value)" };
  return { "text/plain": inspect(obj, { depth: 4, colors: false, maxArrayLength: 50 }) };
}

/** What a terminal shows for a bundle: its text/plain, else its markdown, else the list of its mime types. */
export function bundleText(bundle: MimeBundle): string {
  for (const mime of ["text/plain", "text/markdown"]) {
    const v = bundle[mime];
    if (typeof v === "string") return v;
  }
  return `[${Object.keys(bundle).join(", ") || "empty display"}]`;
}

/**
 * Shows `obj` in the notebook (a `display_data` message, or `update_display_data` with
 * `{ displayId, update: true }`), or prints its text form outside a kernel.
 * A promise (e.g. from `image()`) is awaited first: `await display(image(t))`.
 */
export function display(obj: PromiseLike<unknown>, opts?: DisplayOpts): Promise<void>;
export function display(obj: unknown, opts?: DisplayOpts): void;
export function display(obj: unknown, opts: DisplayOpts = {}): void | Promise<void> {
  if (isThenable(obj) && !isDisplayable(obj)) return Promise.resolve(obj).then((v) => display(v, opts));
  const bundle = opts.raw ? (obj as MimeBundle) : toMimeBundle(obj);
  sendBundle(bundle, opts);
}

/** Sends a ready bundle to the kernel, or prints its text. */
export function sendBundle(bundle: MimeBundle, opts: DisplayOpts = {}): void {
  const hook = kernelHook();
  if (hook) {
    const { displayId, update, metadata } = opts;
    hook.display(bundle, {
      ...(displayId !== undefined && { displayId }),
      ...(update && { update }),
      ...(metadata && { metadata }),
    });
    return;
  }
  const text = bundleText(bundle);
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

/** A piece of HTML, markdown or SVG that displays as itself (`text/plain` keeps a readable form). */
export class RichText implements Displayable {
  constructor(
    readonly mime: "text/html" | "text/markdown" | "image/svg+xml",
    readonly content: string,
  ) {}

  [JUPYTER_DISPLAY](): MimeBundle {
    return { [this.mime]: this.content, "text/plain": this.toString() };
  }

  toString(): string {
    if (this.mime === "text/markdown") return this.content;
    if (this.mime === "image/svg+xml") {
      const w = /<svg[^>]*\swidth="([\d.]+)/.exec(this.content)?.[1];
      const h = /<svg[^>]*\sheight="([\d.]+)/.exec(this.content)?.[1];
      return w && h ? `<svg ${w}x${h}>` : "<svg>";
    }
    return htmlToText(this.content);
  }
}

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, "")
    .replace(/<br\s*\/?>|<\/(p|div|tr|li|h\d)>/gi, "\n")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/[ \t]+/g, " ")
    .replace(/\n\s*\n+/g, "\n")
    .trim();
}

function joinTemplate(strings: TemplateStringsArray | string, values: unknown[]): string {
  if (typeof strings === "string") return strings;
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ""), "");
}

/**
 * HTML that renders as itself: `html("<b>hi</b>")` or the tagged template ``html`<b>${x}</b>` `` (values are not
 * escaped).
 */
export function html(strings: TemplateStringsArray | string, ...values: unknown[]): RichText {
  return new RichText("text/html", joinTemplate(strings, values));
}

/** Markdown that renders as itself: `markdown("# Title")` or ``markdown`**${x}**` ``. */
export function markdown(strings: TemplateStringsArray | string, ...values: unknown[]): RichText {
  return new RichText("text/markdown", joinTemplate(strings, values));
}

/** Short alias of `markdown`, as in Deno. */
export const md = markdown;

/** An SVG document that renders as an image: `svg('<svg xmlns=...>...</svg>')`. */
export function svg(strings: TemplateStringsArray | string, ...values: unknown[]): RichText {
  return new RichText("image/svg+xml", joinTemplate(strings, values));
}

/** Teaches `tf.Tensor` (and so `tf.Variable`) the display protocol; non-enumerable, so nothing else changes. */
function installTensorDisplay(): void {
  const proto = tf.Tensor.prototype as unknown as Record<symbol, unknown>;
  if (Object.prototype.hasOwnProperty.call(proto, JUPYTER_DISPLAY)) return;
  Object.defineProperty(proto, JUPYTER_DISPLAY, {
    value: function (this: tf.Tensor): MimeBundle {
      return tensorBundle(this);
    },
    enumerable: false,
    configurable: true,
    writable: true,
  });
}

installTensorDisplay();
