// @ts-check
/**
 * ESLint for the whole workspace; `npm test` runs it (`npm run lint` alone). Type-aware: the
 * project service reads each package's tsconfig.json with this package's TypeScript 5, because
 * typescript-eslint cannot load TypeScript 7's compiler API, which the workspace builds with.
 *
 * Beyond typescript-eslint's type-checked recommendations, three rules carry the project's own
 * design:
 * - the core is pure: it imports only its four libraries and its own modules, and touches no
 *   clock, randomness, timer, process or browser global (`corePurity`);
 * - the core has no non-null assertions: a value it believes present is checked with
 *   `defined()` from assert.ts, which says what was expected when it is not;
 * - functions stay short (70 lines, blank lines and comments aside). The few longer ones carry
 *   an `eslint-disable-next-line max-lines-per-function -- why` comment; a directive that no
 *   longer suppresses anything is itself an error.
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What the core may import: its own modules and the libraries its package.json names. */
const CORE_LIBRARIES = ['fp-ts', 'io-ts', 'immer', 'immutable'];

const timers = ['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'clearTimeout', 'clearInterval', 'clearImmediate', 'requestAnimationFrame'];
const outside = ['process', 'require', 'Buffer', 'performance', 'fetch', 'crypto', 'console', 'globalThis', 'window', 'self', 'document', 'navigator', 'localStorage', 'sessionStorage', 'indexedDB', 'location', 'WebSocket', 'Worker'];

/** The core's purity, as lint rules (each message says what the core must do instead). */
export const corePurity = {
  'no-restricted-imports': [
    'error',
    {
      paths: [
        { name: 'immer', importNames: ['setAutoFreeze', 'setUseStrictShallowCopy'], message: "immer's global settings would change every other user of immer in the process." },
      ],
      patterns: [
        { group: ['node:*', ...builtinModules, ...builtinModules.map((name) => `${name}/*`)], message: 'The core is pure: no Node built-ins. Interpreters do I/O.' },
        {
          regex: `^(?!\\.{1,2}/|(${CORE_LIBRARIES.join('|')})(/|$))`,
          message: `The core imports only its own modules and ${CORE_LIBRARIES.join(', ')}.`,
        },
      ],
    },
  ],
  'no-restricted-globals': [
    'error',
    ...timers.map((name) => ({ name, message: 'The core is pure: it asks for timers with set-timer / cancel-timer effects.' })),
    ...outside.map((name) => ({ name, message: 'The core is pure: it reaches nothing outside the state and the event.' })),
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'The core is pure: time comes in events (timestampMs), never from the clock.' },
    { object: 'Math', property: 'random', message: 'The core is deterministic: no randomness.' },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "NewExpression[callee.name='Date']", message: 'The core is pure: time comes in events, never from the clock.' },
  ],
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist-types/**', '**/out/**', 'packages/lint/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // One vitest.config.ts per package, outside every tsconfig: more than the default 8.
        projectService: { allowDefaultProject: ['packages/*/vitest.config.ts'], maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 32 },
        tsconfigRootDir: root,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    // vitest's asymmetric matchers (`expect.any`, `expect.stringMatching`) are typed `any`.
    files: ['packages/*/test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 70, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    files: ['packages/core/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'error',
      ...corePurity,
    },
  },
);
