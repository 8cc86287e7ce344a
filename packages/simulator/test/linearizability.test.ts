import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { applyKv, kvMachine } from '@vsr/kv';
import type { KvOperation, KvResult, KvState, Value } from '@vsr/kv';
import { checkLinearizability } from '../src/linearizability.js';
import type { HistoryOperation, LinearizabilityResult } from '../src/linearizability.js';

// Operations and results.
const read = (key: string): KvOperation => ({ type: 'read', key });
const write = (key: string, value: Value): KvOperation => ({ type: 'write', key, value });
const cas = (key: string, expected: Value, value: Value): KvOperation => ({ type: 'cas', key, expected, value });
const del = (key: string): KvOperation => ({ type: 'delete', key });
const OK: KvResult = { ok: true };
const NOT_FOUND: KvResult = { ok: false, error: 'not-found' };
const saw = (value: Value): KvResult => ({ ok: true, value });
const failed = (actual: Value): KvResult => ({ ok: false, error: 'precondition-failed', actual });
const existed = (yes: boolean): KvResult => ({ ok: true, existed: yes });

/** A completed op: the client saw `result` at returnMs. */
function done(id: number, operation: KvOperation, callMs: number, returnMs: number, result: KvResult): HistoryOperation {
  return { id, clientId: `c${id}`, operation, callMs, returnMs, outcome: { type: 'ok', result } };
}

/** An op whose client never learned the outcome. */
function unknown(id: number, operation: KvOperation, callMs: number, returnMs: number | null = null): HistoryOperation {
  return { id, clientId: `c${id}`, operation, callMs, returnMs, outcome: { type: 'indeterminate' } };
}

function expectLinearizable(history: readonly HistoryOperation[]): void {
  const result = checkLinearizability(history);
  expect(result.counterexample?.explanation).toBeUndefined();
  expect(result.linearizable).toBe(true);
}

/** Asserts a (non-exhausted) violation on `key` whose unplaceable ops are `operationIds`. */
function expectViolation(history: readonly HistoryOperation[], key: string, operationIds: number[]): LinearizabilityResult {
  const result = checkLinearizability(history);
  expect(result.linearizable).toBe(false);
  expect(result.exhausted).toBeUndefined();
  expect(result.counterexample?.key).toBe(key);
  expect(result.counterexample?.operationIds).toEqual(operationIds);
  for (const id of operationIds) expect(result.counterexample?.explanation).toContain(`#${id} `);
  return result;
}

