import { describe, expect, it } from "vitest";
import { MASK_MIN, tf } from "@vlab/core";
import {
  additiveMask,
  extendedAttentionMask,
  itcTextMask,
  itgMask,
  itmMask,
  jointMask,
  withQueryKeys,
} from "../src/index.js";

// T9: 2 queries and 3 text tokens, the last of them padding (mask2d = [1, 1, 1, 1, 0] over [q0 q1 t0 t1 t2]).
const T9_ITG = [
  [1, 1, 0, 0, 0], // q0: the queries only
  [1, 1, 0, 0, 0], // q1
  [1, 1, 1, 0, 0], // t0: queries and itself
  [1, 1, 1, 1, 0], // t1: queries, t0, t1
  [1, 1, 1, 1, 0], // t2 (padding): its own key is padding
];

describe("BLIP-2 masks", () => {
  it("T9: ITG's has_query (UniLM) mask, ITM's bidirectional mask, ITC's two passes", () => {
    expect(itgMask(2, [[1, 1, 0]], { hasQuery: true })).toEqual([T9_ITG]);
    expect(itmMask(2, [[1, 1, 0]])).toEqual([[[1, 1, 1, 1, 0]]]); // one row every query shares
    expect(jointMask("itm", 2, [1, 1, 0])).toEqual(new Array(5).fill([1, 1, 1, 1, 0]));
    expect(itcTextMask([[1, 1, 0]])).toEqual([[[1, 1, 0]]]); // the text pass: each row [1, 1, 0]
    // ITC over the joint layout: the query pass (all ones over 2 keys) and the text pass, nothing between them.
    expect(jointMask("itc", 2, [1, 1, 0])).toEqual([
      [1, 1, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [0, 0, 1, 1, 0],
      [0, 0, 1, 1, 0],
      [0, 0, 1, 1, 0],
    ]);
    expect(jointMask("itg", 2, [1, 1, 0])).toEqual(T9_ITG);
  });

  it("ITG's training form has only the text rows (the query keys come from the cache)", () => {
    // The text rows of T9: the same rows as the joint mask's last three.
    expect(itgMask(2, [[1, 1, 0]], { hasQuery: false })).toEqual([T9_ITG.slice(2)]);
  });

  it("works per example in a batch with different padding (worked case: 1 query, 4 text tokens)", () => {
    const masks = [
      [1, 1, 1, 1],
      [1, 1, 0, 0],
    ];
    const itg = itgMask(1, masks, { hasQuery: true });
    expect(itg[0]).toEqual([
      [1, 0, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [1, 1, 1, 0, 0],
      [1, 1, 1, 1, 0],
      [1, 1, 1, 1, 1],
    ]);
    expect(itg[1]).toEqual([
      [1, 0, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [1, 1, 1, 0, 0],
      [1, 1, 1, 0, 0], // padded rows still see the queries and the real text before them
      [1, 1, 1, 0, 0],
    ]);
    expect(itmMask(1, masks)).toEqual([[[1, 1, 1, 1, 1]], [[1, 1, 1, 0, 0]]]);
    expect(withQueryKeys(3, [[1, 0]])).toEqual([[1, 1, 1, 1, 0]]);
  });

  it("without query keys a decoder mask is causal times padding; an encoder mask is the padding row", () => {
    expect(extendedAttentionMask([[1, 1, 0]], { isDecoder: true })).toEqual([
      [
        [1, 0, 0],
        [1, 1, 0],
        [1, 1, 0],
      ],
    ]);
    // hasQuery with nothing in front changes nothing (LAVIS only prepends when the 2-D mask is longer).
    expect(extendedAttentionMask([[1, 1, 0]], { isDecoder: true, hasQuery: true })).toEqual(
      extendedAttentionMask([[1, 1, 0]], { isDecoder: true }),
    );
    expect(extendedAttentionMask([[1, 0, 1]], { isDecoder: false })).toEqual([[[1, 0, 1]]]);
  });

  it("turns keep numbers into the additive [B, 1, R, S] mask (0 / MASK_MIN)", () => {
    const before = tf.memory().numTensors;
    const m = additiveMask(itgMask(2, [[1, 1, 0]], { hasQuery: false }));
    expect(m.shape).toEqual([1, 1, 3, 5]);
    const values = m.arraySync()[0]![0]!;
    values.forEach((row, r) => row.forEach((v, j) => expect(v).toBe(T9_ITG[r + 2]![j] ? 0 : MASK_MIN)));
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses masks that are not 0/1, ragged rows, and a text longer than the mask", () => {
    expect(() => itmMask(2, [[1, 2]])).toThrow(/mask\[0\]\[1\] is 2/);
    expect(() => itgMask(2, [[1, 1], [1]])).toThrow(/row 1 has 1 entries/);
    expect(() => extendedAttentionMask([[1, 1]], { isDecoder: true, textLength: 3 })).toThrow(/textLength 3/);
    expect(() => withQueryKeys(-1, [[1]])).toThrow(/non-negative integer/);
    expect(() => jointMask("mlm" as never, 2, [1])).toThrow(/itc.*itm.*itg/);
  });
});
