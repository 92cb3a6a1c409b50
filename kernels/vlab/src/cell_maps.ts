/**
 * Stack traces in cell line numbers. tslab turns a cell into JavaScript in two steps, both with TypeScript:
 * the type-checked program emits an ES module (minus blank lines, plus `exports.x = x` lines), then
 * `esModuleToCommonJSModule` transpiles that to CommonJS; the executor runs the result with
 * `vm.runInThisContext`, so a stack said `evalmachine.<anonymous>:5` for the cell's line 2.
 *
 * We give tslab's converter a TypeScript whose two steps also write source maps (an inline map from the
 * program, `sourceMap` for the transpile), keep both maps per cell, name each cell's script with a
 * `//# sourceURL=vlab-cell-<n>` comment (V8 then names its frames so), and map every frame back through
 * the two maps: `at f (vlab-cell-3:12:32)` becomes `at f (cell line 6:5)`.
 *
 * The TypeScript module's exports are non-configurable getters, so the patched TypeScript is an object
 * inheriting from it, put in tslab's require cache before tslab's converter is first loaded.
 */
import { createRequire } from "node:module";

type Ts = typeof import("typescript");
/** Per generated line (0-based), its segments [generated column, source line, source column], all 0-based. */
type LineMap = [number, number, number][][];

interface CellScript {
  src: string;
  label?: string;
  stage1: LineMap;
  stage2: LineMap;
  /** Columns the executor's wrapper `(function(exports, require) { ` adds to line 1. */
  firstLineShift: number;
  outputLines: number;
}

/** tslab's `srcPrefix` ("export {};\n") puts the cell one line down in the program's source file. */
const SRC_PREFIX_LINES = 1;
export const CELL_URL = "vlab-cell-";
const WRAPPERS = { sync: "(function(exports, require) { ", async: "(async function(exports, require) { " };

/** Outputs of the last transpiles with their maps, found again by their text when convert() returns. */
const transpiled = new Map<string, { stage1: LineMap; stage2: LineMap }>();
const cells = new Map<number, CellScript>();
let nextCell = 1;

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Decodes a source map's `mappings` (base64 VLQ) into per-line segments. */
export function decodeMappings(mappings: string): LineMap {
  const lines: LineMap = [];
  let srcLine = 0;
  let srcCol = 0;
  for (const line of mappings.split(";")) {
    const segs: [number, number, number][] = [];
    let genCol = 0;
    for (const seg of line.split(",")) {
      if (!seg) continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      genCol += values[0] ?? 0;
      if (values.length < 4) continue;
      srcLine += values[2] ?? 0;
      srcCol += values[3] ?? 0;
      segs.push([genCol, srcLine, srcCol]);
    }
    lines.push(segs);
  }
  return lines;
}

/** Where (line, col) of the generated code came from: the last segment at or before col on that line. */
function lookup(map: LineMap, line: number, col: number): { line: number; col: number } | undefined {
  const segs = map[line];
  if (!segs?.length) return undefined;
  let best = segs[0];
  for (const s of segs) if (s[0] <= col) best = s;
  return best && { line: best[1], col: best[2] };
}

const PATCHED = Symbol.for("vlab.kernel.mappingTypescript");
const INLINE_MAP = /\n?\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;

/** TypeScript as tslab's converter should see it: both of its emits write source maps. */
function mappingTypescript(ts: Ts): Ts {
  // tslab's converter copies the module's own enumerable keys (`__importStar`), so this is a full copy:
  // live getters onto TypeScript, but for the two emits.
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(ts))
    Object.defineProperty(copy, key, { enumerable: true, configurable: true, get: () => Reflect.get(ts, key) });
  const createWatchCompilerHost = (roots: unknown, options: Record<string, unknown>, ...rest: unknown[]) =>
    Reflect.apply(ts.createWatchCompilerHost, ts, [roots, { ...options, inlineSourceMap: true }, ...rest]);
  const transpileModule = (input: string, opts: import("typescript").TranspileOptions) => {
    const inline = INLINE_MAP.exec(input);
    if (!inline?.[1]) return ts.transpileModule(input, opts);
    const stage1 = decodeMappings(JSON.parse(Buffer.from(inline[1], "base64").toString("utf8")).mappings);
    const js = input.slice(0, inline.index) + "\n";
    const out = ts.transpileModule(js, { ...opts, compilerOptions: { ...opts.compilerOptions, sourceMap: true } });
    const outputText = out.outputText.replace(/\n?\/\/# sourceMappingURL=\S*\s*$/, "\n");
    const stage2 = decodeMappings(out.sourceMapText ? JSON.parse(out.sourceMapText).mappings : "");
    transpiled.set(outputText, { stage1, stage2 });
    if (transpiled.size > 64) transpiled.delete(transpiled.keys().next().value ?? "");
    return { ...out, outputText, sourceMapText: undefined };
  };
  // No file watching: when a package changes on disk while the kernel runs (an npm install, a rebuild), tslab's watch
  // program schedules a rebuild through its one-shot timer and the converter throws "Unexpected pending rebuildTimer"
  // at the next cell, crashing the cell thread. The kernel loads each module once anyway, so the cells are checked
  // against the types of the code they run; a restarted kernel sees the new files.
  const unwatched = { close: () => undefined };
  const own = (value: unknown) => ({ value, writable: true, enumerable: true, configurable: true }); // tslab reassigns
  const sys: unknown = Object.create(ts.sys, { watchFile: own(() => unwatched), watchDirectory: own(() => unwatched) });
  for (const [key, value] of Object.entries({ createWatchCompilerHost, transpileModule, sys }))
    Object.defineProperty(copy, key, { enumerable: true, value });
  Object.defineProperty(copy, PATCHED, { value: true });
  return copy as unknown as Ts;
}

