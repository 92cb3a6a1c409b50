/**
 * `vlab kernel install` / `uninstall`: writes (removes) the Jupyter kernelspec without needing Python. The
 * kernelspec starts main.js and carries the logo (logo/logo-32x32.png, logo-64x64.png, drawn in logo/logo.svg).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KERNELSPEC } from "./notebook.js";

/** The built kernel entry, `node main.js <connection_file>` (also when this file runs from src/, as in the tests). */
export const KERNEL_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");

/** The kernel's logo files, copied into the kernelspec (Jupyter shows logo-64x64.png in the launcher). */
export const LOGO_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "logo");
export const LOGO_FILES = ["logo-32x32.png", "logo-64x64.png", "logo.svg"] as const;

/** Jupyter's per-user data folder (what `jupyter --data-dir` prints). */
export function userDataDir(): string {
  if (process.env.JUPYTER_DATA_DIR) return process.env.JUPYTER_DATA_DIR;
  if (process.platform === "darwin") return path.join(os.homedir(), "Library", "Jupyter");
  if (process.platform === "win32") return path.join(process.env.APPDATA ?? os.homedir(), "jupyter");
  return path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), ".local", "share"), "jupyter");
}

export function kernelSpec() {
  return {
    // Absolute paths: the kernel starts whatever the PATH of the Jupyter server is.
    argv: [process.execPath, KERNEL_MAIN, "{connection_file}"],
    display_name: KERNELSPEC.display_name,
    language: KERNELSPEC.language,
    interrupt_mode: "signal",
    metadata: { debugger: false },
  };
}

export interface KernelspecLocation {
  /** Install under `<prefix>/share/jupyter/kernels/` (as `jupyter kernelspec install --prefix`). */
  prefix?: string;
  /** The user's data folder (the default). */
  user?: boolean;
}

/** `<prefix>/share/jupyter/kernels/vlab`, or the same folder under the user's data folder. */
export function kernelspecDir(opts: KernelspecLocation = {}): string {
  const base = opts.prefix ? path.join(path.resolve(opts.prefix), "share", "jupyter") : userDataDir();
  return path.join(base, "kernels", KERNELSPEC.name);
}

/** Installs into `<prefix>/share/jupyter/kernels/vlab` (or the user's data folder) and returns that folder. */
export function installKernel(opts: KernelspecLocation = {}): string {
  const dir = kernelspecDir(opts);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(kernelSpec(), null, 2) + "\n");
  for (const file of LOGO_FILES) fs.copyFileSync(path.join(LOGO_DIR, file), path.join(dir, file));
  return dir;
}

/** Removes the kernelspec folder that `installKernel(opts)` writes; `found` is false when there was none. */
export function uninstallKernel(opts: KernelspecLocation = {}): { dir: string; found: boolean } {
  const dir = kernelspecDir(opts);
  const found = fs.existsSync(path.join(dir, "kernel.json"));
  if (found) fs.rmSync(dir, { recursive: true, force: true });
  return { dir, found };
}
