/**
 * The Jupyter wire protocol (messaging spec 5.3), shared by the kernel and the headless client.
 *
 * A message on a ZMQ socket is the frame list
 *   [identities..., "<IDS|MSG>", hmac, header, parent_header, metadata, content, buffers...]
 * where hmac is HMAC-SHA256(key) over the four JSON frames (empty when the key is empty).
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

/** A message's content as parsed from JSON: read a field with a check of its type. */
export type Content = Record<string, unknown>;

export interface Message<C = Content> {
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export const PROTOCOL_VERSION = "5.3";
const DELIM = "<IDS|MSG>";

export function endpoint(c: ConnectionInfo, port: number): string {
  return `${c.transport}://${c.ip}:${port}`;
}

function sign(key: string, frames: Buffer[]): string {
  if (!key) return "";
  const h = createHmac("sha256", key);
  for (const f of frames) h.update(f);
  return h.digest("hex");
}

export function newHeader(msgType: string, session: string): Header {
  return {
    msg_id: randomUUID(),
    session,
    username: "vlab",
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}

/** Builds a message of `msgType`, answering `parent` when given. */
export function makeMessage<C>(
  msgType: string,
  content: C,
  session: string,
  parent?: Message<unknown>,
  metadata: Record<string, unknown> = {},
): Message<C> {
  return {
    identities: parent ? parent.identities : [],
    header: newHeader(msgType, session),
    parent_header: parent ? parent.header : {},
    metadata,
    content,
    buffers: [],
  };
}

export function encode(key: string, msg: Message<unknown>): Buffer[] {
  const frames = [msg.header, msg.parent_header, msg.metadata, msg.content].map((x) =>
    Buffer.from(JSON.stringify(x ?? {}), "utf8"),
  );
  return [...msg.identities, Buffer.from(DELIM), Buffer.from(sign(key, frames)), ...frames, ...msg.buffers];
}

/** Why a message was refused; `header` is set when the header was sound, so the request can get an error reply. */
export interface Refusal {
  ok: false;
  reason: string;
  identities: Buffer[];
  header?: Header;
}

/** A message read off a socket: the message with its signature, or why it was refused. */
export type Parsed = { ok: true; msg: Message; signature: string } | Refusal;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  return `a ${typeof x}`;
}

function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const FIELDS = ["header", "parent_header", "metadata", "content"] as const;

/**
 * Reads the frames of one message, checking everything a handler relies on: the delimiter and at least four JSON
 * frames after the signature, the signature itself (when there is a key), each frame valid JSON and an object, and a
 * header whose msg_id and msg_type are strings. Never throws.
 */
export function parseFrames(key: string, raw: Buffer[]): Parsed {
  const at = raw.findIndex((b) => b.toString() === DELIM);
  const identities = at < 0 ? raw : raw.slice(0, at);
  const refuse = (reason: string, header?: Header): Refusal => ({ ok: false, reason, identities, header });
  if (at < 0) return refuse("no <IDS|MSG> delimiter");
  if (raw.length < at + 6)
    return refuse(`too few frames: ${raw.length - at - 1} after the delimiter, at least 5 needed`);
  const signature = String(raw[at + 1]);
  const frames = raw.slice(at + 2, at + 6);
  if (key && !signature) return refuse("no signature");
  if (key && !sameSignature(signature, sign(key, frames))) return refuse("bad signature");
  const parsed: unknown[] = [];
  const problems: string[] = [];
  frames.forEach((f, i) => {
    try {
      parsed.push(JSON.parse(f.toString("utf8")));
    } catch {
      parsed.push(undefined);
      problems.push(`${FIELDS[i]} is not valid JSON`);
    }
  });
  const [header, parent_header, metadata, content] = parsed;
  if (!isObject(header)) return refuse(problems[0] ?? `header must be a JSON object, got ${describe(header)}`);
  if (typeof header.msg_id !== "string" || typeof header.msg_type !== "string")
    return refuse("header without a msg_id and msg_type string");
  const sound = header as unknown as Header;
  for (const [i, x] of [parent_header, metadata, content].entries()) {
    const name = FIELDS[i + 1];
    if (x !== undefined && !isObject(x)) problems.push(`${name} must be a JSON object, got ${describe(x)}`);
  }
  if (problems.length > 0) return refuse(problems.join("; "), sound);
  const msg: Message = {
    identities,
    header: sound,
    parent_header: parent_header as Partial<Header>,
    metadata: metadata as Record<string, unknown>,
    content: content as Content,
    buffers: raw.slice(at + 6),
  };
  return { ok: true, msg, signature };
}

/** Reads one message, throwing on a malformed, unsigned or badly signed one (see parseFrames). */
export function decode(key: string, raw: Buffer[]): Message {
  const r = parseFrames(key, raw);
  if (!r.ok) throw new Error(`malformed Jupyter message: ${r.reason}`);
  return r.msg;
}

/**
 * The signatures of the messages already accepted, as jupyter_client's Session keeps its digest history: a message
 * whose signature was seen before is a replay and is refused. Bounded: past `size` signatures the oldest is forgotten.
 */
export class SignatureHistory {
  private seen = new Set<string>();

  constructor(private readonly size = 10_000) {}

  /** Records `signature`; false if it was seen already (a replay). */
  add(signature: string): boolean {
    if (this.seen.has(signature)) return false;
    this.seen.add(signature);
    if (this.seen.size > this.size) {
      const oldest = this.seen.values().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    return true;
  }
}
