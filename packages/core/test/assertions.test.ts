/**
 * Assertions in the core's building blocks: what callers must never do throws an InvariantError
 * (a bug in the core), while what they may do keeps working.
 */
import { describe, expect, test } from 'vitest';
import { ClientTable, InvariantError, Log, addVote, primaryOf } from '../src/index.js';

const session = (requestNumber: number, opNumber: number) => ({ requestNumber, result: null, opNumber });

describe('the client table', () => {
  test('records a newer request and keeps its bound, evicting the least recently executed', () => {
    const one = ClientTable.EMPTY.record('a', session(0, 1), 2).table.record('b', session(0, 2), 2).table;
    const { table, evicted } = one.record('c', session(0, 3), 2);
    expect([table.size, evicted]).toEqual([2, 'a']);
    expect(table.record('b', session(1, 4), 2).table.entries().map(([clientId]) => clientId)).toEqual(['c', 'b']);
  });

  test('never records an older or the same request again', () => {
    const table = ClientTable.EMPTY.record('a', session(3, 1), 8).table;
    expect(() => table.record('a', session(3, 2), 8)).toThrow(InvariantError);
    expect(() => table.record('a', session(2, 2), 8)).toThrow('a session records a newer request');
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
