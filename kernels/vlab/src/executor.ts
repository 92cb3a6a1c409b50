/**
 * Runs notebook cells: tslab's converter (type-checked TypeScript, re-runnable `const`, top-level
 * await) and tslab's executor, with the outcome captured as data instead of printed, so the
 * kernel can send `execute_result` and `error` messages as Jupyter expects.
 *
 * tslab's executor reports through the console object it is given: `log(value)` for the value of
 * the cell's last expression, `error(...)` for compile diagnostics and thrown errors. We give it a
 * console that records those calls.
 */
import { createRequire } from "node:module";
import { format } from "node:util";
import { loadConverter, mapStack, trackCells } from "./cell_maps.js";
import { addTypeFallback } from "./resolve.js";

const require = createRequire(import.meta.url);

export type Outcome =
  | { status: "ok"; value?: unknown; hasValue: boolean }
  | { status: "error"; ename: string; evalue: string; traceback: string[] };

export interface CellExecutor {
  /** Runs a cell; `label` (its execution count) names it in stack traces of later cells: `cell [3] line 2`. */
  execute(code: string, label?: string): Promise<Outcome>;
  /** Abandons the cell's awaited promise (synchronous code is stopped by SIGINT, or by the kernel: kernel.ts). */
  interrupt(): void;
  complete(code: string, cursor: number): { start: number; end: number; candidates: string[] };
  inspect(code: string, cursor: number): string | undefined;
  close(): void;
}

/**
 * The TypeScript version that type-checks the cells: tslab's converter compiles with @tslab/typescript-for-tslab
 * (TypeScript 5.0.4 with a `disableTopLevelAwait` option tslab needs for top-level await), not the repository's
 * own TypeScript (5.9), which lacks that option; so kernel_info reports this version.
 */
export function typescriptVersion(): string {
  return (require("@tslab/typescript-for-tslab/package.json") as { version: string }).version;
}

export function createCellExecutor(cwd = process.cwd()): CellExecutor {
  const ts = require("@tslab/typescript-for-tslab");
  addTypeFallback(ts.sys, cwd);
  const { createConverter } = loadConverter();
  const { createExecutor } = require("tslab/dist/executor.js");
  let label: string | undefined;
  const node = createConverter({ isJS: false, isBrowser: false });
  trackCells(node, () => label);
  const convs = {
    node,
    browser: createConverter({ isJS: false, isBrowser: true }),
    close() {
      this.node.close();
      this.browser.close();
    },
  };
  // What tslab reported for the cell being executed.
  const seen: { value?: { v: unknown }; errors: unknown[][] } = { errors: [] };
  const recorder = {
    log: (v: unknown) => (seen.value = { v }),
    error: (...args: unknown[]) => seen.errors.push(args),
  };
  const executor = createExecutor(cwd, convs, recorder);

  return {
    async execute(code, cellLabel) {
      seen.value = undefined;
      seen.errors = [];
      label = cellLabel;
      const ok: boolean = await executor.execute(expandShorthandProperties(ts, code));
      const got = seen.value as { v: unknown } | undefined; // set by tslab during execute()
      if (ok) return { status: "ok", hasValue: got !== undefined, value: got?.v };
      return describeFailure(seen.errors, cellLabel);
    },
    interrupt: () => executor.interrupt(),
    complete(code, cursor) {
      const info = executor.complete(code, cursor);
      return { start: info.start, end: info.end, candidates: info.candidates };
    },
    inspect(code, cursor) {
      const info = executor.inspect(code, cursor);
      if (!info) return undefined;
      const text = (parts?: { text: string }[]) => (parts ?? []).map((p) => p.text).join("");
      return [text(info.displayParts), text(info.documentation)].filter(Boolean).join("\n\n");
    },
    close: () => executor.close(),
  };
}

/**
 * `{ lm }` → `{ lm: lm }` in object literals. tslab rewrites a reference to an earlier cell's
 * variable `x` as `exports.x`, but it resolves identifiers with `getSymbolAtLocation`, which for a
 * shorthand property gives the property, not the variable: `{ lm }` then throws "lm is not defined".
 * Writing the property out in full means the same thing in JavaScript and lets tslab see the variable.
 */
export function expandShorthandProperties(ts: typeof import("typescript"), code: string): string {
  const file = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const names: { end: number; text: string }[] = [];
  const visit = (node: import("typescript").Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) names.push({ end: node.name.end, text: node.name.text });
    ts.forEachChild(node, visit);
  };
  visit(file);
  let out = code;
  for (const { end, text } of names.sort((a, b) => b.end - a.end))
    out = `${out.slice(0, end)}: ${text}${out.slice(end)}`;
  return out;
}

/** Turns what tslab printed on failure into Jupyter's ename / evalue / traceback. */
function describeFailure(errors: unknown[][], label?: string): Outcome {
  const thrown = errors.find((args) => args.length === 1 && args[0] instanceof Error)?.[0] as Error | undefined;
  if (thrown) {
    const interrupted =
      thrown.message === "Interrupted asynchronously" ||
      (thrown as NodeJS.ErrnoException).code === "ERR_SCRIPT_EXECUTION_INTERRUPTED";
    return {
      status: "error",
      ename: interrupted ? "KeyboardInterrupt" : thrown.name || "Error",
      evalue: interrupted ? "execution interrupted" : thrown.message,
      traceback: cleanStack(thrown, label),
    };
  }
  const [only, ...others] = errors;
  if (only?.length === 1 && others.length === 0) {
    // A thrown non-Error value (`throw "x"`, `throw {code: 1}`).
    const value = format(only[0]);
    return { status: "error", ename: "Error", evalue: value, traceback: [value] };
  }
  const lines = errors.map((args) => format(...args));
  return { status: "error", ename: "TypeScriptError", evalue: lines.join("\n"), traceback: lines };
}

/** The stack in cell line numbers (cell_maps.ts), without the kernel's own frames. */
function cleanStack(e: Error, label?: string): string[] {
  const lines = mapStack((e.stack ?? `${e.name}: ${e.message}`).split("\n"), label);
  const kept = lines.filter(
    (l) => !/node_modules[\\/]tslab|kernels[\\/]vlab[\\/]dist|node:internal|node:vm|sigintHandlersWrap/.test(l),
  );
  return kept.length ? kept : lines.slice(0, 1);
}
