/**
 * The vlab Jupyter kernel: TypeScript cells run by tslab's converter and executor, spoken over
 * ZMQ with the parts of the protocol tslab leaves out — `execute_result` with its execution count,
 * `error` messages (and ename/evalue/traceback in `execute_reply`), a real `comm_info_reply`,
 * multi-mime display bundles, Deno's `Symbol.for("Jupyter.display")` protocol, the real TypeScript
 * version in `kernel_info`, and interrupts that let a running training loop stop cleanly.
 *
 * This file owns the sockets and the running cell's state; handlers.ts answers each request type.
 */
import fs from "node:fs";
import * as zmq from "zeromq";
import { describeSummary, initCellBackend, type BackendSummary } from "./backend_init.js";
import { normalizeBundle, type Bundle } from "./bundle.js";
import { createCellExecutor } from "./executor.js";
import { HANDLERS, refuseRequest, type KernelContext, type Reply } from "./handlers.js";
import { addRuntimeFallback } from "./resolve.js";
import {
  encode,
  endpoint,
  makeMessage,
  parseFrames,
  SignatureHistory,
  type ConnectionInfo,
  type Message,
  type Refusal,
} from "./wire.js";

const HOOK = Symbol.for("vlab.kernel");
/** After an interrupt, how long a running cell may take to stop by itself (e.g. a training loop saving its state). */
const INTERRUPT_GRACE_MS = 3000;

type Send = (frames: Buffer[]) => void;

/** Serialises sends on one socket (zeromq allows one pending send at a time). */
function sender(sock: { send(frames: Buffer[]): Promise<void> }): Send {
  let queue: Promise<void> = Promise.resolve();
  return (frames) => {
    queue = queue.then(() => sock.send(frames)).catch((e: unknown) => logError("send failed", e));
  };
}

const realStderrWrite = process.stderr.write.bind(process.stderr);
function logError(what: string, e: unknown) {
  realStderrWrite(`[vlab kernel] ${what}: ${e instanceof Error ? e.stack : String(e)}\n`);
}

/** The cell that runs (or ran last: output from its background tasks still goes there), and the interrupt flag. */
interface CellState {
  executionCount: number;
  current?: Message;
  running: boolean;
  interrupted: boolean;
}

/** Everything the cell prints becomes `stream` output of the cell; outside a cell it goes to the terminal. */
function captureStreams(state: CellState, publish: KernelContext["publish"]) {
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    const write = stream.write.bind(stream);
    const capture = (chunk: string | Uint8Array, enc?: unknown, cb?: unknown): boolean => {
      if (!state.current) return Reflect.apply(write, stream, [chunk, enc, cb]);
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      publish("stream", { name, text }, state.current);
      if (typeof enc === "function") enc();
      else if (typeof cb === "function") cb();
      return true;
    };
    stream.write = capture as typeof stream.write;
  }
}

/** The hook packages use to display rich output and to notice interrupts (see @vlab/core kernel_hook.ts). */
function installHook(state: CellState, publish: KernelContext["publish"]) {
  Reflect.set(globalThis, HOOK, {
    display(bundle: Bundle, opts: { displayId?: string; update?: boolean; metadata?: Record<string, unknown> } = {}) {
      const content = {
        data: normalizeBundle(bundle),
        metadata: opts.metadata ?? {},
        transient: opts.displayId ? { display_id: opts.displayId } : {},
      };
      publish(opts.update && opts.displayId ? "update_display_data" : "display_data", content, state.current);
    },
    get interrupted() {
      return state.interrupted;
    },
  });
}

