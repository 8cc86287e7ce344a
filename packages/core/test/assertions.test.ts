/**
 * Assertions in the core's building blocks: what callers must never do throws an InvariantError
 * (a bug in the core), while what they may do keeps working.
 */
import { describe, expect, test } from 'vitest';
import { ClientTable, InvariantError, Log, addVote, primaryOf } from '../src/index.js';

const session = (requestNumber: number, opNumber: number) => ({ requestNumber, result: null, opNumber });

describe('the client table', () => {
  const sessionsMax = (count: number) => ({ sessionsMax: count, bytesMax: 1 << 30 });

  test('records a newer request and keeps its bound, evicting the least recently executed', () => {
    const one = ClientTable.EMPTY.record('a', session(0, 1), sessionsMax(2)).table.record('b', session(0, 2), sessionsMax(2)).table;
    const { table, evicted } = one.record('c', session(0, 3), sessionsMax(2));
    expect([table.size, evicted]).toEqual([2, ['a']]);
    expect(table.record('b', session(1, 4), sessionsMax(2)).table.entries().map(([clientId]) => clientId)).toEqual(['c', 'b']);
  });

  test('never records an older or the same request again', () => {
    const table = ClientTable.EMPTY.record('a', session(3, 1), sessionsMax(8)).table;
    expect(() => table.record('a', session(3, 2), sessionsMax(8))).toThrow(InvariantError);
    expect(() => table.record('a', session(2, 2), sessionsMax(8))).toThrow('a session records a newer request');
  });

  test('keeps its byte bound: large cached results evict the least recently executed sessions, never the newest', () => {
    const big = (requestNumber: number, opNumber: number) => ({ requestNumber, result: 'x'.repeat(1_000), opNumber });
    const bounds = { sessionsMax: 100, bytesMax: 2_500 };
    let table = ClientTable.EMPTY;
    const evicted: string[] = [];
    for (const [i, clientId] of ['a', 'b', 'c', 'd'].entries()) {
      const recorded = table.record(clientId, big(0, i + 1), bounds);
      table = recorded.table;
      evicted.push(...recorded.evicted);
    }
    // Each session is ~1,066 bytes: two fit, the third evicts the oldest, and so on.
    expect(table.entries().map(([clientId]) => clientId)).toEqual(['c', 'd']);
    expect(evicted).toEqual(['a', 'b']);
    expect(table.bytes).toBeLessThanOrEqual(bounds.bytesMax);
    // The byte count is what a restored table computes from its sessions.
    expect(ClientTable.fromEntries(table.entries()).bytes).toBe(table.bytes);
    // A result over the whole bound still keeps its own session (its client must get the reply again).
    const huge = table.record('e', { requestNumber: 0, result: 'y'.repeat(10_000), opNumber: 5 }, bounds);
    expect(huge.table.entries().map(([clientId]) => clientId)).toEqual(['e']);
    expect(huge.evicted).toEqual(['c', 'd']);
    // A smaller result for a known client frees its old bytes.
    const smaller = table.record('d', { requestNumber: 1, result: null, opNumber: 6 }, bounds);
    expect(smaller.table.bytes).toBeLessThan(table.bytes - 900);
  });
});

describe('quorum arithmetic', () => {
  test('a vote is a replica id, counted once', () => {
    const votes = addVote(addVote([], 2), 0);
    expect(votes).toEqual([0, 2]);
    expect(addVote(votes, 2)).toBe(votes);
    expect(() => addVote(votes, -1)).toThrow(InvariantError);
    expect(() => addVote(votes, 1.5)).toThrow('a vote comes from a replica id');
  });

  test('the primary of a view is in the configuration', () => {
    expect(primaryOf(7, 3)).toBe(1);
    expect(() => primaryOf(-1, 3)).toThrow(InvariantError);
    expect(() => primaryOf(1, 0)).toThrow(InvariantError);
  });
});

test('the log appends only the next op, and never truncates below its base', () => {
  const log = Log.fromEntries([{ opNumber: 5, viewNumber: 0, timestampMs: 0, requests: [] }], 4);
  expect(() => log.append({ opNumber: 7, viewNumber: 0, timestampMs: 0, requests: [] })).toThrow('invariant: append of op 7 to a log ending at op 5');
  expect(() => log.truncateAfter(3)).toThrow(InvariantError);
  expect(log.truncateAfter(4).lastOpNumber).toBe(4);
});
