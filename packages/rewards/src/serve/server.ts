/**
 * The reward service over HTTP (node:http, no framework): OpenRLHF's `POST /get_reward` (protocol.ts) and
 * `GET /health`.
 *
 * Built for how the engines call it: OpenRLHF ≥ 0.9 sends one request per rollout sample, ~1,000 at once over
 * keep-alive connections, and gives each 180 s (aiohttp `ClientTimeout(total=180)`, 5 tries 1 s apart); lmm-r1
 * sends whole batches in one body. So:
 *
 * - keep-alive connections (idle ones live `keepAliveMs`);
 * - at most `concurrency` requests are read and scored at once; later ones wait in a queue (their bodies stay
 *   unread in the socket) of at most `maxQueue`, past which the answer is 503 at once;
 * - every request has `timeoutMs` from arrival to answer: 408 if its body has not arrived by then, 503 if it
 *   was still queued or scoring; scoring yields to the event loop every few milliseconds, so a large batch
 *   neither blocks other connections nor overruns its limit by more than a slice;
 * - bodies over `maxBodyBytes` get 413 (from Content-Length before reading, or as soon as the count passes);
 * - it binds 127.0.0.1 unless told otherwise, and with a `token` every `/get_reward` must carry
 *   `Authorization: Bearer <token>`, compared in constant time (hashes of both sides, `timingSafeEqual`);
 *   OpenRLHF's reference server has neither (OpenRLHF issue #1317);
 * - answers other than 200 are JSON `{"error": …}` (400 also names `field` and `index`); 404 unknown path,
 *   405 wrong method (with `Allow`), 401 bad or missing token;
 * - `close()` stops accepting, lets the requests already received finish (their answers carry
 *   `Connection: close`), and ends after `graceMs` at the latest.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { REWARD_NAMES } from "./kinds.js";
import { BadRequest, ScoringTimeout, parseRewardRequest, scoreRequest } from "./protocol.js";
import { routeTable, type RouteTable } from "./routes.js";

export interface RewardServerOptions {
  /** Address to bind (default "127.0.0.1"). */
  host?: string;
  /** Port (default 5000, lmm-r1's; 0 picks a free one). */
  port?: number;
  /** Which reward scores which item (default: `r1v` for everything). */
  routes?: RouteTable;
  /** Bearer token every `/get_reward` must carry; none by default. */
  token?: string;
  /** Largest request body in bytes (default 256 MiB: lmm-r1 posts whole batches). */
  maxBodyBytes?: number;
  /** Requests read and scored at once (default 32). */
  concurrency?: number;
  /** Requests waiting for a slot, past which the answer is 503 (default 4096). */
  maxQueue?: number;
  /** Time from a request's arrival to its answer, ms (default 60,000; OpenRLHF waits 180 s). */
  timeoutMs?: number;
  /** How long an idle keep-alive connection is kept, ms (default 65,000). */
  keepAliveMs?: number;
}

export interface ServerStats {
  active: number;
  queued: number;
  /** Requests answered 200, and the items they held. */
  served: number;
  items: number;
  /** Requests answered otherwise. */
  refused: number;
}

export interface RewardServer {
  server: http.Server;
  /** Binds and resolves with the base URL (`http://host:port`). */
  listen(): Promise<string>;
  /** Stops accepting, finishes what was received, and resolves when every connection is closed. */
  close(graceMs?: number): Promise<void>;
  stats(): ServerStats;
}

export const DEFAULT_PORT = 5000;
export const DEFAULT_MAX_BODY = 256 * 1024 * 1024;

