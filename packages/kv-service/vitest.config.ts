import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'kv-service',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Each file starts clusters of real processes: one file at a time, so one file's processes
    // do not starve another's timing on a two-core machine.
    fileParallelism: false,
  },
});
