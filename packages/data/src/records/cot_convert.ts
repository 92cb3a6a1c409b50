/**
 * deepseek-r1-vision's conversion of plain question–answer data into chain-of-thought data (Baolin Chen, 2025,
 * github.com/sungatetop/deepseek-r1-vision): a reasoning LM is given each question together with its reference
 * answer and asked to answer it; its reply, `<think>…</think>` and then an answer, replaces the reference, and the
 * VLM is fine-tuned on the result (LLaMA-Factory, ShareGPT `messages`). The steps, file by file of that repository:
 *
 * 1. conversation2messages.py: LLaVA records → ShareGPT messages (`llavaToMessages`): "human" → "user",
 *    "gpt" → "assistant", `<image>` prepended to the first turn of a record with an image, `images` = the prefix
 *    ("images/" there) + the image.
 * 2. DistilabelPipelineImage.py `Distiller.multi_turn`: for each (user, assistant) pair i the reasoner (DeepSeek-R1
 *    32B through Ollama, temperature 0.3, max_tokens 4096) gets
 *        [system "You are a helpful assistant.", …the pairs before i as already rewritten…,
 *         user DEEPSEEK_R1_VISION_PROMPT_ZH with {question} = the user turn, {answer} = the reference answer]
 *    and the record keeps the original user turn and the reasoner's whole reply (`cotConvert`). The reasoner is a
 *    text model: it never sees the image, only the question (with its literal `<image>`) and the reference.
 * 3. ModifyThinkingContent.py (optional, `rewriteCot`): a second LM (Qwen2.5 14B, temperature 0.7) rewrites the
 *    chain so that it no longer mentions "the reference" (what the chain knew from the reference becomes what "I"
 *    see), then rewrites the answer from the question, the new chain and the old answer; the turn becomes
 *    "<think>\n" + chain + "\n</think>\n" + answer.
 *
 * The prompts are the repository's, in Chinese, exported as they are (`…_ZH`) beside English translations
 * (`…_EN`, ours) for a reasoner that reads English; `language` picks one (default "zh", the original).
 *
 * Divergences: step 1 prepends `<image>` only when the record's text has none (LLaVA's own data already carries
 * it, and a second token would not match the one image); a leading system message is kept as it is and not sent
 * (the repository's pairing assumes there is none); a failed reasoner call throws instead of being printed and
 * dropped.
 */
import type { LlavaRecord } from "./llava.js";
import type { SharegptMessage, SharegptRecord } from "./sharegpt.js";

/** A chat message as the reasoner gets it (OpenAI's chat format, as the repository's client sends it). */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A reasoning LM: the chat so far → its reply (for deepseek-r1-vision, `<think>…</think>` then the answer). */
export type Reasoner = (messages: ChatMessage[]) => string | Promise<string>;

/** The system message of every reasoner call (DistilabelPipelineImage.py `create_messages`). */
export const DEEPSEEK_R1_VISION_SYSTEM = "You are a helpful assistant.";

/**
 * The user message of every reasoner call (DistilabelPipelineImage.py `create_messages`), with `{question}` and
 * `{answer}` for the question and its reference answer: "Answer the question, drawing on the reference and on what
 * you already know: {question}Reference:{answer}".
 */
export const DEEPSEEK_R1_VISION_PROMPT_ZH = "结合参考以及你已有的知识回答问题：{question}参考:{answer}";
/** Our English rendering of DEEPSEEK_R1_VISION_PROMPT_ZH (same placement of the fields, no space added). */
export const DEEPSEEK_R1_VISION_PROMPT_EN =
  "Answer the question, drawing on the reference and on what you already know: {question}Reference:{answer}";

/** The reasoner's sampling settings in the repository (`infer_single`; the model served by Ollama). */
export const DEEPSEEK_R1_VISION_REASONER = { model: "deepseek-r1:32b", temperature: 0.3, maxTokens: 4096 } as const;

