/**
 * @vlab/rewards/serve — the package's rewards as an HTTP service speaking OpenRLHF's remote reward protocol
 * (`POST /get_reward`), for OpenRLHF and lmm-r1 directly and for verl and TRL through the Python shim
 * (python/vlab_rewards.py). Node only (node:http); the package's main entry stays free of it.
 *
 * - extract.ts   the response cut out of a templated query (prompt prefix, assistant header, end tokens)
 * - labels.ts    labels as the engines send them (text, a box, a list of boxes; JSON in strings)
 * - kinds.ts     the rewards by name, their options and parts (r1v, lmm-r1, vlm-r1-rec, visual-rft-*, …)
 * - routes.ts    which reward scores an item: the request's, a routing table's by data source, the default
 * - protocol.ts  the request checked (400 reasons), items scored, the answer assembled
 * - server.ts    node:http: limits, queue, time limits, bearer token, keep-alive, clean shutdown
 * - shim.ts      where the Python shim lives
 */
export * from "./extract.js";
export * from "./labels.js";
export * from "./kinds.js";
export * from "./routes.js";
export * from "./protocol.js";
export * from "./server.js";
export * from "./shim.js";
