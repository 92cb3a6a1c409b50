// The `vlab` command as a user types it (the built bin, in a fresh process): help, version, unknown commands,
// kernel install / uninstall with the logo, and what `import "vlab"` chooses in plain Node.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, readJson } from "./helpers.js";

const BIN = path.join(ROOT, "packages/vlab/bin/vlab.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-cli-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function vlab(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function node(code: string, opts: { type: "module" | "commonjs"; env?: NodeJS.ProcessEnv }) {
  const env = { ...process.env, ...opts.env };
  if (!opts.env?.VLAB_BACKEND) delete env.VLAB_BACKEND;
  const r = spawnSync(process.execPath, [`--input-type=${opts.type}`, "-e", code], {
    cwd: ROOT,
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe("vlab command", () => {
  it("prints the package version with --version", () => {
    const r = vlab("--version");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(readJson(path.join(ROOT, "packages/vlab/package.json")).version);
  });

  it.each([
    ["--help"],
    ["-h"],
    ["run", "--help"],
    ["kernel", "--help"],
    ["kernel", "install", "--help"],
    ["rewards", "--help"],
  ])("vlab %s %s prints usage and exits 0", (...args) => {
    const r = vlab(...args);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^usage:\n {2}vlab /);
    expect(r.err).toBe("");
  });

  it("names an unknown command, prints the usage and exits 2", () => {
    const r = vlab("foo");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^vlab: unknown command 'foo'\nusage:/);
    expect(r.err).toContain("vlab run <notebook.ipynb...>");
    expect(vlab("kernel", "bar").err).toContain("vlab: unknown command 'kernel bar'");
    expect(vlab().code).toBe(2);
  });

  it("reports an unknown option as a usage error (exit 2)", () => {
    const r = vlab("kernel", "install", "--bogus");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Unknown option '--bogus'[\s\S]*usage:/);
  });

  it("installs the kernelspec with its logo, and uninstalls it", () => {
    const prefix = path.join(tmp, "prefix");
    const dir = path.join(prefix, "share/jupyter/kernels/vlab");
    const installed = vlab("kernel", "install", "--prefix", prefix);
    expect(installed.code, installed.err).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(["kernel.json", "logo-32x32.png", "logo-64x64.png", "logo.svg"]);
    for (const size of [32, 64]) {
      const png = fs.readFileSync(path.join(dir, `logo-${size}x${size}.png`));
      expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([size, size]); // IHDR width, height
    }
    const removed = vlab("kernel", "uninstall", "--prefix", prefix);
    expect(removed.code, removed.err).toBe(0);
    expect(removed.out).toContain(`removed kernelspec "vlab" from ${dir}`);
    expect(fs.existsSync(dir)).toBe(false);
    const again = vlab("kernel", "uninstall", "--prefix", prefix);
    expect(again.code).toBe(1);
    expect(again.err).toContain('no kernelspec "vlab"');
  });
});

describe("fast by default in plain Node", () => {
  it("import from 'vlab' in an ES module chooses the fastest backend (wasm here) before the first op", () => {
    const code = `import { core } from "vlab"; console.log(core.describeBackend().name);`;
    expect(node(code, { type: "module" })).toMatch(/^(tensorflow|wasm)$/); // tensorflow where tfjs-node is installed
  });

  it("VLAB_BACKEND=cpu still forces cpu", () => {
    const code = `import { core } from "vlab"; console.log(core.describeBackend().name);`;
    expect(node(code, { type: "module", env: { VLAB_BACKEND: "cpu" } })).toBe("cpu");
  });

  it("require() of vlab, @vlab/core and a package that imports @vlab/core still works (no top-level await)", () => {
    const code = `const { core } = require("vlab"); const c = require("@vlab/core"); require("@vlab/vision");
      console.log(core === c, typeof c.initBackend);`;
    expect(node(code, { type: "commonjs" })).toBe("true function");
  });
});