/** ModifyThinkingContent.py's prompts for the optional second pass (`{content}`, `{question}`, …: its fields). */
export const DEEPSEEK_R1_VISION_REWRITE_ZH = {
  thinkSystem:
    '\n你的任务是修改文本，但不改变文本的原意。保留对问题的描述和语气，去掉文本中关于参考的描述,将其作为"我"的所见所闻所知，保持推理过程不变\n',
  thinkPrompt: "\n修正以下文本中的思考过程。直接给出修正后的结果。\n给定文本：\n{content}\n修正后的文本:\n",
  answerSystem: "\n你的任务是根据用户的提问，推理过程和原有的回答，重新组织回答。保持回答的准确性、详细性。\n",
  answerPrompt:
    "\n直接给出重新组织的回答，不要解释。\n用户提问:{question}\n根据推理过程：{think},\n原有的回答：{origin_answer}\n重新组织回答：\n",
} as const;
/** Our English rendering of DEEPSEEK_R1_VISION_REWRITE_ZH. */
export const DEEPSEEK_R1_VISION_REWRITE_EN = {
  thinkSystem:
    "\nYour task is to edit a text without changing its meaning. Keep how it describes the question and its tone, " +
    'remove what it says about the reference, and treat that as what "I" saw, heard and know; keep the reasoning ' +
    "unchanged\n",
  thinkPrompt:
    "\nCorrect the thinking in the text below. Give the corrected text directly.\nText:\n{content}\nCorrected text:\n",
  answerSystem:
    "\nYour task is to reorganise the answer from the user's question, the reasoning and the original answer. Keep " +
    "the answer accurate and detailed.\n",
  answerPrompt:
    "\nGive the reorganised answer directly, without explanation.\nUser question:{question}\nFrom the reasoning: " +
    "{think},\nOriginal answer: {origin_answer}\nReorganised answer:\n",
} as const;

/** The rewriter's settings in the repository (ModifyThinkingContent.py, through Ollama). */
export const DEEPSEEK_R1_VISION_REWRITER = { model: "qwen2.5:14b", temperature: 0.7 } as const;

export type PromptLanguage = "zh" | "en";

/** Python's `str.format` for `{name}` fields (every field must be given; no other braces in these prompts). */
export function fillPrompt(template: string, fields: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = fields[name];
    if (v === undefined) throw new Error(`fillPrompt: no value for {${name}} in ${JSON.stringify(template)}`);
    return v;
  });
}

/** ModifyThinkingContent.py's `extract_think_and_answer`: the first `<think>` span (stripped) and the rest. */
export function splitThink(text: string): { think: string; answer: string } {
  const m = /<think>([\s\S]*?)<\/think>/.exec(text);
  return { think: m?.[1]?.trim() ?? "", answer: text.replace(/<think>[\s\S]*?<\/think>/g, "").trim() };
}

/** Step 1: a LLaVA record as ShareGPT messages (see the file comment); `imagePrefix` was "images/" there. */
export function llavaToMessages(rec: LlavaRecord, imagePrefix = ""): SharegptRecord {
  const images = rec.image === undefined ? [] : typeof rec.image === "string" ? [rec.image] : rec.image;
  const hasToken = rec.conversations.some((t) => t.value.includes("<image>"));
  const messages: SharegptMessage[] = rec.conversations.map((t, i) => ({
    role: t.from === "human" ? "user" : "assistant",
    content: i === 0 && images.length > 0 && !hasToken ? "<image>".repeat(images.length) + t.value : t.value,
  }));
  const out: SharegptRecord = { id: rec.id, messages };
  if (images.length > 0) out.images = images.map((p) => imagePrefix + p);
  return out;
}

