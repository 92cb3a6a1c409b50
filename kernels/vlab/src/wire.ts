/**
 * The Jupyter wire protocol (messaging spec 5.3), shared by the kernel and the headless client.
 *
 * A message on a ZMQ socket is the frame list
 *   [identities..., "<IDS|MSG>", hmac, header, parent_header, metadata, content, buffers...]
 * where hmac is HMAC-SHA256(key) over the four JSON frames (empty when the key is empty).
 */
import { createHmac, randomUUID } from "node:crypto";

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

export function decode(key: string, raw: Buffer[]): Message {
  const at = raw.findIndex((b) => b.toString() === DELIM);
  const signatureFrame = at < 0 ? undefined : raw[at + 1];
  if (signatureFrame === undefined || raw.length < at + 6)
    throw new Error("malformed Jupyter message: no <IDS|MSG> delimiter or too few frames");
  const frames = raw.slice(at + 2, at + 6);
  const signature = signatureFrame.toString();
  if (key && signature !== sign(key, frames)) throw new Error("Jupyter message with a bad signature was dropped");
  const [header, parent_header, metadata, content] = frames.map((f) => JSON.parse(f.toString("utf8")));
  return { identities: raw.slice(0, at), header, parent_header, metadata, content, buffers: raw.slice(at + 6) };
}
