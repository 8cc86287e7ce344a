/**
 * checkReplicaInvariants: it holds after every step of replicas driven through normal operation,
 * gap repair, checkpoints, view changes, a restart from storage and a recovery; and it names the
 * invariant a broken state breaks.
 */
import { describe, expect, test } from 'vitest';
import { InvariantError, checkReplicaInvariants, initialState, Log, type ReplicaState } from '../src/index.js';
import { RequestQueue } from '../src/request-queue.js';
import { counterMachine } from './counter.js';
import { Drive } from './drive.js';

/** A Drive whose every step is checked; `checks` counts the states checked. */
function checkedDrive(replicaCount: number, checkpointIntervalOps = 4): Drive & { checks: () => number } {
  let checks = 0;
  const drive = new Drive(replicaCount, (state) => {
    checkReplicaInvariants(state);
    checks++;
  }, { checkpointIntervalOps });
  return Object.assign(drive, { checks: () => checks });
}

/** Registers client `c` at `primary` and runs requests 1..count, each carried to commit. */
function runRequests(drive: Drive, primary: number, from: number, count: number): void {
  if (from === 0) {
    drive.request(primary, 'c', 0, null);
    drive.deliverAll();
  }
  for (let requestNumber = Math.max(from, 1); requestNumber < from + count; requestNumber++) {
    drive.request(primary, 'c', requestNumber, requestNumber);
    drive.deliverAll();
  }
}

describe('the invariants hold after every step', () => {
  test('normal operation, gap repair, a view change, a recovery and a restart, three replicas', () => {
    const drive = checkedDrive(3);
    runRequests(drive, 0, 0, 10);
    drive.fire(0, 'heartbeat');
    drive.deliverAll();
    expect(drive.states.map((state) => state.commitNumber)).toEqual([10, 10, 10]);
    expect(drive.at(1).checkpoint?.value.opNumber).toBe(8);

    // Replica 2 misses a Prepare; the next one shows it the gap, and state transfer fills it.
    drive.request(0, 'c', 10, 10);
    drive.drop((envelope) => envelope.to === 2 && envelope.message.type === 'prepare');
    drive.deliverAll();
    drive.request(0, 'c', 11, 11);
    drive.deliverAll();
    expect(drive.at(2).log.lastOpNumber).toBe(12);

    // The primary stops; replica 1 times out and becomes the primary of view 1.
    drive.crash(0);
    drive.fire(1, 'primary-timeout');
    drive.deliverAll();
    expect(drive.at(1)).toMatchObject({ status: 'normal', viewNumber: 1, lastNormalView: 1 });
    expect(drive.at(2)).toMatchObject({ status: 'normal', viewNumber: 1, primary: null });
    runRequests(drive, 1, 12, 4);

    // Replica 0 comes back with its storage lost: it recovers from the others, as a backup of view 1.
    drive.restart(0, { nonce: 7 });
    expect(drive.at(0).status).toBe('recovering');
    drive.deliverAll();
    expect(drive.at(0)).toMatchObject({ status: 'normal', viewNumber: 1, primary: null });

    // Replica 2 restarts from its storage and rejoins its view, re-executing as commits arrive.
    drive.crash(2);
    drive.restart(2);
    expect(drive.at(2)).toMatchObject({ status: 'normal', viewNumber: 1 });
    drive.fire(1, 'heartbeat');
    drive.deliverAll();
    expect(drive.states.map((state) => state.commitNumber)).toEqual([16, 16, 16]);
    expect(drive.rejects).toEqual([]);
    expect(drive.checks()).toBe(drive.steps);
    expect(drive.steps).toBeGreaterThan(80);
  });

  test('a replica cut off during a view change joins the later view from a Prepare, five replicas', () => {
    const drive = checkedDrive(5);
    runRequests(drive, 0, 0, 6);
    drive.crash(0);
    drive.fire(1, 'primary-timeout');
    const awayFrom4 = (envelope: { from: number; to: number }) => envelope.to !== 4 && envelope.from !== 4;
    drive.deliverAll(awayFrom4);
    drive.drop((envelope) => !awayFrom4(envelope));
    expect(drive.at(1)).toMatchObject({ status: 'normal', viewNumber: 1 });
    expect(drive.at(4)).toMatchObject({ status: 'normal', viewNumber: 0 });
    // Replica 4 hears a Prepare of view 1: it joins view 1 and installs its log from StartView.
    runRequests(drive, 1, 6, 2);
    expect(drive.at(4)).toMatchObject({ status: 'normal', viewNumber: 1, lastNormalView: 1 });
    expect(drive.at(4).log.lastOpNumber).toBe(drive.at(1).log.lastOpNumber);
    expect(drive.checks()).toBe(drive.steps);
  });
});

