import { describe, expect, it } from "vitest";
import { Rng } from "@vlab/core";
import { pick } from "../src/pick.js";

describe("pick", () => {
  it("draws items[rng.int(n)], the same draw as indexing by hand", () => {
    const items = ["a", "b", "c", "d", "e"];
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 20; i++) expect(pick(a, items)).toBe(items[b.int(items.length)]);
  });

  it("refuses an empty list", () => {
    expect(() => pick(new Rng(0), [])).toThrow(/Rng.int: n must be an integer/);
  });
});
