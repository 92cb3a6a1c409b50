#!/usr/bin/env node
// The `vlab` command (kernel install, kernel start, run): see packages/vlab/src/cli.ts.
import { cliEntry } from "../dist/cli.js";
cliEntry();