/** States to break: a primary with an op in flight, a backup past two checkpoints, a replica changing views, a recovering one. */
function samples(): { primary: ReplicaState; backup: ReplicaState; changing: ReplicaState; recovering: ReplicaState } {
  const drive = new Drive(3, checkReplicaInvariants, { checkpointIntervalOps: 2 });
  runRequests(drive, 0, 0, 5);
  drive.request(0, 'c', 5, 5);
  drive.deliverAll((envelope) => envelope.message.type !== 'prepare-ok');
  const primary = drive.at(0);
  const backup = drive.at(1);
  drive.fire(2, 'primary-timeout');
  const changing = drive.at(2);
  drive.crash(1);
  drive.restart(1, { nonce: 3 });
  return { primary, backup, changing, recovering: drive.at(1) };
}

/** The same log with its last entry claiming the next op number. */
function renumberLast(log: Log): Log {
  const entries = log.toArray();
  const last = entries.pop();
  if (last === undefined) throw new Error('the sample log holds entries');
  return Log.fromEntries([...entries, { ...last, opNumber: last.opNumber + 1 }], log.baseOpNumber);
}

function withoutLast(log: Log): Log {
  return Log.fromEntries(log.toArray().slice(0, -1), log.baseOpNumber);
}

function expectBroken(state: ReplicaState, invariant: string): void {
  expect(() => checkReplicaInvariants(state)).toThrow(InvariantError);
  expect(() => checkReplicaInvariants(state)).toThrow(`replica ${state.config.replicaId}: ${invariant}`);
}

