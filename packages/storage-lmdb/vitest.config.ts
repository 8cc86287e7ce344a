import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'storage-lmdb',
    include: ['test/**/*.test.ts'],
  },
});
