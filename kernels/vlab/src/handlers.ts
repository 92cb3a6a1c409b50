/**
 * The kernel's answers, one small function per request type of the Jupyter messaging protocol
 * (https://jupyter-client.readthedocs.io/en/stable/messaging.html, version 5.3). `HANDLERS` maps a msg_type to
 * its function; kernel.ts wraps every call in the busy / idle status messages the protocol asks for.
 */
import { createRequire } from "node:module";
import { describeSummary, type BackendSummary } from "./backend_init.js";
import type { CellHost } from "./cell_host.js";
import { typescriptVersion } from "./executor.js";
import { PROTOCOL_VERSION, type Header, type Message } from "./wire.js";

const require = createRequire(import.meta.url);
const VERSION: string = require("../package.json").version;

/** What the handlers need from the running kernel. */
export interface KernelContext {
  /** The cell thread: runs cells, completes and inspects code. */
  readonly cells: CellHost;
  /** The backend the kernel initialised for the cells (undefined: no @vlab/core to initialise). */
  readonly backend: BackendSummary | undefined;
  /** The execution count of the last cell counted. */
  readonly executionCount: number;
  /** Publishes on iopub as a child of `parent`. */
  publish(type: string, content: unknown, parent?: Message): void;
  /** Starts running a cell: counts it, numbers it (`seq`) and records it as the cell that output goes to. */
  beginCell(msg: Message, countIt: boolean): { count: number; seq: number };
  /** The running cell finished. */
  endCell(): void;
  /** Interrupts the running cell (kernel.ts says how); `byMessage`: an interrupt_request, not a SIGINT. */
  interrupt(byMessage?: boolean): void;
  /** Closes the sockets and exits. */
  shutdown(): void;
}

/** Replies to the request on the socket it came from. */
export type Reply = (type: string, content: unknown) => void;

export type Handler = (k: KernelContext, msg: Message, reply: Reply) => void | Promise<void>;

/** A string field of a request's content, or `fallback` when it is missing or not a string. */
function text(msg: Message, field: string, fallback = ""): string {
  const v = msg.content[field];
  return typeof v === "string" ? v : fallback;
}

function int(msg: Message, field: string, fallback = 0): number {
  const v = msg.content[field];
  return typeof v === "number" ? v : fallback;
}

function flag(msg: Message, field: string, fallback: boolean): boolean {
  const v = msg.content[field];
  return typeof v === "boolean" ? v : fallback;
}

export function languageInfo() {
  return {
    name: "typescript",
    version: typescriptVersion(),
    mimetype: "text/typescript",
    file_extension: ".ts",
    pygments_lexer: "typescript",
    codemirror_mode: { name: "javascript", typescript: true },
  };
}

/** "BatchMatMul (wasm, native avx512f 6x32)", "BatchMatMul (wasm)" → "BatchMatMul", once each. */
function kernelNames(kernels: string[]): string {
  return [...new Set(kernels.map((k) => k.replace(/\s*\(.*$/, "")))].join(", ");
}

const kernelInfo: Handler = (k, _msg, reply) => {
  const language_info = languageInfo();
  const banner = [
    `vlab ${VERSION} — TypeScript ${language_info.version} (tslab's type checker) on Node ${process.version}`,
    describeSummary(k.backend),
    ...(k.backend?.kernels.length ? [`vlab kernels: ${kernelNames(k.backend.kernels)}`] : []),
  ].join("\n");
  reply("kernel_info_reply", {
    status: "ok",
    protocol_version: PROTOCOL_VERSION,
    implementation: "vlab",
    implementation_version: VERSION,
    language_info,
    banner,
    help_links: [],
    vlab: { backend: k.backend ?? null },
  });
};

/**
 * Runs a cell: `execute_input`, then the cell's own output (streams and displays, sent by kernel.ts while it
 * runs), `execute_result` for the value of its last expression, `error` if it threw, and the `execute_reply`.
 */
const execute: Handler = async (k, msg, reply) => {
  const code = text(msg, "code");
  const silent = flag(msg, "silent", false);
  const { count, seq } = k.beginCell(msg, !silent && flag(msg, "store_history", true));
  let result;
  try {
    result = await k.cells.execute(seq, code, String(count), silent);
  } finally {
    k.endCell();
  }
  if (result.status === "error") {
    const { ename, evalue, traceback } = result;
    k.publish("error", { ename, evalue, traceback }, msg);
    reply("execute_reply", { status: "error", execution_count: count, ename, evalue, traceback });
    return;
  }
  if (result.data) k.publish("execute_result", { execution_count: count, data: result.data, metadata: {} }, msg);
  reply("execute_reply", { status: "ok", execution_count: count, user_expressions: {}, payload: [] });
};

const isComplete: Handler = (_k, msg, reply) => {
  const { isCompleteCode } = require("tslab/dist/converter.js");
  const r: { completed: boolean; indent?: string } = isCompleteCode(text(msg, "code"));
  reply("is_complete_reply", r.completed ? { status: "complete" } : { status: "incomplete", indent: r.indent ?? "" });
};

const complete: Handler = async (k, msg, reply) => {
  const r = await k.cells.complete(text(msg, "code"), int(msg, "cursor_pos"));
  reply("complete_reply", {
    status: "ok",
    matches: r.candidates,
    cursor_start: r.start,
    cursor_end: r.end,
    metadata: {},
  });
};

const inspectCode: Handler = async (k, msg, reply) => {
  const found = await k.cells.inspect(text(msg, "code"), int(msg, "cursor_pos"));
  reply("inspect_reply", {
    status: "ok",
    found: !!found,
    data: found ? { "text/plain": found } : {},
    metadata: {},
  });
};

const ignore: Handler = () => {};

/** The request types the kernel answers. Anything else is logged and left unanswered. */
export const HANDLERS: Record<string, Handler> = {
  kernel_info_request: kernelInfo,
  execute_request: execute,
  is_complete_request: isComplete,
  complete_request: complete,
  inspect_request: inspectCode,
  comm_info_request: (_k, _msg, reply) => reply("comm_info_reply", { status: "ok", comms: {} }),
  // no widgets: close what a frontend opens, ignore the rest of the comm traffic
  comm_open: (k, msg) => k.publish("comm_close", { comm_id: msg.content.comm_id, data: {} }, msg),
  comm_msg: ignore,
  comm_close: ignore,
  history_request: (_k, _msg, reply) => reply("history_reply", { status: "ok", history: [] }),
  interrupt_request: (k, _msg, reply) => {
    k.interrupt(true);
    reply("interrupt_reply", { status: "ok" });
  },
  shutdown_request: (k, msg, reply) => {
    reply("shutdown_reply", { status: "ok", restart: !!msg.content.restart });
    setTimeout(() => k.shutdown(), 100); // after the idle status that follows every request
  },
};

/**
 * The error reply to a request whose header is sound but whose other frames are not (content that is null or not
 * JSON, a parent_header that is not an object...): `<type>_reply` with status "error" naming what was wrong. Only
 * requests have a reply; for other message types it returns false and the message is just dropped.
 */
export function refuseRequest(k: KernelContext, header: Header, reason: string, reply: Reply): boolean {
  if (!header.msg_type.endsWith("_request")) return false;
  const content: Record<string, unknown> = {
    status: "error",
    ename: "InvalidMessage",
    evalue: `invalid ${header.msg_type}: ${reason}`,
    traceback: [],
  };
  if (header.msg_type === "execute_request") content.execution_count = k.executionCount;
  reply(header.msg_type.replace(/_request$/, "_reply"), content);
  return true;
}
