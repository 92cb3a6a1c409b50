export * from "./budget.js";
export * from "./report.js";
