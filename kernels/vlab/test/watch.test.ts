// Files changing on disk while a kernel runs (an npm install, a package rebuilt) must not break the next cell.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createCellExecutor } from "../src/executor.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-watch-"));
// A package appearing in the repository's node_modules, where the cells' imports are looked up (tslab's converter
// resolves from the process's working directory).
const installed = path.join(process.cwd(), "node_modules", `vlab-watch-test-${process.pid}`);
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(installed, { recursive: true, force: true });
});

/** A CommonJS module dir/lib.js exporting `value`, typed by its own lib.d.ts (as a built package is). */
function writeModule(value: number): void {
  fs.writeFileSync(path.join(dir, "lib.js"), `exports.value = ${value};\n`);
  fs.writeFileSync(path.join(dir, "lib.d.ts"), `export declare const value: number; // build ${value}\n`);
}

describe("the cell executor while files change on disk", () => {
  it("runs the next cells after a package is installed and a module rebuilt", { timeout: 60_000 }, async () => {
    writeModule(1);
    const exec = createCellExecutor();
    try {
      const first = await exec.execute(`import { value } from ${JSON.stringify(path.join(dir, "lib"))};\nvalue`, "1");
      expect(first).toMatchObject({ status: "ok", value: 1 });
      for (let build = 2; build <= 3; build++) {
        fs.mkdirSync(installed, { recursive: true }); // what npm install does to node_modules
        fs.writeFileSync(path.join(installed, `index${build}.d.ts`), "export {};\n");
        writeModule(build); // what tsc does to a package the notebook imported
        await new Promise((r) => setTimeout(r, 1500)); // longer than TypeScript's file-watch delay
        const next = await exec.execute(`const twice${build} = value * 2;\ntwice${build}`, String(build));
        expect(next, JSON.stringify(next)).toMatchObject({ status: "ok", value: 2 }); // the module loaded at first
      }
    } finally {
      exec.close();
    }
  });
});
