// The layout the repository promises (see ARCHITECTURE.md): no import cycle between files or packages, packages
// import only along the dependency arrows, no source file over 500 lines, and a text-only @vlab/llm.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

interface SourceFile {
  file: string; // relative to ROOT
  pkg: string; // "@vlab/core", "vlab", "@vlab/kernel"
  imports: string[]; // resolved files (relative to ROOT) of relative imports
  packages: string[]; // workspace packages imported
}

const PACKAGE_DIRS = [
  ...fs.readdirSync(path.join(ROOT, "packages")).map((d) => `packages/${d}`),
  ...fs.readdirSync(path.join(ROOT, "kernels")).map((d) => `kernels/${d}`),
].filter((d) => fs.existsSync(path.join(ROOT, d, "package.json")));

const packageName = (dir: string): string =>
  (JSON.parse(fs.readFileSync(path.join(ROOT, dir, "package.json"), "utf8")) as { name: string }).name;
const NAMES = new Map(PACKAGE_DIRS.map((d) => [d, packageName(d)]));
const WORKSPACE = new Set(NAMES.values());

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return /\.ts$/.test(e.name) && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

// import … from "x", export … from "x", import "x", import("x")
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

function parse(file: string, pkg: string): SourceFile {
  const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, "");
  const imports: string[] = [];
  const packages = new Set<string>();
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? "";
    if (spec.startsWith(".")) {
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts");
      imports.push(path.relative(ROOT, fs.existsSync(target) ? target : target.replace(/\.ts$/, "/index.ts")));
    } else {
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? "");
      if (WORKSPACE.has(name) && name !== pkg) packages.add(name);
    }
  }
  return { file: path.relative(ROOT, file), pkg, imports, packages: [...packages] };
}

const SOURCES = PACKAGE_DIRS.flatMap((dir) =>
  walk(path.join(ROOT, dir, "src")).map((f) => parse(f, NAMES.get(dir) ?? dir)),
);

/** The cycles of a directed graph (its strongly connected components with more than one node), by Tarjan. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe("layout", () => {
  it("finds the sources it checks", () => {
    expect(SOURCES.length).toBeGreaterThan(100);
    expect(
      cycles(
        new Map([
          ["a", ["b"]],
          ["b", ["a"]],
          ["c", ["a"]],
        ]),
      ),
    ).toEqual([["a", "b"]]);
    expect(
      cycles(
        new Map([
          ["a", ["b"]],
          ["b", []],
        ]),
      ),
    ).toEqual([]);
  });

  it("has no import cycle between files", () => {
    const graph = new Map(SOURCES.map((s) => [s.file, s.imports]));
    expect(cycles(graph)).toEqual([]);
  });

  it("has no import cycle between packages, and each import is declared in package.json", () => {
    const graph = new Map<string, string[]>();
    for (const s of SOURCES) graph.set(s.pkg, [...new Set([...(graph.get(s.pkg) ?? []), ...s.packages])]);
    expect(cycles(graph)).toEqual([]);
    const undeclared: string[] = [];
    for (const dir of PACKAGE_DIRS) {
      const json = JSON.parse(fs.readFileSync(path.join(ROOT, dir, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
      };
      const declared = new Set(Object.keys(json.dependencies ?? {}));
      for (const dep of graph.get(NAMES.get(dir) ?? "") ?? []) {
        if (!declared.has(dep)) undeclared.push(`${dir} imports ${dep}`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it("keeps @vlab/llm text-only and the kernel free of model packages", () => {
    const deps = (name: string): string[] => {
      const dir = [...NAMES].find(([, n]) => n === name)?.[0];
      if (!dir) return [];
      const json = JSON.parse(fs.readFileSync(path.join(ROOT, dir, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
      };
      return Object.keys(json.dependencies ?? {});
    };
    const closure = (name: string, seen = new Set<string>()): Set<string> => {
      for (const d of deps(name)) if (!seen.has(d)) closure(d, seen.add(d));
      return seen;
    };
    const llm = closure("@vlab/llm");
    for (const heavy of ["@vlab/vision", "onnxruntime-node", "sharp"]) expect(llm.has(heavy), heavy).toBe(false);
    expect(closure("@vlab/vision").has("onnxruntime-node")).toBe(false);
    const kernel = [...closure("@vlab/kernel")].filter((d) => d.startsWith("@vlab/"));
    expect(kernel).toEqual([]);
  });

  it("has no source file over 500 lines", () => {
    const long = SOURCES.map((s) => ({
      file: s.file,
      lines: fs.readFileSync(path.join(ROOT, s.file), "utf8").split("\n").length,
    }))
      .filter((s) => s.lines > 500)
      .map((s) => `${s.file}: ${s.lines} lines`);
    expect(long).toEqual([]);
  });
});
