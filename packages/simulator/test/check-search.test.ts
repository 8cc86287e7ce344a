import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { checkHistory, type CheckResult } from '../src/check/search.js';
import { registerModel, type RegisterInput, type RegisterOutput } from '../src/check/register-model.js';
import type { Model, ModelOperation } from '../src/model.js';
import { bruteForceLinearizable, registerStepArb, runRegister } from './check-helpers.js';

type RegisterOp = ModelOperation<RegisterInput, RegisterOutput>;

const op = (id: number, clientId: string, input: RegisterInput, callMs: number, returnMs: number | null, output?: RegisterOutput): RegisterOp => ({
  id,
  clientId,
  input,
  callMs,
  returnMs,
  output: returnMs === null ? undefined : output,
});
const write = (value: number): RegisterInput => ({ type: 'write', value });
const read: RegisterInput = { type: 'read' };
const cas = (expected: number | null, value: number): RegisterInput => ({ type: 'cas', expected, value });
const OK: RegisterOutput = { ok: true };
const saw = (value: number | null): RegisterOutput => ({ ok: true, value });

const check = (history: readonly RegisterOp[]): CheckResult => checkHistory(registerModel, history);

describe('checkHistory on hand-written register histories', () => {
  test('a sequential history is linearizable; a stale read is not, and is named', () => {
    expect(check([op(0, 'a', write(1), 0, 1, OK), op(1, 'b', read, 2, 3, saw(1))]).verdict).toBe('linearizable');
    const result = check([op(0, 'a', write(1), 0, 1, OK), op(1, 'a', write(2), 2, 3, OK), op(2, 'b', read, 4, 5, saw(1))]);
    expect(result.verdict).toBe('not-linearizable');
    if (result.verdict !== 'not-linearizable') return;
    expect(result.prefixIds).toEqual([0, 1]);
    expect(result.blockedIds).toEqual([2]);
    expect(result.blockedDescribed).toEqual(['#2 read returned 1']);
    expect(result.explanation).toContain('#2 read returned 1');
  });

  test('closed intervals: an op called at the instant another returns may precede it', () => {
    expect(check([op(0, 'a', write(1), 0, 5, OK), op(1, 'b', read, 5, 6, saw(null))]).verdict).toBe('linearizable');
    expect(check([op(0, 'a', write(1), 0, 5, OK), op(1, 'b', read, 6, 7, saw(null))]).verdict).toBe('not-linearizable');
  });

  test('a failed cas that records only { ok: false } must still have seen another value', () => {
    const base = [op(0, 'a', write(1), 0, 1, OK)];
    expect(check([...base, op(1, 'b', cas(1, 2), 2, 3, { ok: false })]).verdict).toBe('not-linearizable');
    expect(check([...base, op(1, 'b', cas(3, 2), 2, 3, { ok: false })]).verdict).toBe('linearizable');
    // With the value seen recorded, it must be the right one.
    expect(check([...base, op(1, 'b', cas(3, 2), 2, 3, { ok: false, actual: 4 })]).verdict).toBe('not-linearizable');
    // A concurrent write explains the failure.
    expect(check([...base, op(1, 'b', cas(1, 2), 2, 5, { ok: false }), op(2, 'c', write(7), 2, 4, OK)]).verdict).toBe('linearizable');
  });

  test('an indeterminate op may take effect late, or never', () => {
    const late = [op(0, 'a', write(1), 0, null), op(1, 'b', read, 5, 6, saw(null)), op(2, 'b', read, 7, 8, saw(1))];
    expect(check(late).verdict).toBe('linearizable');
    expect(check([op(0, 'a', write(1), 0, null), op(1, 'b', read, 5, 6, saw(null))]).verdict).toBe('linearizable');
    // But not before it was called.
    expect(check([op(0, 'b', read, 0, 1, saw(1)), op(1, 'a', write(1), 2, null)]).verdict).toBe('not-linearizable');
    // And not twice: once its effect is overwritten it cannot come back.
    const twice = [op(0, 'a', write(1), 0, null), op(1, 'b', read, 1, 2, saw(1)), op(2, 'b', write(2), 3, 4, OK), op(3, 'b', read, 5, 6, saw(1))];
    expect(check(twice).verdict).toBe('not-linearizable');
  });

  test('a completed op with an unknown output fits anywhere its step allows', () => {
    expect(check([op(0, 'a', write(1), 0, 1, OK), op(1, 'b', read, 2, 3, undefined)]).verdict).toBe('linearizable');
    expect(check([op(0, 'a', write(1), 0, 1, OK), op(1, 'b', read, 2, 3, { ok: true })]).verdict).toBe('linearizable');
  });

  test('the verdict does not depend on the order of the input array', () => {
    const history = [op(0, 'a', write(1), 0, 10, OK), op(1, 'b', write(2), 1, 9, OK), op(2, 'c', read, 11, 12, saw(1)), op(3, 'c', read, 13, 14, saw(2))];
    expect(check(history).verdict).toBe('not-linearizable');
    expect(check([...history].reverse()).verdict).toBe('not-linearizable');
  });

  test('malformed histories are refused with the op named', () => {
    expect(() => check([op(0, 'a', read, 0, 1, saw(null)), op(0, 'a', read, 2, 3, saw(null))])).toThrow(/operation id 0 .*duplicate id/);
    expect(() => check([op(1, 'a', read, 5, 1, saw(null))])).toThrow(/returnMs \(1\) is before callMs \(5\)/);
    expect(() => check([{ ...op(2, 'a', read, 0, null), output: saw(1) }])).toThrow(/indeterminate op .* cannot have an output/);
  });
});

