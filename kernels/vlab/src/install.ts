/** `vlab kernel install`: writes the Jupyter kernelspec without needing Python. The kernelspec starts main.js. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KERNELSPEC } from "./notebook.js";

/** The built kernel entry, `node main.js <connection_file>` (also when this file runs from src/, as in the tests). */
export const KERNEL_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");

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

/** Installs into `<prefix>/share/jupyter/kernels/vlab` (or the user's data folder) and returns that folder. */
export function installKernel(opts: { prefix?: string; user?: boolean } = {}): string {
  const base = opts.prefix ? path.join(path.resolve(opts.prefix), "share", "jupyter") : userDataDir();
  const dir = path.join(base, "kernels", KERNELSPEC.name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(kernelSpec(), null, 2) + "\n");
  return dir;
}