/**
 * Requires tslab's converter with the mapping TypeScript (once per process). Returns the converter module.
 */
export function loadConverter(): { createConverter(opts: object): Converter } {
  const require = createRequire(import.meta.url);
  const converterPath = require.resolve("tslab/dist/converter.js");
  const tsPath = createRequire(converterPath).resolve("@tslab/typescript-for-tslab");
  const ts = require(tsPath) as Ts;
  const entry = require.cache[tsPath];
  if (entry && !Reflect.get(entry.exports, PATCHED)) {
    entry.exports = mappingTypescript(ts);
    delete require.cache[converterPath]; // a converter loaded before would hold the plain TypeScript
  }
  return require(converterPath);
}

export interface ConvertResult {
  output?: string;
  hasToplevelAwait?: boolean;
  [key: string]: unknown;
}
export interface Converter {
  convert(prevDecl: string, src: string): ConvertResult;
  close(): void;
  [key: string]: unknown;
}

/** Wraps `conv.convert` so each cell's script is named (sourceURL) and its maps kept; `label()` names the cell. */
export function trackCells(conv: Converter, label: () => string | undefined): void {
  const convert = conv.convert.bind(conv);
  conv.convert = (prevDecl, src) => {
    const r = convert(prevDecl, src);
    const maps = r.output ? transpiled.get(r.output) : undefined;
    if (!r.output || !maps) return r;
    const id = nextCell++;
    const wrapper = r.hasToplevelAwait ? WRAPPERS.async : WRAPPERS.sync;
    const outputLines = r.output.split("\n").length - 1;
    cells.set(id, { src, label: label(), ...maps, firstLineShift: wrapper.length, outputLines });
    if (cells.size > 1000) cells.delete(cells.keys().next().value ?? 0);
    return { ...r, output: `${r.output}//# sourceURL=${CELL_URL}${id}\n` };
  };
}

/** The cell line and column (1-based) of a position in cell script `id`, or undefined (the wrapper's own code). */
export function cellPosition(id: number, line: number, col: number): { line: number; col: number } | undefined {
  const cell = cells.get(id);
  if (!cell || line > cell.outputLines) return undefined;
  const c = line === 1 ? col - cell.firstLineShift : col;
  const mid = lookup(cell.stage2, line - 1, c - 1);
  const at = mid && lookup(cell.stage1, mid.line, mid.col);
  if (!at) return undefined;
  return { line: at.line - SRC_PREFIX_LINES + 1, col: at.col + 1 };
}

const FRAME = new RegExp(`${CELL_URL}(\\d+):(\\d+):(\\d+)`, "g");
const HEADER = new RegExp(`^${CELL_URL}(\\d+):(\\d+)$`);

/**
 * A stack with cell positions: frames in cell scripts read `cell line L:C` (`cell [n] line L:C` for an earlier
 * cell `n`), frames of the wrapper tslab adds are dropped, and Node's header (the failing line of compiled
 * JavaScript with a caret) shows the cell's own line instead.
 */
export function mapStack(lines: string[], currentLabel?: string): string[] {
  const out: string[] = [];
  let i = 0;
  const header = HEADER.exec(lines[0] ?? "");
  if (header) {
    const id = Number(header[1]);
    let end = 1;
    while (end < lines.length && lines[end] !== "") end++;
    const caret = lines.slice(1, end).find((l) => /^\s*\^+\s*$/.test(l));
    const jsCol = caret ? caret.indexOf("^") + 1 : 1;
    const pos = cellPosition(id, Number(header[2]), jsCol);
    const cell = cells.get(id);
    if (pos && cell) {
      const srcLine = cell.src.split("\n")[pos.line - 1] ?? "";
      out.push(`${where(cell, pos, currentLabel)}`, srcLine, `${" ".repeat(Math.max(0, pos.col - 1))}^`, "");
      i = end + 1;
    }
  }
  for (; i < lines.length; i++) {
    const line = lines[i] ?? "";
    let wrapperOnly = false;
    const mapped = line.replace(FRAME, (whole, id: string, l: string, c: string) => {
      const cell = cells.get(Number(id));
      const pos = cellPosition(Number(id), Number(l), Number(c));
      if (!cell || !pos) {
        if (cell && Number(l) > cell.outputLines) wrapperOnly = true;
        return whole;
      }
      return `${where(cell, pos, currentLabel)}:${pos.col}`;
    });
    if (!wrapperOnly) out.push(mapped);
  }
  return out;
}

function where(cell: CellScript, pos: { line: number }, currentLabel?: string): string {
  const same = cell.label === currentLabel;
  return same || cell.label === undefined ? `cell line ${pos.line}` : `cell [${cell.label}] line ${pos.line}`;
}
