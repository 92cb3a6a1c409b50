/**
 * A small Jupyter client: starts a kernel process and drives it over ZMQ. `vlab run` executes
 * notebooks with it, and the protocol tests use it to talk to the real kernel.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import * as zmq from "zeromq";
import { KERNEL_MAIN } from "./install.js";
import { decode, encode, endpoint, makeMessage, type ConnectionInfo, type Message } from "./wire.js";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Command line of the kernel; `{connection_file}` is replaced. Default: this package's kernel. */
  argv?: string[];
  startupTimeoutMs?: number;
  /** How the heartbeat is watched (default HEARTBEAT): a kernel that misses `misses` probes in a row counts as dead. */
  heartbeat?: { everyMs: number; timeoutMs: number; misses: number };
}

/** A probe every 5 s with 5 s to answer; 4 missed in a row (about 20 s of silence) mean a hung kernel. */
export const HEARTBEAT = { everyMs: 5000, timeoutMs: 5000, misses: 4 };

export interface ExecuteResult {
  reply: Message;
  /** Every iopub message the request caused, in order (status messages left out). */
  messages: Message[];
}

interface Waiter {
  messages: Message[];
  reply?: Message;
  idle: boolean;
  onMessage?: (m: Message) => void;
  done: () => void;
}

export class KernelClient {
  private waiters = new Map<string, Waiter>();
  private replies = new Map<string, (m: Message) => void>();
  private session = randomUUID();
  private exited: Promise<number | NodeJS.Signals | null>;
  /** Resolves (with what was seen) when the kernel stops answering its heartbeat: watchHeartbeat(). */
  private hung: Promise<string>;
  private heartbeatLost: (why: string) => void = () => {};
  stderr = "";

