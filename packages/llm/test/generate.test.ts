import { beforeAll, describe, expect, it, vi } from "vitest";
import { initBackend, Rng, tf } from "@vlab/core";
import { sampleToken, type CausalLM } from "../src/index.js";
import { randomIds, tinyModel } from "./helpers.js";

beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});

/** Greedy decoding the slow way: a full uncached forward pass per token, one prompt at a time. */
function naiveGreedy(m: CausalLM, prompt: number[], n: number): number[] {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const logits = m.forward([seq], { logitsToKeep: 1 });
    const id = tf.tidy(() => tf.argMax(tf.reshape(logits, [-1])).dataSync()[0]!);
    logits.dispose();
    seq.push(id);
  }
  return seq.slice(prompt.length);
}

describe("sampleToken", () => {
  // logits ln[0.1, 0.2, 0.3, 0.4]: probabilities 0.1 … 0.4 at temperature 1.
  const logits = [0.1, 0.2, 0.3, 0.4].map(Math.log);

  it("greedy and temperature 0 take the argmax", () => {
    const r = new Rng(0);
    expect(sampleToken(logits, { greedy: true }, r)).toBe(3);
    expect(sampleToken(logits, { temperature: 0 }, r)).toBe(3);
  });

  it("samples the softmax: frequencies over 4000 draws within 0.03 of 0.1 … 0.4", () => {
    const r = new Rng(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sampleToken(logits, {}, r)]!++;
    counts.forEach((c, i) => expect(Math.abs(c / 4000 - (i + 1) / 10)).toBeLessThan(0.03));
  });

  it("without top-k / top-p: the token of the spelled-out softmax walk for the same draw (its fast path)", () => {
    // The arithmetic of sampleToken's general path, in its order: max of l / T, exp(l / T − max), their sum from 0,
    // then u = draw · sum minus each probability until it falls below 0.
    const walk = (l: number[], T: number, draw: number) => {
      const max = Math.max(...l.map((x) => x / T));
      const p = l.map((x) => Math.exp(x / T - max));
      let u = draw * p.reduce((a, b) => a + b, 0);
      for (let i = 0; i < p.length; i++) if ((u -= p[i]!) < 0) return i;
      return p.length - 1;
    };
    const r = new Rng(5);
    for (let t = 0; t < 300; t++) {
      const l = Array.from({ length: 1 + (t % 37) }, () => Math.fround((r.next() - 0.5) * 8));
      const T = [1, 0.7, 1.3][t % 3]!;
      const [a, b] = [new Rng(100 + t), new Rng(100 + t)];
      const want = walk(l, T, b.next());
      expect(sampleToken(Float32Array.from(l), { temperature: T }, a)).toBe(want);
      expect(sampleToken(l, { temperature: T, topK: 0, topP: 1 }, new Rng(100 + t))).toBe(want);
    }
  });

  it("top-k keeps the k largest; top-p keeps the smallest set reaching p", () => {
    const r = new Rng(2);
    const seen = (opts: object) => new Set(Array.from({ length: 400 }, () => sampleToken(logits, opts, r)));
    expect(seen({ topK: 2 })).toEqual(new Set([3, 2]));
    // sorted 0.4, 0.3, 0.2, 0.1: p = 0.5 needs 0.4 + 0.3 (0.4 alone is below 0.5)
    expect(seen({ topP: 0.5 })).toEqual(new Set([3, 2]));
    // p = 0.4 is reached by the first token alone
    expect(seen({ topP: 0.4 })).toEqual(new Set([3]));
    expect(seen({ topP: 0.75 })).toEqual(new Set([3, 2, 1]));
  });
});

