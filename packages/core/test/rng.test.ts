import { describe, expect, it } from "vitest";
import { Rng, getRng, setSeed } from "../src/rng.js";

describe("Rng", () => {
  it("same seed gives the same sequence, different seeds differ", () => {
    const a = new Rng(42),
      b = new Rng(42),
      c = new Rng(43);
    const sa = Array.from({ length: 20 }, () => a.next());
    const sb = Array.from({ length: 20 }, () => b.next());
    const sc = Array.from({ length: 20 }, () => c.next());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(new Rng(7).normalArray(10)).toEqual(new Rng(7).normalArray(10));
  });

  it("uniform values lie in [0, 1) with mean ~ 1/2", () => {
    const r = new Rng(1);
    let sum = 0,
      lo = 1,
      hi = 0;
    for (let i = 0; i < 20000; i++) {
      const x = r.next();
      sum += x;
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.01);
  });

  it("normal has mean ~0 and std ~1; normalArray scales by std", () => {
    const xs = new Rng(3).normalArray(20000, 2);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(std - 2)).toBeLessThan(0.05);
    expect(xs.every(Number.isFinite)).toBe(true);
  });

  it("uniformArray respects bounds", () => {
    const xs = new Rng(5).uniformArray(1000, -0.5, 0.25);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...xs)).toBeLessThan(0.25);
  });

  it("int covers 0..n-1 roughly uniformly", () => {
    const r = new Rng(9);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(120);
    expect(() => r.int(0)).toThrow();
  });

  it("shuffle permutes in place, deterministically", () => {
    const a = new Rng(11).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const b = new Rng(11).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a).toEqual(b);
    expect([...a].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("fork gives an independent, reproducible stream", () => {
    const p1 = new Rng(0),
      p2 = new Rng(0);
    const f1 = p1.fork(),
      f2 = p2.fork();
    expect(f1.next()).toBe(f2.next());
    expect(p1.next()).toBe(p2.next());
    expect(new Rng(0).fork().next()).not.toBe(new Rng(0).next());
  });

  it("setSeed / getRng reset the process-wide default", () => {
    setSeed(123);
    const x = getRng().next();
    setSeed(123);
    expect(getRng().next()).toBe(x);
    setSeed(0);
    expect(getRng().next()).toBe(new Rng(0).next());
  });
});
