import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'simulator',
    include: ['test/**/*.test.ts'],
    // Whole simulations run in these tests; none is timed, but some take seconds on 2 cores.
    testTimeout: 120_000,
  },
});
