import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, initBackend, tf } from "@vlab/core";
import { IGNORE_INDEX, sftLoss } from "@vlab/llm";
import { buildWordTokenizer } from "@vlab/tokenizers";
import {
  IMAGE_TOKEN,
  LlavaProjector,
  VICUNA_V1_SYSTEM,
  embedWithImages,
  llavaV1Labels,
  llavaV1Prompt,
  plainSample,
  toChatMessages,
  wholeSequenceLabels,
} from "../src/index.js";
import { makeLlava, maxDiff, pixels, tokenizer } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

describe("LLaVA", () => {
  it("names its parts as Hugging Face's LlavaForConditionalGeneration and builds both projectors", () => {
    const m = makeLlava();
    const names = m.namedParameters().map(([n]) => n);
    expect(names).toContain("multi_modal_projector.linear_1.weight");
    expect(names).toContain("multi_modal_projector.linear_2.bias");
    expect(names).toContain("language_model.model.embed_tokens.weight");
    expect(names.some((n) => n.startsWith("vision_tower."))).toBe(true);
    expect(m.imageTokens).toBe(4);
    const v1 = new LlavaProjector(24, 32, "linear");
    expect(v1.namedParameters().map(([n]) => n)).toEqual(["linear_1.weight", "linear_1.bias"]);
    expect(() => new LlavaProjector(24, 32, "mlp3x" as never)).toThrow(/linear.*mlp2x_gelu/);
    // mlp2x_gelu: linear_2(gelu(linear_1 x)), checked against the pieces.
    const x = tf.randomNormal([3, 24], 0, 1, "float32", 1);
    const p = m.multi_modal_projector;
    const want = tf.tidy(() =>
      p.linear_2!.forward(
        tf.mul(tf.mul(p.linear_1.forward(x), 0.5), tf.add(1, tf.erf(tf.div(p.linear_1.forward(x), Math.SQRT2)))),
      ),
    );
    const got = p.forward(x);
    expect(maxDiff(got, want)).toBeLessThan(1e-5);
    tf.dispose([x, want, got, v1]);
    m.dispose();
  });

  it(
    "takes vision features from the second-to-last layer " + "without CLS, and cached features give the same logits",
    () => {
      const m = makeLlava();
      const px = pixels();
      const feats = m.visionFeatures(px); // [2, 4, 24]
      expect(feats.shape).toEqual([2, 4, 24]);
      const hidden = m.vision_tower.forwardOutputs(px, { hiddenStates: true });
      // layers 3 → states 0..3; -2 is index 2
      const penultimate = tf.slice(hidden.hiddenStates![2]!, [0, 1, 0], [-1, -1, -1]);
      expect(maxDiff(feats, penultimate)).toBe(0);
      const img = tokenizer.imageTokenId;
      const ids = [
        [img, img, img, img, 5, 6],
        [img, img, img, img, 7, 8],
      ];
      const a = m.forward(ids, { pixels: px });
      const b = m.forward(ids, { features: feats });
      expect(a.shape).toEqual([2, 6, tokenizer.vocabSize]);
      expect(maxDiff(a, b)).toBeLessThan(1e-6);
      expect(() =>
        m.forward([[img, img, img, 5, 6, 7]], { features: tf.slice(feats, [0, 0, 0], [1, -1, -1]) }),
      ).toThrow(/3 image placeholder tokens .* 4 rows/);
      tf.dispose([px, feats, hidden.pooled, hidden.lastHiddenState, ...hidden.hiddenStates!, penultimate, a, b]);
      m.dispose();
    },
  );

  it("stage 1 trains the projector only; stage 2 the projector and the LM; the vision tower never", () => {
    const m = makeLlava("linear");
    const count = (prefix: string) =>
      m.namedParameters().filter(([n, v]) => n.startsWith(prefix) && v.trainable).length;
    m.stage(1);
    expect([count("vision_tower"), count("multi_modal_projector"), count("language_model")]).toEqual([0, 2, 0]);
    // One AdamW step of the stage-1 loss leaves the LM's weights exactly as they were and moves the projector.
    const px = pixels();
    const feats = m.visionFeatures(px);
    const samples = ["a red circle", "a blue square"].map((c) => plainSample(tokenizer, c, m.imageTokens));
    const before = m.namedParameters().map(([n, v]) => [n, v.clone()] as const);
    const opt = new AdamW(
      m.namedParameters().filter(([, v]) => v.trainable),
      { lr: 1e-2 },
    );
    const n0 = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () =>
        sftLoss(
          m.forward(
            samples.map((s) => s.ids),
            { features: feats },
          ),
          samples.map((s) => s.labels),
        ),
      m.trainableParameters(),
    );
    opt.step(grads);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(n0); // the step leaves no tensor behind (AdamW made its moments up front)
    for (const [n, v] of before) {
      const moved = maxDiff(v, m.namedParameters().find(([k]) => k === n)![1]) > 0;
      expect(moved, n).toBe(n.startsWith("multi_modal_projector"));
      v.dispose();
    }
    m.stage(2);
    expect(count("vision_tower")).toBe(0);
    expect(count("language_model")).toBe(m.language_model.namedParameters().length);
    tf.dispose([px, feats]);
    opt.dispose?.();
    m.dispose();
  });

  it("snapshot copies every weight but the vision tower's; restore brings them back", () => {
    const m = makeLlava("linear");
    const snap = m.snapshot();
    const names = Object.keys(snap);
    expect(names.some((n) => n.startsWith("vision_tower."))).toBe(false);
    expect(names).toContain("multi_modal_projector.linear_1.weight");
    expect(names).toContain("language_model.model.embed_tokens.weight");
    const w = m.multi_modal_projector.linear_1.weight;
    const before = w.clone();
    const moved = tf.add(w, 1);
    w.assign(moved);
    expect(maxDiff(w, before)).toBeGreaterThan(0.5);
    expect(m.restore(snap)).toBe(m);
    expect(maxDiff(w, before)).toBe(0);
    tf.dispose([before, moved, ...Object.values(snap)]);
    m.dispose();
  });

  it("turns a LLaVA conversation into ChatML messages: the image first, or left out with 0 image tokens", () => {
    const turns = [
      { role: "user", content: `${IMAGE_TOKEN}\nwhat color is the circle?` },
      { role: "assistant", content: "red" },
      { role: "user", content: "and the square?" },
    ];
    expect(toChatMessages(turns, 4)).toEqual([
      {
        role: "user",
        content: [
          { type: "image", tokens: 4 },
          { type: "text", text: "what color is the circle?" },
        ],
      },
      { role: "assistant", content: "red" },
      { role: "user", content: "and the square?" },
    ]);
    expect(toChatMessages(turns, 0)[0]).toEqual({ role: "user", content: "what color is the circle?" });
    const ids = tokenizer.encodeChat(toChatMessages(turns, 4));
    expect(ids.filter((id) => id === tokenizer.imageTokenId)).toHaveLength(4);
    expect(() => toChatMessages(turns, -1)).toThrow(/non-negative integer/);
  });

  it(
    "labels: plain template supervises the caption and its end; the whole-sequence ablation all but images and " +
      "padding",
    () => {
      const s = plainSample(tokenizer, "a red circle", 4);
      const words = tokenizer.encode("a red circle");
      expect(s.ids).toEqual([...Array(4).fill(tokenizer.imageTokenId), ...words, tokenizer.imEndId]);
      expect(s.labels).toEqual([...Array(4).fill(IGNORE_INDEX), ...words, tokenizer.imEndId]);
      const ids = [tokenizer.padId, tokenizer.imStartId, tokenizer.imageTokenId, 9, tokenizer.imEndId];
      expect(wholeSequenceLabels(ids, tokenizer)).toEqual([
        IGNORE_INDEX,
        tokenizer.imStartId,
        IGNORE_INDEX,
        9,
        tokenizer.imEndId,
      ]);
    },
  );

  it("generates from images batched as it does one by one", () => {
    const m = makeLlava();
    const px = pixels();
    const feats = m.visionFeatures(px);
    const img = tokenizer.imageTokenId;
    const prompts = [
      [img, img, img, img, 5],
      [img, img, img, img, 6, 7, 8],
    ];
    const both = m.generate(prompts, { features: feats }, { maxNewTokens: 5, stopIds: [] });
    const one = prompts.map(
      (p, i) =>
        m.generate([p], { features: tf.slice(feats, [i, 0, 0], [1, -1, -1]) }, { maxNewTokens: 5, stopIds: [] })
          .tokens[0],
    );
    expect(both.tokens).toEqual(one);
    // Log-probs with the image spliced in equal the LM's with the same embeddings. A completion may hold the
    // placeholder id (a sampled token): it is an ordinary token there, as it was when generated.
    const completions = both.tokens.map((t) => [...t, img]);
    const viaLlava = m.logProbs(prompts, completions, { features: feats });
    const embeds = m.imageEmbeds({ features: feats });
    const viaLm = m.language_model.logProbs(prompts, completions, { embed: embedWithImages(m.language_model, embeds) });
    expect(maxDiff(viaLlava.logProbs, viaLm.logProbs)).toBeLessThan(1e-6);
    expect(viaLlava.logProbs.shape).toEqual([2, 6]);
    tf.dispose([viaLlava.logProbs, viaLlava.mask, viaLm.logProbs, viaLm.mask, embeds]);
    tf.dispose([px, feats]);
    m.dispose();
  });
});

