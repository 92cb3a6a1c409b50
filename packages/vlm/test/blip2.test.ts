import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, Rng, expectNoLeak, getRng, initBackend, setSeed, tf, updateStep } from "@vlab/core";
import {
  BLIP2_DEFAULTS,
  BLIP2_TINY,
  Blip2Qformer,
  additiveMask,
  blip2ImageFeatures,
  blip2Stage1Loss,
  hardNegativeWeights,
  itcLoss,
  itcSimilarity,
  itgInputs,
  itgLoss,
  itgMask,
  itmBatch,
  itmLoss,
  labelSmoothedCrossEntropy,
  resolveBlip2Config,
  sampleHardNegatives,
  sampleIndex,
  type Blip2Text,
} from "../src/index.js";
import { VisionTransformer } from "@vlab/vision";
import { maxDiff } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

// Width 64, 2 layers (cross-attention in layer 0), 4 queries; a 30-word vocabulary, 12-d image features.
const CONFIG = { ...BLIP2_TINY, numQueryTokens: 4, vocabSize: 30, encoderWidth: 12, bosTokenId: 29, padTokenId: 0 };
const makeModel = (over = {}, seed = 1) => new Blip2Qformer({ config: { ...CONFIG, ...over }, rng: new Rng(seed) });
const features = (B = 3, seed = 5) => tf.randomNormal([B, 5, 12], 0, 1, "float32", seed);
const TEXT: Blip2Text = {
  ids: [
    [1, 5, 7, 9, 0],
    [1, 3, 0, 0, 0],
    [1, 4, 6, 8, 10],
  ],
  mask: [
    [1, 1, 1, 1, 0],
    [1, 1, 0, 0, 0],
    [1, 1, 1, 1, 1],
  ],
};
const read = (x: tf.Tensor) => Array.from(x.dataSync());