export async function startKernel(connectionFile: string): Promise<void> {
  const conn: ConnectionInfo = JSON.parse(fs.readFileSync(connectionFile, "utf8"));
  if (conn.signature_scheme && conn.signature_scheme !== "hmac-sha256") {
    throw new Error(`unsupported signature scheme ${conn.signature_scheme} in ${connectionFile}`);
  }
  addRuntimeFallback();
  // Fast by default: the backend is chosen before the first request is served (backend_init.ts).
  const backendReady = initCellBackend(process.cwd()).then((summary) => {
    realStderrWrite(`[vlab kernel] ${describeSummary(summary)}\n`);
    return summary;
  });
  const session = crypto.randomUUID();
  const key = conn.key ?? "";

  const iopub = new zmq.Publisher();
  const shell = new zmq.Router();
  const control = new zmq.Router();
  const stdin = new zmq.Router();
  const hb = new zmq.Reply();
  await Promise.all([
    iopub.bind(endpoint(conn, conn.iopub_port)),
    shell.bind(endpoint(conn, conn.shell_port)),
    control.bind(endpoint(conn, conn.control_port)),
    stdin.bind(endpoint(conn, conn.stdin_port)),
    hb.bind(endpoint(conn, conn.hb_port)),
  ]);
  const sendIopub = sender(iopub);
  const publish = (type: string, content: unknown, parent?: Message) =>
    sendIopub(encode(key, makeMessage(type, content, session, parent)));

  const state: CellState = { executionCount: 0, running: false, interrupted: false };
  const executor = createCellExecutor(process.cwd());
  captureStreams(state, publish);
  installHook(state, publish);

  const chosen: { backend?: BackendSummary } = {};
  const k: KernelContext = {
    executor,
    get backend() {
      return chosen.backend;
    },
    get executionCount() {
      return state.executionCount;
    },
    publish,
    beginCell(msg, countIt) {
      if (countIt) state.executionCount++;
      publish("execute_input", { code: msg.content.code ?? "", execution_count: state.executionCount }, msg);
      state.current = msg;
      state.running = true;
      state.interrupted = false;
      return state.executionCount;
    },
    endCell() {
      state.running = false;
    },
    interrupt() {
      state.interrupted = true;
      if (!state.running) return;
      const cell = state.current;
      setTimeout(() => {
        if (state.running && state.current === cell) executor.interrupt();
      }, INTERRUPT_GRACE_MS).unref();
    },
    shutdown() {
      executor.close();
      for (const s of [iopub, shell, control, stdin, hb]) s.close();
      process.exit(0);
    },
  };
  process.on("SIGINT", () => k.interrupt());

  /** One request: busy, its handler, idle. */
  async function handle(msg: Message, send: Send) {
    const type = msg.header.msg_type;
    const reply: Reply = (replyType, content) => send(encode(key, makeMessage(replyType, content, session, msg)));
    publish("status", { execution_state: "busy" }, msg);
    const handler = HANDLERS[type];
    try {
      if (handler) await handler(k, msg, reply);
      else logError("unhandled message", type);
    } catch (e) {
      logError(`handling ${type}`, e);
    }
    publish("status", { execution_state: "idle" }, msg);
  }

  /** A malformed message: an error reply when its header is sound and it is a request, else only a line in the log. */
  function refuse(r: Refusal, send: Send) {
    const what = r.header ? `${r.header.msg_type} ${r.header.msg_id}` : "message";
    logError("dropped a malformed message", `${what}: ${r.reason}`);
    if (!r.header?.msg_type.endsWith("_request")) return;
    // Answered as a child of the sound header, so the client can match the reply and its busy / idle.
    const parent: Message = {
      identities: r.identities,
      header: r.header,
      parent_header: {},
      metadata: {},
      content: {},
      buffers: [],
    };
    const reply: Reply = (replyType, content) => send(encode(key, makeMessage(replyType, content, session, parent)));
    publish("status", { execution_state: "busy" }, parent);
    refuseRequest(k, r.header, r.reason, reply);
    publish("status", { execution_state: "idle" }, parent);
  }

  /** Signatures of accepted messages, shared by shell and control: a replayed message is refused on either. */
  const history = new SignatureHistory(10_000);

  /** One message off a socket, never throwing: checked, refused or handled. */
  async function receive(frames: Buffer[], send: Send, inOrder: boolean) {
    const r = parseFrames(key, frames);
    if (!r.ok) return refuse(r, send);
    if (key && !history.add(r.signature)) {
      logError("dropped a replayed message", `${r.msg.header.msg_type} ${r.msg.header.msg_id} (signature seen before)`);
      return;
    }
    if (inOrder) await handle(r.msg, send);
    else void handle(r.msg, send).catch((e: unknown) => logError("handling a control message", e));
  }

  /** Shell requests are handled one at a time, in order; control requests (interrupt, shutdown) at once. */
  async function serve(sock: zmq.Router, send: Send, inOrder: boolean) {
    while (!sock.closed) {
      try {
        for await (const frames of sock) {
          try {
            await receive(frames, send, inOrder);
          } catch (e) {
            logError("bad message", e);
          }
        }
      } catch (e) {
        // A receive that failed: log it and go on reading, unless the socket was closed.
        if (!sock.closed) logError("receiving", e);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  void (async () => {
    for await (const frames of hb) await hb.send(frames);
  })();
  void serve(control, sender(control), false);
  publish("status", { execution_state: "starting" });
  chosen.backend = await backendReady;
  await serve(shell, sender(shell), true);
}
