/**
 * Normal operation, rule by rule (VR Revisited §4.1). Each test reads as the
 * paper's sentence it checks.
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import type { Effect } from '@vsr/core';
import { Cluster } from '../src/index.js';

function sends(effects: readonly Effect[], type?: string) {
  return effects.filter(
    (effect): effect is Extract<Effect, { kind: 'send' }> =>
      effect.kind === 'send' && (type === undefined || effect.message.type === type),
  );
}

function registered(replicaCount = 3, options: Partial<ConstructorParameters<typeof Cluster>[0]> = {}): Cluster {
  const cluster = new Cluster({ replicaCount, machine: kvMachine, ...options });
  cluster.request(0, 'alice', 0);
  cluster.deliverAll();
  return cluster;
}

describe('normal operation (§4.1)', () => {
  test('the primary assigns the next op number, appends the op and sends Prepare to every backup', () => {
    const cluster = registered();
    const effects = cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
    const append = effects.find((effect) => effect.kind === 'log-append');
    expect(append).toMatchObject({ entry: { opNumber: 2, viewNumber: 0 } });
    const prepares = sends(effects, 'prepare');
    expect(prepares.map((effect) => effect.to)).toEqual([1, 2]);
    expect(prepares[0]!.message).toMatchObject({ opNumber: 2, commitNumber: 1 });
    // The write comes before the sends: the effect contract holds them until it is durable.
    expect(effects.indexOf(append!)).toBeLessThan(effects.indexOf(prepares[0]!));
  });

  test('a backup appends the next op, then sends PrepareOk to the primary', () => {
    const cluster = registered();
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
    const [toBackup1] = cluster.pending((envelope) => envelope.to === 1);
    const effects = cluster.deliver(toBackup1!);
    const kinds = effects.filter((effect) => effect.kind !== 'telemetry' && effect.kind !== 'set-timer').map((e) => e.kind);
    expect(kinds).toEqual(['log-append', 'send']);
    expect(sends(effects)[0]).toMatchObject({ to: 0, message: { type: 'prepare-ok', opNumber: 2 } });
  });

  test('the primary commits once f + 1 replicas, itself included, hold the op, executes it and replies', () => {
    const cluster = registered(5);
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
    cluster.deliverAll((envelope) => envelope.message.type === 'prepare' && envelope.to <= 2);
    // One PrepareOk: the primary and one backup hold it; f + 1 = 3 are needed.
    cluster.deliver(cluster.pending((e) => e.message.type === 'prepare-ok' && e.from === 1)[0]!);
    expect(cluster.states[0]!.commitNumber).toBe(1);
    expect(cluster.repliesTo('alice')).toHaveLength(1);
    cluster.deliver(cluster.pending((e) => e.message.type === 'prepare-ok' && e.from === 2)[0]!);
    expect(cluster.states[0]!.commitNumber).toBe(2);
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ type: 'reply', requestNumber: 1, result: { ok: true } });
  });

  test('a duplicated PrepareOk does not count twice (quorums are sets of replicas)', () => {
    const cluster = registered(5);
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
    cluster.deliverAll((envelope) => envelope.message.type === 'prepare' && envelope.to === 1);
    const ok = cluster.pending((e) => e.message.type === 'prepare-ok')[0]!;
    cluster.duplicate(ok);
    cluster.duplicate(ok);
    cluster.deliverAll((e) => e.message.type === 'prepare-ok');
    expect(cluster.states[0]!.commitNumber).toBe(1);
    expect(cluster.states[0]!.primary!.pipeline[0]!.acks).toEqual([0, 1]);
  });

  test('when idle, the primary sends Commit as a heartbeat and backups execute up to it', () => {
    const cluster = registered();
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 'v' });
    cluster.deliverAll();
    expect(cluster.states[1]!.commitNumber).toBe(1);
    cluster.fire(0, 'heartbeat');
    expect(cluster.pending().map((envelope) => envelope.message.type)).toEqual(['commit', 'commit']);
    cluster.deliverAll();
    expect(cluster.states[1]!.commitNumber).toBe(2);
    expect(cluster.states[2]!.commitNumber).toBe(2);
    expect(cluster.isArmed(0, 'heartbeat')).toBe(true);
  });

  test('a Prepare that is lost is retransmitted until the backup acknowledges it', () => {
    const cluster = registered(3);
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
    expect(cluster.drop((envelope) => envelope.message.type === 'prepare')).toBe(2);
    expect(cluster.isArmed(0, 'prepare-retry')).toBe(true);
    cluster.fire(0, 'prepare-retry');
    expect(cluster.pending().map((envelope) => `${envelope.message.type}->${envelope.to}`)).toEqual([
      'prepare->1',
      'prepare->2',
    ]);
    cluster.deliverAll();
    expect(cluster.states[0]!.commitNumber).toBe(2);
    expect(cluster.isArmed(0, 'prepare-retry')).toBe(false);
  });

  test('a backup that misses a Prepare asks for what it lacks and never executes past what it holds', () => {
    const cluster = registered(3);
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
    cluster.drop((envelope) => envelope.to === 2); // Replica 2 misses op 2.
    cluster.deliverAll();
    cluster.request(0, 'alice', 2, { type: 'write', key: 'x', value: 2 });
    // Op 3 reaches replica 2 after a gap, with commit number 2.
    cluster.deliverAll((envelope) => envelope.message.type === 'prepare' && envelope.to === 1);
    cluster.deliverAll((envelope) => envelope.message.type === 'prepare-ok');
    cluster.fire(0, 'heartbeat');
    const effects = cluster.deliver(cluster.pending((e) => e.to === 2 && e.message.type === 'prepare')[0]!);
    expect(sends(effects, 'get-state')[0]).toMatchObject({ to: 0, message: { opNumber: 1 } });
    expect(cluster.states[2]!.log.lastOpNumber).toBe(1);
    cluster.deliver(cluster.pending((e) => e.to === 2 && e.message.type === 'commit')[0]!);
    expect(cluster.states[2]!.commitNumber).toBe(1); // Not 3: it holds only op 1.
    expect(cluster.states[2]!.commitNumberMax).toBe(3);
    cluster.deliverAll();
    expect(cluster.states[2]!.log.lastOpNumber).toBe(3);
    expect(cluster.states[2]!.commitNumber).toBe(3);
    expect(cluster.telemetryNamed('vsr.state_transfer.received', 2)).toHaveLength(1);
  });

  test('a backup far behind catches up in chunks of stateTransferEntriesMax entries', () => {
    const cluster = registered(3, { limits: { stateTransferEntriesMax: 4 } });
    cluster.isolate(2);
    for (let i = 1; i <= 10; i++) {
      cluster.request(0, 'alice', i, { type: 'write', key: 'x', value: i });
      cluster.deliverAll();
    }
    cluster.heal();
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    expect(cluster.states[2]!.commitNumber).toBe(11);
    const chunks = cluster.telemetryNamed('vsr.state_transfer.received', 2).map((event) => event.data.entries);
    expect(chunks).toEqual([4, 4, 2]);
  });

  test('a lost GetState is asked again on the repair timer', () => {
    const cluster = registered(3);
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
    cluster.drop((envelope) => envelope.to === 2);
    cluster.deliverAll();
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll((envelope) => envelope.message.type === 'commit');
    expect(cluster.drop((envelope) => envelope.message.type === 'get-state')).toBe(1);
    cluster.fire(2, 'repair-retry');
    cluster.deliverAll();
    expect(cluster.states[2]!.commitNumber).toBe(2);
  });

  test('requests that arrive while the pipeline is full are packed into one op, up to batchMax', () => {
    const cluster = registered(3, { limits: { pipelineMax: 1, batchMax: 3 } });
    for (const client of ['b', 'c', 'd', 'e', 'f']) {
      cluster.request(0, client, 0);
    }
    // Op 2 holds b's registration; the other four wait for the pipeline.
    expect(cluster.states[0]!.primary!.pipeline.map((op) => op.opNumber)).toEqual([2]);
    expect(cluster.states[0]!.primary!.queue.size).toBe(4);
    cluster.deliverAll();
    const log = cluster.states[0]!.log;
    expect([2, 3, 4].map((op) => log.entryAt(op)!.requests.map((request) => request.clientId))).toEqual([
      ['b'],
      ['c', 'd', 'e'],
      ['f'],
    ]);
    expect(cluster.repliesTo('f')).toHaveLength(1);
  });

  test('the primary keeps at most pipelineMax uncommitted ops in flight', () => {
    const cluster = registered(3, { limits: { pipelineMax: 2, batchMax: 1 } });
    for (const client of ['b', 'c', 'd', 'e']) cluster.request(0, client, 0);
    expect(cluster.states[0]!.primary!.pipeline).toHaveLength(2);
    expect(cluster.states[0]!.log.lastOpNumber).toBe(3);
  });

  test('a full request queue answers busy instead of growing without bound', () => {
    const cluster = registered(3, { limits: { pipelineMax: 1, batchMax: 1, requestQueueMax: 2 } });
    for (const client of ['b', 'c', 'd']) cluster.request(0, client, 0);
    cluster.request(0, 'e', 0);
    expect(cluster.repliesTo('e').map((received) => received.reply)).toMatchObject([{ type: 'error', code: 'busy' }]);
  });

  test('a backup redirects a client to the primary of its view', () => {
    const cluster = registered();
    cluster.request(2, 'alice', 1, { type: 'read', key: 'x' });
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ type: 'redirect', primary: 0, viewNumber: 0 });
  });

  test('op timestamps come from the primary and never go backwards (§4.4)', () => {
    const cluster = registered();
    cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 }, 5_000);
    cluster.deliverAll();
    cluster.request(0, 'alice', 2, { type: 'write', key: 'x', value: 2 }, 4_000);
    cluster.deliverAll();
    const log = cluster.states[2]!.log;
    expect([log.entryAt(2)!.timestampMs, log.entryAt(3)!.timestampMs]).toEqual([5_000, 5_000]);
  });
});

describe('sender validation (design rule 9 of docs/protocol.md)', () => {
  test('a Prepare from a replica that is not the primary of its view is rejected', () => {
    const cluster = registered();
    const before = cluster.states[2];
    const effects = cluster.handle(2, {
      kind: 'message',
      message: {
        type: 'prepare',
        cluster: 0,
        replica: 1,
        viewNumber: 0,
        opNumber: 2,
        commitNumber: 1,
        entry: { opNumber: 2, viewNumber: 0, timestampMs: 0, requests: [] },
      },
    });
    expect(effects.find((effect) => effect.kind === 'reject')).toMatchObject({
      reason: 'prepare from replica 1, which is not the primary of view 0',
    });
    expect(cluster.states[2]).toBe(before);
  });

  test('a StartView from a replica that is not the primary of its view is rejected', () => {
    const cluster = registered();
    const before = cluster.states[2];
    const effects = cluster.handle(2, {
      kind: 'message',
      message: { type: 'start-view', cluster: 0, replica: 0, viewNumber: 1, opNumber: 0, commitNumber: 0, checkpoint: null, log: [] },
    });
    expect(effects.find((effect) => effect.kind === 'reject')).toMatchObject({
      reason: 'start-view from replica 0, which is not the primary of view 1',
    });
    expect(cluster.states[2]).toBe(before);
  });

  test('state transfer (NewState) is accepted only from the primary of its view', () => {
    const cluster = registered();
    const before = cluster.states[2];
    const effects = cluster.handle(2, {
      kind: 'message',
      message: {
        type: 'new-state',
        cluster: 0,
        replica: 1,
        viewNumber: 0,
        opNumber: 1,
        commitNumber: 2,
        checkpoint: null,
        entries: [{ opNumber: 2, viewNumber: 0, timestampMs: 0, requests: [] }],
      },
    });
    expect(effects.find((effect) => effect.kind === 'reject')).toMatchObject({
      reason: 'new-state from replica 1, which is not the primary of view 0',
    });
    expect(cluster.states[2]).toBe(before);
  });

  test('messages from outside the configuration, another cluster, or claiming to be from ourselves are rejected', () => {
    const cluster = registered();
    const base = { type: 'start-view-change', viewNumber: 5, checkpointOpNumber: 0 };
    const cases: Array<[unknown, string]> = [
      [{ ...base, cluster: 0, replica: 3 }, 'message.replica: 3 is not in the configuration of 3 replicas'],
      [{ ...base, cluster: 9, replica: 1 }, 'message.cluster: expected cluster 0, got 9'],
      [{ ...base, cluster: 0, replica: 2 }, 'message.replica: a message claiming to come from this replica (2)'],
    ];
    for (const [message, reason] of cases) {
      const before = cluster.states[2];
      const effects = cluster.handle(2, { kind: 'message', message });
      expect(effects.find((effect) => effect.kind === 'reject')).toMatchObject({ reason });
      expect(cluster.states[2]).toBe(before);
    }
  });

  test('a malformed message is rejected with a reason naming the field', () => {
    const cluster = registered();
    const effects = cluster.handle(1, {
      kind: 'message',
      message: { type: 'prepare-ok', cluster: 0, replica: 0, viewNumber: -1, opNumber: 1 },
    });
    const reject = effects.find((effect) => effect.kind === 'reject');
    expect(reject).toBeDefined();
    expect((reject as { reason: string }).reason).toContain('viewNumber');
  });

  test('a malformed client request gets an error reply that says what is wrong', () => {
    const cluster = registered();
    cluster.handle(0, { kind: 'client-request', request: { clientId: 'bob', requestNumber: 'one' } });
    expect(cluster.repliesTo('bob')[0]!.reply).toMatchObject({ type: 'error', code: 'invalid-request' });
    cluster.request(0, 'alice', 1, { type: 'write', key: '' });
    const reply = cluster.repliesTo('alice').at(-1)!.reply;
    expect(reply).toMatchObject({ type: 'error', code: 'invalid-operation' });
    expect((reply as { message: string }).message).toContain('request.operation');
  });
});