describe('registers: reads and writes', () => {
  test('an empty history is linearizable', () => {
    expect(checkLinearizability([])).toEqual({ linearizable: true, keysChecked: 0, operationsChecked: 0 });
  });

  test('sequential write then read of that value', () => {
    expectLinearizable([done(1, write('x', 'a'), 0, 10, OK), done(2, read('x'), 20, 30, saw('a'))]);
  });

  test('sequential write then read of another value is not', () => {
    const result = expectViolation([done(1, write('x', 'a'), 0, 10, OK), done(2, read('x'), 20, 30, saw('b'))], 'x', [2]);
    expect(result.counterexample?.explanation).toContain('#1 write "a"');
  });

  test('a read before any write sees not-found; a read after a completed write cannot', () => {
    expectLinearizable([done(1, read('x'), 0, 10, NOT_FOUND), done(2, write('x', 'a'), 20, 30, OK)]);
    expectViolation([done(1, write('x', 'a'), 0, 10, OK), done(2, read('x'), 20, 30, NOT_FOUND)], 'x', [2]);
  });

  test('a value cannot be read before its write was invoked', () => {
    expectViolation([done(1, read('x'), 0, 10, saw('a')), done(2, write('x', 'a'), 20, 30, OK)], 'x', [1]);
  });

  test('a read concurrent with a write may see the old or the new value', () => {
    const before = done(1, write('x', 'a'), 0, 10, OK);
    for (const seen of [saw('a'), saw('b')]) {
      expectLinearizable([before, done(2, write('x', 'b'), 20, 40, OK), done(3, read('x'), 25, 35, seen)]);
    }
  });

  test('concurrent writes: later reads may see either order, but both reads agree once both writes are done', () => {
    const writes = [done(1, write('x', 'a'), 0, 10, OK), done(2, write('x', 'b'), 0, 10, OK)];
    expectLinearizable([...writes, done(3, read('x'), 20, 30, saw('a'))]);
    expectLinearizable([...writes, done(3, read('x'), 20, 30, saw('b'))]);
    expectViolation([...writes, done(3, read('x'), 20, 30, saw('a')), done(4, read('x'), 40, 50, saw('b'))], 'x', [4]);
  });

  test('reads inside long concurrent writes may see them in either order', () => {
    // w2, r3 → "b", w1, r4 → "a": the reads see the writes in the opposite order to their ids.
    expectLinearizable([
      done(1, write('x', 'a'), 0, 100, OK),
      done(2, write('x', 'b'), 0, 100, OK),
      done(3, read('x'), 10, 20, saw('b')),
      done(4, read('x'), 30, 40, saw('a')),
    ]);
  });

  test('a stale read after a completed write is not linearizable, and the explanation names it', () => {
    const result = expectViolation(
      [done(1, write('x', 'a'), 0, 10, OK), done(2, write('x', 'b'), 20, 30, OK), done(3, read('x'), 40, 50, saw('a'))],
      'x',
      [3],
    );
    expect(result.counterexample?.explanation).toMatch(/#1 write "a".*#2 write "b"/);
    expect(result.counterexample?.explanation).toContain('would have returned "b"');
    expect(result.counterexample?.explanation).toContain('returned at 50ms');
  });

  test('reads of one value in between reads of another need two writes', () => {
    expectViolation(
      [
        done(1, write('x', 'a'), 0, 10, OK),
        done(2, write('x', 'b'), 0, 10, OK),
        done(3, read('x'), 20, 30, saw('a')),
        done(4, read('x'), 40, 50, saw('b')),
        done(5, read('x'), 60, 70, saw('a')),
      ],
      'x',
      [4],
    );
  });

  test('strings and numbers are different values', () => {
    expectViolation([done(1, write('x', 1), 0, 10, OK), done(2, read('x'), 20, 30, saw('1'))], 'x', [2]);
    expectLinearizable([done(1, write('x', 1), 0, 10, OK), done(2, read('x'), 20, 30, saw(1))]);
  });

  test('a result with the wrong shape for its op does not fit', () => {
    expectViolation([done(1, write('x', 'a'), 0, 10, existed(false))], 'x', [1]);
    expectViolation([done(1, write('x', 'a'), 0, 10, OK), done(2, read('x'), 20, 30, OK)], 'x', [2]);
  });
});

describe('equal times: intervals are closed, so an op invoked as another returns is concurrent with it', () => {
  test('a read invoked at the instant a write returns may still see the old value', () => {
    expectLinearizable([
      done(1, write('x', 'a'), 0, 5, OK),
      done(2, write('x', 'b'), 10, 20, OK),
      done(3, read('x'), 20, 30, saw('a')),
    ]);
  });

  test('one millisecond later it may not', () => {
    expectViolation(
      [done(1, write('x', 'a'), 0, 5, OK), done(2, write('x', 'b'), 10, 20, OK), done(3, read('x'), 21, 30, saw('a'))],
      'x',
      [3],
    );
  });

  test('an indeterminate op invoked at the instant a read returns may explain it', () => {
    expectLinearizable([unknown(1, write('x', 'a'), 20), done(2, read('x'), 10, 20, saw('a'))]);
    expectViolation([unknown(1, write('x', 'a'), 21), done(2, read('x'), 10, 20, saw('a'))], 'x', [2]);
  });

  test('instantaneous ops (callMs = returnMs) at one instant may be ordered either way', () => {
    expectLinearizable([done(1, read('x'), 10, 10, saw('a')), done(2, write('x', 'a'), 10, 10, OK)]);
  });
});

describe('indeterminate ops', () => {
  test('a read of a value whose only write was indeterminate: the write happened', () => {
    expectLinearizable([unknown(1, write('x', 'a'), 0), done(2, read('x'), 20, 30, saw('a'))]);
  });

  test('the value appearing and then disappearing, with no other writes, is not linearizable', () => {
    expectViolation(
      [
        unknown(1, write('x', 'a'), 0),
        done(2, read('x'), 10, 20, saw('a')),
        done(3, read('x'), 30, 40, NOT_FOUND),
      ],
      'x',
      [3],
    );
  });

  test('an indeterminate write that never happened', () => {
    expectLinearizable([
      done(1, write('x', 'a'), 0, 10, OK),
      unknown(2, write('x', 'b'), 20),
      done(3, read('x'), 30, 40, saw('a')),
      done(4, read('x'), 50, 60, saw('a')),
    ]);
  });

  test('it may take effect long after the client gave up (its returnMs is ignored)', () => {
    expectLinearizable([
      done(1, write('x', 'a'), 0, 5, OK),
      unknown(2, write('x', 'b'), 10, 20),
      done(3, read('x'), 100, 110, saw('a')),
      done(4, read('x'), 200, 210, saw('b')),
    ]);
  });

  test('it cannot take effect before it was invoked', () => {
    expectViolation([done(1, read('x'), 0, 10, saw('a')), unknown(2, write('x', 'a'), 20)], 'x', [1]);
  });

  test('it takes effect at most once', () => {
    expectViolation(
      [
        unknown(1, write('x', 'a'), 0),
        done(2, read('x'), 10, 20, saw('a')),
        done(3, write('x', 'b'), 30, 40, OK),
        done(4, read('x'), 50, 60, saw('a')),
      ],
      'x',
      [4],
    );
  });

  test('indeterminate reads constrain nothing', () => {
    const result = checkLinearizability([unknown(1, read('x'), 0), done(2, write('x', 'a'), 10, 20, OK)]);
    expect(result).toEqual({ linearizable: true, keysChecked: 1, operationsChecked: 2 });
  });

  test('a chain of indeterminate ops may explain a read: write then cas', () => {
    expectLinearizable([
      unknown(1, write('x', 'a'), 0),
      unknown(2, cas('x', 'a', 'b'), 0),
      done(3, read('x'), 10, 20, saw('b')),
    ]);
  });

  test('an indeterminate write may explain a later delete that found the key', () => {
    expectLinearizable([unknown(1, write('x', 'a'), 0), done(2, del('x'), 10, 20, existed(true))]);
  });

  test('indeterminate delete, then indeterminate write, each where a read needs it', () => {
    expectLinearizable([
      done(1, write('x', 'z'), 0, 1, OK),
      unknown(2, write('x', 'a'), 2),
      unknown(3, del('x'), 2),
      done(4, read('x'), 10, 11, NOT_FOUND),
      done(5, read('x'), 20, 21, saw('a')),
    ]);
  });

  test('indeterminate writes of values nobody reads can stand in for each other, once invoked', () => {
    const deletes = [done(3, del('x'), 10, 20, existed(true)), done(4, del('x'), 30, 40, existed(true))];
    expectLinearizable([unknown(1, write('x', 'p'), 0), unknown(2, write('x', 'q'), 0), ...deletes]);
    // Each write takes effect at most once.
    expectViolation(
      [unknown(1, write('x', 'p'), 0), unknown(2, write('x', 'q'), 0), ...deletes, done(5, del('x'), 50, 60, existed(true))],
      'x',
      [5],
    );
    // One invoked after the second delete returned cannot help it.
    expectViolation([unknown(1, write('x', 'p'), 50), unknown(2, write('x', 'q'), 0), ...deletes], 'x', [4]);
  });

  test('a write whose value is read cannot stand in for one whose value is not', () => {
    expectLinearizable([unknown(1, write('x', 'a'), 0), unknown(2, write('x', 'b'), 0), done(3, read('x'), 10, 20, saw('b'))]);
  });

  test('an indeterminate op that is the only candidate left is not held against the history', () => {
    // Nothing determinate is left once #2 is placed; #3 may simply never happen.
    expectLinearizable([done(1, write('x', 'a'), 0, 10, OK), done(2, read('x'), 20, 30, saw('a')), unknown(3, del('x'), 40)]);
  });
});

describe('compare-and-set and delete', () => {
  test('cas success, then a read of the new value', () => {
    expectLinearizable([
      done(1, write('x', 'a'), 0, 10, OK),
      done(2, cas('x', 'a', 'b'), 20, 30, OK),
      done(3, read('x'), 40, 50, saw('b')),
    ]);
  });

  test('cas on an absent key is not-found, and cannot succeed', () => {
    expectLinearizable([done(1, cas('x', 'a', 'b'), 0, 10, NOT_FOUND)]);
    expectViolation([done(1, cas('x', 'a', 'b'), 0, 10, OK)], 'x', [1]);
  });

  test('cas failure reports the actual value, which must be the current one', () => {
    const setup = done(1, write('x', 'c'), 0, 10, OK);
    expectLinearizable([setup, done(2, cas('x', 'a', 'b'), 20, 30, failed('c'))]);
    expectViolation([setup, done(2, cas('x', 'a', 'b'), 20, 30, failed('d'))], 'x', [2]);
    expectViolation([setup, done(2, cas('x', 'c', 'b'), 20, 30, failed('c'))], 'x', [2]);
  });

  test('two concurrent cas from the same value cannot both succeed', () => {
    const setup = done(1, write('x', 'a'), 0, 10, OK);
    expectViolation(
      [setup, done(2, cas('x', 'a', 'b'), 20, 30, OK), done(3, cas('x', 'a', 'c'), 20, 30, OK)],
      'x',
      [3],
    );
    // One wins, the other sees the winner's value.
    expectLinearizable([setup, done(2, cas('x', 'a', 'b'), 20, 30, failed('c')), done(3, cas('x', 'a', 'c'), 20, 30, OK)]);
  });

  test('a successful cas proves the expected value was there at some point', () => {
    expectLinearizable([
      done(1, write('x', 'a'), 0, 10, OK),
      done(2, write('x', 'b'), 20, 40, OK),
      done(3, cas('x', 'a', 'c'), 25, 35, OK),
      done(4, read('x'), 50, 60, saw('b')),
    ]);
    expectViolation(
      [
        done(1, write('x', 'a'), 0, 10, OK),
        done(2, write('x', 'b'), 20, 40, OK),
        done(3, read('x'), 50, 60, saw('b')),
        done(4, cas('x', 'a', 'c'), 70, 80, OK),
      ],
      'x',
      [4],
    );
  });

  test('delete reports whether the key existed', () => {
    expectLinearizable([done(1, del('x'), 0, 10, existed(false))]);
    expectViolation([done(1, del('x'), 0, 10, existed(true))], 'x', [1]);
    expectLinearizable([
      done(1, write('x', 'a'), 0, 10, OK),
      done(2, del('x'), 20, 30, existed(true)),
      done(3, read('x'), 40, 50, NOT_FOUND),
    ]);
    expectViolation([done(1, write('x', 'a'), 0, 10, OK), done(2, del('x'), 20, 30, existed(false))], 'x', [2]);
  });

  test('two concurrent deletes of one write cannot both find the key', () => {
    const setup = done(1, write('x', 'a'), 0, 10, OK);
    expectViolation([setup, done(2, del('x'), 20, 30, existed(true)), done(3, del('x'), 20, 30, existed(true))], 'x', [3]);
    expectLinearizable([setup, done(2, del('x'), 20, 30, existed(true)), done(3, del('x'), 20, 30, existed(false))]);
  });
});

describe('keys are independent', () => {
  test('ops on other keys do not interfere', () => {
    // As one register this would be a stale read; per key it is fine.
    expectLinearizable([
      done(1, write('x', 'a'), 0, 10, OK),
      done(2, write('y', 'b'), 20, 30, OK),
      done(3, read('x'), 40, 50, saw('a')),
      done(4, read('y'), 40, 50, saw('b')),
    ]);
  });

  test('a violation is reported with its key', () => {
    const result = expectViolation(
      [
        done(1, write('x', 'a'), 0, 10, OK),
        done(2, write('y', 'a'), 0, 10, OK),
        done(3, read('x'), 20, 30, saw('a')),
        done(4, read('y'), 20, 30, NOT_FOUND),
        done(5, read('z'), 20, 30, NOT_FOUND),
      ],
      'y',
      [4],
    );
    expect(result.counterexample?.explanation).toContain('key "y"');
    // Keys are checked in order and the search stops at the first violation.
    expect(result.keysChecked).toBe(2);
    expect(result.operationsChecked).toBe(4);
  });

  test('the counts cover every key and op', () => {
    expect(
      checkLinearizability([
        done(1, write('x', 'a'), 0, 10, OK),
        done(2, write('y', 'a'), 0, 10, OK),
        done(3, read('y'), 20, 30, saw('a')),
      ]),
    ).toEqual({ linearizable: true, keysChecked: 2, operationsChecked: 3 });
  });
});

describe('search budget', () => {
  // Ten concurrent writes, then a read of the first: the search must try orders of writes.
  const history = [
    ...Array.from({ length: 10 }, (_, i) => done(i + 1, write('x', i), 0, 10, OK)),
    done(11, read('x'), 20, 30, saw(0)),
  ];

  test('a search that runs out of steps is reported as exhausted, not as a violation', () => {
    const result = checkLinearizability(history, { searchStepsMax: 5 });
    expect(result.linearizable).toBe(false);
    expect(result.exhausted).toBe(true);
    expect(result.counterexample?.key).toBe('x');
    expect(result.counterexample?.operationIds).toEqual([]);
    expect(result.counterexample?.explanation).toMatch(/budget of 5 steps exhausted.*Inconclusive/);
  });

  test('with enough budget the same history is linearizable', () => {
    expect(checkLinearizability(history).linearizable).toBe(true);
  });

  test('a violation is reported as such when the budget suffices', () => {
    const stale = [...history, done(12, read('x'), 40, 50, saw(1))];
    const result = checkLinearizability(stale, { searchStepsMax: 100_000 });
    expect(result.exhausted).toBeUndefined();
    expect(result.counterexample?.operationIds).toEqual([12]);
  });
});

describe('malformed histories are rejected', () => {
  const good = done(1, write('x', 'a'), 0, 10, OK);
  const cases: [string, HistoryOperation[], RegExp][] = [
    ['returnMs before callMs', [good, done(2, read('x'), 20, 15, NOT_FOUND)], /operation id 2 .*returnMs \(15\) is before callMs \(20\)/],
    ['duplicate ids', [good, done(1, read('x'), 20, 30, saw('a'))], /operation id 1 \(history\[1\]\).*duplicate id/],
    [
      'an ok outcome without returnMs',
      [good, { ...done(2, read('x'), 20, 30, saw('a')), returnMs: null }],
      /operation id 2 .*returnMs is null but the outcome is 'ok'/,
    ],
    ['a non-finite callMs', [good, done(2, read('x'), Number.NaN, 30, saw('a'))], /operation id 2 .*callMs must be a finite number/],
    ['a non-integer id', [good, done(2.5, read('x'), 20, 30, saw('a'))], /history\[1\].*id must be a safe integer/],
    ['an invalid operation', [good, done(2, { type: 'read', key: '' }, 20, 30, NOT_FOUND)], /operation id 2 .*not a valid KvOperation/],
    [
      'an unknown outcome type',
      [good, { ...done(2, read('x'), 20, 30, saw('a')), outcome: { type: 'maybe' } as unknown as HistoryOperation['outcome'] }],
      /operation id 2 .*outcome\.type/,
    ],
    [
      'a result that is not a KvResult',
      [good, { ...done(2, read('x'), 20, 30, saw('a')), outcome: { type: 'ok', result: null as unknown as KvResult } }],
      /operation id 2 .*outcome\.result/,
    ],
  ];
  test.each(cases)('%s', (_, history, message) => {
    expect(() => checkLinearizability(history)).toThrow(message);
  });

  test('a bad budget', () => {
    expect(() => checkLinearizability([good], { searchStepsMax: -1 })).toThrow(/searchStepsMax/);
  });
});

// ——— Generated histories ———

const KEYS = ['x', 'y', 'z'];

const valueArb = fc.constantFrom<Value>('a', 'b', 1, '1');
const operationArb = (keys: readonly string[]): fc.Arbitrary<KvOperation> => {
  const key = fc.constantFrom(...keys);
  return fc.oneof(
    fc.record({ type: fc.constant('read' as const), key }),
    fc.record({ type: fc.constant('write' as const), key, value: valueArb }),
    fc.record({ type: fc.constant('cas' as const), key, expected: valueArb, value: valueArb }),
    fc.record({ type: fc.constant('delete' as const), key }),
  );
};

/**
 * One op of a sequential execution: it takes effect `gap` ms after the
 * previous one, inside an interval that reaches `callSlack` ms before and
 * `returnSlack` ms after that instant. Indeterminate ops either take effect
 * ('applied') or not at all ('lost').
 */
interface StepSpec {
  operation: KvOperation;
  gap: number;
  callSlack: number;
  returnSlack: number;
  fate: 'ok' | 'applied' | 'lost';
  recordsGivingUp: boolean;
}

/** Of every 8 + 2w ops (w: `indeterminateWeight`), on average w time out but take effect, and w time out and are lost. */
const stepArb = (keys: readonly string[], indeterminateWeight = 1): fc.Arbitrary<StepSpec> =>
  fc.record({
    operation: operationArb(keys),
    gap: fc.nat(3),
    callSlack: fc.nat(6),
    returnSlack: fc.nat(6),
    fate: fc.oneof(
      { arbitrary: fc.constant('ok' as const), weight: 8 },
      { arbitrary: fc.constant('applied' as const), weight: indeterminateWeight },
      { arbitrary: fc.constant('lost' as const), weight: indeterminateWeight },
    ),
    recordsGivingUp: fc.boolean(),
  });

/** Runs the steps against applyKv in order: the result is linearizable by construction. */
function execute(steps: readonly StepSpec[]): HistoryOperation[] {
  let state: KvState = kvMachine.init();
  let instantMs = 0;
  return steps.map((step, index) => {
    instantMs += step.gap;
    const id = index + 1;
    const callMs = instantMs - step.callSlack;
    const returnMs = instantMs + step.returnSlack;
    const [next, result] = applyKv(state, step.operation);
    if (step.fate !== 'lost') state = next;
    if (step.fate !== 'ok') return unknown(id, step.operation, callMs, step.recordsGivingUp ? returnMs : null);
    return done(id, step.operation, callMs, returnMs, result);
  });
}

/**
 * An independent oracle for small histories: tries every order of the whole
 * history (all keys at once, as one state) that respects real time: an op can
 * come next unless an unplaced determinate op returned before it was invoked.
 * Indeterminate ops may be left out.
 */
function bruteForceLinearizable(history: readonly HistoryOperation[]): boolean {
  const placed = history.map(() => false);
  const determinateCount = history.filter((op) => op.outcome.type === 'ok').length;
  const search = (state: KvState, determinatePlaced: number): boolean => {
    if (determinatePlaced === determinateCount) return true;
    return history.some((op, i) => {
      if (placed[i]) return false;
      const mustWait = history.some(
        (other, j) => !placed[j] && other.outcome.type === 'ok' && other.returnMs !== null && other.returnMs < op.callMs,
      );
      if (mustWait) return false;
      const [next, result] = applyKv(state, op.operation);
      if (op.outcome.type === 'ok' && !isDeepStrictEqual(result, op.outcome.result)) return false;
      placed[i] = true;
      const found = search(next, determinatePlaced + (op.outcome.type === 'ok' ? 1 : 0));
      placed[i] = false;
      return found;
    });
  };
  return search(kvMachine.init(), 0);
}

const resultArb: fc.Arbitrary<KvResult> = fc.oneof(
  fc.constant(OK),
  fc.constant(NOT_FOUND),
  valueArb.map(saw),
  valueArb.map(failed),
  fc.boolean().map(existed),
);

/** The arbitrary's value one time in eight, else null. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary: fc.constant(null), weight: 7 }, { arbitrary, weight: 1 });

/** A small execution, then random corruption of some results and some intervals. */
const corruptedHistoryArb = fc
  .array(
    fc.record({
      step: stepArb(['x', 'y'], 2),
      result: sometimes(resultArb),
      interval: sometimes(fc.tuple(fc.nat(15), fc.nat(8))),
    }),
    { minLength: 1, maxLength: 8 },
  )
  .map((specs) =>
    execute(specs.map(({ step }) => step)).map((op, i) => {
      const { result, interval } = specs[i]!;
      let corrupted = op;
      if (result !== null && op.outcome.type === 'ok') corrupted = { ...corrupted, outcome: { type: 'ok', result } };
      if (interval !== null) {
        const [callMs, length] = interval;
        corrupted = { ...corrupted, callMs, returnMs: corrupted.returnMs === null ? null : callMs + length };
      }
      return corrupted;
    }),
  );

describe('generated histories', () => {
  test('agrees with a brute-force search on small histories, whatever the input order', () => {
    const verdicts = { linearizable: 0, not: 0 };
    fc.assert(
      fc.property(corruptedHistoryArb, (history) => {
        const result = checkLinearizability(history);
        expect(result.exhausted).toBeUndefined();
        expect(result.linearizable).toBe(bruteForceLinearizable(history));
        expect(checkLinearizability([...history].reverse())).toEqual(result);
        verdicts[result.linearizable ? 'linearizable' : 'not']++;
      }),
      { numRuns: 1500 },
    );
    // Both verdicts must be well represented for the comparison to mean anything.
    expect(verdicts.linearizable).toBeGreaterThan(300);
    expect(verdicts.not).toBeGreaterThan(300);
  });

  test('sequential executions with intervals around each instant are linearizable', () => {
    fc.assert(
      fc.property(fc.array(stepArb(KEYS), { maxLength: 80 }), (steps) => {
        const history = execute(steps);
        expect(checkLinearizability(history)).toEqual({
          linearizable: true,
          keysChecked: new Set(history.map((op) => op.operation.key)).size,
          operationsChecked: history.length,
        });
      }),
      { numRuns: 300 },
    );
  });

  test('making one read return a value never written makes it non-linearizable', () => {
    fc.assert(
      fc.property(fc.array(stepArb(KEYS), { minLength: 1, maxLength: 80 }), fc.nat(), (steps, pick) => {
        const history = execute(steps);
        const reads = history.filter((op) => op.operation.type === 'read' && op.outcome.type === 'ok');
        fc.pre(reads.length > 0);
        const victim = reads[pick % reads.length]!;
        const result = checkLinearizability(withImpossibleRead(history, victim));
        expect(result.linearizable).toBe(false);
        expect(result.exhausted).toBeUndefined();
        expect(result.counterexample?.key).toBe(victim.operation.key);
      }),
      { numRuns: 300 },
    );
  });
});

/** mulberry32: a small deterministic PRNG for the large history. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `opCount` ops from `clientCount` clients, each with one op outstanding at a
 * time, over five keys. Every op takes effect at an instant inside its
 * interval; 3% time out (indeterminate), half of those never taking effect.
 */
function clientHistory(seed: number, opCount: number, clientCount: number): HistoryOperation[] {
  const random = prng(seed);
  const below = (n: number) => Math.floor(random() * n);
  const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
  const values: Value[] = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? i : `v${i}`));
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;
  const clientFreeAt = Array.from({ length: clientCount }, () => below(10));
  const planned: { op: HistoryOperation; instantMs: number; returnMs: number; fate: StepSpec['fate'] }[] = [];
  for (let id = 1; id <= opCount; id++) {
    const client = clientFreeAt.indexOf(Math.min(...clientFreeAt));
    const key = pick(keys);
    const kind = below(10);
    const operation: KvOperation =
      kind < 4 ? read(key) : kind < 7 ? write(key, pick(values)) : kind < 9 ? cas(key, pick(values), pick(values)) : del(key);
    const callMs = clientFreeAt[client]!;
    const instantMs = callMs + 1 + below(20);
    const returnMs = instantMs + below(20);
    const roll = random();
    const fate = roll < 0.015 ? 'lost' : roll < 0.03 ? 'applied' : 'ok';
    const op = { id, clientId: `client${client}`, operation, callMs, returnMs: null, outcome: { type: 'indeterminate' } } as const;
    planned.push({ op, instantMs, returnMs, fate });
    clientFreeAt[client] = (fate === 'ok' ? returnMs : callMs + 50) + below(5);
  }
  // Apply in order of the instants; completed ops record the result they saw.
  let state: KvState = kvMachine.init();
  const history = planned.map(({ op }): HistoryOperation => op);
  for (const { op, returnMs, fate } of [...planned].sort((a, b) => a.instantMs - b.instantMs || a.op.id - b.op.id)) {
    if (fate === 'lost') continue;
    const [next, result] = applyKv(state, op.operation);
    state = next;
    if (fate === 'ok') history[op.id - 1] = { ...op, returnMs, outcome: { type: 'ok', result } };
  }
  return history;
}

/** The history with `victim`'s result replaced by a read of a value never written. */
function withImpossibleRead(history: readonly HistoryOperation[], victim: HistoryOperation): HistoryOperation[] {
  return history.map((op) => (op === victim ? { ...op, outcome: { type: 'ok', result: saw('never written') } } : op));
}

describe('scale', () => {
  const history = clientHistory(20240601, 2000, 10);

  test('a 2,000-op history from 10 clients over 5 keys checks as linearizable', () => {
    expect(history.filter((op) => op.outcome.type === 'indeterminate').length).toBeGreaterThan(20);
    expect(checkLinearizability(history)).toEqual({ linearizable: true, keysChecked: 5, operationsChecked: 2000 });
  });

  test('the same history with one late read corrupted is found not linearizable', () => {
    const victim = history.findLast((op) => op.operation.type === 'read' && op.outcome.type === 'ok')!;
    const result = checkLinearizability(withImpossibleRead(history, victim));
    expect(result.exhausted).toBeUndefined();
    expect(result.counterexample?.key).toBe(victim.operation.key);
    expect(result.counterexample?.operationIds).toContain(victim.id);
  });
});
