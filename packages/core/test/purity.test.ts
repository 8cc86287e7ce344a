/**
 * The core is pure: no I/O, clocks, randomness, timers or globals. This test
 * reads every source file and fails on anything that reaches outside.
 */
import { describe, expect, test } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const sourceDir = join(import.meta.dirname, '..', 'src');
const sources = readdirSync(sourceDir)
  .filter((file) => file.endsWith('.ts'))
  .map((file) => ({ file, text: readFileSync(join(sourceDir, file), 'utf8') }));

const forbidden: Array<[RegExp, string]> = [
  [/from\s+['"]node:/, 'a node: import'],
  [/from\s+['"](fs|net|dgram|http|https|child_process|worker_threads|timers|os|crypto|path)['"/]/, 'a Node built-in import'],
  [/\brequire\(/, 'require()'],
  [/Date\.now\(|new Date\(/, 'the wall clock'],
  [/performance\.now\(|process\.hrtime/, 'a monotonic clock'],
  [/Math\.random\(/, 'randomness'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\(/, 'a timer'],
  [/\bprocess\./, 'the process'],
  [/\b(window|document|globalThis|localStorage|indexedDB)\b/, 'a browser global'],
  [/\bsetAutoFreeze\(|\bsetUseStrictShallowCopy\(/, "immer's global settings"],
];

describe('the core is pure', () => {
  test('it has source files to check', () => {
    expect(sources.length).toBeGreaterThan(10);
  });

  test.each(forbidden)('no source file uses %s (%s)', (pattern) => {
    const offenders = sources.filter(({ text }) => pattern.test(text)).map(({ file }) => file);
    expect(offenders).toEqual([]);
  });

  test('its only dependencies are immer, immutable, io-ts and fp-ts', () => {
    const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['fp-ts', 'immer', 'immutable', 'io-ts']);
  });
});
