/**
 * The up-front check of a scene configuration (once per configuration, cached): can its objects always be placed?
 * A grid test (cells of a common box of some shapes), a shape-mix test (every multiset of shapes shelf-packed, for
 * small counts) and, when neither holds, the refusal naming the configuration, how many objects fit and the largest
 * sizeScale that fits them. What it finds is the layout scenes fall back to (scene_layout.ts). Internal to
 * @vlab/data: `resolveSceneOptions` (shapes.ts) runs it.
 */
import { FIT_SLACK, MARGIN, radiusIn, reach, shelve, smallestSize, type ScenePlan, type Slot } from "./scene_layout.js";
import { pairName, SHAPES, type Pair, type ResolvedSceneOptions, type ShapeName, type SizeName } from "./world.js";

// Most multisets of shapes the check packs one by one (when no common box fits), so a refusal stays instant.
const MULTISET_LIMIT = 2000;

function uniqueByName(pairs: readonly Pair[]): Pair[] {
  const seen = new Map<string, Pair>();
  for (const p of pairs) if (!seen.has(pairName(p))) seen.set(pairName(p), p);
  return [...seen.values()];
}

/** The drawable shapes: those of `pairs` and `requirePairs`, in SHAPES order. */
function drawableShapes(o: ResolvedSceneOptions): ShapeName[] {
  const used = new Set([...o.pairs, ...(o.requirePairs ?? [])].map((p) => p.shape));
  return SHAPES.filter((s) => used.has(s));
}

/** The required pairs (undefined when none are) and the pairs, each pair once. */
function pairSets(o: ResolvedSceneOptions) {
  const required = o.requirePairs && o.requirePairs.length > 0 ? uniqueByName(o.requirePairs) : undefined;
  return { required, all: uniqueByName(o.pairs) };
}

/**
 * How many boxes of length `len` fit one after another, gap (+ FIT_SLACK) apart, in `free` px: the largest k with
 * k·(len + step) - step ≤ free, i.e. floor((free - len) / (len + step)) + 1; Infinity when len + step ≤ 0.
 */
function slots(free: number, len: number, step: number): number {
  if (len > free) return 0;
  return len + step <= 0 ? Infinity : Math.floor((free - len) / (len + step)) + 1;
}

/**
 * The grid check: for each non-empty subset of the drawable shapes, a grid of cells of their common box (widest ×
 * tallest); its count is the cells, at most the objects its pairs can give (unique pairs, the first from
 * requirePairs). Returns the count and plan of the subset holding `need` objects with the most pairs to draw from,
 * else of the one holding most.
 */
function gridPlan(
  o: ResolvedSceneOptions,
  size: SizeName,
  boxOf: (s: ShapeName) => { w: number; h: number },
  need: number,
  subsets = shapeSubsets(o, need),
) {
  const boxes = new Map(drawableShapes(o).map((s) => [s, boxOf(s)] as const));
  const step = o.gap + FIT_SLACK;
  let best: { count: number; plan: ScenePlan; choices: number } | undefined;
  for (const { subset, choices, drawable, firstPairs } of subsets) {
    const w = Math.max(...subset.map((s) => boxes.get(s)?.w ?? Infinity)),
      h = Math.max(...subset.map((s) => boxes.get(s)?.h ?? Infinity));
    const cols = slots(o.width - 2 * MARGIN, w, step),
      rows = slots(o.height - 2 * MARGIN, h, step);
    const count = Math.min(cols === 0 || rows === 0 ? 0 : cols * rows, drawable);
    const better =
      best === undefined ||
      (count >= need
        ? best.count < need || choices > best.choices
        : best.count < need && (count > best.count || (count === best.count && choices > best.choices)));
    if (!better) continue;
    const k = Math.min(count, need);
    const shelves = Array.from({ length: Math.min(cols, k) }, () =>
      Array.from({ length: Math.min(rows, k) }, (): Slot => ({ shapes: subset, w, h })),
    );
    best = { count, choices, plan: { vertical: true, shelves, size, firstPairs } };
  }
  if (best === undefined) throw new RangeError("no colour–shape pairs to draw from");
  return best;
}

/**
 * Every non-empty subset of the drawable shapes, with how many pairs it has (`choices`), the most objects its pairs
 * can give (`drawable`: distinct pairs with uniquePairs, the first from requirePairs when given) and the required
 * pairs the first object may take so that `need` objects can be drawn.
 */