describe("BLIP-2 Q-Former", () => {
  it("names every parameter as LAVIS (Qformer.bert…, cross-attention only in layers i % freq == 0)", () => {
    const m = makeModel();
    const names = m.namedParameters().map(([n]) => n);
    const layer = (i: number, cross: boolean) => {
      const attn = (kind: string) => [
        ...["query", "key", "value"].flatMap((p) => [`${kind}.self.${p}.weight`, `${kind}.self.${p}.bias`]),
        ...["dense.weight", "dense.bias", "LayerNorm.weight", "LayerNorm.bias"].map((p) => `${kind}.output.${p}`),
      ];
      const ffn = (s: string) => [
        `intermediate${s}.dense.weight`,
        `intermediate${s}.dense.bias`,
        ...["dense.weight", "dense.bias", "LayerNorm.weight", "LayerNorm.bias"].map((p) => `output${s}.${p}`),
      ];
      const own = [...attn("attention"), ...(cross ? attn("crossattention") : []), ...ffn(""), ...ffn("_query")];
      return own.map((n) => `Qformer.bert.encoder.layer.${i}.${n}`);
    };
    expect(names).toEqual([
      "query_tokens",
      "temp",
      "ln_vision.weight",
      "ln_vision.bias",
      "Qformer.bert.embeddings.word_embeddings.weight",
      "Qformer.bert.embeddings.position_embeddings.weight",
      "Qformer.bert.embeddings.LayerNorm.weight",
      "Qformer.bert.embeddings.LayerNorm.bias",
      ...layer(0, true),
      ...layer(1, false),
      "Qformer.cls.predictions.bias",
      "Qformer.cls.predictions.transform.dense.weight",
      "Qformer.cls.predictions.transform.dense.bias",
      "Qformer.cls.predictions.transform.LayerNorm.weight",
      "Qformer.cls.predictions.transform.LayerNorm.bias",
      "vision_proj.weight",
      "vision_proj.bias",
      "text_proj.weight",
      "text_proj.bias",
      "itm_head.weight",
      "itm_head.bias",
    ]);
    const shape = (n: string) => m.stateDict()[n]?.shape;
    expect(shape("query_tokens")).toEqual([1, 4, 64]);
    expect(shape("temp")).toEqual([]);
    expect(shape("Qformer.bert.encoder.layer.0.crossattention.self.key.weight")).toEqual([64, 12]); // from the image
    expect(shape("Qformer.bert.encoder.layer.0.attention.self.key.weight")).toEqual([64, 64]);
    expect(shape("vision_proj.weight")).toEqual([32, 64]);
    expect(shape("itm_head.weight")).toEqual([2, 64]);
    m.dispose();
    // Three layers with crossAttentionFreq 2: layers 0 and 2.
    const m3 = makeModel({ numHiddenLayers: 3 });
    expect(m3.Qformer.bert.encoder.layer.map((l) => l.crossattention !== null)).toEqual([true, false, true]);
    m3.dispose();
  });

  it("has the paper's defaults and refuses a bad config", () => {
    expect(BLIP2_DEFAULTS).toMatchObject({ hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12 });
    expect(BLIP2_DEFAULTS).toMatchObject({ intermediateSize: 3072, layerNormEps: 1e-12, crossAttentionFreq: 2 });
    expect(BLIP2_DEFAULTS).toMatchObject({ numQueryTokens: 32, encoderWidth: 1408, embedDim: 256, temperature: 0.07 });
    expect(() => resolveBlip2Config({ hiddenSize: 60, numAttentionHeads: 8 })).toThrow(/divisible/);
    expect(() => resolveBlip2Config({ numQueryTokens: 0 })).toThrow(/numQueryTokens must be a positive integer/);
    expect(() => resolveBlip2Config({ vocabSize: 10, bosTokenId: 10 })).toThrow(/bosTokenId 10/);
  });

  it("initialises as LAVIS: queries ~ N(0, 0.02), temp 0.07, query FFNs copies of the text FFN", () => {
    const m = makeModel();
    const q = read(m.query_tokens);
    const std = Math.sqrt(q.reduce((a, v) => a + v * v, 0) / q.length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    expect(read(m.temp)[0]).toBeCloseTo(0.07, 7);
    const sd = m.stateDict();
    for (const [name, v] of Object.entries(sd).filter(([n]) => n.includes("_query"))) {
      expect(maxDiff(v, sd[name.replace("_query", "")]!)).toBe(0);
    }
    // Its own rng only: the same seed gives the same weights, and core's global generator is left alone.
    setSeed(7);
    const drawn = getRng().next();
    setSeed(7);
    const twin = makeModel();
    expect(getRng().next()).toBe(drawn);
    twin.namedParameters().forEach(([n, v]) => expect(maxDiff(v, sd[n]!)).toBe(0));
    twin.dispose();
    // A copy, not the same variable: training one leaves the other.
    const l0 = m.Qformer.bert.encoder.layer[0]!;
    l0.intermediate_query.dense.weight.assign(tf.zerosLike(l0.intermediate_query.dense.weight));
    expect(maxDiff(l0.intermediate.dense.weight, tf.zerosLike(l0.intermediate.dense.weight))).toBeGreaterThan(0);
    m.dispose();
  });

  it("ITC's similarity is the best query's cosine over temp (worked case), and its loss is label-smoothed", () => {
    // Image 0's queries (1,0) and (0,1); image 1's (0.6,0.8) and (-1,0). Texts (1,0) and (0.6,0.8).
    const img = tf.tensor3d([
      [
        [1, 0],
        [0, 1],
      ],
      [
        [0.6, 0.8],
        [-1, 0],
      ],
    ]);
    const txt = tf.tensor2d([
      [1, 0],
      [0.6, 0.8],
    ]);
    const sim = itcSimilarity(img, txt, 0.5);
    // i2t[0] = [max(1, 0), max(0.6, 0.8)] / 0.5; i2t[1] = [max(0.6, -1), max(1, -0.6)] / 0.5
    expect(sim.simI2t.arraySync().flat()).toEqual([2, 1.6, 1.2, 2].map((v) => expect.closeTo(v, 6)));
    expect(sim.simT2i.arraySync().flat()).toEqual([2, 1.2, 1.6, 2].map((v) => expect.closeTo(v, 6)));
    // CE_ls by hand: row [a, b] with target 0: −(0.95 log p0 + 0.05 log p1).
    const ce = (row: number[], y: number) => {
      const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      return -row.reduce((s, v, c) => s + ((c === y ? 0.9 : 0) + 0.1 / row.length) * (v - lse), 0);
    };
    const want = (ce([2, 1.6], 0) + ce([1.2, 2], 1) + ce([2, 1.2], 0) + ce([1.6, 2], 1)) / 4;
    const loss = itcLoss(sim);
    expect(read(loss)[0]).toBeCloseTo(want, 5);
    // Equal logits: ln C whatever the smoothing.
    const flat = labelSmoothedCrossEntropy(tf.zeros([2, 5]), [1, 3], 0.3);
    expect(read(flat)[0]).toBeCloseTo(Math.log(5), 6);
    tf.dispose([img, txt, sim.simI2t, sim.simT2i, loss, flat]);
  });

  it("draws hard negatives as LAVIS: softmax + 1e-4, never the positive, seeded", () => {
    const w = hardNegativeWeights([
      [0, Math.log(3), 0],
      [1, 1, 1],
      [0, 0, 5],
    ]);
    // Row 0: softmax [1, 3, 1] / 5 + 1e-4 with the diagonal zeroed.
    expect(w[0]).toEqual([0, 0.6 + 1e-4, 0.2 + 1e-4].map((v) => expect.closeTo(v, 9)));
    expect(w[1]![1]).toBe(0);
    expect(w[2]![2]).toBe(0);
    // Draw frequencies follow the weights; a zero weight is never drawn.
    const rng = new Rng(3);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sampleIndex([0.1, 0, 0.6, 0.3], rng)]!++;
    expect(counts[1]).toBe(0);
    expect(counts[2]! / 4000).toBeCloseTo(0.6, 1);
    expect(counts[0]! / 4000).toBeCloseTo(0.1, 1);
    expect(() => sampleIndex([0, 0], rng)).toThrow(/positive sum/);
    const sim = [
      [5, 1, 0, 2],
      [0, 5, 3, 1],
      [1, 1, 5, 0],
      [2, 0, 1, 5],
    ];
    const a = sampleHardNegatives(sim, sim, new Rng(9));
    const b = sampleHardNegatives(sim, sim, new Rng(9));
    expect(a).toEqual(b);
    a.negImageForText.forEach((j, i) => expect(j).not.toBe(i));
    a.negTextForImage.forEach((j, i) => expect(j).not.toBe(i));
    expect(() => sampleHardNegatives([[1]], [[1]], rng)).toThrow(/2 or more pairs/);
  });

  it("never draws a pair known to match as a negative (LAVIS's image_id mask), both ways", () => {
    // Image 0 is also described by text 2 (and image 2 by text 0); image 1 by text 3; 3 matches everything.
    const matches = [
      [true, false, true, false],
      [false, true, false, true],
      [true, false, true, false],
      [true, true, true, true],
    ];
    const at = (b: number, c: number) => matches[b]![c]!;
    const w = hardNegativeWeights(
      [
        [0, Math.log(3), 0, 0],
        [1, 1, 1, 1],
        [0, 0, 5, 0],
        [1, 2, 3, 4],
      ],
      at,
    );
    const soft = [1, 3, 1, 1].map((v) => v / 6); // row 0: softmax, then text 2 masked like the diagonal
    expect(w[0]).toEqual([0, soft[1]! + 1e-4, 0, soft[3]! + 1e-4].map((v) => expect.closeTo(v, 9)));
    expect(w[1]).toEqual([0.25 + 1e-4, 0, 0.25 + 1e-4, 0].map((v) => expect.closeTo(v, 9)));
    expect(w[3]!.map((v) => v > 0)).toEqual([true, true, true, false]); // all positive: only the diagonal masked
    const sim = Array.from({ length: 4 }, (_, b) => Array.from({ length: 4 }, (_, c) => (b === c ? 5 : b + c)));
    const rng = new Rng(4);
    for (let i = 0; i < 200; i++) {
      const n = sampleHardNegatives(sim, sim, rng, matches);
      n.negTextForImage.forEach((c, b) => expect(b === 3 || !at(b, c)).toBe(true)); // image b, text c
      n.negImageForText.forEach((b, c) => expect(at(b, c)).toBe(false)); // text c, image b: image 3 never
    }
    expect(() => sampleHardNegatives(sim, sim, rng, [[true]])).toThrow(/matches must be 4 × 4/);
  });

  it("lays out ITM's 3B batch (texts pos, pos, neg; images pos, neg, pos) and ITG's inputs", () => {
    const text: Blip2Text = {
      ids: [
        [1, 5],
        [1, 6],
        [1, 7],
      ],
      mask: [
        [1, 1],
        [1, 0],
        [1, 1],
      ],
    };
    const batch = itmBatch(text, { negImageForText: [2, 0, 1], negTextForImage: [1, 2, 0] });
    expect(batch.text.ids).toEqual([
      [1, 5],
      [1, 6],
      [1, 7],
      [1, 5],
      [1, 6],
      [1, 7],
      [1, 6],
      [1, 7],
      [1, 5],
    ]);
    expect(batch.text.mask.slice(6)).toEqual([
      [1, 0],
      [1, 1],
      [1, 1],
    ]);
    expect(batch.imageIndex).toEqual([0, 1, 2, 2, 0, 1, 0, 1, 2]);
    expect(batch.labels).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 0]);
    const itg = itgInputs(TEXT, CONFIG);
    expect(itg.text.ids[1]).toEqual([29, 3, 0, 0, 0]); // [CLS] → [DEC]
    expect(itg.labels[1]).toEqual([29, 3, -100, -100, -100]); // padding → −100 (shifted in the loss)
  });

  it("ITG: text rows see no later text; query rows see no text; the cached pass = the joint has_query pass", () => {
    const m = makeModel();
    const f = features();
    const emb = m.imageEmbeds(f);
    const query = m.queryOutput(emb);
    const a = m.itgLogits(TEXT, query.pastKeyValues);
    const changed = { ids: TEXT.ids.map((r) => [...r.slice(0, 3), 11, 12]), mask: TEXT.mask }; // row 2: 2 real changes
    const b = m.itgLogits(changed, query.pastKeyValues);
    const first3 = (x: tf.Tensor) => tf.slice(x, [0, 0, 0], [-1, 3, -1]);
    expect(maxDiff(first3(a), first3(b))).toBeLessThan(1e-5); // positions 0..2 do not see 3..4
    expect(maxDiff(a, b)).toBeGreaterThan(1e-3); // …and the later ones do change
    // The joint pass over [queries; text] with the has_query mask (generation's first step).
    const N = m.numQueryTokens;
    const joint = m.Qformer.bert.forward({
      ids: TEXT.ids,
      queryEmbeds: tf.tile(m.query_tokens, [3, 1, 1]),
      mask: additiveMask(itgMask(N, TEXT.mask, { hasQuery: true })),
      encoderHiddenStates: emb,
    });
    const jointQ = tf.slice(joint.hidden, [0, 0, 0], [-1, N, -1]);
    expect(maxDiff(jointQ, query.hidden)).toBeLessThan(1e-5); // the queries did not see the text
    const jointText = m.Qformer.logits(tf.slice(joint.hidden, [0, N, 0], [-1, -1, -1]));
    expect(maxDiff(jointText, a)).toBeLessThan(1e-4);
    // ITM's queries do see the text.
    const itmA = m.itmLogits(TEXT, emb);
    const itmB = m.itmLogits(changed, emb);
    expect(maxDiff(itmA, itmB)).toBeGreaterThan(1e-6);
    m.dispose();
  });

  it("each loss reaches its own parts: ITC not the ITM / LM heads, ITM not the ITC heads, ITG the queries", () => {
    const m = makeModel();
    const f = features();
    const negatives = { negImageForText: [1, 2, 0], negTextForImage: [2, 0, 1] };
    const reached = (loss: () => tf.Scalar) => {
      const { value, grads } = tf.variableGrads(loss, m.parameters());
      const names = m
        .namedParameters()
        .filter(([, v]) => {
          const g = grads[v.name]; // null where the loss does not reach
          return g ? tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!) > 0 : false;
        })
        .map(([n]) => n);
      tf.dispose([value, ...Object.values(grads).filter((g) => g)]);
      return names;
    };
    const itc = reached(() => {
      const q = m.queryOutput(m.imageEmbeds(f));
      return itcLoss(itcSimilarity(m.imageFeats(q.hidden), m.textFeat(TEXT), m.temp));
    });
    expect(itc).toEqual(expect.arrayContaining(["temp", "vision_proj.weight", "text_proj.weight", "query_tokens"]));
    expect(itc.filter((n) => n.startsWith("itm_head") || n.startsWith("Qformer.cls"))).toEqual([]);
    const itm = reached(() => itmLoss(m, TEXT, m.imageEmbeds(f), negatives));
    expect(itm).toEqual(expect.arrayContaining(["itm_head.weight", "query_tokens", "ln_vision.weight"]));
    expect(itm.filter((n) => /^(vision_proj|text_proj|temp|Qformer\.cls)/.test(n))).toEqual([]);
    const lm = reached(() => itgLoss(m, TEXT, m.queryOutput(m.imageEmbeds(f)).pastKeyValues));
    // Through the cached keys / values the LM loss trains the queries and the cross-attention too.
    expect(lm).toEqual(
      expect.arrayContaining([
        "Qformer.cls.predictions.bias",
        "query_tokens",
        "Qformer.bert.encoder.layer.0.crossattention.self.key.weight",
      ]),
    );
    expect(lm.filter((n) => /^(vision_proj|text_proj|temp|itm_head)/.test(n))).toEqual([]);
    // The last layer's query FFN feeds nothing the LM reads (only keys / values are cached).
    expect(lm).not.toContain("Qformer.bert.encoder.layer.1.intermediate_query.dense.weight");
    f.dispose();
    m.dispose();
  });

  it("trains on L_itc + L_itm + L_lm with seeded negatives, without leaking tensors", async () => {
    const m = makeModel();
    const f = features();
    const opt = new AdamW(m.namedParameters(), { lr: 1e-3 });
    const step = (seed: number) =>
      updateStep(() => blip2Stage1Loss(m, f, TEXT, new Rng(seed)), {
        vars: m.parameters(),
        optimizer: opt,
        lr: 1e-3,
        label: "stage 1",
        where: "test",
      });
    const first = await step(1);
    expect(first.loss).toBeCloseTo(first.aux.itc + first.aux.itm + first.aux.lm, 4);
    expect(first.aux.itm).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    await expectNoLeak(() => step(2), "stage-1 step");
    expect(tf.memory().numTensors).toBe(before);
    f.dispose();
    m.dispose();
  });

  it("refuses image features of the wrong width, text too long or outside the vocabulary, mismatched batches", () => {
    const m = makeModel();
    const wrong = tf.zeros([2, 5, 10]);
    expect(() => m.imageEmbeds(wrong)).toThrow(/\[B, S, 12\].*got \[2, 5, 10\]/);
    const long: Blip2Text = { ids: [new Array<number>(65).fill(1)], mask: [new Array<number>(65).fill(1)] };
    expect(() => m.textFeat(long)).toThrow(/65 tokens is longer than maxPositionEmbeddings \(64\)/);
    expect(() => m.textFeat({ ids: [[1, 30]], mask: [[1, 1]] })).toThrow(/text id 30 at \[0, 1\] is not in \[0, 30\)/);
    expect(() => m.textFeat({ ids: [[1, 2]], mask: [[1]] })).toThrow(/mask must have the shape of the ids/);
    const f = features(2);
    const emb = m.imageEmbeds(f);
    expect(() => m.itmLogits(TEXT, emb)).toThrow(/3 texts but 2 images/);
    expect(() => blip2Stage1Loss(m, f, TEXT, new Rng(0))).toThrow(/2 images but 3 texts/);
    const q = m.queryOutput(emb);
    expect(() => m.itgLogits(TEXT, q.pastKeyValues.slice(0, 1))).toThrow(/pastKeyValues has 1 layers/);
    tf.dispose([wrong, f, emb, q.hidden, ...q.pastKeyValues.flat()]);
    m.dispose();
  });

  it("clamps the temperature as BLIP-1 does when asked", () => {
    const m = makeModel();
    m.temp.assign(tf.scalar(2));
    m.clampTemp();
    expect(read(m.temp)[0]).toBeCloseTo(0.5, 7);
    m.dispose();
  });
});

