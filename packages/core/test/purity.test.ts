/**
 * The core is pure: no I/O, clocks, randomness, timers or globals. ESLint enforces it on every
 * source file (the `corePurity` rules in packages/lint/eslint.config.js, whose own test shows
 * each rule firing); this test checks what a lint rule cannot see, the package's dependencies.
 */
import { expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

test('its only dependencies are immer, immutable, io-ts and fp-ts', () => {
  const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  expect(Object.keys(manifest.dependencies).sort()).toEqual(['fp-ts', 'immer', 'immutable', 'io-ts']);
});