function shapeSubsets(o: ResolvedSceneOptions, need: number) {
  const shapes = drawableShapes(o);
  const { required, all } = pairSets(o);
  return Array.from({ length: (1 << shapes.length) - 1 }, (_, m) => {
    const subset = shapes.filter((_, i) => ((m + 1) >> i) & 1);
    const pairs = all.filter((p) => subset.includes(p.shape));
    let drawable: number;
    let firstPairs: Pair[] | undefined;
    if (required) {
      const req = required.filter((p) => subset.includes(p.shape));
      const others = (p: Pair) => pairs.filter((q) => pairName(q) !== pairName(p)).length;
      if (o.uniquePairs) {
        drawable = req.length === 0 ? 0 : 1 + Math.max(...req.map(others));
        firstPairs = req.filter((p) => 1 + others(p) >= Math.min(need, drawable));
      } else {
        drawable = req.length === 0 ? 0 : pairs.length > 0 ? Infinity : 1;
        firstPairs = req;
      }
    } else drawable = o.uniquePairs ? pairs.length : pairs.length > 0 ? Infinity : 0;
    return { subset, choices: pairs.length, drawable, firstPairs };
  });
}

/**
 * The multiset check, for small counts where the grid's common box is too coarse (a required circle beside a
 * triangle, say): every multiset of `need` drawable shapes (the first of a required pair's shape, unique pairs
 * respected) is shelf-packed by columns and by rows; returns the plan of the first that fits. Returns null when
 * there are more than MULTISET_LIMIT multisets to try.
 */
function multisetPlan(o: ResolvedSceneOptions, size: SizeName, r: number, need: number): ScenePlan | undefined | null {
  const shapes = drawableShapes(o);
  const boxes = new Map(shapes.map((s) => [s, reach(s, r, o.width, o.height)] as const));
  const area = (s: ShapeName) => (boxes.get(s)?.w ?? Infinity) * (boxes.get(s)?.h ?? Infinity);
  shapes.sort((a, b) => area(a) - area(b)); // the most compact first: they fit most often
  const slotFor = (s: ShapeName): Slot => ({
    shapes: [s],
    w: boxes.get(s)?.w ?? Infinity,
    h: boxes.get(s)?.h ?? Infinity,
  });
  const { required, all } = pairSets(o);
  const names = new Set(all.map(pairName));
  const firsts = required
    ? shapes.flatMap((f) => {
        const pairs = required.filter((p) => p.shape === f);
        return pairs.length > 0 ? [{ shape: f, pairs }] : [];
      })
    : [undefined];
  const rest = need - (required ? 1 : 0);
  const d = shapes.length;
  let combos = 1; // multisets of `rest` over d shapes: C(rest + d - 1, d - 1), per first shape
  for (let i = 1; i < d; i++) combos = (combos * (rest + i)) / i;
  if (combos * firsts.length > MULTISET_LIMIT) return null;
  for (const first of firsts) {
    // how many more objects of each shape the pairs allow (one fewer of the first's shape when it may take one)
    const caps = shapes.map((s) => {
      const n = all.filter((p) => p.shape === s).length;
      if (!o.uniquePairs) return n > 0 ? rest : 0;
      return s === first?.shape && first.pairs.some((p) => names.has(pairName(p))) ? n - 1 : n;
    });
    const counts = new Array<number>(d).fill(0);
    const firstSlot = first ? slotFor(first.shape) : undefined;
    // Boxes gap apart, grown by the gap, do not overlap inside the room grown by the gap: a multiset whose grown
    // boxes cover more than that cannot fit, so it is skipped (and so is any multiset starting with it).
    const step = o.gap + FIT_SLACK;
    const grown = (s: ShapeName) =>
      Math.max(0, (boxes.get(s)?.w ?? 0) + step) * Math.max(0, (boxes.get(s)?.h ?? 0) + step);
    const roomArea = Math.max(0, o.width - 2 * MARGIN + step) * Math.max(0, o.height - 2 * MARGIN + step);
    const least = shapes.map((_, i) => Math.min(...shapes.slice(i).map(grown))); // smallest grown box from shape i on
    const tryCounts = (): ScenePlan | undefined => {
      const slots = shapes.flatMap((s, i) => Array.from({ length: counts[i] ?? 0 }, () => slotFor(s)));
      if (firstSlot) slots.unshift(firstSlot);
      for (const vertical of [true, false]) {
        const layout = shelve(slots, vertical, o);
        if (layout) return { ...layout, size, firstSlot, firstPairs: first?.pairs };
      }
      return undefined;
    };
    const fill = (i: number, left: number, used: number): ScenePlan | undefined => {
      if (used + left * (least[i] ?? 0) > roomArea) return undefined;
      const s = shapes[i];
      if (s === undefined) return left === 0 ? tryCounts() : undefined;
      for (let c = Math.min(left, caps[i] ?? 0); c >= 0; c--) {
        counts[i] = c;
        const plan = fill(i + 1, left - c, used + c * grown(s));
        if (plan) return plan;
      }
      counts[i] = 0;
      return undefined;
    };
    const plan = fill(0, rest, first ? grown(first.shape) : 0);
    if (plan) return plan;
  }
  return undefined;
}

