// Malformed and replayed wire messages sent to the real kernel over ZMQ, on shell and on control: each is dropped (and
// logged) or answered with an error reply, and the kernel stays alive and keeps answering. Needs `npm run build`.
import { createHmac, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as zmq from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient } from "../src/client.js";
import { decode, endpoint, type ConnectionInfo, type Message } from "../src/wire.js";

const DELIM = "<IDS|MSG>";
const WAIT_MS = 15_000;

let kernel: KernelClient;
let conn: ConnectionInfo;
const raw: { shell?: zmq.Dealer; control?: zmq.Dealer } = {};
/** Everything the kernel logged since it started (the client keeps only a tail). */
let log = "";
const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-malformed-"));

/** Replies that reached our raw sockets, by channel, in order. */
const received: Record<"shell" | "control", Message[]> = { shell: [], control: [] };

async function pump(channel: "shell" | "control", sock: zmq.Dealer) {
  try {
    for await (const frames of sock) received[channel].push(decode(conn.key, frames));
  } catch {
    /* closed */
  }
}

beforeAll(async () => {
  kernel = await KernelClient.start({ cwd: elsewhere });
  // The connection file is the kernel's last argument (it lives until the client shuts the kernel down).
  const file = kernel.proc.spawnargs[kernel.proc.spawnargs.length - 1]!;
  conn = JSON.parse(fs.readFileSync(file, "utf8"));
  kernel.proc.stderr?.on("data", (d) => (log += String(d)));
  for (const channel of ["shell", "control"] as const) {
    const sock = new zmq.Dealer({ linger: 0 });
    sock.connect(endpoint(conn, channel === "shell" ? conn.shell_port : conn.control_port));
    raw[channel] = sock;
    void pump(channel, sock);
  }
}, 120_000);

afterAll(async () => {
  raw.shell?.close();
  raw.control?.close();
  await kernel?.shutdown();
  fs.rmSync(elsewhere, { recursive: true, force: true });
});

function sign(frames: Buffer[]): string {
  const h = createHmac("sha256", conn.key);
  for (const f of frames) h.update(f);
  return h.digest("hex");
}

function header(msgType: string) {
  return {
    msg_id: randomUUID(),
    session: randomUUID(),
    username: "test",
    date: new Date().toISOString(),
    msg_type: msgType,
    version: "5.3",
  };
}

/** The four JSON frames of a message, each given as a value (JSON-encoded) or as raw text. */
type Frames = [unknown, unknown, unknown, unknown];
function jsonFrames(parts: Frames, rawText: Record<number, string> = {}): Buffer[] {
  return parts.map((p, i) => Buffer.from(rawText[i] ?? JSON.stringify(p), "utf8"));
}

/** [delimiter, signature, ...frames], signed over the frames unless `signature` is given. */
function wire(frames: Buffer[], signature?: string): Buffer[] {
  return [Buffer.from(DELIM), Buffer.from(signature ?? sign(frames)), ...frames];
}

const code = (c: string) => ({ code: c, silent: false, store_history: true, user_expressions: {}, allow_stdin: false });

