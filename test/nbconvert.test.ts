// The real Jupyter client (nbconvert + nbclient) runs the tour with the vlab kernel. Skipped where
// Jupyter is not installed; CI installs it (.ci/run).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, hasJupyterNbconvert, outputsOf, readJson, ROOT } from "./helpers.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-nbconvert-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function nbconvert(notebook: string, output: string, extra: string[] = []) {
  return spawnSync(
    "jupyter",
    [
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.kernel_name=vlab",
      "--ExecutePreprocessor.timeout=600",
      ...extra,
      notebook,
      "--output",
      output,
    ],
    {
      cwd: ROOT,
      encoding: "utf8",
      env: {
        ...process.env,
        JUPYTER_PATH: path.join(tmp, "share", "jupyter"),
        VLAB_RESULTS_DIR: path.join(tmp, "results"),
      },
      timeout: 600_000,
    },
  );
}

describe.skipIf(!hasJupyterNbconvert())("jupyter nbconvert with the vlab kernel", () => {
  it("installs the kernelspec without Python", () => {
    const r = spawnSync(process.execPath, [CLI, "kernel", "install", "--prefix", tmp], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const spec = readJson(path.join(tmp, "share/jupyter/kernels/vlab/kernel.json"));
    expect(spec.display_name).toBe("TypeScript (vlab)");
    expect(spec.language).toBe("typescript");
    expect(spec.argv).toContain("{connection_file}");
  });

  it(
    "executes the tour: execute_result outputs and a plotly bundle with an image fallback",
    { timeout: 600_000 },
    () => {
      const out = path.join(tmp, "tour.ipynb");
      const r = nbconvert("notebooks/00-tour.ipynb", out);
      expect(r.status, r.stderr.slice(-3000)).toBe(0);
      const outputs = outputsOf(readJson(out));
      expect(outputs.some((o) => o.output_type === "execute_result" && (o.execution_count ?? 0) > 0)).toBe(true);
      const plot = outputs.find((o) => o.data?.["application/vnd.plotly.v1+json"]);
      expect(plot).toBeDefined();
      expect(plot!.data!["image/svg+xml"] ?? plot!.data!["image/png"]).toBeDefined();
    },
  );

  it("turns a throwing cell into an error output with ename and evalue", { timeout: 120_000 }, () => {
    const nbFile = path.join(tmp, "throws.ipynb");
    const cell = {
      cell_type: "code",
      id: "c1",
      metadata: {},
      source: "throw new SyntaxError('from a cell')",
      outputs: [],
      execution_count: null,
    };
    fs.writeFileSync(nbFile, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [cell] }));
    const failing = nbconvert(nbFile, path.join(tmp, "throws-strict.ipynb"));
    expect(failing.status).not.toBe(0);
    const out = path.join(tmp, "throws-out.ipynb");
    const r = nbconvert(nbFile, out, ["--allow-errors"]);
    expect(r.status, r.stderr).toBe(0);
    expect(outputsOf(readJson(out))[0]).toMatchObject({
      output_type: "error",
      ename: "SyntaxError",
      evalue: "from a cell",
    });
  });
});