/** The fallback layout for `need` objects at radius r of the smallest size, and the count the check found. */
function findPlan(o: ResolvedSceneOptions, size: SizeName, r: number, need: number) {
  const grid = gridPlan(o, size, (s) => reach(s, r, o.width, o.height), need);
  if (grid.count >= need) return { count: grid.count, plan: grid.plan };
  const multi = multisetPlan(o, size, r, need);
  return { count: multi ? need : grid.count, plan: multi ?? grid.plan };
}

const plans = new Map<string, ScenePlan | { refused: string }>(); // by planKey

/** What decides whether (and how) a configuration's scenes can be placed. */
function planKey(o: ResolvedSceneOptions): string {
  const sizes = o.sizes.map((s) => `${s}*${o.sizeScale[s] ?? 1}`).join(",");
  const names = (ps: readonly Pair[] | undefined) => (ps ?? []).map(pairName).join(",");
  const pairs = `${names(o.pairs)}|${names(o.requirePairs)}`;
  return `${o.width}x${o.height}|${o.objects[1]}|${o.gap}|${sizes}|${o.uniquePairs}|${pairs}`;
}

/**
 * Checks a configuration up front (once per configuration, cached; not per scene) and returns the layout its scenes
 * fall back to. Throws a RangeError naming the configuration when
 *  - a drawable shape at a drawable size does not fit in the image, inside its 1-px margin, on its own (the random
 *    tries draw every size), or
 *  - no layout holds the maximum object count at the smallest size (the size crowded scenes fall back to), saying
 *    how many fit and which sizeScale would fit them all.
 * A layout holds n objects when a grid of cells of a common box (of some subset of the drawable shapes) has n cells
 * and that subset has pairs for n objects (exact for alike objects: n boxes w × h fit gap g apart in a W' × H' room
 * iff floor((W' + g) / (w + g)) · floor((H' + g) / (h + g)) ≥ n), or, for small n, when some drawable multiset of n
 * shapes shelf-packs (exact for two objects: side by side or one above the other). `layoutScene` places every scene
 * of an accepted configuration in its layout, so sampleScene never fails for it.
 */
export function scenePlan(o: ResolvedSceneOptions): ScenePlan {
  const key = planKey(o);
  let plan = plans.get(key);
  if (plan === undefined) {
    try {
      plan = computePlan(o);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      plan = { refused: e.message };
    }
    if (plans.size >= 1000) plans.clear();
    plans.set(key, plan);
  }
  if ("refused" in plan) throw new RangeError(plan.refused);
  return plan;
}

const fmt = (v: number) => `${Math.round(v * 100) / 100}`;

