import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeak, initBackend, tf } from "@vlab/core";
import {
  buildLabels,
  DecoderCache,
  IGNORE_INDEX,
  leftPad,
  meanNll,
  rightPad,
  rightPadWithLabels,
  sftLoss,
  type LabelledBatch,
} from "../src/index.js";
import { randomIds, tinyModel } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const X = IGNORE_INDEX;

describe("padding", () => {
  it("reports the padded width; right padding pads labels with −100 and refuses mismatched lengths", () => {
    expect(leftPad([[5, 6, 7], [8]], 0).width).toBe(3);
    expect(rightPad([[5], []], 0, 4).width).toBe(4);
    const b = rightPadWithLabels(
      [
        { ids: [5, 6, 7], labels: [X, 6, 7] },
        { ids: [8], labels: [8] },
      ],
      0,
    );
    expect(b.ids).toEqual([
      [5, 6, 7],
      [8, 0, 0],
    ]);
    expect(b.attentionMask).toEqual([
      [1, 1, 1],
      [1, 0, 0],
    ]);
    expect(b.labels).toEqual([
      [X, 6, 7],
      [8, X, X],
    ]);
    expect(b.width).toBe(3);
    expect(() => rightPadWithLabels([{ ids: [1, 2], labels: [1] }], 0)).toThrow(/sequence 0 has 2 ids but 1 labels/);
  });

  it("buildLabels: a header at the very end and back-to-back answers", () => {
    expect(buildLabels([1, 11], { assistantHeader: [1, 11], endId: 2 })).toEqual([X, X]);
    expect(buildLabels([1, 11, 7, 2, 1, 11, 8, 2], { assistantHeader: [1, 11], endId: 2 })).toEqual([
      X,
      X,
      7,
      2,
      X,
      X,
      8,
      2,
    ]);
  });
});

describe("meanNll", () => {
  it("is the token-weighted mean of the batches' sftLoss, whatever the batch size", () => {
    const m = tinyModel({}, 9);
    const seqs = [randomIds(1, 5), randomIds(2, 3), randomIds(3, 7), randomIds(4, 2), randomIds(5, 4)].map((ids) => ({
      ids,
      labels: ids.map((id, t) => (t % 3 === 1 ? X : id)),
    }));
    const logits = (b: LabelledBatch) => m.forward(b.ids, { attentionMask: b.attentionMask });
    // By hand: every sequence alone, weighted by its supervised tokens (all but the first position).
    let nll = 0;
    let n = 0;
    for (const s of seqs) {
      const tokens = s.labels.slice(1).filter((y) => y !== X).length;
      const loss = tf.tidy(() => sftLoss(m.forward([s.ids]), [s.labels]));
      nll += (loss.dataSync()[0] ?? NaN) * tokens;
      n += tokens;
      loss.dispose();
    }
    for (const batchSize of [1, 2, 32]) expect(meanNll(seqs, logits, { padId: 0, batchSize })).toBeCloseTo(nll / n, 5);
    // The indices passed are the batch's positions in seqs.
    const seen: number[][] = [];
    meanNll(seqs, (b, idx) => (seen.push(idx), logits(b)), { padId: 0, batchSize: 2 });
    expect(seen).toEqual([[0, 1], [2, 3], [4]]);
    expect(() => meanNll([{ ids: [1, 2], labels: [X, X] }], logits, { padId: 0 })).toThrow(/supervise no token/);
    m.dispose();
  });

  it("leaks nothing", async () => {
    const m = tinyModel({}, 9);
    const seqs = [randomIds(1, 5), randomIds(2, 3), randomIds(3, 7)].map((ids) => ({ ids, labels: ids }));
    const run = () => meanNll(seqs, (b) => m.forward(b.ids, { attentionMask: b.attentionMask }), { padId: 0 });
    run();
    await expectNoLeak(run, "meanNll");
    m.dispose();
  });
});

describe("DecoderCache", () => {
  it("gives a cached row's mask, nothing while empty, and refuses a row it does not hold", () => {
    const cache = new DecoderCache(2);
    expect(cache.maskRow(5)).toEqual([]);
    const m = tinyModel();
    m.forward([[1, 2, 3]], { cache, attentionMask: [[0, 1, 1]] });
    expect(cache.maskRow(0)).toEqual([0, 1, 1]);
    expect(() => cache.maskRow(1)).toThrow(/row 1 is not cached \(the cache holds 1 rows\)/);
    tf.dispose(m.forward([[4]], { cache }));
    cache.dispose();
    m.dispose();
  });
});
