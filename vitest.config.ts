import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    exclude: ['node_modules', 'dist', 'runs'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // Two test files at a time, each process (the files' and the autoprune runs they start) on one
    // wasm thread: two single-threaded processes use two cores better than one process with two threads.
    maxWorkers: 2,
    env: { AUTOPRUNE_WASM_THREADS: '1' },
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
