import { expect, test } from 'vitest';
import { applyKv, kvMachine, KvOperation, type KvResult, type KvState } from '../src/index.js';

function run(operations: readonly KvOperation[]): { state: KvState; results: KvResult[] } {
  let state = kvMachine.init();
  const results: KvResult[] = [];
  for (const operation of operations) {
    const [next, result] = applyKv(state, operation);
    state = next;
    results.push(result);
  }
  return { state, results };
}

test('cas with expected null creates an absent key and fails, with the value found, on a present one', () => {
  const { state, results } = run([
    { type: 'cas', key: 'k', expected: null, value: 'a' },
    { type: 'cas', key: 'k', expected: null, value: 'b' },
    { type: 'delete', key: 'k' },
    { type: 'cas', key: 'k', expected: null, value: 0 },
  ]);
  expect(results).toEqual([{ ok: true }, { ok: false, error: 'precondition-failed', actual: 'a' }, { ok: true, existed: true }, { ok: true }]);
  expect(state.get('k')).toBe(0);
});

test('cas with a value still needs the key present and equal', () => {
  const { state, results } = run([
    { type: 'cas', key: 'k', expected: 'a', value: 'b' },
    { type: 'write', key: 'k', value: 'a' },
    { type: 'cas', key: 'k', expected: 'x', value: 'b' },
    { type: 'cas', key: 'k', expected: 'a', value: 'b' },
  ]);
  expect(results).toEqual([{ ok: false, error: 'not-found' }, { ok: true }, { ok: false, error: 'precondition-failed', actual: 'a' }, { ok: true }]);
  expect(state.get('k')).toBe('b');
});

test('the operation codec takes expected null, and no other new shape', () => {
  const is = (u: unknown) => KvOperation.is(u);
  expect(is({ type: 'cas', key: 'k', expected: null, value: 'v' })).toBe(true);
  expect(is({ type: 'cas', key: 'k', expected: 1, value: 'v' })).toBe(true);
  expect(is({ type: 'cas', key: 'k', value: 'v' })).toBe(false);
  expect(is({ type: 'cas', key: 'k', expected: undefined, value: 'v' })).toBe(false);
  expect(is({ type: 'cas', key: 'k', expected: null, value: null })).toBe(false);
  expect(is({ type: 'cas', key: 'k', expected: [], value: 'v' })).toBe(false);
  expect(is({ type: 'cas', key: 'k', expected: Number.NaN, value: 'v' })).toBe(false);
  expect(is({ type: 'write', key: 'k', value: null })).toBe(false);
});