/** An answer other than 200, as thrown inside a handler. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** One request in flight. */
interface Call {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** `performance.now()` time by which it must be answered. */
  deadline: number;
  /** The connection closed (or the answer was sent). */
  gone: boolean;
  /** Called once when the connection closes, by whatever waits on the client now. */
  onGone: (() => void) | null;
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

export function createRewardServer(options: RewardServerOptions = {}): RewardServer {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? DEFAULT_PORT;
  const table = options.routes ?? routeTable();
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const concurrency = Math.max(1, options.concurrency ?? 32);
  const maxQueue = Math.max(0, options.maxQueue ?? 4096);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const expected = options.token ? digest(options.token) : null;
  const stats: ServerStats = { active: 0, queued: 0, served: 0, items: 0, refused: 0 };
  const waiting: (() => void)[] = [];
  let closing = false;

  /**
   * A slot for one request: now, after the ones queued before it, or never (queue full, time up, or the client
   * gone: a queued request whose connection closes leaves the queue).
   */
  function acquire(call: Call): Promise<void> {
    if (stats.active < concurrency) {
      stats.active++;
      return Promise.resolve();
    }
    if (waiting.length >= maxQueue) return Promise.reject(new HttpError(503, "busy: the request queue is full"));
    return new Promise((resolve, reject) => {
      const leave = (e: Error) => {
        clearTimeout(timer);
        const i = waiting.indexOf(go);
        if (i >= 0) waiting.splice(i, 1);
        stats.queued = waiting.length;
        reject(e);
      };
      const go = () => {
        clearTimeout(timer);
        call.onGone = null;
        resolve(); // the releaser handed its slot over: `active` is unchanged
      };
      const timer = setTimeout(
        () => leave(new HttpError(503, `timed out after ${timeoutMs} ms waiting for a free slot`)),
        Math.max(0, call.deadline - performance.now()),
      );
      call.onGone = () => leave(new Error("client closed the connection"));
      waiting.push(go);
      stats.queued = waiting.length;
    });
  }

  function release(): void {
    const next = waiting.shift();
    stats.queued = waiting.length;
    if (next) next();
    else stats.active--;
  }

  function authorized(req: http.IncomingMessage): boolean {
    if (!expected) return true;
    const m = /^Bearer[ \t]+(.+)$/i.exec(req.headers.authorization ?? "");
    return m !== null && timingSafeEqual(digest((m[1] ?? "").trim()), expected);
  }

  function send(call: Call, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const { req, res } = call;
    if (res.headersSent || call.gone) return;
    const text = JSON.stringify(body);
    // A body left unread (refused early) is not drained: the connection is closed instead.
    const unread = !req.complete && (req.headers["content-length"] !== undefined || !!req.headers["transfer-encoding"]);
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(text),
      ...(closing || unread ? { Connection: "close" } : {}),
      ...headers,
    });
    res.end(req.method === "HEAD" ? undefined : text);
    if (status !== 200) stats.refused++;
  }

  function readBody(call: Call): Promise<Buffer> {
    const { req } = call;
    const declared = Number(req.headers["content-length"]);
    if (declared > maxBody)
      return Promise.reject(new HttpError(413, `body of ${declared} bytes is over the limit of ${maxBody}`));
    if (call.gone) return Promise.reject(new Error("client closed the connection"));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const fail = (e: Error) => {
        clearTimeout(timer);
        call.onGone = null;
        req.removeListener("data", onData);
        req.pause();
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new HttpError(408, `the body did not arrive within the time limit (${timeoutMs} ms)`)),
        Math.max(0, call.deadline - performance.now()),
      );
      const onData = (c: Buffer) => {
        size += c.length;
        if (size > maxBody) fail(new HttpError(413, `body is over the limit of ${maxBody} bytes`));
        else chunks.push(c);
      };
      call.onGone = () => fail(new Error("client closed the connection"));
      req.on("data", onData);
      req.once("end", () => {
        clearTimeout(timer);
        call.onGone = null;
        resolve(Buffer.concat(chunks, size));
      });
    });
  }

  async function getReward(call: Call): Promise<void> {
    await acquire(call);
    try {
      const raw = await readBody(call);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch (e) {
        if (raw.length > 0x1fffffe8) throw new HttpError(413, "body too large to decode as one string");
        throw new HttpError(400, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
      }
      const request = parseRewardRequest(body);
      const answer = await scoreRequest(request, table, {
        deadline: call.deadline,
        timeoutMs,
        cancelled: () => call.gone,
      });
      send(call, 200, answer);
      stats.served++;
      stats.items += request.query.length;
    } finally {
      release();
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const call: Call = { req, res, deadline: performance.now() + timeoutMs, gone: false, onGone: null };
    res.once("close", () => {
      call.gone = true;
      call.onGone?.();
    });
    req.on("error", () => {}); // a reset connection is not the server's failure
    res.on("error", () => {});
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === "/health") {
        if (req.method !== "GET" && req.method !== "HEAD")
          throw new HttpError(405, `${req.method} is not allowed on /health`, { Allow: "GET, HEAD" });
        const body = { ok: true, rewards: REWARD_NAMES, default: table.fallback.kind.name, ...stats };
        send(call, 200, body);
      } else if (path === "/get_reward") {
        if (req.method !== "POST")
          throw new HttpError(405, `${req.method} is not allowed on /get_reward`, { Allow: "POST" });
        if (!authorized(req))
          throw new HttpError(401, "missing or wrong bearer token", { "WWW-Authenticate": 'Bearer realm="vlab"' });
        await getReward(call);
      } else throw new HttpError(404, `no such path: ${path} (POST /get_reward, GET /health)`);
    } catch (e) {
      if (e instanceof HttpError) send(call, e.status, { error: e.message }, e.headers);
      else if (e instanceof BadRequest) send(call, 400, e.body());
      else if (e instanceof ScoringTimeout) send(call, 503, { error: e.message });
      else if (!call.gone) send(call, 500, { error: e instanceof Error ? e.message : String(e) });
    }
  }
  const server = http.createServer({ keepAliveTimeout: options.keepAliveMs ?? 65_000 }, (req, res) => {
    void handle(req, res);
  });
  server.headersTimeout = (options.keepAliveMs ?? 65_000) + 1000;
  server.requestTimeout = 0; // the per-request limit above replaces Node's

  return {
    server,
    stats: () => ({ ...stats }),
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.removeListener("error", reject);
          const a = server.address() as AddressInfo;
          resolve(`http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`);
        });
      }),
    close: (graceMs = timeoutMs) =>
      new Promise((resolve) => {
        closing = true;
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
