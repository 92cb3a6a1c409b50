import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, initBackend, Rng, tf, train } from "@vlab/core";
import { buildWordTokenizer } from "@vlab/tokenizers";
import { CausalLM, sftLoss } from "../src/index.js";
import { TINY } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

const TEXT = "the red circle is left of the blue square and the green triangle is above the red circle";

describe("training", () => {
  it("a few hundred AdamW steps make the tiny LM memorise a short text", async () => {
    const tok = buildWordTokenizer([TEXT]);
    const ids = tok.encode(TEXT); // 18 words
    const m = new CausalLM({ ...TINY, vocabSize: tok.vocabSize, initializerRange: 0.02 }, { rng: new Rng(21) });
    const optimizer = new AdamW(m.namedParameters(), { lr: 1e-2, weightDecay: 0 });
    const before = tf.memory().numTensors;
    const r = await train({
      params: m,
      optimizer,
      steps: 200,
      loss: () => sftLoss(m.forward([ids]), [ids]), // every next token supervised
      progress: { update: () => {} },
    });
    expect(tf.memory().numTensors).toBe(before);
    const first = r.history[0]!.loss;
    const last = r.history[r.history.length - 1]!.loss;
    // At HF's init (std 0.02) the logits are near-uniform: the loss starts at ≈ ln V.
    expect(Math.abs(first - Math.log(tok.vocabSize))).toBeLessThan(0.1);
    expect(last).toBeLessThan(0.05 * first);
    // and greedy decoding from the first three words recites the rest
    const out = m.generate([ids.slice(0, 3)], { maxNewTokens: ids.length - 3, greedy: true });
    expect(out.tokens[0]).toEqual(ids.slice(3));
    optimizer.dispose();
    m.dispose();
  });
});
