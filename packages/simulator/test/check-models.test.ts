import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { applyKv, kvMachine, type KvOperation, type KvResult, type KvState, type Value } from '@vsr/kv';
import { checkHistory } from '../src/check/search.js';
import { registerModel, type RegisterInput, type RegisterOutput, type RegisterValue } from '../src/check/register-model.js';
import { kvModel, type KvOutput } from '../src/check/kv-model.js';
import { queueModel, type QueueInput, type QueueOutput } from '../src/check/queue-model.js';
import { fromSimulatorHistory } from '../src/check/from-simulator.js';
import { checkLinearizability, type HistoryOperation } from '../src/linearizability.js';
import { Random } from '../src/random.js';
import type { ModelOperation } from '../src/model.js';
import { bruteForceLinearizable, operationOf } from './check-helpers.js';

type RegisterOp = ModelOperation<RegisterInput, RegisterOutput>;

/**
 * A known-bad register history whose only fault is a failed cas that records just
 * `{ ok: false }`: sequential writes and reads, a few concurrent indeterminate ops that cannot
 * produce the expected value, then a cas expecting the value the register must hold.
 */
function knownBadPartialCas(random: Random): RegisterOp[] {
  const history: RegisterOp[] = [];
  let value: RegisterValue = null;
  let timeMs = 0;
  const opCount = random.int(1, 5);
  for (let id = 0; id < opCount; id++) {
    const writes = random.int(0, 1) === 0;
    const written = random.int(1, 4);
    const input: RegisterInput = writes ? { type: 'write', value: written } : { type: 'read' };
    history.push({ id, clientId: `c${random.int(0, 3)}`, input, callMs: timeMs, returnMs: timeMs + 2, output: writes ? { ok: true } : { ok: true, value } });
    if (writes) value = written;
    timeMs += 3;
  }
  // Indeterminate noise that cannot change the register away from `value`: writes of the same value, reads.
  for (let noise = random.int(0, 2); noise > 0; noise--) {
    const input: RegisterInput = random.int(0, 1) === 0 ? { type: 'read' } : { type: 'write', value: value ?? 1 };
    if (value === null && input.type === 'write') continue;
    history.push({ id: history.length, clientId: 'x', input, callMs: random.int(0, timeMs), returnMs: null, output: undefined });
  }
  history.push({ id: history.length, clientId: 'c9', input: { type: 'cas', expected: value, value: 9 }, callMs: timeMs, returnMs: timeMs + 1, output: { ok: false } });
  return history;
}

describe('the register model with partial cas failures', () => {
  test('every one of 150 known-bad histories is refused (taking the partial cas as indeterminate would pass them all)', () => {
    const random = new Random(12);
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      const history = knownBadPartialCas(random);
      if (history.length <= 8) expect(bruteForceLinearizable(registerModel, history)).toBe(false);
      if (checkHistory(registerModel, history).verdict === 'not-linearizable') refused++;
      // The old approach: the partial op passed as indeterminate. It lets the history through.
      const asIndeterminate = history.map((op) => (op.output?.ok === false ? { ...op, returnMs: null, output: undefined } : op));
      expect(checkHistory(registerModel, asIndeterminate).verdict).toBe('linearizable');
    }
    expect(refused).toBe(150);
  });
});

describe('the kv model', () => {
  const kvOp = (id: number, input: KvOperation, callMs: number, returnMs: number | null, output?: KvOutput) => operationOf<KvOperation, KvOutput>(id, input, callMs, returnMs, output);

  test('is partitioned per key and names the failing part', () => {
    const history = [
      kvOp(0, { type: 'write', key: 'a', value: 1 }, 0, 1, { ok: true }),
      kvOp(1, { type: 'write', key: 'b', value: 2 }, 0, 1, { ok: true }),
      kvOp(2, { type: 'read', key: 'b' }, 2, 3, { ok: true, value: 2 }),
      kvOp(3, { type: 'read', key: 'a' }, 2, 3, { ok: false, error: 'not-found' }),
    ];
    const result = checkHistory(kvModel, history);
    expect(result).toMatchObject({ verdict: 'not-linearizable', part: 0, partCount: 2, partOperationIds: [0, 3], blockedIds: [3] });
  });

  test('accepts partial outputs of a failed cas, and still checks them', () => {
    const written = kvOp(0, { type: 'write', key: 'k', value: 'x' }, 0, 1, { ok: true });
    const casOf = (expected: Value | null, output: KvOutput) => kvOp(1, { type: 'cas', key: 'k', expected, value: 'y' }, 2, 3, output);
    expect(checkHistory(kvModel, [written, casOf('z', { ok: false })]).verdict).toBe('linearizable');
    expect(checkHistory(kvModel, [written, casOf('z', { ok: false, error: 'precondition-failed' })]).verdict).toBe('linearizable');
    expect(checkHistory(kvModel, [written, casOf('x', { ok: false })]).verdict).toBe('not-linearizable');
    expect(checkHistory(kvModel, [written, casOf('z', { ok: false, error: 'not-found' })]).verdict).toBe('not-linearizable');
    expect(checkHistory(kvModel, [written, casOf('z', { ok: false, error: 'precondition-failed', actual: 'q' })]).verdict).toBe('not-linearizable');
  });

  test('agrees with checkLinearizability on generated kv histories, correct and corrupted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 5, max: 60 }), fc.boolean(), (seed, opCount, corrupted) => {
        const random = new Random(seed);
        let history = kvHistory(random, opCount);
        if (corrupted) history = corruptOne(history, random);
        const old = checkLinearizability(history);
        const result = checkHistory(kvModel, fromSimulatorHistory(history));
        expect(result.verdict).toBe(old.linearizable ? 'linearizable' : 'not-linearizable');
        if (!corrupted) expect(result.verdict).toBe('linearizable');
      }),
      { numRuns: 300 },
    );
  });
});

