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
export { readResults, resultsDir, type ResultsSet } from "./results_dir.js";
export { claimsBundle, resultsTable } from "./results_table.js";
export { report, ResultsReport, type ReportOptions } from "./report.js";
