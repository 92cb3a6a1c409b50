/**
 * `Module`: a small PyTorch-like base class for models made of `tf.Variable`s.
 *
 *   class Block extends Module {
 *     ln = this.module("ln", new LayerNorm(64));
 *     fc = this.module("fc", new Linear(64, 64));
 *     forward(x: tf.Tensor) { return tf.add(x, this.fc.forward(this.ln.forward(x))); }
 *   }
 *   const m = new Block();
 *   m.namedParameters();      // [["ln.weight", v], ["ln.bias", v], ["fc.weight", v], ["fc.bias", v]]
 *   m.loadStateDict(tensors); // names and shapes checked, values copied in
 *
 * Names are the dotted paths PyTorch uses (`blocks.0.attn.qkv.weight`), so a Hugging Face or OpenAI
 * checkpoint maps onto a vlab model by name, and weights are stored in PyTorch's layout (a Linear
 * weight is [out, in]); see layers.ts for why that costs nothing on tfjs.
 */
import * as tf from "@tensorflow/tfjs-core";
import "./backend.js"; // gradients and the wasm kernels training needs
import { JUPYTER_DISPLAY, type MimeBundle } from "./kernel_hook.js";
import { escapeHtml, formatCount } from "./format.js";

/** Makes the initial value of a parameter of a given shape. */
export type Initializer = (shape: number[]) => tf.Tensor;

export interface LoadStateDictOptions {
  /** Require the names to match exactly (default true). With false, unmatched names are skipped. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  /** Names the model has and the tensors lacked. */
  missingKeys: string[];
  /** Names the tensors had and the model lacks. */
  unexpectedKeys: string[];
}

