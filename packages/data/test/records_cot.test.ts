import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  cotConvert,
  DEEPSEEK_R1_VISION_PROMPT_EN,
  DEEPSEEK_R1_VISION_PROMPT_ZH,
  DEEPSEEK_R1_VISION_REWRITE_ZH,
  distillMessages,
  fillPrompt,
  llavaToMessages,
  readRecords,
  rewriteCot,
  splitThink,
  writeRecords,
  type ChatMessage,
  type LlavaRecord,
} from "../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-cot-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const qa: LlavaRecord = {
  id: "scene-4",
  image: "4.png",
  conversations: [
    { from: "human", value: "How many circles?" },
    { from: "gpt", value: "3" },
    { from: "human", value: "And squares?" },
    { from: "gpt", value: "1" },
  ],
};

/** A reasoner that records what it was sent and answers with a chain that names the question's number. */
function fakeReasoner(): { calls: ChatMessage[][]; reasoner: (m: ChatMessage[]) => Promise<string> } {
  const calls: ChatMessage[][] = [];
  return {
    calls,
    reasoner: (m) => {
      calls.push(m);
      return Promise.resolve(`<think>call ${calls.length}: the reference says so.</think>\nanswer ${calls.length}`);
    },
  };
}

describe("deepseek-r1-vision's prompt", () => {
  it("is the repository's Chinese text (full-width colon after the question, ASCII colon after 参考)", () => {
    expect(DEEPSEEK_R1_VISION_PROMPT_ZH).toBe("结合参考以及你已有的知识回答问题：{question}参考:{answer}");
    expect(fillPrompt(DEEPSEEK_R1_VISION_PROMPT_ZH, { question: "<image>Q?", answer: "3" })).toBe(
      "结合参考以及你已有的知识回答问题：<image>Q?参考:3",
    );
    expect(fillPrompt(DEEPSEEK_R1_VISION_PROMPT_EN, { question: "Q?", answer: "3" })).toBe(
      "Answer the question, drawing on the reference and on what you already know: Q?Reference:3",
    );
    expect(() => fillPrompt(DEEPSEEK_R1_VISION_PROMPT_ZH, { question: "Q" })).toThrow(/no value for \{answer\}/);
    expect(fillPrompt("{a}{b}", { a: "{b}", b: "$&" })).toBe("{b}$&"); // values are not re-read or special
  });

  it("distillMessages: system, the history, then the filled prompt", () => {
    const h: ChatMessage[] = [
      { role: "user", content: "q0" },
      { role: "assistant", content: "a0" },
    ];
    expect(distillMessages("q1", "r1", h)).toEqual([
      { role: "system", content: "You are a helpful assistant." },
      ...h,
      { role: "user", content: "结合参考以及你已有的知识回答问题：q1参考:r1" },
    ]);
  });
});

