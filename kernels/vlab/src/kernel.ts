/**
 * The vlab Jupyter kernel: TypeScript cells run by tslab's converter and executor, spoken over
 * ZMQ with the parts of the protocol tslab leaves out — `execute_result` with its execution count,
 * `error` messages (and ename/evalue/traceback in `execute_reply`), a real `comm_info_reply`,
 * multi-mime display bundles, Deno's `Symbol.for("Jupyter.display")` protocol, the real TypeScript
 * version in `kernel_info`, and interrupts that let a running training loop stop cleanly.
 *
 * Two threads. This one owns the sockets: it validates every message, answers the heartbeat and control
 * requests at once, and handles shell requests in order (handlers.ts). The cells run in a worker thread
 * (cell_thread.ts, driven through cell_host.ts), so nothing a cell does (a 10 s synchronous loop, `await null;
 * while (true) {}`) keeps this thread from answering, and a cell that ignores an interrupt can be stopped.
 *
 * An interrupt (SIGINT, as Jupyter sends it for `interrupt_mode: "signal"`, or an `interrupt_request`):
 * 1. at once: the cell's `interrupted` flag is set (core's training loops stop at their next step and save), and
 *    SIGINT stops a cell still in its synchronous part (tslab's `breakOnSigint`), keeping all state. Whenever no
 *    cell is in such a part, the signal thread (signal_thread.ts) receives SIGINT and tells this thread;
 * 2. after INTERRUPT_GRACE_MS: the cell's promise is abandoned and its timers stopped (cell_timers.ts);
 * 3. after ABANDON_GRACE_MS more: a cell still running (a synchronous loop after an `await`) has its thread
 *    terminated, and a fresh one starts. Only this step loses the variables of earlier cells, and the cell's error
 *    says so. More interrupts of the same cell change nothing: a double click must not cost the state sooner.
 */
import fs from "node:fs";
import * as zmq from "zeromq";
import { describeSummary } from "./backend_init.js";
import { CellHost } from "./cell_host.js";
import { watchSignals } from "./signals.js";
import { HANDLERS, refuseRequest, type KernelContext, type Reply } from "./handlers.js";
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

/**
 * After an interrupt, how long a running cell may take to stop by itself (e.g. a training loop saving its state):
 * 3 s, or $VLAB_INTERRUPT_GRACE_MS.
 */
export const INTERRUPT_GRACE_MS = envMs("VLAB_INTERRUPT_GRACE_MS", 3000);
/** After its promise is abandoned, how long a cell may keep its thread busy before the thread is restarted. */
export const ABANDON_GRACE_MS = 1000;

function envMs(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`${name} must be a number of milliseconds ≥ 0, got "${raw}"`);
  return ms;
}

type Send = (frames: Buffer[]) => void;

/** Serialises sends on one socket (zeromq allows one pending send at a time). */
function sender(sock: { send(frames: Buffer[]): Promise<void> }): Send {
  let queue: Promise<void> = Promise.resolve();
  return (frames) => {
    queue = queue.then(() => sock.send(frames)).catch((e: unknown) => logError("send failed", e));
  };
}

function logError(what: string, e: unknown) {
  process.stderr.write(`[vlab kernel] ${what}: ${e instanceof Error ? e.stack : String(e)}\n`);
}

/** The cell that runs (or ran last: output from its background tasks still goes there). */
interface CellState {
  executionCount: number;
  /** Sequence number of the cell running or run last (silent cells too). */
  seq: number;
  running: boolean;
  /** The request of each recent cell, by seq: the parent of its output. */
  parents: Map<number, Message>;
  /** The interrupt in progress: its cell and the timer of its next step. */
  interrupt?: { seq: number; timer: NodeJS.Timeout; step: 2 | 3 };
}

export async function startKernel(connectionFile: string): Promise<void> {
  const conn: ConnectionInfo = JSON.parse(fs.readFileSync(connectionFile, "utf8"));
  if (conn.signature_scheme && conn.signature_scheme !== "hmac-sha256") {
    throw new Error(`unsupported signature scheme ${conn.signature_scheme} in ${connectionFile}`);
  }
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

  const state: CellState = { executionCount: 0, seq: 0, running: false, parents: new Map() };
  // SIGINT: this listener until the signal thread holds it (signals.ts), then the signal thread. Either may fire
  // before `k` below exists (during the awaits of start-up): then there is no cell to interrupt.
  const live: { k?: KernelContext } = {};
  process.on("SIGINT", () => live.k?.interrupt());
  const signals = await watchSignals(() => live.k?.interrupt());
  if (!signals.armed) logError("no signal thread", "SIGINT after a cell's synchronous part may end the kernel");
  // Fast by default: the cell thread chooses the backend before the first request is served (backend_init.ts).
  const cells = new CellHost(process.cwd(), {
    publish: (seq, type, content) => publish(type, content, state.parents.get(seq) ?? state.parents.get(state.seq)),
    log: (text) => logError("cell thread", text),
  });

  /** Steps 2 and 3 of an interrupt (see the top of this file). */
  const escalate = (seq: number, step: 2 | 3) => {
    if (state.interrupt?.seq === seq) clearTimeout(state.interrupt.timer);
    state.interrupt = undefined;
    if (!state.running || state.seq !== seq || !cells.isRunning(seq)) return;
    if (step === 2) {
      cells.abandon(seq);
      state.interrupt = { seq, step: 3, timer: setTimeout(() => escalate(seq, 3), ABANDON_GRACE_MS) };
      return;
    }
    const waited = (INTERRUPT_GRACE_MS + ABANDON_GRACE_MS) / 1000;
    cells.restart(
      "KeyboardInterrupt",
      `execution interrupted; the cell kept running ${waited} s after the interrupt, ` +
        "so its thread was stopped and a fresh one started: the variables and imports of earlier cells are gone " +
        "(run them again)",
    );
  };

  const k: KernelContext = {
    cells,
    get backend() {
      return cells.backend;
    },
    get executionCount() {
      return state.executionCount;
    },
    publish,
    beginCell(msg, countIt) {
      if (countIt) state.executionCount++;
      publish("execute_input", { code: msg.content.code ?? "", execution_count: state.executionCount }, msg);
      state.seq++;
      state.parents.set(state.seq, msg);
      state.parents.delete(state.seq - 64); // output of older cells' background tasks goes to the latest one
      state.running = true;
      return { count: state.executionCount, seq: state.seq };
    },
    endCell() {
      state.running = false;
      if (state.interrupt) clearTimeout(state.interrupt.timer);
      state.interrupt = undefined;
    },
    interrupt(byMessage = false) {
      const seq = state.seq;
      if (!state.running || !cells.isRunning(seq)) return;
      if (state.interrupt?.seq === seq) return; // already on its way (a second click does not lose state sooner)
      cells.interrupt(seq);
      state.interrupt = { seq, step: 2, timer: setTimeout(() => escalate(seq, 2), INTERRUPT_GRACE_MS) };
      // an interrupt_request stops a synchronous part as Jupyter's SIGINT does (the signal comes back to
      // k.interrupt() through the signal thread when no cell is in one, and is ignored: already interrupting)
      if (byMessage) signals.raise();
    },
    shutdown() {
      signals.close();
      cells.close();
      for (const s of [iopub, shell, control, stdin, hb]) s.close();
      process.exit(0);
    },
  };
  live.k = k;

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
  await cells.whenReady();
  logError("ready", describeSummary(cells.backend));
  await serve(shell, sender(shell), true);
}
