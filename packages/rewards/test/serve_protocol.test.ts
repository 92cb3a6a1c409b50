// The service's pieces without HTTP: response extraction, labels, reward kinds and options, routing, request
// checks and the scored answer (against direct library calls).
import { describe, expect, it } from "vitest";
import { accuracyReward, formatReward, iouReward } from "../src/index.js";
import {
  BadRequest,
  ScoringTimeout,
  boxLabel,
  boxesLabel,
  extractResponse,
  parseRewardRequest,
  resolveReward,
  routeTable,
  scoreRequest,
  textLabel,
} from "../src/serve/index.js";
import { detectionString, prng, randomString, recString, shapedString } from "./strings.js";

const PROMPT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHow many?<|im_end|>\n";
const HEADER = "<|im_start|>assistant\n";
const OUT = "<think>I count 3.</think><answer>3</answer>";

describe("extractResponse", () => {
  it("prefix: the query after its prompt, end tokens deleted", () => {
    expect(extractResponse(PROMPT + HEADER + OUT + "<|im_end|>", PROMPT + HEADER)).toEqual({
      response: OUT,
      rule: "prefix",
    });
  });

  it("header: a VLM query (image pads expanded) after the prompt's assistant header", () => {
    const prompt = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>How many?<|im_end|>\n" + HEADER;
    const query = prompt.replace("<|image_pad|>", "<|image_pad|>".repeat(64)) + OUT + "<|im_end|><|endoftext|>";
    expect(extractResponse(query, prompt)).toEqual({ response: OUT, rule: "header" });
  });

  it("header: after the k-th header when the prompt holds k (earlier assistant turns), else the last", () => {
    const chat = PROMPT + HEADER + "earlier turn<|im_end|>\n<|im_start|>user\nAnd now?<|im_end|>\n" + HEADER;
    const query = "<|endoftext|>" + chat + OUT + "<|im_end|>"; // left padding: no prefix match
    expect(extractResponse(query, chat).response).toBe(OUT);
    expect(extractResponse(query, null).response).toBe(OUT); // no prompt: the last header
    // the model echoing a header inside its answer: the prompt's count still finds the right one
    const echo = PROMPT + HEADER + "A " + HEADER + "B";
    expect(extractResponse("x" + echo, PROMPT + HEADER).response).toBe("A " + HEADER + "B");
  });

  it("other templates: Llama 3, Gemma, lmm-r1's base", () => {
    const llama =
      "<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    expect(extractResponse("<|begin_of_text|>" + llama + OUT + "<|eot_id|>", llama).response).toBe(OUT);
    expect(
      extractResponse("<start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n" + OUT + "<end_of_turn>").response,
    ).toBe(OUT);
    expect(extractResponse("User: Q\n\nAssistant: " + OUT).response).toBe(OUT);
  });

  it("whole: no prompt and no header (verl / TRL send the response alone); whitespace is kept", () => {
    expect(extractResponse(" " + OUT + "\n", "")).toEqual({ response: " " + OUT + "\n", rule: "whole" });
  });
});

