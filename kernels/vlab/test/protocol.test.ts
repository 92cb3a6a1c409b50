// Drives the real kernel process over ZMQ, as Jupyter does. Needs the kernel built (`npm run build`).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient } from "../src/client.js";
import type { Message } from "../src/wire.js";

let kernel: KernelClient;
// A folder outside the repository: notebooks anywhere must still import the vlab packages.
const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-nb-"));

beforeAll(async () => {
  kernel = await KernelClient.start({ cwd: elsewhere });
});
afterAll(async () => {
  await kernel?.shutdown();
  fs.rmSync(elsewhere, { recursive: true, force: true });
});

const of = (messages: Message[], type: string) => messages.filter((m) => m.header.msg_type === type);
/** The text/plain entry of a display or execute_result message. */
const plainText = (m: Message | undefined) => (m?.content.data as Record<string, unknown> | undefined)?.["text/plain"];

describe("a kernel started with VLAB_BACKEND=cpu", () => {
  it("runs its cells on cpu", { timeout: 120_000 }, async () => {
    const cpuKernel = await KernelClient.start({ cwd: elsewhere, env: { ...process.env, VLAB_BACKEND: "cpu" } });
    try {
      const { reply, messages } = await cpuKernel.execute('import { core } from "vlab";\ncore.describeBackend().name');
      expect(reply.content.status, JSON.stringify(reply.content)).toBe("ok");
      expect(plainText(of(messages, "execute_result")[0])).toBe("'cpu'");
    } finally {
      await cpuKernel.shutdown();
    }
  });
});

/** An onMessage hook that interrupts the kernel `ms` after the cell's first output (so once it runs), once. */
function interruptOnceRunning(ms: number): (m: Message) => void {
  let sent = false;
  return (m) => {
    if (m.header.msg_type !== "stream" || sent) return;
    sent = true;
    setTimeout(() => kernel.interrupt(), ms);
  };
}