describe('a broken state is named', () => {
  const { primary, backup, changing, recovering } = samples();
  const pipeline = primary.primary?.pipeline ?? [];
  const withPrimary = (state: ReplicaState, changes: Partial<NonNullable<ReplicaState['primary']>>): ReplicaState =>
    ({ ...state, primary: { ...(state.primary ?? primary.primary), ...changes } }) as ReplicaState;

  test('the samples are sound and are what they claim', () => {
    for (const state of [primary, backup, changing, recovering]) checkReplicaInvariants(state);
    expect(pipeline.map((op) => op.opNumber)).toEqual([6]);
    expect(backup.log.baseOpNumber).toBeGreaterThan(0);
    expect([changing.status, recovering.status]).toEqual(['view-change', 'recovering']);
  });

  test.each([
    ['status', () => ({ ...primary, status: 'view-change' }), 'primary !== null iff status is normal and this replica is primaryOf(viewNumber)'],
    ['a backup with primary state', () => ({ ...backup, primary: primary.primary }), 'primary !== null iff status is normal and this replica is primaryOf(viewNumber)'],
    ['a view change record in normal status', () => ({ ...backup, viewChange: changing.viewChange }), 'viewChange !== null iff status is view-change'],
    ['a recovery record in normal status', () => ({ ...backup, recovery: recovering.recovery }), 'recovery !== null iff status is recovering'],
    ['a repair during a view change', () => ({ ...changing, repairOpNumber: 0 }), 'repairOpNumber !== null only at a backup in normal status'],
    ['a last normal view ahead of the view', () => ({ ...changing, lastNormalView: changing.viewNumber + 1 }), 'lastNormalView <= viewNumber'],
    ['a normal replica behind its view', () => ({ ...backup, viewNumber: backup.viewNumber + 3 }), 'status normal => lastNormalView === viewNumber'],
    ['a view change in its last normal view', () => ({ ...changing, lastNormalView: changing.viewNumber }), 'status view-change => lastNormalView < viewNumber'],
    ['a booting replica in a later view', () => ({ ...initialState({ replicaId: 2, replicaCount: 3 }, counterMachine), viewNumber: 4 }), 'status booting => nothing held'],
    ['a recovering replica holding ops', () => ({ ...recovering, log: backup.log }), 'status recovering => nothing held'],
  ])('roles and views: %s', (_, broken, invariant) => expectBroken(broken() as ReplicaState, invariant));

  test.each([
    ['commit ahead of commit max', () => ({ ...backup, commitNumber: backup.commitNumberMax + 1 }), 'commitNumber <= commitNumberMax'],
    ['an op committed and held but not executed', () => ({ ...backup, commitNumber: backup.commitNumber - 1 }), 'commitNumber === min(commitNumberMax, log.lastOpNumber)'],
    ['a log released past its checkpoint', () => ({ ...backup, checkpoint: null }), 'log.baseOpNumber <= checkpoint op <= commitNumber'],
    ['a timestamp behind the log', () => ({ ...backup, timestampMs: 0 }), "timestampMs >= the last entry's timestamp"],
    ['a repair beyond the log', () => ({ ...backup, repairOpNumber: backup.log.lastOpNumber + 1 }), 'repairOpNumber <= log.lastOpNumber'],
    ['a last entry numbered out of place', () => ({ ...backup, log: renumberLast(backup.log) }), "the log's last entry has op log.lastOpNumber"],
  ])('numbers: %s', (_, broken, invariant) => expectBroken(broken(), invariant));

  test.each([
    ['a primary told of commits beyond its log', () => withPrimary({ ...primary, commitNumberMax: primary.commitNumber + 5, log: withoutLast(primary.log) }, { pipeline: [] }), 'primary => commitNumber === commitNumberMax'],
    ['a pipeline missing its op', () => withPrimary(primary, { pipeline: [] }), 'primary => the pipeline holds ops commitNumber + 1 .. log.lastOpNumber'],
    ['a pipeline op out of order', () => withPrimary(primary, { pipeline: pipeline.map((op) => ({ ...op, opNumber: op.opNumber + 1 })) }), 'primary => pipeline ops are consecutive, from commitNumber + 1'],
    ['acks without the primary', () => withPrimary(primary, { pipeline: pipeline.map((op) => ({ ...op, acks: [1] })) }), "primary => each pipeline op's acks are a vote set with the primary's own"],
    ['a duplicated ack', () => withPrimary(primary, { pipeline: pipeline.map((op) => ({ ...op, acks: [0, 0] })) }), "primary => each pipeline op's acks are a vote set with the primary's own"],
    ['an oldest op with a quorum', () => withPrimary(primary, { pipeline: pipeline.map((op) => ({ ...op, acks: [0, 1] })) }), 'primary => the oldest pipeline op lacks a quorum'],
    ['a request waiting while the pipeline has room', () => withPrimary(primary, { queue: RequestQueue.EMPTY.push({ request: { clientId: 'd', requestNumber: 0, operation: null }, receivedAtMs: 0, bytes: 50 }) }), 'primary => requests wait in the queue only while the pipeline is full'],
  ])('the primary: %s', (_, broken, invariant) => expectBroken(broken(), invariant));

  test('acknowledgements never grow along the pipeline', () => {
    const longer = withPrimary(
      { ...primary, commitNumber: primary.commitNumber - 1, commitNumberMax: primary.commitNumber - 1 },
      { pipeline: [{ opNumber: primary.commitNumber, acks: [0] }, { opNumber: primary.commitNumber + 1, acks: [0, 2] }] },
    );
    expectBroken(longer, 'primary => acks never grow along the pipeline');
  });

  test.each([
    ['a vote set without its own vote', (vc: NonNullable<ReplicaState['viewChange']>) => ({ ...vc, startViewChangeVotes: [0] }), "viewChange.startViewChangeVotes is a vote set with this replica's own"],
    ['DoViewChange sent without a quorum', (vc: NonNullable<ReplicaState['viewChange']>) => ({ ...vc, doViewChangeSent: true }), 'viewChange.doViewChangeSent => f + 1 StartViewChange votes'],
    ['DoViewChange votes at a backup of the new view', (vc: NonNullable<ReplicaState['viewChange']>) => ({ ...vc, doViewChanges: [{ replica: 0, lastNormalView: 0, opNumber: 0, commitNumber: 0, checkpoint: null, log: Log.EMPTY }] }), 'viewChange.doViewChanges: one per replica, sorted, held only by the new primary'],
    ['a checkpoint report per replica missing', (vc: NonNullable<ReplicaState['viewChange']>) => ({ ...vc, checkpointOpNumbers: [null] }), 'viewChange.checkpointOpNumbers: one per replica'],
  ])('the view change: %s', (_, change, invariant) => {
    const viewChange = changing.viewChange;
    if (viewChange === null) throw new Error('the sample is changing views');
    expectBroken({ ...changing, viewChange: change(viewChange) }, invariant);
  });

  test('the recovery: an answer from itself', () => {
    const recovery = recovering.recovery;
    if (recovery === null) throw new Error('the sample is recovering');
    const own = { replica: recovering.config.replicaId, viewNumber: 0, primaryState: null };
    expectBroken({ ...recovering, recovery: { ...recovery, responses: [own] } }, 'recovery.responses: one per other replica, sorted');
  });
});