function computePlan(o: ResolvedSceneOptions): ScenePlan {
  const image = `a ${o.width}×${o.height} image`;
  const shapes = drawableShapes(o);
  for (const size of o.sizes) {
    const r = radiusIn(size, o);
    const scale = o.sizeScale[size] ?? 1;
    const tooBig = (f: number) =>
      shapes.filter((s) => {
        const b = reach(s, r * (f / scale), o.width, o.height);
        return b.spanX < 0 || b.spanY < 0;
      });
    const too = tooBig(scale);
    const [worst] = too;
    if (worst === undefined) continue;
    const b = reach(worst, r, o.width, o.height);
    const boxes = too.map((s) => reach(s, r, o.width, o.height)); // boxes grow with the radius: try them scaled
    const fitsScaled = (f: number) =>
      boxes.every((x) => (x.w * f) / scale <= o.width - 2 * MARGIN && (x.h * f) / scale <= o.height - 2 * MARGIN);
    const maxScale = largest(scale, fitsScaled, (f) => tooBig(f).length === 0);
    throw new RangeError(
      `scene configuration refused: a ${size} ${worst} (radius ${fmt(r)} px, box ${fmt(b.w)}×${fmt(b.h)} px; ` +
        `size ${size} × ${scale}) does not fit in ${image} inside its ${MARGIN}-px margin` +
        (too.length > 1 ? `, nor a ${size} ${too.slice(1).join(", ")}` : "") +
        `; lower sizeScale.${size} to at most ${maxScale}, or draw no ` +
        `${too.join("/")} at size ${size}`,
    );
  }
  const size = smallestSize(o);
  const r = radiusIn(size, o);
  const hi = o.objects[1];
  const found = findPlan(o, size, r, hi);
  if (found.count >= hi) return found.plan;
  // what would fit: the most objects (grid, then multisets one more at a time), and the largest scale of the
  // smallest size whose grid holds them all (a safe answer: the multiset check may accept a little more)
  let most = found.count;
  while (most + 1 < hi && multisetPlan(o, size, r, most + 1)) most++;
  const scale = o.sizeScale[size] ?? 1;
  const subsets = shapeSubsets(o, hi);
  const boxes = new Map(shapes.map((s) => [s, reach(s, r, o.width, o.height)] as const));
  // each subset's common box now, for the subsets with pairs enough: boxes grow with the radius, so at factor f
  // they are f / scale times as large
  const commons = subsets
    .filter((x) => x.drawable >= hi)
    .map(({ subset }) => ({
      w: Math.max(...subset.map((s) => boxes.get(s)?.w ?? Infinity)),
      h: Math.max(...subset.map((s) => boxes.get(s)?.h ?? Infinity)),
    }));
  const step = o.gap + FIT_SLACK;
  const scaledFits = (f: number) =>
    commons.some(({ w, h }) => {
      const cols = slots(o.width - 2 * MARGIN, (w * f) / scale, step),
        rows = slots(o.height - 2 * MARGIN, (h * f) / scale, step);
      return cols > 0 && rows > 0 && cols * rows >= hi;
    });
  const exactFits = (f: number) =>
    gridPlan(o, size, (s) => reach(s, r * (f / scale), o.width, o.height), hi, subsets).count >= hi;
  const maxScale = exactFits(scale / 1000) ? largest(scale, scaledFits, exactFits) : undefined;
  const [lo] = o.objects;
  const what = `${hi} objects (objects ${lo === hi ? hi : `[${lo}, ${hi}]`}) of radius ≥ ${fmt(r)} px`;
  const lower = [
    `objects to at most ${most}`,
    ...(maxScale === undefined ? [] : [`sizeScale.${size} to at most ${maxScale}`]),
  ];
  if (o.gap > 0) lower.push("the gap");
  throw new RangeError(
    `scene configuration refused: ${what} (size ${size} × ${scale}, the smallest drawn; shapes ` +
      `${shapes.join(", ")}; gap ${o.gap} px) cannot all fit in ${image} inside its ${MARGIN}-px margin: at most ` +
      `${most} can always be placed; lower ${lower.slice(0, -1).join(", ")}` +
      (lower.length > 1 ? ` or ${lower.at(-1)}` : lower[0]),
  );
}

/**
 * The largest factor below `top`, rounded down to 2 decimals, for which `ok` holds (ok is false at `top`): bisection
 * on the cheap `near` (boxes scaled linearly), then steps of 0.01 down until `ok` (boxes drawn at that size) holds.
 */
function largest(top: number, near: (f: number) => boolean, ok: (f: number) => boolean): number {
  let lo = 0,
    hi = top;
  for (let i = 0; i < 16; i++) {
    const mid = (lo + hi) / 2;
    if (near(mid)) lo = mid;
    else hi = mid;
  }
  let f = Math.floor(lo * 100) / 100;
  while (f > 0.01 && !ok(f)) f = Math.round((f - 0.01) * 100) / 100;
  return f;
}