/** The messages of one reasoner call: system, the rewritten pairs before, then the question with its reference. */
export function distillMessages(
  question: string,
  reference: string,
  history: ChatMessage[] = [],
  language: PromptLanguage = "zh",
): ChatMessage[] {
  const template = language === "zh" ? DEEPSEEK_R1_VISION_PROMPT_ZH : DEEPSEEK_R1_VISION_PROMPT_EN;
  return [
    { role: "system", content: DEEPSEEK_R1_VISION_SYSTEM },
    ...history,
    { role: "user", content: fillPrompt(template, { question, answer: reference }) },
  ];
}

/** The (user, assistant) pairs of a record, after any leading system message, checked to alternate. */
function pairs(rec: SharegptRecord, who: string): { start: number; count: number } {
  const start = rec.messages[0]?.role === "system" ? 1 : 0;
  const count = Math.floor((rec.messages.length - start) / 2);
  for (let i = 0; i < count; i++) {
    const at = start + 2 * i;
    if (rec.messages[at]?.role !== "user" || rec.messages[at + 1]?.role !== "assistant")
      throw new Error(`${who}: record ${JSON.stringify(rec.id)}: turns ${at}, ${at + 1} are not a user–assistant pair`);
  }
  return { start, count };
}

export interface CotConvertOptions {
  /** Which prompt the reasoner gets (default "zh": the repository's). */
  language?: PromptLanguage;
}

/**
 * Step 2: each assistant turn of `rec` replaced by the reasoner's reply to its question and reference, pair by
 * pair, later pairs seeing the earlier ones as rewritten. Other fields (id, images) are kept; `rec` is not changed.
 */
export async function cotConvert(
  rec: SharegptRecord,
  reasoner: Reasoner,
  options: CotConvertOptions = {},
): Promise<SharegptRecord> {
  const { start, count } = pairs(rec, "cotConvert");
  const messages: SharegptMessage[] = rec.messages.slice(0, start).map((m) => ({ ...m }));
  const history: ChatMessage[] = [];
  for (let i = 0; i < count; i++) {
    const question = rec.messages[start + 2 * i]?.content ?? "";
    const reference = rec.messages[start + 2 * i + 1]?.content ?? "";
    const reply = await reasoner(distillMessages(question, reference, history, options.language));
    if (typeof reply !== "string")
      throw new Error(`cotConvert: record ${JSON.stringify(rec.id)}: the reasoner returned ${typeof reply}, not text`);
    history.push({ role: "user", content: question }, { role: "assistant", content: reply });
    messages.push({ role: "user", content: question }, { role: "assistant", content: reply });
  }
  return { ...rec, messages };
}

/**
 * Step 3 (optional): each assistant turn's chain rewritten without "the reference", then its answer rewritten from
 * the question, the new chain and the old answer, by `rewriter` (ModifyThinkingContent.py).
 */
export async function rewriteCot(
  rec: SharegptRecord,
  rewriter: Reasoner,
  options: CotConvertOptions = {},
): Promise<SharegptRecord> {
  const p = options.language === "en" ? DEEPSEEK_R1_VISION_REWRITE_EN : DEEPSEEK_R1_VISION_REWRITE_ZH;
  const { start, count } = pairs(rec, "rewriteCot");
  const messages = rec.messages.map((m) => ({ ...m }));
  for (let i = 0; i < count; i++) {
    const question = messages[start + 2 * i]?.content ?? "";
    const turn = messages[start + 2 * i + 1];
    if (turn === undefined) continue;
    const { think, answer } = splitThink(turn.content);
    const newThink = await rewriter([
      { role: "system", content: p.thinkSystem },
      { role: "user", content: fillPrompt(p.thinkPrompt, { content: think }) },
    ]);
    const newAnswer = await rewriter([
      { role: "system", content: p.answerSystem },
      { role: "user", content: fillPrompt(p.answerPrompt, { question, think: newThink, origin_answer: answer }) },
    ]);
    turn.content = `<think>\n${newThink}\n</think>\n${newAnswer}`;
  }
  return { ...rec, messages };
}