/** A register whose `flip` write sets either of two values: a nondeterministic step. */
type FlipInput = { readonly type: 'flip'; readonly values: readonly [number, number] } | { readonly type: 'read' };
const flipModel: Model<number | null, FlipInput, { readonly value?: number | null }> = {
  name: 'flip',
  init: () => null,
  step: (state, input, output) => {
    if (input.type === 'flip') return [...input.values];
    return output?.value === undefined || output.value === state ? [state] : [];
  },
  stateKey: (state) => String(state),
};

describe('checkHistory with a nondeterministic model', () => {
  const flip = (id: number, callMs: number, returnMs: number): ModelOperation<FlipInput, { value?: number | null }> => ({
    id,
    clientId: 'a',
    input: { type: 'flip', values: [1, 2] },
    callMs,
    returnMs,
    output: {},
  });
  const readFlip = (id: number, callMs: number, value: number): ModelOperation<FlipInput, { value?: number | null }> => ({
    id,
    clientId: 'b',
    input: { type: 'read' },
    callMs,
    returnMs: callMs + 1,
    output: { value },
  });

  test('branches over every next state', () => {
    expect(checkHistory(flipModel, [flip(0, 0, 1), readFlip(1, 2, 2)]).verdict).toBe('linearizable');
    expect(checkHistory(flipModel, [flip(0, 0, 1), readFlip(1, 2, 1)]).verdict).toBe('linearizable');
    expect(checkHistory(flipModel, [flip(0, 0, 1), readFlip(1, 2, 3)]).verdict).toBe('not-linearizable');
    // Two reads after one flip must agree.
    expect(checkHistory(flipModel, [flip(0, 0, 1), readFlip(1, 2, 1), readFlip(2, 4, 2)]).verdict).toBe('not-linearizable');
    expect(checkHistory(flipModel, [flip(0, 0, 1), readFlip(1, 2, 1), flip(2, 3, 4), readFlip(3, 5, 2)]).verdict).toBe('linearizable');
  });
});

describe('the budget', () => {
  // Many concurrent writes and reads that cannot all be satisfied: a search too large for a small budget.
  const hard: RegisterOp[] = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? op(i, `w${i}`, write(i), 0, 100, OK) : op(i, `r${i}`, read, 0, 100, saw(i + 100))));

  test('a step budget gives unknown with a reason, never a guess', () => {
    const result = checkHistory(registerModel, hard, { stepsMax: 50 });
    expect(result.verdict).toBe('unknown');
    if (result.verdict === 'unknown') expect(result.reason).toMatch(/search-step budget \(50\)/);
    expect(checkHistory(registerModel, hard.slice(0, 3), { stepsMax: 10_000 }).verdict).toBe('not-linearizable');
  });

  test('a time budget gives unknown', () => {
    let nowMs = 0;
    const result = checkHistory(registerModel, hard, { timeoutMs: 5, nowMs: () => (nowMs += 1) });
    expect(result).toMatchObject({ verdict: 'unknown', reason: expect.stringMatching(/time budget \(5 ms\)/) });
  });
});

describe('checkHistory against a brute-force checker', () => {
  test('agrees on histories produced by running the register, and on corrupted ones', () => {
    fc.assert(
      fc.property(fc.array(registerStepArb, { minLength: 1, maxLength: 7 }), fc.nat(), fc.nat(), (steps, victim, corruption) => {
        const history = runRegister(steps);
        expect(checkHistory(registerModel, history).verdict).toBe('linearizable');
        expect(bruteForceLinearizable(registerModel, history)).toBe(true);
        const corrupted = corrupt(history, victim, corruption);
        const expected = bruteForceLinearizable(registerModel, corrupted) ? 'linearizable' : 'not-linearizable';
        expect(checkHistory(registerModel, corrupted).verdict).toBe(expected);
      }),
      { numRuns: 600 },
    );
  });

  test('longer generated histories are linearizable (the search scales past brute force)', () => {
    fc.assert(
      fc.property(fc.array(registerStepArb, { maxLength: 150 }), (steps) => {
        expect(checkHistory(registerModel, runRegister(steps)).verdict).toBe('linearizable');
      }),
      { numRuns: 100 },
    );
  });
});

/** Changes one determinate op's output (a read's value, a cas's success) or shifts its interval. */
function corrupt(history: readonly RegisterOp[], victim: number, corruption: number): RegisterOp[] {
  const determinate = history.filter((candidate) => candidate.returnMs !== null);
  if (determinate.length === 0) return [...history];
  const target = determinate[victim % determinate.length]!;
  const outputs: RegisterOutput[] = [saw(null), saw(1), saw(2), saw(3), OK, { ok: false }, { ok: false, actual: 1 }, { ok: false, actual: null }];
  const changed: RegisterOp =
    corruption % 3 === 2
      ? { ...target, callMs: target.callMs + 5, returnMs: target.returnMs! + 5 }
      : { ...target, output: outputs[corruption % outputs.length]! };
  return history.map((candidate) => (candidate === target ? changed : candidate));
}
