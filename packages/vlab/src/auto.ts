/**
 * What `import { core } from "vlab"` loads in an ES module (package.json `exports`, condition "import"):
 * the umbrella itself (index.js, the same module instances), and the fastest backend present (or
 * $VLAB_BACKEND) chosen before the importer's first op, so plain Node is fast by default too.
 *
 * `require("vlab")` (CommonJS, and tslab's notebook cells, which the vlab kernel initialises itself) gets
 * index.js instead: `require()` refuses an ES module graph with top-level await. For the same reason the
 * packages the umbrella re-exports have no such entry: each of them is `require()`d by notebook cells, and
 * they import one another, so a top-level await in @vlab/core would break them all. Import @vlab/core on its
 * own and you call `await initBackend()` yourself.
 */
import { core } from "./index.js";

export * from "./index.js";

await core.initBackend();