describe("labels", () => {
  it("text: strings, numbers, object fields; anything else is an error", () => {
    expect(textLabel("<answer> 3 </answer>")).toBe("<answer> 3 </answer>");
    expect(textLabel(3)).toBe("3");
    expect(textLabel({ solution: "3", data_source: "x" })).toBe("3");
    expect(textLabel([3])).toHaveProperty("error");
    expect(textLabel(null)).toHaveProperty("error");
    expect(textLabel(NaN)).toHaveProperty("error");
  });

  it("box: arrays, JSON strings (also single-quoted, in <answer>), objects with sizes for rescaling", () => {
    expect(boxLabel([1, 2, 3, 4])).toEqual({ box: [1, 2, 3, 4] });
    expect(boxLabel("[1, 2, 3, 4]")).toEqual({ box: [1, 2, 3, 4] });
    expect(boxLabel("<answer>[1,2,3,4]</answer>")).toEqual({ box: [1, 2, 3, 4] });
    expect(boxLabel({ box: [1, 2, 3, 4], input_size: [28, 28], image_size: [56, 28] })).toEqual({
      box: [1, 2, 3, 4],
      rescale: { inputSize: [28, 28], imageSize: [56, 28] },
    });
    expect(boxLabel({ box: [1, 2, 3, 4], input_size: [28, 28] })).toHaveProperty("error");
    expect(boxLabel("[1, 2, 3]")).toHaveProperty("error");
    expect(boxLabel("garbage")).toHaveProperty("error");
  });

  it("boxes: lists of boxes or of Visual-RFT items; an empty list is valid", () => {
    expect(boxesLabel([[0, 0, 10, 10]])).toEqual([[0, 0, 10, 10]]);
    expect(boxesLabel("[{'Position': [0, 0, 10, 10], 'Confidence': 1}]")).toEqual([[0, 0, 10, 10]]);
    expect(boxesLabel("[]")).toEqual([]);
    expect(boxesLabel([[0, 0, 10]])).toHaveProperty("error");
    expect(boxesLabel("{")).toHaveProperty("error");
  });
});

