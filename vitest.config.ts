import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "kernels/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // Two cores: run test files one or two at a time so timings stay sane.
    maxWorkers: 2,
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
