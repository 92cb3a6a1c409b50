import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { judgeChain } from "../src/cot_judge.js";
import { cotChain, cotQuestions } from "../src/cot_questions.js";
import { onevisionRecord, rlOfOnevision, sharegptOfOnevision, sharegptQa } from "../src/cot_records.js";
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
    expect(sharegptQa("b.png", "q", "2")).toEqual({
      messages: [
        { role: "user", content: "<image>q" },
        { role: "assistant", content: "2" },
      ],
      images: ["b.png"],
    });
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
