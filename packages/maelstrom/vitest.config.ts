import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'maelstrom',
    include: ['test/**/*.test.ts'],
  },
});
