#!/usr/bin/env node
// The `vlab` command (kernel install, kernel start, run): see kernels/vlab/src/cli.ts.
import { cliEntry } from "@vlab/kernel/cli";
cliEntry();
