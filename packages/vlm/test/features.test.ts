import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeak, initBackend, tf } from "@vlab/core";
import { featureRows, generateFromFeatures, type ImageGenerator } from "../src/index.js";
import { makeLlava, pixels, tokenizer } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

describe("featureRows", () => {
  it("takes rows by index, in order and with repeats, and refuses an index out of range", async () => {
    const f = tf.tensor3d([[[1]], [[2]], [[3]]]); // [3, 1, 1]
    const rows = featureRows(f, [2, 0, 2]);
    expect(rows.shape).toEqual([3, 1, 1]);
    expect(Array.from(rows.dataSync())).toEqual([3, 1, 3]);
    expect(() => featureRows(f, [0, 3])).toThrow(
      "featureRows: index 3 (position 1) is not a row of the 3 feature rows",
    );
    expect(() => featureRows(f, [0.5])).toThrow(/index 0.5/);
    (await expectNoLeak(() => featureRows(f, [1]), "featureRows")).dispose(); // only the result stays
    tf.dispose([f, rows]);
  });
});

describe("generateFromFeatures", () => {
  it("answers each prompt about its image row, in batches, as one generate call per prompt would", () => {
    const m = makeLlava();
    const px = pixels();
    const feats = m.visionFeatures(px); // [2, 4, 24]
    const img = tokenizer.imageTokenId;
    const prompts = [
      [img, img, img, img, 5],
      [img, img, img, img, 6, 7],
      [img, img, img, img, 8],
    ];
    const rows = [1, 0, 1];
    const calls: number[] = [];
    const counting: ImageGenerator = {
      generate: (p, image, opts) => (calls.push(p.length), m.generate(p, image, opts)),
    };
    const opts = { maxNewTokens: 4, stopIds: [] };
    const out = generateFromFeatures(counting, prompts, feats, rows, { ...opts, batchSize: 2 });
    expect(calls).toEqual([2, 1]);
    prompts.forEach((p, i) => {
      const alone = featureRows(feats, [rows[i] ?? -1]);
      expect(out.tokens[i]).toEqual(m.generate([p], { features: alone }, opts).tokens[0]);
      alone.dispose();
    });
    expect(out.finishReasons).toEqual(["length", "length", "length"]);
    expect(() => generateFromFeatures(m, prompts, feats, [0])).toThrow(/3 prompts but 1 image rows/);
    tf.dispose([px, feats]);
    m.dispose();
  });

  it("leaks nothing", async () => {
    const m = makeLlava();
    const feats = tf.tidy(() => m.visionFeatures(pixels()));
    const img = tokenizer.imageTokenId;
    const run = () => generateFromFeatures(m, [[img, img, img, img, 5]], feats, [1], { maxNewTokens: 3 });
    run();
    await expectNoLeak(run, "generateFromFeatures");
    feats.dispose();
    m.dispose();
  });
});
