/**
 * The vlab Jupyter kernel: TypeScript cells run by tslab's converter and executor, spoken over
 * ZMQ with the parts of the protocol tslab leaves out — `execute_result` with its execution count,
 * `error` messages (and ename/evalue/traceback in `execute_reply`), a real `comm_info_reply`,
 * multi-mime display bundles, Deno's `Symbol.for("Jupyter.display")` protocol, the real TypeScript
 * version in `kernel_info`, and interrupts that let a running training loop stop cleanly.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import { inspect } from "node:util";
import * as zmq from "zeromq";
import { createCellExecutor, typescriptVersion, type CellExecutor, type Outcome } from "./executor.js";
import { addRuntimeFallback } from "./resolve.js";
import { decode, encode, endpoint, makeMessage, PROTOCOL_VERSION, type ConnectionInfo, type Message } from "./wire.js";

const require = createRequire(import.meta.url);
const VERSION: string = require("../package.json").version;
const HOOK = Symbol.for("vlab.kernel");
const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");
/** After an interrupt, how long a running cell may take to stop by itself (e.g. a training loop saving its state). */
const INTERRUPT_GRACE_MS = 3000;

type Bundle = Record<string, unknown>;

/** Makes a mime bundle JSON-safe: bytes become base64 (as Jupyter expects for images), text stays text. */
export function normalizeBundle(bundle: Bundle): Bundle {
  const out: Bundle = {};
  for (const [mime, v] of Object.entries(bundle)) {
    if (v === undefined) continue;
    if (v instanceof Uint8Array) out[mime] = Buffer.from(v).toString("base64");
    else if (typeof v === "string" || /json/.test(mime)) out[mime] = v;
    else out[mime] = String(v);
  }
  return out;
}

function isTensorLike(v: unknown): v is { shape: number[]; dtype: string; toString(): string } {
  return (
    typeof v === "object" &&
    v !== null &&
    Array.isArray((v as any).shape) &&
    typeof (v as any).dtype === "string" &&
    typeof (v as any).dataSync === "function"
  );
}

/** The mime bundle for a cell's value: its own `Symbol.for("Jupyter.display")`, else plain text. */
export async function bundleOf(value: unknown): Promise<Bundle> {
  const own = (value as any)?.[JUPYTER_DISPLAY];
  if (typeof own === "function") return normalizeBundle(await own.call(value));
  if (isTensorLike(value)) return { "text/plain": value.toString() };
  if (typeof value === "string") return { "text/plain": inspect(value) };
  return { "text/plain": inspect(value, { depth: 4, colors: false, maxArrayLength: 50 }) };
}

/** Serialises sends on one socket (zeromq allows one pending send at a time). */
function sender(sock: zmq.Socket & { send(frames: Buffer[]): Promise<void> }) {
  let queue: Promise<void> = Promise.resolve();
  return (frames: Buffer[]) => {
    queue = queue.then(() => sock.send(frames)).catch((e) => logError("send failed", e));
  };
}

const realStderrWrite = process.stderr.write.bind(process.stderr);
function logError(what: string, e: unknown) {
  realStderrWrite(`[vlab kernel] ${what}: ${e instanceof Error ? e.stack : String(e)}\n`);
}