describe("generate", () => {
  it(
    "greedy: a left-padded batch gives each prompt the " + "tokens it gets alone, and the tokens of uncached decoding",
    () => {
      const m = tinyModel({}, 3);
      const prompts = [randomIds(10, 3), randomIds(11, 7), randomIds(12, 1), randomIds(13, 5)];
      const batched = m.generate(prompts, { maxNewTokens: 8, greedy: true });
      expect(batched.finishReasons).toEqual(["length", "length", "length", "length"]);
      prompts.forEach((p, i) => {
        const alone = m.generate([p], { maxNewTokens: 8, greedy: true });
        expect(batched.tokens[i]).toEqual(alone.tokens[0]);
        expect(batched.tokens[i]).toHaveLength(8);
        expect(alone.tokens[0]).toEqual(naiveGreedy(m, p, 8));
      });
      // the four continuations are not all the same (else the comparison above proves little)
      expect(new Set(batched.tokens.map((t) => t.join(","))).size).toBeGreaterThan(1);
      m.dispose();
    },
  );

  it("stops after a stop id (kept), per row, with the finish reason", () => {
    const m = tinyModel({}, 3);
    const prompts = [randomIds(10, 3), randomIds(11, 7)];
    const free = m.generate(prompts, { maxNewTokens: 8, greedy: true });
    const stopId = free.tokens[0]![2]!; // row 0's third token
    const firstStop = (t: number[]) => t.indexOf(stopId);
    const r = m.generate(prompts, { maxNewTokens: 8, greedy: true, stopIds: [stopId] });
    free.tokens.forEach((t, b) => {
      const at = firstStop(t);
      if (at >= 0) {
        expect(r.tokens[b]).toEqual(t.slice(0, at + 1));
        expect(r.finishReasons[b]).toBe("stop");
      } else {
        expect(r.tokens[b]).toEqual(t);
        expect(r.finishReasons[b]).toBe("length");
      }
    });
    expect(r.tokens[0]!.length).toBeLessThanOrEqual(3);
    // the config's eos is the default stop id
    const withEos = tinyModel({ eosTokenId: stopId }, 3);
    expect(withEos.generate(prompts, { maxNewTokens: 8, greedy: true }).tokens).toEqual(r.tokens);
    withEos.dispose();
    m.dispose();
  });

  it("seeded sampling is reproducible, differs across seeds, and top-k = 1 equals greedy", () => {
    const m = tinyModel({}, 4);
    const prompts = [randomIds(20, 4), randomIds(21, 2)];
    const opts = { maxNewTokens: 10, temperature: 1.5 };
    const a = m.generate(prompts, { ...opts, seed: 7 });
    const b = m.generate(prompts, { ...opts, seed: 7 });
    const c = m.generate(prompts, { ...opts, seed: 8 });
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
    const greedy = m.generate(prompts, { maxNewTokens: 10, greedy: true });
    const top1 = m.generate(prompts, { maxNewTokens: 10, temperature: 1.5, topK: 1, seed: 9 });
    expect(top1.tokens).toEqual(greedy.tokens);
    expect(a.tokens).not.toEqual(greedy.tokens);
    m.dispose();
  });

  it("embeds the left-padded prompts through an embed hook (the way in for image features)", () => {
    const m = tinyModel({}, 4);
    const prompts = [randomIds(50, 2), randomIds(51, 4)];
    const calls: { ids: number[][]; promptLength: number }[] = [];
    const same = m.generate(prompts, {
      maxNewTokens: 4,
      greedy: true,
      embed: (ids, promptLength) => {
        calls.push({ ids: ids.map((r) => [...r]), promptLength });
        return m.embed(ids);
      },
    });
    expect(calls).toEqual([{ ids: [[0, 0, ...(prompts[0] ?? [])], prompts[1]], promptLength: 4 }]); // prefill only
    expect(same.tokens).toEqual(m.generate(prompts, { maxNewTokens: 4, greedy: true }).tokens);
    // A hook that puts other vectors in the prompt changes what is generated.
    const other = m.generate(prompts, {
      maxNewTokens: 4,
      greedy: true,
      embed: (ids) => tf.tidy(() => tf.mul(m.embed(ids), -3) as tf.Tensor3D),
    });
    expect(other.tokens).not.toEqual(same.tokens);
    m.dispose();
  });

  it("numReturnSequences n: prompt b's completions at rows b·n …, the tokens of the prompt repeated n times", () => {
    const m = tinyModel({}, 4);
    const prompts = [randomIds(30, 5), randomIds(31, 2), randomIds(32, 8)];
    const repeated = prompts.flatMap((p) => [p, p, p]);
    for (const fastDecode of [true, false]) {
      for (const o of [{ greedy: true }, { temperature: 1.2, seed: 7 }, { topK: 5, topP: 0.9, seed: 8 }]) {
        const opts = { maxNewTokens: 6, stopIds: [3, 4, 5], fastDecode, ...o };
        const want = m.generate(repeated, opts);
        const got = m.generate(prompts, { ...opts, numReturnSequences: 3 });
        expect(got).toEqual(want);
        expect(got.tokens).toHaveLength(9);
      }
    }
    // the rows of a group do sample different completions
    const { tokens } = m.generate([prompts[0]!], { maxNewTokens: 6, seed: 2, numReturnSequences: 8 });
    expect(new Set(tokens.map((t) => t.join())).size).toBeGreaterThan(1);
    expect(() => m.generate(prompts, { numReturnSequences: 0 })).toThrow(/numReturnSequences must be a positive/);
    expect(() => m.generate(prompts, { numReturnSequences: 1.5 })).toThrow(/numReturnSequences must be a positive/);
    m.dispose();
  });

  it("leaks no tensors", () => {
    const m = tinyModel();
    const prompts = [randomIds(30, 4), randomIds(31, 6)];
    m.generate(prompts, { maxNewTokens: 3, seed: 1 });
    const before = tf.memory().numTensors;
    m.generate(prompts, { maxNewTokens: 6, seed: 1, topP: 0.9, topK: 10 });
    m.generate(prompts, { maxNewTokens: 6, greedy: true, stopIds: [1, 2, 3] });
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

describe("generate() refuses what would decode silently wrong", () => {
  it("names a bad sampling option, a bad token id and the prompt it is in", () => {
    const m = tinyModel();
    const ok = [[1, 2, 3]];
    for (const [opts, msg] of [
      [{ topK: -5 }, "topK must be a non-negative integer (0: off), got -5"],
      [{ topK: 1.5 }, "topK must be a non-negative integer (0: off), got 1.5"],
      [{ topK: NaN }, "topK must be a non-negative integer"],
      [{ temperature: NaN }, "temperature must be a finite number >= 0 (0: greedy), got NaN"],
      [{ temperature: -1 }, "temperature must be a finite number >= 0"],
      [{ topP: 0 }, "topP must be in (0, 1] (1: off), got 0"],
    ] as const)
      expect(() => m.generate(ok, { ...opts, maxNewTokens: 2 }), JSON.stringify(opts)).toThrow(msg);
    expect(() =>
      m.generate(
        [
          [1, 2],
          [3, 2.5],
        ],
        { maxNewTokens: 2 },
      ),
    ).toThrow("prompt 1, token 1 is 2.5");
    expect(() => m.generate([[1, NaN]], { maxNewTokens: 2 })).toThrow("prompt 0, token 1 is NaN");
    expect(() => m.generate([[1, m.config.vocabSize]], { maxNewTokens: 2 })).toThrow(
      `token ids are integers in [0, ${m.config.vocabSize})`,
    );
    expect(() => sampleToken([0, 1], { topK: -1 }, new Rng(0))).toThrow("topK must be a non-negative integer");
    m.dispose();
  });

  it("says once when prompt and new tokens run past maxPositionEmbeddings", () => {
    const m = tinyModel({ maxPositionEmbeddings: 8 });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      m.generate([[1, 2, 3]], { maxNewTokens: 4, greedy: true });
      expect(warn).not.toHaveBeenCalled();
      m.generate([[1, 2, 3, 4, 5]], { maxNewTokens: 4, greedy: true });
      m.generate([[1, 2, 3, 4, 5]], { maxNewTokens: 4, greedy: true });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain("exceed the model's maxPositionEmbeddings 8");
    } finally {
      warn.mockRestore();
      m.dispose();
    }
  });
});