describe(
  "LLaVA v1 template and labels (llava/conversation.py " + "conv_vicuna_v1, llava/train/train.py preprocess_v1)",
  () => {
    it("renders the Vicuna v1 chat with the image first", () => {
      const text = llavaV1Prompt([
        { role: "user", content: "what color is the circle? <image>" },
        { role: "assistant", content: "red" },
        { role: "user", content: "how many shapes?" },
        { role: "assistant", content: "2" },
      ]);
      expect(text).toBe(
        `${VICUNA_V1_SYSTEM} USER: <image>\nwhat color is the circle? ASSISTANT: red</s>USER: how many shapes? ` +
          `ASSISTANT: 2</s>`,
      );
      expect(llavaV1Prompt([{ role: "user", content: "hi" }], { system: "S" })).toBe("S USER: hi ASSISTANT:");
      expect(() => llavaV1Prompt([{ role: "assistant", content: "x" }])).toThrow(/turn 0 should be user/);
    });

    it("masks everything up to and including each ASSISTANT:, supervises the answers and </s>, masks the image", () => {
      const v1 = buildWordTokenizer(
        [VICUNA_V1_SYSTEM, "USER: ASSISTANT: what color is the circle? red how many shapes? 2"],
        { specials: ["<pad>", "<image>", "<unk>", "</s>"], eot: "</s>", unk: "<unk>" },
      );
      const img = v1.tokenToId("<image>")!,
        eos = v1.tokenToId("</s>")!;
      const text = llavaV1Prompt([
        { role: "user", content: "<image> what color is the circle?" },
        { role: "assistant", content: "red" },
        { role: "user", content: "how many shapes?" },
        { role: "assistant", content: "2" },
      ]);
      // The processor expands the one <image> to the image's token count (4 here; LLaVA-1.5: 576).
      const one = v1.encode(text);
      const ids = one.flatMap((id) => (id === img ? [img, img, img, img] : [id]));
      const labels = llavaV1Labels(ids, { assistant: v1.encode("ASSISTANT:"), eosId: eos, imageTokenId: img });
      const words = ids.map((id) => v1.idToToken(id));
      const firstSupervised = labels.findIndex((l) => l !== IGNORE_INDEX);
      // Worked by hand: the first supervised token is the first answer word, right after "assistant :".
      expect(words.slice(firstSupervised - 2, firstSupervised + 2)).toEqual(["assistant", ":", "red", "</s>"]);
      expect(labels.slice(0, firstSupervised).every((l) => l === IGNORE_INDEX)).toBe(true);
      const supervised = words.filter((_, t) => labels[t] !== IGNORE_INDEX);
      expect(supervised).toEqual(["red", "</s>", "2", "</s>"]);
      expect(ids.filter((id, t) => id === img && labels[t] === IGNORE_INDEX)).toHaveLength(4);
    });
  },
);
