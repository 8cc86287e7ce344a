/**
 * Installing a view's log never undoes an executed op: a log that ends before this replica's
 * commit number is refused with a reason, also when the executed op itself was released (a
 * replica that booted from a checkpoint holds no entry at its commit number to compare). A
 * checkpoint the log comes with is installed without truncating the entries after it that agree.
 */
import { expect, test } from 'vitest';
import { initialState, step, type LogEntry } from '../src/index.js';
import { counterMachine } from './counter.js';

const entry = (opNumber: number): LogEntry => ({ opNumber, viewNumber: 0, timestampMs: 0, requests: [] });

function bootedFromCheckpoint() {
  const booting = initialState({ replicaId: 1, replicaCount: 3 }, counterMachine);
  const checkpoint = { opNumber: 4, viewNumber: 0, timestampMs: 0, snapshot: 10, clientTable: [] };
  const [state] = step(booting, { kind: 'boot', storage: { header: { viewNumber: 0, lastNormalView: 0 }, checkpoint, log: [] } });
  expect(state).toMatchObject({ status: 'normal', commitNumber: 4 });
  expect(state.log.baseOpNumber).toBe(4);
  return state;
}

test('a StartView whose log lacks an op this replica executed, released or not, is refused', () => {
  const state = bootedFromCheckpoint();
  const short = { type: 'start-view', cluster: 0, replica: 0, viewNumber: 3, opNumber: 2, commitNumber: 0, checkpoint: null, log: [entry(1), entry(2)] };
  const [next, effects] = step(state, { kind: 'message', message: short });
  expect(next).toBe(state);
  expect(effects[0]).toEqual({ kind: 'reject', reason: 'StartView log lacks op 4, which this replica executed', input: 'start-view from replica 0 in view 3' });
});

test('a StartView whose log holds the executed ops is installed after them', () => {
  const state = bootedFromCheckpoint();
  const longer = { type: 'start-view', cluster: 0, replica: 0, viewNumber: 3, opNumber: 6, commitNumber: 5, checkpoint: null, log: [1, 2, 3, 4, 5, 6].map(entry) };
  const [next, effects] = step(state, { kind: 'message', message: longer });
  expect(next).toMatchObject({ status: 'normal', viewNumber: 3, lastNormalView: 3, commitNumber: 5 });
  expect(next.log.lastOpNumber).toBe(6);
  // Only the entries after what the checkpoint covers are written.
  expect(effects.filter((effect) => effect.kind === 'log-append').map((effect) => (effect.kind === 'log-append' ? effect.entry.opNumber : 0))).toEqual([5, 6]);
});

/** A replica restarted with ops 1..6 on disk and nothing executed (execution is not durable). */
function restartedWithLog(log: readonly LogEntry[]) {
  const booting = initialState({ replicaId: 1, replicaCount: 3 }, counterMachine);
  const [state] = step(booting, { kind: 'boot', storage: { header: { viewNumber: 0, lastNormalView: 0 }, checkpoint: null, log: [...log] } });
  expect(state).toMatchObject({ commitNumber: 0 });
  expect(state.log.lastOpNumber).toBe(log.length);
  return state;
}

const startViewWithCheckpoint = (log: readonly LogEntry[]) => ({
  type: 'start-view',
  cluster: 0,
  replica: 0,
  viewNumber: 3,
  opNumber: 6,
  commitNumber: 4,
  checkpoint: { opNumber: 4, viewNumber: 0, timestampMs: 0, snapshot: 10, clientTable: [] },
  log: [...log],
});

const storageWrites = (effects: readonly { kind: string }[]) =>
  effects.filter((effect) => ['log-truncate', 'log-release', 'log-append', 'persist-checkpoint'].includes(effect.kind)).map((effect) => {
    const { opNumber, entry } = effect as { opNumber?: number; entry?: LogEntry };
    return `${effect.kind}${opNumber !== undefined ? ` ${opNumber}` : entry !== undefined ? ` ${entry.opNumber}` : ''}`;
  });

test('a backup behind a StartView\'s checkpoint installs it and keeps the entries it holds after it: nothing it holds is truncated before the checkpoint is durable', () => {
  // Truncating 5 and 6 and appending them again would let the truncation reach the disk first (the
  // release and the appends wait for the checkpoint): a crash then leaves a log shorter than the
  // last normal view the header vouches for.
  const state = restartedWithLog([1, 2, 3, 4, 5, 6].map(entry));
  const [next, effects] = step(state, { kind: 'message', message: startViewWithCheckpoint([entry(5), entry(6)]) });
  expect(next).toMatchObject({ status: 'normal', viewNumber: 3, lastNormalView: 3, commitNumber: 4 });
  expect(next.log.baseOpNumber).toBe(4);
  expect(next.log.lastOpNumber).toBe(6);
  expect(storageWrites(effects)).toEqual(['persist-checkpoint', 'log-release 4']);
});

test('entries after the checkpoint that differ from the StartView\'s are truncated where they differ, and replaced', () => {
  const ours = [1, 2, 3, 4, 5].map(entry).concat([{ ...entry(6), viewNumber: 2 }]);
  const state = restartedWithLog(ours);
  const [next, effects] = step(state, { kind: 'message', message: startViewWithCheckpoint([entry(5), entry(6)]) });
  expect(next.log.lastOpNumber).toBe(6);
  expect(next.log.entryAt(6)?.viewNumber).toBe(0);
  expect(storageWrites(effects)).toEqual(['persist-checkpoint', 'log-release 4', 'log-truncate 5', 'log-append 6']);
});
