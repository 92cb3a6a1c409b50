import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { judgeChain } from "../src/cot_judge.js";
import { cotChain, cotQuestions } from "../src/cot_questions.js";
import {
  convertQaRecords,
  deepseekR1VisionPrompt,
  onevisionRecord,
  rlOfOnevision,
  sharegptOfOnevision,
  sharegptQa,
  type ConversionRequest,
} from "../src/cot_records.js";
import { readRecords, rlExample, writeRecords } from "../src/records/index.js";
import { describedObjects } from "../src/scene_description.js";
import { makeScene } from "../src/shapes.js";

const objects = describedObjects(
  makeScene([
    { shape: "circle", color: "red", size: "large", x: 5, y: 8 },
    { shape: "square", color: "blue", size: "large", x: 20, y: 8 },
  ]),
);
const q = cotQuestions(objects)[0]!; // "how many shapes are not red?" → 1
const chain = cotChain(objects, q);

describe("R1-Onevision's records of a judged chain", () => {
  const rec = onevisionRecord({
    id: 7,
    image: "a.png",
    question: q.question,
    gt: q.answer,
    chain,
    verdict: judgeChain(objects, q, chain),
  });
  it("carries the verdict and derives the SFT and RL records", () => {
    expect(rec).toEqual({
      id: 7,
      image: "a.png",
      gt: "1",
      data_source: "vlab/shapes",
      conversations: [
        { from: "human", value: "<image>how many shapes are not red?" },
        { from: "assistant", value: chain },
      ],
      filter: true,
      judge_response: "keep: every check passed",
    });
    expect(sharegptOfOnevision(rec)).toEqual({
      messages: [
        { role: "user", content: "<image>how many shapes are not red?" },
        { role: "assistant", content: chain },
      ],
      images: ["a.png"],
    });
    const ex = rlExample(rlOfOnevision(rec));
    expect([ex.problem, ex.solution]).toEqual(["how many shapes are not red?", "<answer> 1 </answer>"]);
    expect("filter" in onevisionRecord({ id: 1, image: "a.png", question: "q", gt: "1", chain })).toBe(false);
  });
  it("passes the format checks on the way out and back", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cot-records-"));
    try {
      await writeRecords(path.join(dir, "o.jsonl"), "r1-onevision", [rec]);
      await writeRecords(path.join(dir, "s.jsonl"), "sharegpt", [sharegptOfOnevision(rec)]);
      await writeRecords(path.join(dir, "r.jsonl"), "r1-onevision-rl", [rlOfOnevision(rec)]);
      expect(await readRecords(path.join(dir, "o.jsonl"), "r1-onevision").toArray()).toEqual([rec]);
      expect(await readRecords(path.join(dir, "r.jsonl"), "r1-onevision-rl").toArray()).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("deepseek-r1-vision's conversion", () => {
  it("sends each pair with its reference, the converted turns as history, and keeps the responses", async () => {
    const two = {
      messages: [
        { role: "user" as const, content: "<image>q1" },
        { role: "assistant" as const, content: "a1" },
        { role: "user" as const, content: "q2" },
        { role: "assistant" as const, content: "a2" },
      ],
      images: ["x.png"],
    };
    const seen: ConversionRequest[][] = [];
    const out = await convertQaRecords([sharegptQa("y.png", "q", "3"), two], (reqs) => {
      seen.push(reqs);
      return reqs.map((r) => `<think> ${r.reference} </think> R${r.record}.${r.pair}`);
    });
    expect(deepseekR1VisionPrompt("q1", "a1")).toBe("结合参考以及你已有的知识回答问题：q1参考:a1");
    expect(seen.map((b) => b.length)).toEqual([2, 1]);
    expect(seen[0]![0]!.messages).toEqual([
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "结合参考以及你已有的知识回答问题：<image>q参考:3" },
    ]);
    expect(seen[1]![0]!.messages.slice(1)).toEqual([
      { role: "user", content: "<image>q1" },
      { role: "assistant", content: "<think> a1 </think> R1.0" },
      { role: "user", content: "结合参考以及你已有的知识回答问题：q2参考:a2" },
    ]);
    expect(out[1]).toEqual({
      messages: [
        { role: "user", content: "<image>q1" },
        { role: "assistant", content: "<think> a1 </think> R1.0" },
        { role: "user", content: "q2" },
        { role: "assistant", content: "<think> a2 </think> R1.1" },
      ],
      images: ["x.png"],
    });
    await expect(convertQaRecords([two], () => [])).rejects.toThrow(/1 requests but 0 responses/);
  });
});