export async function startKernel(connectionFile: string): Promise<void> {
  const conn: ConnectionInfo = JSON.parse(fs.readFileSync(connectionFile, "utf8"));
  if (conn.signature_scheme && conn.signature_scheme !== "hmac-sha256") {
    throw new Error(`unsupported signature scheme ${conn.signature_scheme} in ${connectionFile}`);
  }
  addRuntimeFallback();
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
  const sendShell = sender(shell);
  const sendControl = sender(control);

  const publish = (type: string, content: unknown, parent?: Message) =>
    sendIopub(encode(key, makeMessage(type, content, session, parent)));
  const reply = (send: (f: Buffer[]) => void, parent: Message, type: string, content: unknown) =>
    send(encode(key, makeMessage(type, content, session, parent)));

  const executor: CellExecutor = createCellExecutor(process.cwd());
  let executionCount = 0;
  /** The request whose cell is running, or ran last: output from background tasks goes there. */
  let current: Message | undefined;
  let running = false;
  let interrupted = false;

  // Everything the cell prints becomes `stream` output of the cell.
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, enc?: any, cb?: any) => {
      if (!current) return write(chunk, enc, cb);
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      publish("stream", { name, text }, current);
      if (typeof enc === "function") enc();
      else if (typeof cb === "function") cb();
      return true;
    }) as typeof stream.write;
  }

  // The hook packages use to display rich output and to notice interrupts (see @vlab/core kernel_hook.ts).
  (globalThis as any)[HOOK] = {
    display(bundle: Bundle, opts: { displayId?: string; update?: boolean; metadata?: Record<string, unknown> } = {}) {
      const content = {
        data: normalizeBundle(bundle),
        metadata: opts.metadata ?? {},
        transient: opts.displayId ? { display_id: opts.displayId } : {},
      };
      publish(opts.update && opts.displayId ? "update_display_data" : "display_data", content, current);
    },
    get interrupted() {
      return interrupted;
    },
  };

  function interrupt() {
    interrupted = true;
    if (!running) return;
    const cell = current;
    setTimeout(() => {
      if (running && current === cell) executor.interrupt();
    }, INTERRUPT_GRACE_MS).unref();
  }
  process.on("SIGINT", interrupt);

  async function execute(msg: Message) {
    const { code = "", silent = false, store_history = true } = msg.content;
    if (!silent && store_history) executionCount++;
    const count = executionCount;
    publish("execute_input", { code, execution_count: count }, msg);
    current = msg;
    running = true;
    interrupted = false;
    let outcome: Outcome;
    try {
      outcome = await executor.execute(code);
      if (outcome.status === "ok" && outcome.hasValue && outcome.value != null && !silent) {
        publish("execute_result", { execution_count: count, data: await bundleOf(outcome.value), metadata: {} }, msg);
      }
    } catch (e) {
      outcome = {
        status: "error",
        ename: (e as Error)?.name ?? "Error",
        evalue: String((e as Error)?.message ?? e),
        traceback: [String((e as Error)?.stack ?? e)],
      };
    } finally {
      running = false;
    }
    if (outcome.status === "error") {
      const { ename, evalue, traceback } = outcome;
      publish("error", { ename, evalue, traceback }, msg);
      reply(sendShell, msg, "execute_reply", { status: "error", execution_count: count, ename, evalue, traceback });
    } else {
      reply(sendShell, msg, "execute_reply", {
        status: "ok",
        execution_count: count,
        user_expressions: {},
        payload: [],
      });
    }
  }

  const languageInfo = {
    name: "typescript",
    version: typescriptVersion(),
    mimetype: "text/typescript",
    file_extension: ".ts",
    pygments_lexer: "typescript",
    codemirror_mode: { name: "javascript", typescript: true },
  };

  async function handle(msg: Message, send: (f: Buffer[]) => void) {
    const type = msg.header.msg_type;
    publish("status", { execution_state: "busy" }, msg);
    try {
      switch (type) {
        case "kernel_info_request":
          reply(send, msg, "kernel_info_reply", {
            status: "ok",
            protocol_version: PROTOCOL_VERSION,
            implementation: "vlab",
            implementation_version: VERSION,
            language_info: languageInfo,
            banner: `vlab ${VERSION} — TypeScript ${languageInfo.version} on Node ${process.version}`,
            help_links: [],
          });
          break;
        case "execute_request":
          await execute(msg);
          break;
        case "is_complete_request": {
          const { isCompleteCode } = require("tslab/dist/converter.js");
          const r = isCompleteCode(msg.content.code ?? "");
          reply(
            send,
            msg,
            "is_complete_reply",
            r.completed ? { status: "complete" } : { status: "incomplete", indent: r.indent ?? "" },
          );
          break;
        }
        case "complete_request": {
          const r = executor.complete(msg.content.code ?? "", msg.content.cursor_pos ?? 0);
          reply(send, msg, "complete_reply", {
            status: "ok",
            matches: r.candidates,
            cursor_start: r.start,
            cursor_end: r.end,
            metadata: {},
          });
          break;
        }
        case "inspect_request": {
          const text = executor.inspect(msg.content.code ?? "", msg.content.cursor_pos ?? 0);
          reply(send, msg, "inspect_reply", {
            status: "ok",
            found: !!text,
            data: text ? { "text/plain": text } : {},
            metadata: {},
          });
          break;
        }
        case "comm_info_request":
          reply(send, msg, "comm_info_reply", { status: "ok", comms: {} });
          break;
        case "comm_open": // no widgets: close what a frontend opens
          publish("comm_close", { comm_id: msg.content.comm_id, data: {} }, msg);
          break;
        case "comm_msg":
        case "comm_close":
          break;
        case "history_request":
          reply(send, msg, "history_reply", { status: "ok", history: [] });
          break;
        case "interrupt_request":
          interrupt();
          reply(send, msg, "interrupt_reply", { status: "ok" });
          break;
        case "shutdown_request":
          reply(send, msg, "shutdown_reply", { status: "ok", restart: !!msg.content.restart });
          publish("status", { execution_state: "idle" }, msg);
          setTimeout(() => shutdown(), 100);
          return;
        default:
          logError("unhandled message", type);
      }
    } catch (e) {
      logError(`handling ${type}`, e);
    }
    publish("status", { execution_state: "idle" }, msg);
  }

  async function serve(sock: zmq.Router, send: (f: Buffer[]) => void, inOrder: boolean) {
    for await (const frames of sock) {
      let msg: Message;
      try {
        msg = decode(key, frames as Buffer[]);
      } catch (e) {
        logError("bad message", e);
        continue;
      }
      if (inOrder) await handle(msg, send);
      else void handle(msg, send);
    }
  }

  function shutdown() {
    executor.close();
    for (const s of [iopub, shell, control, stdin, hb]) s.close();
    process.exit(0);
  }

  void (async () => {
    for await (const frames of hb) await hb.send(frames as Buffer[]);
  })();
  void serve(control, sendControl, false);
  publish("status", { execution_state: "starting" });
  await serve(shell, sendShell, true);
}
