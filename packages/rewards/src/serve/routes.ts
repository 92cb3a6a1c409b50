/**
 * Which reward scores an item: the request's own `reward`, else a routing table keyed by the item's data
 * source, else the server's default.
 *
 * A mixed dataset (counting questions, referring boxes, detection) trains against one reward URL; each row
 * names where it came from, as verl's `data_source` column does (`data.reward_fn_key`) and as a label
 * object can (`{"data_source": "refcoco", "box": [...]}`). The routing file:
 *
 *   {
 *     "default": "r1v",
 *     "key": "data_source",
 *     "routes": {
 *       "vlab/counting": "r1v",
 *       "vlab/grounding": "vlm-r1-rec",
 *       "refcoco": { "reward": "vlm-r1-rec", "options": { "rule": "threshold" } },
 *       "lvis": "visual-rft-det"
 *     }
 *   }
 *
 * Per item the route key is `data_source[i]` of the request if present, else the label's `key` field (default
 * `data_source`) when the label is an object (a JSON object string is read as one); an unknown or missing key gets the
 * default. A request's top-level `reward` overrides the table for all its items.
 */
import { resolveReward, type RewardChoice } from "./kinds.js";
import { isRecord } from "./labels.js";

export interface RouteTable {
  /** The reward of items no route names. */
  fallback: RewardChoice;
  /** The label field read for the route key when the request sends no `data_source`. */
  key: string;
  routes: ReadonlyMap<string, RewardChoice>;
}

/**
 * A routing table from its JSON (see the file comment), or from just a default reward. `defaultReward`, when
 * given, replaces the file's `default` (the command line's `--reward` wins). Throws an Error naming the entry.
 */
export function routeTable(json: unknown = {}, defaultReward?: unknown): RouteTable {
  if (!isRecord(json)) throw new Error("routes: the file must hold a JSON object");
  for (const k of Object.keys(json))
    if (!["default", "key", "routes"].includes(k))
      throw new Error(`routes: unknown field ${JSON.stringify(k)} (known: default, key, routes)`);
  const key = json["key"] ?? "data_source";
  if (typeof key !== "string" || key === "") throw new Error("routes: key must be a non-empty string");
  const rawRoutes = json["routes"] ?? {};
  if (!isRecord(rawRoutes)) throw new Error("routes: routes must be an object {data source: reward}");
  const routes = new Map<string, RewardChoice>();
  for (const [source, spec] of Object.entries(rawRoutes))
    routes.set(source, resolveReward(spec, `routes: routes[${JSON.stringify(source)}]`));
  const fallback = resolveReward(defaultReward ?? json["default"] ?? "r1v", "routes: default");
  return { fallback, key, routes };
}

/** The route key of one item: the request's data source, else the label's `key` field, else null. */
export function routeKey(table: RouteTable, dataSource: unknown, label: unknown): string | null {
  if (typeof dataSource === "string") return dataSource;
  const v = isRecord(label) ? label[table.key] : undefined;
  return typeof v === "string" ? v : null;
}

/** The reward for one item (a request-wide `override` first). */
export function chooseReward(
  table: RouteTable,
  override: RewardChoice | null,
  dataSource: unknown,
  label: unknown,
): RewardChoice {
  if (override) return override;
  if (table.routes.size === 0) return table.fallback;
  const k = routeKey(table, dataSource, label);
  return (k !== null ? table.routes.get(k) : undefined) ?? table.fallback;
}
