import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..");
/** The built `vlab` command (packages/vlab; `npx vlab` runs the same file through bin/vlab.js). */
export const CLI = path.join(ROOT, "packages/vlab/dist/cli.js");

/** Debian's python3 with Jupyter's libraries (not a pyenv shim that lacks them). */
export function jupyterPython(): string | undefined {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(py, ["-c", "import nbformat, nbclient"], { encoding: "utf8" });
    if (r.status === 0) return py;
  }
  return undefined;
}

export function hasJupyterNbconvert(): boolean {
  return spawnSync("jupyter", ["nbconvert", "--version"], { encoding: "utf8" }).status === 0;
}

/** Validates a notebook file against the nbformat schema; returns the error text, or "" when valid. */
export function nbformatErrors(file: string, py: string): string {
  const r = spawnSync(
    py,
    ["-c", "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=nbformat.NO_CONVERT))", file],
    {
      encoding: "utf8",
    },
  );
  return r.status === 0 ? "" : r.stderr || "invalid";
}

export function readJson(file: string) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** A notebook output as the tests read it (nbformat 4). */
export interface NotebookOutput {
  output_type: string;
  execution_count?: number;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

/** All outputs of all code cells of a notebook file. */
export function outputsOf(nb: { cells: Array<{ cell_type: string; outputs?: NotebookOutput[] }> }): NotebookOutput[] {
  return nb.cells.flatMap((c) => (c.cell_type === "code" ? (c.outputs ?? []) : []));
}
