export { startKernel } from "./kernel.js";
export { bundleOf, normalizeBundle, type Bundle } from "./bundle.js";
export { KernelClient, type ExecuteResult, type StartOptions } from "./client.js";
export { runNotebook, describeFailure, type RunOptions, type RunResult } from "./run.js";
export {
  installKernel,
  uninstallKernel,
  kernelspecDir,
  kernelSpec,
  userDataDir,
  KERNEL_MAIN,
  LOGO_DIR,
  type KernelspecLocation,
} from "./install.js";
export * from "./notebook.js";
