#!/usr/bin/env node
/**
 * The kernel process, as Jupyter starts it from the kernelspec: `node main.js <connection_file>`.
 * (`vlab kernel start <connection_file>`, the umbrella package's command, does the same.)
 */
import { startKernel } from "./kernel.js";

const [connectionFile] = process.argv.slice(2);
if (connectionFile === undefined) {
  console.error("usage: node main.js <connection_file>");
  process.exit(2);
}
startKernel(connectionFile).catch((e: unknown) => {
  console.error(`vlab kernel: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
