/** The integer flag reading that vsr-sim, vsr-kv and bench:kv share. */
import { describe, expect, test } from 'vitest';
import { UsageError, integerFlag } from '../src/cli-flags.js';

describe('integerFlag', () => {
  test('reads decimal integers within the bounds, negative ones included', () => {
    expect(integerFlag('42', '--n', { min: 0 })).toBe(42);
    expect(integerFlag('-5', '--seed', { min: -10, max: 10 })).toBe(-5);
    expect(integerFlag('10', '--n', { min: 0, max: 10 })).toBe(10);
  });

  test('an absent flag takes its fallback, or is required', () => {
    expect(integerFlag(undefined, '--port', { min: 1, fallback: 7000 })).toBe(7000);
    expect(() => integerFlag(undefined, '--id', { min: 0 })).toThrow(new UsageError('--id is required'));
  });

  test.each(['', ' 5', '5 ', '1.5', '1e3', '0x10', '+3', 'five', '--seeds'])('refuses %j, naming the flag and the text', (text) => {
    expect(() => integerFlag(text, '--n', { min: 0 })).toThrow(new UsageError(`--n: expected an integer, got '${text}'`));
  });

  test('refuses a value out of bounds, saying the bounds', () => {
    expect(() => integerFlag('11', '--n', { min: 0, max: 10 })).toThrow(new UsageError('--n: must be between 0 and 10, got 11'));
    expect(() => integerFlag('-1', '--id', { min: 0 })).toThrow(new UsageError('--id: must be at least 0, got -1'));
    expect(() => integerFlag('99999999999999999999', '--n', { min: 0 })).toThrow(new UsageError('--n: must be at most 9007199254740991, got 100000000000000000000'));
  });

  test('its errors are UsageErrors, which the tools turn into exit status 2', () => {
    expect(() => integerFlag('x', '--n', { min: 0 })).toThrow(UsageError);
  });
});
