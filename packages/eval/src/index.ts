export * from "./budget.js";
export * from "./metrics.js";
export {
  CLAIM_OPS,
  checkClaim,
  validateResults,
  type Claim,
  type ClaimOp,
  type ClaimResult,
  type Results,
} from "./results.js";
export {
  findResultsDir,
  isFullRun,
  readCommitted,
  readResults,
  resultsDir,
  runResultsDir,
  type ResultsSet,
} from "./results_dir.js";
export { BUDGET_TEXT, claimsBundle, resultsTable, runSummary, type ResultsTableOptions } from "./results_table.js";
export { report, ResultsReport, type ReportOptions } from "./report.js";
export * from "./transfer.js";
export * from "./reasoning_stats.js";