/** Unique tfjs variable names: the engine refuses two variables with the same name. */
let variableCounter = 0;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export class Module {
  /** Parameters registered on this module (not its children), in registration order. */
  private readonly ownParams = new Map<string, tf.Variable>();
  /** Buffers: state that is not trained (kept as non-trainable variables so loading can assign). */
  private readonly ownBuffers = new Map<string, { value: tf.Variable; persistent: boolean }>();
  private readonly children = new Map<string, Module>();
  /** Training mode (see `train()` / `eval()`); layers with train-only behaviour read it. */
  training = true;

  // -- registration --------------------------------------------------------------------------

  /**
   * Registers a trainable parameter. `value` is either its initial tensor (the variable takes it
   * over: do not use or dispose it afterwards) or a shape, given to `init` (default zeros).
   * Freezing (`freeze()`) makes it non-trainable: it then stays out of `trainableParameters()` and
   * out of `tf.variableGrads` without an explicit variable list.
   */
  param(name: string, value: tf.Tensor | number[], init?: Initializer): tf.Variable {
    this.checkName(name);
    const initial = Array.isArray(value) ? (init ?? ((s: number[]) => tf.zeros(s)))(value) : value;
    const v = tf.variable(initial, true, `${this.constructor.name}_${++variableCounter}/${name}`);
    if (!(initial instanceof tf.Variable)) initial.dispose(); // the variable holds its own reference
    this.ownParams.set(name, v);
    return v;
  }

  /**
   * Registers a buffer: a tensor that belongs to the model but is not trained (position ids, a
   * rotary frequency table). Persistent buffers are part of `stateDict()`, like PyTorch's. The
   * tensor is taken over, as in `param`.
   */
  buffer(name: string, value: tf.Tensor, opts: { persistent?: boolean } = {}): tf.Variable {
    this.checkName(name);
    const v = tf.variable(value, false, `${this.constructor.name}_${++variableCounter}/${name}`);
    if (!(value instanceof tf.Variable)) value.dispose();
    this.ownBuffers.set(name, { value: v, persistent: opts.persistent ?? true });
    return v;
  }

  /** Registers a child module under `name`; returns it (so `this.fc = this.module("fc", new Linear(...))`). */
  module<M extends Module>(name: string, child: M): M {
    this.checkName(name);
    if (!(child instanceof Module)) throw new Error(`module("${name}"): not a Module`);
    this.children.set(name, child);
    return child;
  }

  /** Registers a list of modules, named `name.0`, `name.1`, ...; returns the array. */
  moduleList<M extends Module>(name: string, children: M[]): M[] {
    const list = new ModuleList(children);
    this.module(name, list);
    return list.items;
  }

  private checkName(name: string): void {
    if (!name || name.includes(".")) throw new Error(`invalid name "${name}": must be non-empty without dots`);
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new Error(`"${name}" is already registered on ${this.constructor.name}`);
    }
  }

  // -- traversal -----------------------------------------------------------------------------

  /** Child modules with their names. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** This module and every descendant with dotted names ("" for this one). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every parameter with its dotted name (`blocks.0.attn.qkv.weight`), in registration order. */
  namedParameters(prefix = ""): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    for (const [name, v] of this.ownParams) out.push([prefix ? `${prefix}.${name}` : name, v]);
    for (const [name, child] of this.children) out.push(...child.namedParameters(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every buffer with its dotted name; `persistentOnly` keeps those that go into `stateDict()`. */
  namedBuffers(prefix = "", persistentOnly = false): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    for (const [name, b] of this.ownBuffers) {
      if (!persistentOnly || b.persistent) out.push([prefix ? `${prefix}.${name}` : name, b.value]);
    }
    for (const [name, child] of this.children) {
      out.push(...child.namedBuffers(prefix ? `${prefix}.${name}` : name, persistentOnly));
    }
    return out;
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  /** Parameters not frozen: what an optimizer should update (and what `variableGrads` should get). */
  trainableParameters(): tf.Variable[] {
    return this.parameters().filter((v) => v.trainable);
  }

  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    const ps = opts.trainableOnly ? this.trainableParameters() : this.parameters();
    return ps.reduce((n, v) => n + v.size, 0);
  }

  // -- state dict ----------------------------------------------------------------------------

  /**
   * Parameters and persistent buffers by dotted name. The values are the model's variables
   * themselves, not copies: do not dispose them.
   */
  stateDict(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, v] of this.namedParameters()) out[name] = v;
    for (const [name, v] of this.namedBuffers("", true)) out[name] = v;
    return out;
  }

  /**
   * Copies tensors into the parameters and persistent buffers of the same name (the tensors are not
   * taken over: the caller may dispose them afterwards). Shapes must match exactly: a mismatch is an
   * error naming the tensor and both shapes. With `strict` (the default) the names must match too;
   * the error lists the missing and unexpected names. Nothing is assigned if any check fails.
   * Values are cast to the variable's dtype when they differ (a float16/bfloat16 checkpoint read
   * as float32, int ids as float).
   */
  loadStateDict(tensors: Record<string, tf.Tensor>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in tensors));
    const unexpectedKeys = Object.keys(tensors).filter((k) => !(k in own));
    const mismatched: string[] = [];
    for (const [name, v] of Object.entries(own)) {
      const t = tensors[name];
      if (t && !sameShape(t.shape, v.shape)) {
        mismatched.push(`"${name}": checkpoint has shape [${t.shape.join(", ")}], model has [${v.shape.join(", ")}]`);
      }
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`shape mismatch for ${mismatched.join("; ")}`);
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(", ")}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(", ")}`);
    if (problems.length) {
      throw new Error(
        `loadStateDict into ${this.constructor.name} failed (nothing was loaded): ${problems.join("; ")}`,
      );
    }
    for (const [name, v] of Object.entries(own)) {
      const t = tensors[name];
      if (!t) continue;
      const value = tf.tidy(() => (t.dtype === v.dtype ? tf.clone(t) : tf.cast(t, v.dtype)));
      (v as tf.Variable).assign(value);
      value.dispose();
    }
    return { missingKeys, unexpectedKeys };
  }

  // -- training state ------------------------------------------------------------------------

  /** Excludes every parameter from training (PyTorch's `requires_grad_(False)`). Returns this. */
  freeze(): this {
    for (const v of this.parameters()) v.trainable = false;
    return this;
  }

  unfreeze(): this {
    for (const v of this.parameters()) v.trainable = true;
    return this;
  }

  /** Sets training mode here and below (for layers that behave differently, e.g. dropout). */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter and buffer of this module and its children. */
  dispose(): void {
    for (const v of this.parameters()) v.dispose();
    for (const [, v] of this.namedBuffers()) v.dispose();
  }

  // -- display -------------------------------------------------------------------------------

  /** One-line description of this module's configuration, shown in its summary (like PyTorch). */
  protected extraRepr(): string {
    return "";
  }

  /** The module tree with parameter counts, as text. */
  summary(): string {
    const lines: string[] = [];
    const walk = (m: Module, name: string, indent: string, last: boolean, root: boolean) => {
      const extra = m.extraRepr();
      const count = m.numParameters();
      const frozen = count > 0 && m.numParameters({ trainableOnly: true }) === 0 ? ", frozen" : "";
      const head = `${root ? "" : `${name}: `}${m.constructor.name}${extra ? `(${extra})` : ""}`;
      lines.push(`${root ? "" : indent + (last ? "└─ " : "├─ ")}${head}  [${formatCount(count)} params${frozen}]`);
      const kids = m.namedChildren();
      const childIndent = root ? "" : indent + (last ? "   " : "│  ");
      kids.forEach(([n, c], i) => walk(c, n, childIndent, i === kids.length - 1, false));
    };
    walk(this, "", "", true, true);
    const total = this.numParameters();
    const trainable = this.numParameters({ trainableOnly: true });
    lines.push(`total ${total.toLocaleString("en-US")} parameters, ${trainable.toLocaleString("en-US")} trainable`);
    return lines.join("\n");
  }

  toString(): string {
    return this.summary();
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    const rows = this.namedParameters()
      .map(
        ([n, v]) =>
          `<tr><td style="text-align:left"><code>${escapeHtml(n)}</code></td><td ` +
          `style="text-align:left">[${v.shape.join(", ")}]</td>` +
          `<td style="text-align:right">${v.size.toLocaleString("en-US")}</td><td>${v.trainable ? "" : "frozen"}</td>` +
          `</tr>`,
      )
      .join("");
    const html =
      `<pre style="margin:0">${escapeHtml(this.summary())}</pre>` +
      `<details><summary>parameters</summary><table><tr><th>name</th><th>shape</th><th>size</th><th></th></tr>${rows}` +
      `</table></details>`;
    return { "text/plain": this.summary(), "text/html": html };
  }
}

/** A list of modules registered as `0`, `1`, ... (what `moduleList` makes). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = [...items];
    this.items.forEach((m, i) => this.module(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  protected override extraRepr(): string {
    return `${this.items.length}`;
  }
}