async function until<T>(what: string, get: () => T | undefined, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${kernel.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends frames on a raw socket, then a signed kernel_info_request there as a marker, and waits for its reply.
 * Returns the replies that came before the marker's (the answers to the frames sent, if any). */
async function sendThenMark(channel: "shell" | "control", frames: Buffer[]): Promise<Message[]> {
  const sock = raw[channel]!;
  const start = received[channel].length;
  await sock.send(frames);
  const mark = header("kernel_info_request");
  await sock.send(wire(jsonFrames([mark, {}, {}, {}])));
  const at = await until(`the marker's reply on ${channel}`, () => {
    const i = received[channel].findIndex((m, j) => j >= start && m.parent_header.msg_id === mark.msg_id);
    return i < 0 ? undefined : i;
  });
  return received[channel].slice(start, at);
}

/** Sends a request on a raw socket and waits for its reply. */
async function sendAndAwait(channel: "shell" | "control", frames: Buffer[], msgId: string): Promise<Message> {
  await raw[channel]!.send(frames);
  return until(`the reply to ${msgId} on ${channel}`, () =>
    received[channel].find((m) => m.parent_header.msg_id === msgId),
  );
}

/** The kernel is alive and a normal execute_request on shell gets its reply. */
async function stillAnswers() {
  expect(kernel.dead).toBe(false);
  const { reply } = await kernel.execute("6 * 7", { timeoutMs: WAIT_MS });
  expect(reply.content.status).toBe("ok");
}

interface Case {
  name: string;
  frames: () => Buffer[];
  /** Undefined: dropped without a reply. Otherwise the reply type expected, with status "error" and this in evalue. */
  reply?: { type: string; evalue: string };
  log: string;
}

const cases: Case[] = [
  {
    name: "bad signature",
    frames: () => wire(jsonFrames([header("execute_request"), {}, {}, code("1")]), "0".repeat(64)),
    log: "bad signature",
  },
  {
    name: "missing signature",
    frames: () => wire(jsonFrames([header("execute_request"), {}, {}, code("1")]), ""),
    log: "no signature",
  },
  {
    name: "header null",
    frames: () => wire(jsonFrames([null, {}, {}, code("1")])),
    log: "header must be a JSON object, got null",
  },
  {
    name: "header an array",
    frames: () => wire(jsonFrames([["execute_request"], {}, {}, code("1")])),
    log: "header must be a JSON object, got an array",
  },
  {
    name: "header without msg_type",
    frames: () => wire(jsonFrames([{ msg_id: randomUUID() }, {}, {}, code("1")])),
    log: "header without a msg_id and msg_type",
  },
  {
    name: "non-JSON header",
    frames: () => wire(jsonFrames([null, {}, {}, code("1")], { 0: "{not json" })),
    log: "header is not valid JSON",
  },
  {
    name: "content null",
    frames: () => wire(jsonFrames([header("execute_request"), {}, {}, null])),
    reply: { type: "execute_reply", evalue: "content must be a JSON object, got null" },
    log: "content must be a JSON object, got null",
  },
  {
    name: "content null (kernel_info_request)",
    frames: () => wire(jsonFrames([header("kernel_info_request"), {}, {}, null])),
    reply: { type: "kernel_info_reply", evalue: "content must be a JSON object, got null" },
    log: "content must be a JSON object, got null",
  },
  {
    name: "parent_header a string",
    frames: () => wire(jsonFrames([header("execute_request"), "parent", {}, code("1")])),
    reply: { type: "execute_reply", evalue: "parent_header must be a JSON object, got a string" },
    log: "parent_header must be a JSON object, got a string",
  },
  {
    name: "non-JSON content",
    frames: () => wire(jsonFrames([header("execute_request"), {}, {}, null], { 3: '{"code": ' })),
    reply: { type: "execute_reply", evalue: "content is not valid JSON" },
    log: "content is not valid JSON",
  },
  {
    name: "too few frames",
    frames: () => wire(jsonFrames([header("execute_request"), {}, {}, code("1")])).slice(0, 4),
    log: "too few frames",
  },
  {
    name: "no delimiter",
    frames: () => wire(jsonFrames([header("execute_request"), {}, {}, code("1")])).slice(1),
    log: "no <IDS|MSG> delimiter",
  },
];

describe("malformed messages", () => {
  for (const channel of ["shell", "control"] as const) {
    for (const c of cases) {
      it(
        `${c.name} on ${channel}: ${c.reply ? "an error reply" : "dropped"}, and the kernel keeps answering`,
        {
          timeout: 60_000,
        },
        async () => {
          const logBefore = log.length;
          const answers = await sendThenMark(channel, c.frames());
          if (c.reply) {
            expect(answers).toHaveLength(1);
            expect(answers[0]!.header.msg_type).toBe(c.reply.type);
            expect(answers[0]!.content).toMatchObject({ status: "error", ename: "InvalidMessage" });
            expect(String(answers[0]!.content.evalue)).toContain(c.reply.evalue);
          } else {
            expect(answers).toEqual([]);
          }
          await stillAnswers();
          expect(log.slice(logBefore)).toContain(c.log);
        },
      );
    }
  }
});

describe("replayed messages", () => {
  it("runs a replayed execute_request once, on shell or control alike", { timeout: 60_000 }, async () => {
    const counter = "(globalThis as any).__replayCount = ((globalThis as any).__replayCount ?? 0) + 1";
    const logBefore = log.length;
    for (const first of ["shell", "control"] as const) {
      const h = header("execute_request");
      const message = wire(jsonFrames([h, {}, {}, code(counter)]));
      const answer = await sendAndAwait(first, message, h.msg_id);
      expect([answer.header.msg_type, answer.content.status]).toEqual(["execute_reply", "ok"]);
      // The same frames again, on both sockets: each is refused (no second reply, before or after the marker's).
      for (const again of ["shell", "control"] as const) await sendThenMark(again, message);
      const replies = [...received.shell, ...received.control].filter((m) => m.parent_header.msg_id === h.msg_id);
      expect(replies).toHaveLength(1);
    }
    const { reply, messages } = await kernel.execute("(globalThis as any).__replayCount", { timeoutMs: WAIT_MS });
    expect(reply.content.status).toBe("ok");
    const result = messages.find((m) => m.header.msg_type === "execute_result");
    expect((result?.content.data as Record<string, unknown> | undefined)?.["text/plain"]).toBe("2");
    expect(log.slice(logBefore).match(/dropped a replayed message/g)).toHaveLength(4);
    expect(kernel.dead).toBe(false);
  });
});
