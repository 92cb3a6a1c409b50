export * from "./budget.js";
export * from "./report.js";
export * from "./metrics.js";