  private constructor(
    readonly proc: ChildProcess,
    private conn: ConnectionInfo,
    private connectionFile: string,
    private shell: zmq.Dealer,
    private control: zmq.Dealer,
    private iopub: zmq.Subscriber,
  ) {
    // The exit code, or the signal that ended it (a kernel killed by SIGKILL or SIGSEGV has no code).
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve(code ?? signal)));
    this.hung = new Promise((resolve) => (this.heartbeatLost = resolve));
    proc.stderr?.on("data", (d) => (this.stderr = (this.stderr + d).slice(-20000)));
    void this.pump(shell);
    void this.pump(control);
    void this.listen();
  }

  static async start(opts: StartOptions = {}): Promise<KernelClient> {
    const [shell_port, iopub_port, stdin_port, control_port, hb_port] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const conn: ConnectionInfo = {
      transport: "tcp",
      ip: "127.0.0.1",
      shell_port,
      iopub_port,
      stdin_port,
      control_port,
      hb_port,
      key: randomBytes(16).toString("hex"),
      signature_scheme: "hmac-sha256",
    };
    const connectionFile = path.join(os.tmpdir(), `vlab-kernel-${randomUUID()}.json`);
    fs.writeFileSync(connectionFile, JSON.stringify(conn));
    const argv = (opts.argv ?? [process.execPath, KERNEL_MAIN, "{connection_file}"]).map((a) =>
      a.replace("{connection_file}", connectionFile),
    );
    const [command, ...args] = argv;
    if (command === undefined) throw new Error("KernelClient.start(): argv is empty");
    const proc = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "inherit", "pipe"],
    });
    const shell = new zmq.Dealer();
    const control = new zmq.Dealer();
    const iopub = new zmq.Subscriber();
    shell.connect(endpoint(conn, conn.shell_port));
    control.connect(endpoint(conn, conn.control_port));
    iopub.connect(endpoint(conn, conn.iopub_port));
    iopub.subscribe();
    const client = new KernelClient(proc, conn, connectionFile, shell, control, iopub);
    await client.waitReady(opts.startupTimeoutMs ?? 60_000);
    client.watchHeartbeat(opts.heartbeat ?? HEARTBEAT);
    return client;
  }

  /** Waits until the kernel answers kernel_info and its iopub messages reach us (ZMQ's slow joiner). */
  private async waitReady(timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const msg = makeMessage("kernel_info_request", {}, this.session);
      let sawIopub = false;
      const waiter: Waiter = { messages: [], idle: false, done: () => {}, onMessage: () => (sawIopub = true) };
      this.waiters.set(msg.header.msg_id, waiter);
      const reply = this.sendAndWait(this.shell, msg);
      const r = await Promise.race([
        reply,
        this.exited.then(() => "exit" as const),
        delay(1000).then(() => "slow" as const),
      ]);
      if (r === "exit") throw new Error(`the kernel exited during start-up:\n${this.stderr}`);
      await delay(50);
      this.waiters.delete(msg.header.msg_id);
      if (r !== "slow" && sawIopub) return;
    }
    await this.kill();
    throw new Error(`the kernel did not answer within ${timeoutMs} ms:\n${this.stderr}`);
  }

  private async pump(sock: zmq.Dealer) {
    try {
      for await (const frames of sock) {
        const msg = decode(this.conn.key, frames as Buffer[]);
        const id = msg.parent_header.msg_id ?? "";
        this.replies.get(id)?.(msg);
        this.replies.delete(id);
        const w = this.waiters.get(id);
        if (w && msg.header.msg_type.endsWith("_reply")) {
          w.reply = msg;
          if (w.idle) w.done();
        }
      }
    } catch {
      /* socket closed */
    }
  }

  private async listen() {
    try {
      for await (const frames of this.iopub) {
        const msg = decode(this.conn.key, frames as Buffer[]);
        const w = this.waiters.get(msg.parent_header.msg_id ?? "");
        if (!w) continue;
        w.onMessage?.(msg);
        if (msg.header.msg_type === "status") {
          if (msg.content.execution_state === "idle") {
            w.idle = true;
            if (w.reply) w.done();
          }
        } else {
          w.messages.push(msg);
        }
      }
    } catch {
      /* socket closed */
    }
  }

  private sendAndWait(sock: zmq.Dealer, msg: Message): Promise<Message> {
    const p = new Promise<Message>((resolve) => this.replies.set(msg.header.msg_id, resolve));
    void sock.send(encode(this.conn.key, msg));
    return p;
  }

  /** Sends a request on shell (or control) and waits for its reply and for the kernel to go idle. */
  async request(
    type: string,
    content: Record<string, unknown>,
    opts: {
      channel?: "shell" | "control";
      timeoutMs?: number;
      /** At the time-out, interrupt the kernel and wait this long for the reply before giving up (0: don't). */
      interruptWaitMs?: number;
      onMessage?: (m: Message) => void;
    } = {},
  ): Promise<ExecuteResult> {
    const msg = makeMessage(type, content, this.session);
    const finished = new Promise<void>((resolve) => {
      this.waiters.set(msg.header.msg_id, { messages: [], idle: false, onMessage: opts.onMessage, done: resolve });
    });
    void (opts.channel === "control" ? this.control : this.shell).send(encode(this.conn.key, msg));
    const timeoutMs = opts.timeoutMs ?? 0;
    const wait = (ms: number) =>
      Promise.race([
        finished.then(() => "done" as const),
        this.exited.then((code) => `exit:${code}` as const),
        this.hung.then((why) => `hung: ${why}` as const),
        ...(ms > 0 ? [delay(ms).then(() => "timeout" as const)] : []),
      ]);
    let outcome = await wait(timeoutMs);
    const interruptWaitMs = opts.interruptWaitMs ?? 0;
    if (outcome === "timeout" && interruptWaitMs > 0) {
      const t0 = Date.now();
      this.interrupt();
      outcome = await wait(interruptWaitMs);
      const w = this.waiters.get(msg.header.msg_id);
      if (outcome === "done" && w?.reply) {
        this.waiters.delete(msg.header.msg_id);
        throw new TimeoutInterrupted(type, timeoutMs, Date.now() - t0, { reply: w.reply, messages: w.messages });
      }
    }
    const w = this.waiters.get(msg.header.msg_id);
    this.waiters.delete(msg.header.msg_id);
    if (outcome === "timeout") {
      const after = interruptWaitMs > 0 ? `, nor within ${interruptWaitMs / 1000} s of an interrupt` : "";
      throw new Error(`${type} did not finish within ${timeoutMs / 1000} s${after}`);
    }
    if (outcome !== "done")
      throw new Error(`the kernel died (${outcome}) while handling ${type}:\n${this.stderr.slice(-4000)}`);
    if (!w?.reply) throw new Error(`${type} finished without a reply`); // done() is only called once the reply came
    return { reply: w.reply, messages: w.messages };
  }

  execute(code: string, opts: { timeoutMs?: number; interruptWaitMs?: number; onMessage?: (m: Message) => void } = {}) {
    return this.request(
      "execute_request",
      { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      opts,
    );
  }

  /**
   * Interrupts the running cell the way Jupyter does: SIGINT for the kernelspec's `interrupt_mode: "signal"`, or an
   * `interrupt_request` on control (`"message"`, without waiting for its reply).
   */
  interrupt(how: "signal" | "message" = "signal") {
    if (how === "signal") this.proc.kill("SIGINT");
    else void this.control.send(encode(this.conn.key, makeMessage("interrupt_request", {}, this.session)));
  }

  /**
   * One heartbeat round trip (Jupyter's hb channel): its time in ms, or undefined when the kernel did not echo within
   * `timeoutMs`. A fresh REQ socket each time: one whose reply never came cannot send again.
   */
  async heartbeat(timeoutMs = 2000): Promise<number | undefined> {
    const sock = new zmq.Request({ linger: 0 });
    sock.connect(endpoint(this.conn, this.conn.hb_port));
    const t0 = performance.now();
    try {
      await sock.send("ping");
      const echo = await Promise.race([sock.receive(), delay(timeoutMs).then(() => undefined)]);
      return echo ? performance.now() - t0 : undefined;
    } finally {
      sock.close();
    }
  }

  /**
   * Probes the heartbeat every `everyMs`; after `misses` probes in a row go unanswered the kernel counts as dead
   * (a process that is alive but hung: stopped, deadlocked), and every request waiting on it fails.
   */
  private watchHeartbeat(opts: { everyMs: number; timeoutMs: number; misses: number }) {
    let missed = 0;
    let probing = false;
    const timer = setInterval(() => {
      if (probing || this.dead) return;
      probing = true;
      void this.heartbeat(opts.timeoutMs)
        .then((rtt) => {
          missed = rtt === undefined ? missed + 1 : 0;
          if (missed >= opts.misses) {
            clearInterval(timer);
            this.heartbeatLost(`no heartbeat for ${missed} probes over ${(missed * opts.everyMs) / 1000} s`);
          }
        })
        .finally(() => (probing = false));
    }, opts.everyMs);
    timer.unref();
  }

  /** Whether the kernel process has ended (exited, or killed by a signal). */
  get dead(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  async shutdown() {
    // A dead kernel is not asked: the request would sit in the socket's queue, waiting for a peer that is gone.
    if (!this.dead) {
      try {
        await this.request("shutdown_request", { restart: false }, { channel: "control", timeoutMs: 5000 });
      } catch {
        /* it may have died meanwhile */
      }
      await Promise.race([this.exited, delay(3000)]);
    }
    await this.kill();
  }

  private async kill() {
    if (!this.dead) this.proc.kill("SIGKILL");
    // linger 0: drop whatever is still queued for the kernel, so that closing (and this process's exit) never
    // waits on a peer that will not read it.
    for (const s of [this.shell, this.control, this.iopub]) {
      s.linger = 0;
      s.close();
    }
    fs.rmSync(this.connectionFile, { force: true });
  }
}

/** A request that ran past its time-out, was interrupted, and answered: the reply and output it gave. */
export class TimeoutInterrupted extends Error {
  constructor(
    type: string,
    timeoutMs: number,
    /** How long the kernel took to answer the interrupt. */
    readonly answeredInMs: number,
    readonly result: ExecuteResult,
  ) {
    super(
      `${type} did not finish within ${timeoutMs / 1000} s; it was interrupted and the kernel answered ` +
        `${(answeredInMs / 1000).toFixed(1)} s later`,
    );
    this.name = "CellTimeout";
  }
}

function delay(ms: number) {
  return new Promise<void>((r) => setTimeout(r, ms).unref());
}
