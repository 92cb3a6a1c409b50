export { startKernel, bundleOf, normalizeBundle } from "./kernel.js";
export { KernelClient, type ExecuteResult, type StartOptions } from "./client.js";
export { runNotebook, describeFailure, type RunOptions, type RunResult } from "./run.js";
export { installKernel, kernelSpec, userDataDir } from "./install.js";
export * from "./notebook.js";
export { main } from "./cli.js";