describe("vlab kernel over ZMQ", () => {
  it("reports the real TypeScript version and language in kernel_info", async () => {
    const { reply } = await kernel.request("kernel_info_request", {});
    const tsVersion = createRequire(import.meta.url)("@tslab/typescript-for-tslab").version;
    expect(reply.header.msg_type).toBe("kernel_info_reply");
    expect(reply.content.protocol_version).toBe("5.3");
    expect(reply.content.language_info).toMatchObject({
      name: "typescript",
      version: tsVersion,
      file_extension: ".ts",
    });
    // The banner says which TypeScript checks the cells (tslab's own) and which backend runs.
    expect(reply.content.banner).toContain(`TypeScript ${tsVersion} (tslab's type checker)`);
    const backend = (reply.content.vlab as { backend: { name: string; kernels: string[] } }).backend;
    expect(backend.name).not.toBe("cpu");
    expect(reply.content.banner).toContain(`backend ${backend.name}`);
    expect(backend.kernels.length).toBeGreaterThan(0);
  });

  it("runs a fresh kernel on the fastest backend with no initBackend call, and switches on request", async () => {
    const { reply } = await kernel.request("kernel_info_request", {});
    const fastest = (reply.content.vlab as { backend: { name: string } }).backend.name;
    const first = await kernel.execute('import { core } from "vlab";\ncore.describeBackend().name');
    expect(first.reply.content.status, JSON.stringify(first.reply.content)).toBe("ok");
    expect(plainText(of(first.messages, "execute_result")[0])).toBe(`'${fastest}'`);
    const cpu = await kernel.execute('await core.initBackend("cpu");\ncore.describeBackend().name');
    expect(plainText(of(cpu.messages, "execute_result")[0])).toBe("'cpu'");
  });

  it("maps stack traces to cell lines, naming an earlier cell by its execution count", async () => {
    const def = await kernel.execute(
      "const unused = 0;\n\nfunction boomer(n: number) {\n  throw new Error(`deep ${n}`);\n}",
    );
    expect(def.reply.content.status).toBe("ok");
    const { reply } = await kernel.execute("const k: number = 1;\n\nboomer(k);");
    const trace = (reply.content.traceback as string[]).join("\n");
    expect(trace).toContain("Error: deep 1");
    // (a function of an earlier cell is called as a property of tslab's exports proxy: "Proxy.boomer")
    expect(trace).toMatch(
      new RegExp(`at (Proxy\\.)?boomer \\(cell \\[${def.reply.content.execution_count}\\] line 4:`),
    );
    expect(trace).toMatch(/at cell line 3:\d+/);
    expect(trace).not.toContain("evalmachine");
    const own = await kernel.execute("const before = 1;\nthrow new Error('on line 2');");
    const ownTrace = (own.reply.content.traceback as string[]).join("\n");
    expect(ownTrace).toMatch(/^cell line 2\nthrow new Error\('on line 2'\);\n\^/);
    expect(ownTrace).toMatch(/at cell line 2:\d+/);
  });

  it("sends the last expression as execute_result with its execution_count", async () => {
    const { reply, messages } = await kernel.execute("const a: number = 20;\na + 1");
    expect(reply.content.status).toBe("ok");
    const [result] = of(messages, "execute_result");
    expect(result!.content.execution_count).toBe(reply.content.execution_count);
    expect(plainText(result)).toBe("21");
  });

  it("re-runs a cell that declares a const", async () => {
    const first = await kernel.execute("const rerun = 1; rerun");
    const second = await kernel.execute("const rerun = 2; rerun");
    expect(second.reply.content.status).toBe("ok");
    expect(second.reply.content.execution_count).toBe(Number(first.reply.content.execution_count) + 1);
    expect(plainText(of(second.messages, "execute_result")[0])).toBe("2");
  });

  it("keeps values and types across cells, with top-level await", async () => {
    await kernel.execute("const later = await Promise.resolve({ n: 41 });");
    const { messages } = await kernel.execute("later.n + 1");
    expect(plainText(of(messages, "execute_result")[0])).toBe("42");
  });

  it("resolves an earlier cell's variable in a shorthand property ({ x })", async () => {
    await kernel.execute("const shorthandA = 5;");
    const { reply, messages } = await kernel.execute(
      "const shorthandB = 6;\nconst o = { shorthandA, shorthandB, c: 1 };\nJSON.stringify(o)",
    );
    expect(reply.content.status).toBe("ok");
    expect(plainText(of(messages, "execute_result")[0])).toBe(`'{"shorthandA":5,"shorthandB":6,"c":1}'`);
  });

  it("sends a thrown error as an error message and in execute_reply", async () => {
    const { reply, messages } = await kernel.execute("function f() { throw new RangeError('too far'); }\nf()");
    expect(reply.content).toMatchObject({ status: "error", ename: "RangeError", evalue: "too far" });
    const [err] = of(messages, "error");
    expect(err!.content.ename).toBe("RangeError");
    expect(err!.content.evalue).toBe("too far");
    expect((err!.content.traceback as string[]).join("\n")).toContain("RangeError: too far");
  });

  it("reports a type error as an error without running the cell", async () => {
    const { reply, messages } = await kernel.execute("console.log('must not print'); const s: number = 'text';");
    expect(reply.content.status).toBe("error");
    expect(reply.content.ename).toBe("TypeScriptError");
    expect(reply.content.evalue).toContain("not assignable to type 'number'");
    expect(of(messages, "stream")).toHaveLength(0);
  });

  it("turns stdout and stderr into stream messages of the cell", async () => {
    const { messages } = await kernel.execute("console.log('to out'); console.error('to err');");
    const streams = of(messages, "stream").map((m) => [m.content.name, m.content.text]);
    expect(streams).toEqual([
      ["stdout", "to out\n"],
      ["stderr", "to err\n"],
    ]);
  });

  it("displays multi-mime bundles, updates displays in place, and honours Symbol.for('Jupyter.display')", async () => {
    const code =
      `
      const hook = (globalThis as any)[Symbol.for("vlab.kernel")];
      hook.display({ "text/plain": "one", "text/html": "<b>one</b>", "image/png": new Uint8Array([1, 2, 3]) }, { ` +
      `displayId: "p" });
      hook.display({ "text/plain": "two" }, { displayId: "p", update: true });
      ({ [Symbol.for("Jupyter.display")]() { return { "text/markdown": "# md", "text/plain": "md" }; } })`;
    const { reply, messages } = await kernel.execute(code);
    expect(reply.content.status).toBe("ok");
    const [shown] = of(messages, "display_data");
    expect(shown!.content.data).toEqual({ "text/plain": "one", "text/html": "<b>one</b>", "image/png": "AQID" });
    expect(shown!.content.transient).toEqual({ display_id: "p" });
    const [updated] = of(messages, "update_display_data");
    expect(updated!.content).toMatchObject({ data: { "text/plain": "two" }, transient: { display_id: "p" } });
    expect(of(messages, "execute_result")[0]!.content.data).toEqual({ "text/markdown": "# md", "text/plain": "md" });
  });

  it("answers comm_info_request with comm_info_reply", async () => {
    const { reply } = await kernel.request("comm_info_request", {});
    expect(reply.header.msg_type).toBe("comm_info_reply");
    expect(reply.content).toEqual({ status: "ok", comms: {} });
  });

  it("answers is_complete and complete requests", async () => {
    const open = await kernel.request("is_complete_request", { code: "function f() {" });
    expect(open.reply.content.status).toBe("incomplete");
    await kernel.execute("const completeMe = { alpha: 1, beta: 2 };");
    const code = "completeMe.al";
    const { reply } = await kernel.request("complete_request", { code, cursor_pos: code.length });
    expect(reply.content.matches).toContain("alpha");
  });

  it("interrupts a synchronous loop and stays usable", async () => {
    // Until it stops, as a user clicks again: a SIGINT that lands while tslab still compiles the cell is lost (see
    // the grace-period test below), and compiling takes more than 300 ms on a loaded machine.
    const running = kernel.execute("while (true) {}");
    const clicks = setInterval(() => kernel.interrupt(), 300);
    const { reply } = await running.finally(() => clearInterval(clicks));
    expect(reply.content).toMatchObject({ status: "error", ename: "KeyboardInterrupt" });
    const after = await kernel.execute("'alive'");
    expect(plainText(of(after.messages, "execute_result")[0])).toBe("'alive'");
  });

  it("lets an async loop that watches the interrupt flag stop cleanly (how training loops stop)", async () => {
    const code = `
      const k = (globalThis as any)[Symbol.for("vlab.kernel")];
      let steps = 0;
      console.log("running");
      while (!k.interrupted) { steps++; await new Promise((r) => setTimeout(r, 5)); }
      console.log("stopped after", steps > 0 ? "some" : "no", "steps");`;
    // Interrupt once the cell runs (a SIGINT during tslab's compile is lost: see the grace-period test).
    const { reply, messages } = await kernel.execute(code, { onMessage: interruptOnceRunning(300) });
    expect(reply.content.status).toBe("ok");
    expect(of(messages, "stream").map((m) => m.content.text)).toEqual(["running\n", "stopped after some steps\n"]);
  });

  it("stops a running core.train cleanly on interrupt and stays usable", { timeout: 60_000 }, async () => {
    const setup = await kernel.execute(`
      import * as core from "@vlab/core";
      const { tf } = core;
      await core.initBackend("cpu");
      const w = tf.variable(tf.ones([64, 64]));
      const x = tf.ones([32, 64]);`);
    expect(setup.reply.content.status, JSON.stringify(setup.reply.content)).toBe("ok");
    const code = `
      const run = await core.train({ params: [w], steps: 1_000_000, logEvery: 1_000_000,
        loss: () => tf.mean(tf.square(tf.matMul(x, w))) as core.tf.Scalar });
      console.log(run.stopped, run.steps > 0 && run.steps < 1_000_000);`;
    const { reply, messages } = await kernel.execute(`console.log("training");\n${code}`, {
      onMessage: interruptOnceRunning(1500),
    });
    expect(reply.content.status, JSON.stringify(reply.content)).toBe("ok");
    expect(
      of(messages, "stream")
        .map((m) => m.content.text)
        .join(""),
    ).toContain("interrupted true");
    const after = await kernel.execute("w.shape");
    expect(plainText(of(after.messages, "execute_result")[0])).toBe("[ 64, 64 ]");
  });

  it("abandons async code that ignores the interrupt after a grace period", async () => {
    // Interrupt once the cell runs: a SIGINT that lands while tslab still compiles the cell is lost (vm's
    // breakOnSigint removes every SIGINT listener around the cell's first synchronous run, dropping a pending one).
    let interrupted = false;
    const running = kernel.execute("console.log('running'); for (;;) await new Promise((r) => setTimeout(r, 10));", {
      onMessage: (m) => {
        if (m.header.msg_type !== "stream" || interrupted) return;
        interrupted = true;
        setTimeout(() => kernel.interrupt(), 200);
      },
    });
    const { reply } = await running;
    expect(reply.content).toMatchObject({ status: "error", ename: "KeyboardInterrupt" });
    const after = await kernel.execute("1 + 1");
    expect(after.reply.content.status).toBe("ok");
  });

  it("imports the vlab packages from a folder outside the repository", async () => {
    const { reply, messages } = await kernel.execute(
      'import { currentBudget } from "@vlab/eval";\nimport * as vlab from "vlab";\n[currentBudget(), typeof ' +
        "vlab.core.initBackend]",
    );
    expect(reply.content.status, JSON.stringify(reply.content)).toBe("ok");
    expect(plainText(of(messages, "execute_result")[0])).toBe("[ 'quick', 'function' ]");
  });
});
