import { afterEach, describe, expect, it, vi } from "vitest";
import { progressBar, progressText } from "../src/progress.js";
import { installFakeKernel } from "./helpers.js";

function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  const write = (s: string) => {
    chunks.push(s);
    return true;
  };
  return { chunks, stream: { isTTY, columns: 200, write } };
}

describe("progressBar in a kernel", () => {
  afterEach(() => {
    Reflect.deleteProperty(globalThis, Symbol.for("vlab.kernel"));
  });

  it("updates one display in place, throttled to the interval, plus the final state", () => {
    const kernel = installFakeKernel();
    let t = 0;
    const p = progressBar(100, { title: "train", now: () => t });
    expect(kernel.sent).toHaveLength(1); // the empty bar
    for (let step = 1; step <= 100; step++) {
      t += 10; // 10 ms a step: 1000 ms in all → one update every 200 ms
      p.update(step, { loss: 1 / step });
    }
    p.done();
    const ids = new Set(kernel.sent.map((s) => s.opts.displayId));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^vlab-progress-/);
    expect(kernel.sent[0]!.opts.update).toBeUndefined();
    expect(kernel.sent.slice(1).every((s) => s.opts.update === true)).toBe(true);
    // 1 initial + 5 throttled (every 200 ms) + the step==total one + done
    expect(kernel.sent.length).toBeGreaterThanOrEqual(6);
    expect(kernel.sent.length).toBeLessThanOrEqual(9);
    const last = kernel.sent.at(-1)!.bundle;
    expect(Object.keys(last).sort()).toEqual(["text/html", "text/plain"]);
    expect(last["text/plain"]).toBe("train: 100% 100/100 [00:01, 100 it/s] loss=0.01");
    expect(last["text/html"]).toContain("width:100.0%");
    expect(last["text/html"]).toContain("#2da44e");
  });

  it("marks a run stopped early, ignores calls after done", () => {
    const kernel = installFakeKernel();
    let t = 0;
    const p = progressBar(10, { now: () => t });
    t = 2000;
    p.update(4);
    p.done();
    const n = kernel.sent.length;
    p.update(5);
    p.done();
    expect(kernel.sent.length).toBe(n);
    expect(kernel.sent.at(-1)!.bundle["text/plain"]).toMatch(/40% 4\/10 .*\(stopped\)$/);
  });
});

describe("progressBar in a terminal", () => {
  it("rewrites one line with \\r on a TTY", () => {
    const { chunks, stream } = fakeStream(true);
    let t = 0;
    const p = progressBar(4, { stream, now: () => t, title: "x" });
    for (let s = 1; s <= 4; s++) {
      t += 1000;
      p.update(s, { acc: 0.5 });
    }
    p.done();
    expect(chunks.every((c) => c.startsWith("\r"))).toBe(true);
    expect(chunks.at(-1)).toBe("\rx: 100% 4/4 [00:04, 1 it/s] acc=0.5\n");
    expect(chunks[2]).toBe("\rx:  75% 3/4 [00:03<00:01, 1 it/s] acc=0.5");
    expect(chunks[0]).toBe("\rx:  25% 1/4 [00:01<00:03, 1 it/s] acc=0.5");
  });

  it("prints a line every ~10% when not a TTY", () => {
    const { chunks, stream } = fakeStream(false);
    let t = 0;
    const p = progressBar(1000, { stream, now: () => t, throttleMs: 0 });
    for (let s = 1; s <= 1000; s++) {
      t += 1;
      p.update(s);
    }
    p.done();
    expect(chunks.length).toBe(11); // 0%, 10%, ..., 100%
    expect(chunks.every((c) => c.endsWith("\n") && !c.includes("\r"))).toBe(true);
    expect(chunks.at(-1)).toBe("100% 1000/1000 [00:01, 1000 it/s]\n");
  });

  it("writes to stderr by default", () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const p = progressBar(2);
    p.update(2);
    p.done();
    const calls = write.mock.calls.length;
    write.mockRestore();
    expect(calls).toBeGreaterThan(0);
  });
});

describe("progressText", () => {
  it("handles an unknown total and slow steps", () => {
    expect(progressText({ step: 3, total: 0, elapsed: 30, metrics: {}, finished: false })).toBe("3 [00:30, 10 s/it]");
  });
});
