// The `vlab` command's argument handling; `vlab run` end to end is in the root test/run.test.ts.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { KERNEL_MAIN } from "@vlab/kernel";
import { main } from "../src/cli.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-cli-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("vlab", () => {
  it("prints its usage for --help (exit 0) and for an unknown command (exit 2)", async () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      expect(await main(["--help"])).toBe(0);
      expect(await main(["frobnicate"])).toBe(2);
      expect(await main(["kernel", "start"])).toBe(2); // no connection file
      expect(err.mock.calls.flat().join("\n")).toContain("vlab run <notebook.ipynb...>");
    } finally {
      err.mockRestore();
    }
  });

  it("installs a kernelspec that starts the kernel package's own entry, not this command", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      expect(await main(["kernel", "install", "--prefix", tmp])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const spec = JSON.parse(fs.readFileSync(path.join(tmp, "share/jupyter/kernels/vlab/kernel.json"), "utf8"));
    expect(spec.argv).toEqual([process.execPath, KERNEL_MAIN, "{connection_file}"]);
    expect(spec.display_name).toBe("TypeScript (vlab)");
  });

  it("refuses a budget other than quick or full, and a run without notebooks", async () => {
    await expect(main(["run", "x.ipynb", "--budget", "medium"])).rejects.toThrow(/--budget must be quick or full/);
    await expect(main(["run"])).rejects.toThrow(/name at least one notebook/);
  });
});
