/**
 * The lint rules that carry the project's design fire on what they forbid: code written as if
 * it were one of the core's modules, linted with the workspace's configuration.
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const eslint = new ESLint({ cwd: root, overrideConfigFile: fileURLToPath(new URL('../eslint.config.js', import.meta.url)) });

/** The rules each snippet breaks, linted as `packages/<file>`. */
async function rulesBroken(code: string, file = 'core/src/quorum.ts'): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}packages/${file}` });
  return [...new Set((result?.messages ?? []).map((message) => message.ruleId ?? `parse: ${message.message}`))].sort();
}

describe('the core stays pure', () => {
  test.each([
    ['a node: import', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n", 'no-restricted-imports'],
    ['a bare built-in', "import { createHash } from 'crypto';\nexport const f = createHash;\n", 'no-restricted-imports'],
    ['a library it does not depend on', "import { z } from 'zod';\nexport const f = z;\n", 'no-restricted-imports'],
    ["immer's global settings", "import { setAutoFreeze } from 'immer';\nsetAutoFreeze(false);\n", 'no-restricted-imports'],
    ['the wall clock', 'export const f = (): number => Date.now();\n', 'no-restricted-properties'],
    ['randomness', 'export const f = (): number => Math.random();\n', 'no-restricted-properties'],
    ['a Date', 'export const f = (): Date => new Date();\n', 'no-restricted-syntax'],
    ['a timer', 'export const f = (g: () => void): unknown => setTimeout(g, 1);\n', 'no-restricted-globals'],
    ['the process', 'export const f = (): string | undefined => process.env.HOME;\n', 'no-restricted-globals'],
    ['globalThis', 'export const f = (): unknown => globalThis;\n', 'no-restricted-globals'],
  ])('%s is refused', async (_what, code, rule) => {
    expect(await rulesBroken(code)).toContain(rule);
  }, 60_000);

  test('its own modules and its libraries are allowed', async () => {
    expect(await rulesBroken("import * as t from 'io-ts';\nimport { pipe } from 'fp-ts/lib/function.js';\nimport { List } from 'immutable';\nimport { freeze } from 'immer';\nimport { assert } from './assert.js';\nexport const all = [t, pipe, List, freeze, assert];\n")).toEqual([]);
  }, 60_000);

  test('a non-null assertion is refused in the core, not elsewhere', async () => {
    const code = 'export const first = (xs: readonly number[]): number => xs[0]!;\n';
    expect(await rulesBroken(code)).toContain('@typescript-eslint/no-non-null-assertion');
    expect(await rulesBroken(code, 'node/src/frames.ts')).not.toContain('@typescript-eslint/no-non-null-assertion');
  }, 60_000);
});

test('a function over 70 lines is refused in sources', async () => {
  const body = Array.from({ length: 71 }, (_, i) => `  total += ${i};`).join('\n');
  const code = `export function long(): number {\n  let total = 0;\n${body}\n  return total;\n}\n`;
  expect(await rulesBroken(code, 'node/src/frames.ts')).toContain('max-lines-per-function');
}, 60_000);

test('a floating promise is refused (a type-aware rule)', async () => {
  expect(await rulesBroken('export function f(g: () => Promise<void>): void {\n  g();\n}\n', 'node/src/frames.ts')).toContain('@typescript-eslint/no-floating-promises');
}, 60_000);