describe("conversion of QA pairs into CoT records", () => {
  it("llavaToMessages: roles renamed, <image> prepended to the first turn when the text has none", () => {
    const m = llavaToMessages(qa, "images/");
    expect(m).toEqual({
      id: "scene-4",
      images: ["images/4.png"],
      messages: [
        { role: "user", content: "<image>How many circles?" },
        { role: "assistant", content: "3" },
        { role: "user", content: "And squares?" },
        { role: "assistant", content: "1" },
      ],
    });
    const tokened = { ...qa, conversations: [{ from: "human" as const, value: "<image>\nQ" }, qa.conversations[1]!] };
    expect(llavaToMessages(tokened).messages[0]?.content).toBe("<image>\nQ"); // not a second token
    const text = { id: 1, conversations: qa.conversations };
    expect(llavaToMessages(text).messages[0]?.content).toBe("How many circles?"); // no image, no token
    expect("images" in llavaToMessages(text)).toBe(false);
  });

  it("cotConvert: each answer becomes the reasoner's reply; later pairs see the earlier ones rewritten", async () => {
    const { calls, reasoner } = fakeReasoner();
    const src = llavaToMessages(qa);
    const before = structuredClone(src);
    const out = await cotConvert(src, reasoner);
    expect(src).toEqual(before); // the input is not changed
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual(distillMessages("<image>How many circles?", "3"));
    expect(calls[1]).toEqual([
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "<image>How many circles?" }, // the original question, not the prompt
      { role: "assistant", content: "<think>call 1: the reference says so.</think>\nanswer 1" },
      { role: "user", content: "结合参考以及你已有的知识回答问题：And squares?参考:1" },
    ]);
    expect(out.messages.map((m) => m.content)).toEqual([
      "<image>How many circles?",
      "<think>call 1: the reference says so.</think>\nanswer 1",
      "And squares?",
      "<think>call 2: the reference says so.</think>\nanswer 2",
    ]);
    expect(out.images).toEqual(["4.png"]);
    // the result is a valid ShareGPT record: it round-trips through the writer and the reader
    const f = path.join(dir, "cot.jsonl");
    await writeRecords(f, "sharegpt", [out]);
    expect(await readRecords(f, "sharegpt").toArray()).toEqual([out]);
  });

  it("English prompt, a kept system message, and a reasoner error or a broken pair surfacing", async () => {
    const { calls, reasoner } = fakeReasoner();
    const rec = {
      messages: [
        { role: "system" as const, content: "sys" },
        { role: "user" as const, content: "Q" },
        { role: "assistant" as const, content: "A" },
      ],
    };
    const out = await cotConvert(rec, reasoner, { language: "en" });
    expect(out.messages[0]).toEqual({ role: "system", content: "sys" });
    expect(calls[0]?.[1]?.content).toBe(fillPrompt(DEEPSEEK_R1_VISION_PROMPT_EN, { question: "Q", answer: "A" }));
    await expect(cotConvert(rec, () => Promise.reject(new Error("ollama down")))).rejects.toThrow("ollama down");
    const broken = { messages: [rec.messages[1]!, rec.messages[1]!] };
    await expect(cotConvert(broken, reasoner)).rejects.toThrow(/turns 0, 1 are not a user–assistant pair/);
  });

  it("splitThink as extract_think_and_answer: the first chain stripped, every chain cut from the answer", () => {
    expect(splitThink("<think>\n a \n</think>\n B ")).toEqual({ think: "a", answer: "B" });
    expect(splitThink("<think>1</think>x<think>2</think>y")).toEqual({ think: "1", answer: "xy" });
    expect(splitThink("no chain")).toEqual({ think: "", answer: "no chain" });
  });

  it("rewriteCot: the chain, then the answer, rewritten with ModifyThinkingContent.py's prompts", async () => {
    const sent: ChatMessage[][] = [];
    const rewriter = (m: ChatMessage[]) => {
      sent.push(m);
      return sent.length % 2 === 1 ? "I see three circles." : "There are 3 circles.";
    };
    const rec = {
      messages: [
        { role: "user" as const, content: "<image>How many circles?" },
        { role: "assistant" as const, content: "<think>The reference says 3.</think>\n3" },
      ],
    };
    const out = await rewriteCot(rec, rewriter);
    expect(sent[0]).toEqual([
      { role: "system", content: DEEPSEEK_R1_VISION_REWRITE_ZH.thinkSystem },
      {
        role: "user",
        content:
          "\n修正以下文本中的思考过程。直接给出修正后的结果。\n给定文本：\nThe reference says 3.\n修正后的文本:\n",
      },
    ]);
    expect(sent[1]?.[1]?.content).toBe(
      "\n直接给出重新组织的回答，不要解释。\n用户提问:<image>How many circles?\n根据推理过程：I see three circles.,\n" +
        "原有的回答：3\n重新组织回答：\n",
    );
    expect(out.messages[1]?.content).toBe("<think>\nI see three circles.\n</think>\nThere are 3 circles.");
    expect(rec.messages[1]?.content).toBe("<think>The reference says 3.</think>\n3"); // input unchanged
  });
});