/** Runs the kv machine with 6 clients on 2 keys, intervals around each effect point; some ops indeterminate. */
function kvHistory(random: Random, opCount: number): HistoryOperation[] {
  let state: KvState = kvMachine.init();
  let pointMs = 0;
  const values: Value[] = ['a', 'b', 1];
  const history: HistoryOperation[] = [];
  for (let id = 0; id < opCount; id++) {
    pointMs += random.int(0, 3);
    const key = random.int(0, 1) === 0 ? 'k0' : 'k1';
    const value = values[random.int(0, 2)]!;
    const kinds: KvOperation[] = [{ type: 'read', key }, { type: 'write', key, value }, { type: 'cas', key, expected: random.int(0, 3) === 0 ? null : values[random.int(0, 2)]!, value }, { type: 'delete', key }];
    const operation = kinds[random.int(0, 3)]!;
    const fate = random.int(0, 9);
    const callMs = pointMs - random.int(0, 6);
    if (fate === 0) {
      history.push({ id, clientId: `c${id % 6}`, operation, callMs, returnMs: null, outcome: { type: 'indeterminate' } });
      continue;
    }
    const [next, result] = applyKv(state, operation);
    state = next;
    const outcome: HistoryOperation['outcome'] = fate === 1 ? { type: 'indeterminate' } : { type: 'ok', result };
    history.push({ id, clientId: `c${id % 6}`, operation, callMs, returnMs: fate === 1 ? null : pointMs + random.int(0, 6), outcome });
  }
  return history;
}

/**
 * Gives one op another complete result of its kind (an incomplete one, such as a read's
 * `{ ok: true }`, is a partial output to the new checker, and the old one has no such notion).
 */
function corruptOne(history: readonly HistoryOperation[], random: Random): HistoryOperation[] {
  const NOT_FOUND: KvResult = { ok: false, error: 'not-found' };
  const resultsOf: Record<KvOperation['type'], KvResult[]> = {
    read: [{ ok: true, value: 'a' }, { ok: true, value: 1 }, NOT_FOUND],
    write: [{ ok: true }, NOT_FOUND],
    cas: [{ ok: true }, NOT_FOUND, { ok: false, error: 'precondition-failed', actual: 'b' }, { ok: false, error: 'precondition-failed', actual: 1 }],
    delete: [{ ok: true, existed: true }, { ok: true, existed: false }],
  };
  const victim = random.int(0, history.length - 1);
  return history.map((op, index) => {
    if (index !== victim || op.outcome.type !== 'ok') return op;
    const results = resultsOf[op.operation.type];
    return { ...op, outcome: { type: 'ok', result: results[random.int(0, results.length - 1)]! } };
  });
}

describe('the queue model', () => {
  const q = (id: number, input: QueueInput, callMs: number, returnMs: number | null, output?: QueueOutput) => operationOf<QueueInput, QueueOutput>(id, input, callMs, returnMs, output);
  const enqueue = (value: number): QueueInput => ({ type: 'enqueue', value });
  const dequeue: QueueInput = { type: 'dequeue' };

  test('is FIFO, and a dequeue on an empty queue returns empty', () => {
    const fifo = [q(0, enqueue(1), 0, 1, {}), q(1, enqueue(2), 2, 3, {}), q(2, dequeue, 4, 5, { value: 1 }), q(3, dequeue, 6, 7, { value: 2 }), q(4, dequeue, 8, 9, { value: null })];
    expect(checkHistory(queueModel, fifo).verdict).toBe('linearizable');
    const lifo = [q(0, enqueue(1), 0, 1, {}), q(1, enqueue(2), 2, 3, {}), q(2, dequeue, 4, 5, { value: 2 })];
    expect(checkHistory(queueModel, lifo)).toMatchObject({ verdict: 'not-linearizable', blockedIds: [2] });
    expect(checkHistory(queueModel, [q(0, enqueue(1), 0, 1, {}), q(1, dequeue, 2, 3, { value: null })]).verdict).toBe('not-linearizable');
  });

  test('concurrent enqueues may be dequeued in either order; an indeterminate enqueue may have happened', () => {
    const concurrent = [q(0, enqueue(1), 0, 5, {}), q(1, enqueue(2), 0, 5, {}), q(2, dequeue, 6, 7, { value: 2 }), q(3, dequeue, 8, 9, { value: 1 })];
    expect(checkHistory(queueModel, concurrent).verdict).toBe('linearizable');
    expect(checkHistory(queueModel, [q(0, enqueue(7), 0, null), q(1, dequeue, 3, 4, { value: 7 })]).verdict).toBe('linearizable');
    expect(checkHistory(queueModel, [q(0, enqueue(7), 0, null), q(1, dequeue, 3, 4, { value: 8 })]).verdict).toBe('not-linearizable');
  });
});