describe("resolveReward and routeTable", () => {
  it("names, options and weights; defaults filled in", () => {
    const r = resolveReward("lmm-r1", "x");
    expect(r.kind.name).toBe("lmm-r1");
    expect(r.weights).toEqual([1, 0.5]); // accuracy, format
    const v = resolveReward({ reward: "vlm-r1-rec", options: { rule: "threshold", weights: { format: 0 } } }, "x");
    expect(v.options).toEqual({
      rule: "threshold",
      convention: "vlm-r1",
      boxText: "answer",
      width: 1000,
      height: 1000,
    });
    expect(v.weights).toEqual([1, 0]);
  });

  it("clear errors: unknown reward, option, part, bad values", () => {
    expect(() => resolveReward("nope", "reward")).toThrow(/reward: unknown reward "nope" \(known: r1v, lmm-r1/);
    expect(() => resolveReward({ reward: "r1v", options: { rul: 1 } }, "w")).toThrow(/r1v has no option "rul"/);
    expect(() => resolveReward({ reward: "r1v", options: { accuracy: "x" } }, "w")).toThrow(/one of answer, r1v/);
    expect(() => resolveReward({ reward: "r1v", options: { weights: { iou: 1 } } }, "w")).toThrow(/no part "iou"/);
    expect(() => resolveReward({ reward: "visual-rft-det", options: { iouThreshold: 2 } }, "w")).toThrow(/\[0, 1\]/);
    expect(() => resolveReward(3, "w")).toThrow(/give a reward name/);
  });

  it("routing file: default, key, routes; --reward replaces the default; errors name the entry", () => {
    const t = routeTable({ default: "lmm-r1", routes: { refcoco: "vlm-r1-rec" } });
    expect(t.fallback.kind.name).toBe("lmm-r1");
    expect(routeTable({ default: "lmm-r1" }, "r1v").fallback.kind.name).toBe("r1v");
    expect(t.routes.get("refcoco")?.kind.name).toBe("vlm-r1-rec");
    expect(() => routeTable({ routes: { a: "bad" } })).toThrow(/routes\["a"\]: unknown reward/);
    expect(() => routeTable({ rout: {} })).toThrow(/unknown field "rout"/);
    expect(() => routeTable([])).toThrow(/JSON object/);
  });
});

describe("parseRewardRequest: malformed bodies name the field and index", () => {
  const bad = (body: unknown) => {
    try {
      parseRewardRequest(body);
    } catch (e) {
      if (e instanceof BadRequest) return e.body();
      throw e;
    }
    throw new Error("accepted");
  };
  it("each malformation", () => {
    expect(bad(null).error).toMatch(/JSON object/);
    expect(bad([1])).toMatchObject({ error: expect.stringMatching(/JSON object/) });
    expect(bad({ prompts: [] })).toMatchObject({ field: "query" });
    expect(bad({ query: ["a", 3] })).toEqual({ error: "query[1] must be a string", field: "query", index: 1 });
    expect(bad({ query: ["a"], prompts: ["p", "q"] })).toMatchObject({ field: "prompts" });
    expect(bad({ query: ["a"], prompts: [7] })).toMatchObject({ field: "prompts", index: 0 });
    expect(bad({ query: ["a"], labels: "3" })).toMatchObject({ field: "labels" });
    expect(bad({ query: ["a", "b"], labels: ["3"] })).toMatchObject({ error: "labels has 1 items but query has 2" });
    expect(bad({ query: ["a"], data_source: [1] })).toMatchObject({ field: "data_source", index: 0 });
    expect(bad({ query: ["a"], reward: "nope" })).toMatchObject({ field: "reward" });
  });

  it("prompts, labels and data_source may be left out; an empty batch is fine", () => {
    expect(parseRewardRequest({ query: [] }).query).toEqual([]);
    expect(parseRewardRequest({ query: ["a"], prompts: null }).prompts).toBeNull();
  });
});

describe("scoreRequest", () => {
  const table = routeTable({ default: "r1v", routes: { refcoco: "vlm-r1-rec" } });
  it("equals the library calls; routes by data_source or the label's field; bad items 0 and reported", async () => {
    const rec = "<think>t</think><answer>{'bbox': [0, 0, 10, 10]}</answer>";
    const req = parseRewardRequest({
      query: [OUT, rec, rec, OUT],
      prompts: ["", null, "", ""],
      labels: ["3", [5, 5, 15, 15], JSON.stringify({ data_source: "refcoco", box: [0, 0, 10, 10] }), [1]],
      data_source: [null, "refcoco", null, null],
    });
    const out = await scoreRequest(req, table);
    const recFormat = formatReward(rec, { variant: "vlm-r1-rec" });
    expect(recFormat).toBe(1);
    expect(out.rewards).toEqual([
      accuracyReward(OUT, "3") + formatReward(OUT),
      iouReward(rec, [5, 5, 15, 15]) + recFormat,
      iouReward(rec, [0, 0, 10, 10]) + recFormat,
      0,
    ]);
    expect(out.scores).toEqual([1, iouReward(rec, [5, 5, 15, 15]), 1, 0]);
    expect(out.extra_logs).toEqual({
      accuracy: [1, 0, 0, 0],
      format: [1, 1, 1, 0],
      iou: [0, iouReward(rec, [5, 5, 15, 15]), 1, 0],
      invalid: [0, 0, 0, 1],
    });
    expect(out.invalid_items).toEqual([{ index: 3, reason: expect.stringMatching(/label must be a string/) }]);
  });

  it("a response past the text limit scores 0 and is reported (after extraction: a long prompt is fine)", async () => {
    const long = "<|image_pad|>".repeat(100_000); // 1.3 M characters of prompt
    const out = await scoreRequest(
      parseRewardRequest({ query: [long + HEADER + OUT, HEADER + "x".repeat(1 << 21)], labels: ["3", "3"] }),
      table,
    );
    expect(out.rewards).toEqual([2, 0]);
    expect(out.invalid_items?.[0]?.reason).toMatch(/longer than 1048576/);
  });

  it("a request-wide reward overrides the routes", async () => {
    const out = await scoreRequest(
      parseRewardRequest({ query: [OUT], labels: ["3"], data_source: ["refcoco"], reward: "visual-rft-cls" }),
      table,
    );
    expect(out.rewards).toEqual([2]);
  });

  it("box rewards read Qwen2-VL's and Qwen2.5-VL's box text when asked (boxText, width, height)", async () => {
    const gt = [20, 20, 60, 60] as [number, number, number, number]; // pixels of a 100 × 200 image
    const q2 = "<think>t</think><answer><|box_start|>(200,100),(600,300)<|box_end|></answer>"; // 0–1000 grid
    const q25 = '<think>t</think><answer>[{"bbox_2d": [20, 20, 60, 60]}]</answer>'; // pixels
    const size = { width: 100, height: 200 };
    const score = async (query: string, options: object, reward = "vlm-r1-rec") => {
      const labels = [reward === "vlm-r1-rec" ? gt : [gt]]; // detection: a list of boxes
      return (await scoreRequest(parseRewardRequest({ query: [query], labels, reward: { reward, options } }), table))
        .extra_logs;
    };
    const iouOf = async (query: string, options: object) => (await score(query, options))["iou"]?.[0];
    expect(await iouOf(q2, { boxText: "qwen2-vl", ...size })).toBeCloseTo(1, 10);
    expect(await iouOf(q25, { boxText: "qwen2.5-vl", ...size })).toBeCloseTo(1, 10);
    expect(await iouOf(q2, { boxText: "qwen2-vl", ...size })).toBe(
      iouReward(q2, gt, { boxes: { convention: "qwen2-vl", size } }),
    );
    expect(await iouOf(q2, {})).toBe(iouReward(q2, gt)); // default: VLM-R1's own reader, as before
    expect(await iouOf(q2, { boxText: "qwen2.5-vl", ...size })).toBe(0); // the other convention: no box read
    const det = await score(q25, { boxText: "qwen2.5-vl", ...size }, "visual-rft-det");
    expect(det["iou"]?.[0]).toBeCloseTo(1, 10);
    expect(() => resolveReward({ reward: "vlm-r1-rec", options: { boxText: "yolo" } }, "t")).toThrow(/boxText/);
  });

  it("stops with ScoringTimeout past its deadline", async () => {
    const req = parseRewardRequest({ query: [OUT, OUT, OUT], labels: ["3", "3", "3"] });
    await expect(scoreRequest(req, table, { deadline: performance.now() - 1, sliceMs: 0 })).rejects.toBeInstanceOf(
      ScoringTimeout,
    );
  });
});

describe("fuzz: random requests never throw anything but BadRequest, and every reward is finite", () => {
  it("2,000 random bodies over every reward kind", async () => {
    const rand = prng(21);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const kinds = ["r1v", "lmm-r1", "vlm-r1-rec", "visual-rft-det", "visual-rft-cls", "visualthinker-mc"];
    const table = routeTable({ routes: Object.fromEntries(kinds.map((k) => [k, k])) });
    const texts = () => pick([shapedString, recString, detectionString, (r: () => number) => randomString(r)])(rand);
    const labels = [
      () => "3",
      () => texts(),
      () => [0, 0, 10, 10],
      () => [[0, 0, 5, 5]],
      () => null,
      () => ({}),
      () => 7,
    ];
    let accepted = 0;
    for (let t = 0; t < 2000; t++) {
      const n = Math.floor(rand() * 4);
      const body: Record<string, unknown> = { query: Array.from({ length: n }, () => (rand() < 0.97 ? texts() : 5)) };
      if (rand() < 0.8) body["labels"] = Array.from({ length: n + (rand() < 0.05 ? 1 : 0) }, () => pick(labels)());
      if (rand() < 0.5) body["prompts"] = Array.from({ length: n }, () => (rand() < 0.5 ? null : HEADER));
      if (rand() < 0.5) body["data_source"] = Array.from({ length: n }, () => pick(kinds));
      if (rand() < 0.2) body["reward"] = pick([...kinds, "bogus"]);
      let req;
      try {
        req = parseRewardRequest(rand() < 0.02 ? pick([null, [], "x", 1]) : body);
      } catch (e) {
        expect(e).toBeInstanceOf(BadRequest);
        continue;
      }
      const out = await scoreRequest(req, table);
      accepted++;
      expect(out.rewards).toHaveLength(n);
      for (const v of [...out.rewards, ...out.scores, ...Object.values(out.extra_logs).flat()])
        expect(Number.isFinite(v)).toBe(true);
    }
    expect(accepted).toBeGreaterThan(1000);
  });
});