describe("blip2ImageFeatures", () => {
  it("gives every token of the second-to-last block, CLS first (EVA ViT-g without its last block)", () => {
    const vit = new VisionTransformer({ imageSize: 16, patchSize: 8, width: 12, layers: 3, outputDim: 8, seed: 2 });
    const pixels = tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 7);
    const all = blip2ImageFeatures(vit, pixels); // [2, 1 + 4, 12]
    expect(all.shape).toEqual([2, 5, 12]);
    const patches = vit.patchFeatures(pixels, -2); // the same block, CLS dropped
    const rest = tf.slice(all, [0, 1, 0], [-1, -1, -1]);
    expect(maxDiff(rest, patches)).toBe(0);
    const outs = vit.forwardOutputs(pixels, { hiddenStates: true });
    expect(maxDiff(blip2ImageFeatures(vit, pixels, -1), outs.lastHiddenState)).toBe(0);
    expect(maxDiff(blip2ImageFeatures(vit, pixels, 2), all)).toBe(0);
    expect(() => blip2ImageFeatures(vit, pixels, 4)).toThrow(/layer 4 is out of range for 3 blocks/);
    tf.dispose([pixels, all, patches, rest, outs.pooled, outs.lastHiddenState, ...(outs.hiddenStates ?? [])]);
  });
});
