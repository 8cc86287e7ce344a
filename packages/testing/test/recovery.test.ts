/**
 * Recovery of a replica that lost its storage (VR Revisited §4.3, design rule 8 of docs/protocol.md).
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import { Cluster } from '../src/index.js';

const write = (key: string, value: string | number) => ({ type: 'write', key, value });

function withWrites(replicaCount = 3, writes = 2): Cluster {
  const cluster = new Cluster({ replicaCount, machine: kvMachine });
  cluster.request(0, 'alice', 0);
  cluster.deliverAll();
  for (let i = 1; i <= writes; i++) {
    cluster.request(0, 'alice', i, write('x', i));
    cluster.deliverAll();
  }
  return cluster;
}

describe('recovery (§4.3)', () => {
  test('a replica that lost its storage recovers from f + 1 answers, the primary among them, and catches up', () => {
    const cluster = withWrites();
    cluster.wipe(2);
    cluster.restart(2, 77);
    expect(cluster.states[2]).toMatchObject({ status: 'recovering' });
    expect(cluster.pending().map((envelope) => `${envelope.message.type}->${envelope.to}`)).toEqual([
      'recovery->0',
      'recovery->1',
    ]);
    cluster.deliverAll();
    expect(cluster.states[2]).toMatchObject({ status: 'normal', viewNumber: 0, lastNormalView: 0, commitNumber: 3 });
    expect(cluster.telemetryNamed('vsr.recovery.complete', 2)).toHaveLength(1);
    expect(cluster.storage[2]!.log).toHaveLength(3);
    expect(kvMachine.snapshot(cluster.states[2]!.app.value as never)).toEqual([['x', 2]]);
  });

  test('answers from backups alone are not enough: it waits for the primary of the latest view', () => {
    const cluster = withWrites();
    cluster.wipe(2);
    cluster.restart(2);
    cluster.drop((envelope) => envelope.to === 0); // The primary never hears this Recovery.
    cluster.deliverAll();
    expect(cluster.states[2]!.status).toBe('recovering');
    cluster.fire(2, 'recovery-retry');
    cluster.deliverAll();
    expect(cluster.states[2]!.status).toBe('normal');
  });

  test('a recovering replica takes part in no view change and acknowledges nothing', () => {
    const cluster = withWrites();
    cluster.wipe(2);
    cluster.restart(2);
    cluster.drop(() => true);
    cluster.request(0, 'alice', 3, write('x', 3));
    const prepare = cluster.pending((envelope) => envelope.to === 2)[0]!;
    expect(cluster.deliver(prepare).filter((effect) => effect.kind === 'send')).toEqual([]);
    cluster.fire(1, 'primary-timeout');
    const svc = cluster.pending((envelope) => envelope.to === 2 && envelope.message.type === 'start-view-change')[0]!;
    expect(cluster.deliver(svc).filter((effect) => effect.kind === 'send')).toEqual([]);
    expect(cluster.states[2]!.status).toBe('recovering');
  });

  test('answers to an earlier recovery (another nonce) are ignored', () => {
    const cluster = withWrites();
    cluster.wipe(2);
    cluster.restart(2, 1);
    const answers = () => cluster.pending((envelope) => envelope.message.type === 'recovery-response');
    cluster.deliverAll((envelope) => envelope.message.type === 'recovery');
    const stale = answers();
    cluster.drop(() => true);
    cluster.wipe(2);
    cluster.restart(2, 2); // Crashed again while recovering: a new nonce.
    cluster.drop(() => true);
    for (const envelope of stale) cluster.network.push(envelope);
    cluster.deliverAll();
    expect(cluster.states[2]!.status).toBe('recovering');
    expect(cluster.states[2]!.recovery!.responses).toEqual([]);
  });

  test('a wiped replica that rejoins while a view change is in progress recovers into the new view', () => {
    const cluster = withWrites();
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout'); // View 1 is forming; replica 2 has not heard yet.
    cluster.wipe(2);
    cluster.restart(2);
    cluster.deliverAll();
    // Nobody is normal: nobody answers; replica 1 waits for a second vote it cannot get.
    expect(cluster.states[2]!.status).toBe('recovering');
    expect(cluster.states[1]!.status).toBe('view-change');
    cluster.restart(0); // Replica 0 comes back and joins view 1.
    cluster.fire(1, 'view-change-retry');
    cluster.deliverAll();
    expect(cluster.primary()).toBe(1);
    cluster.fire(2, 'recovery-retry');
    cluster.deliverAll();
    expect(cluster.states[2]).toMatchObject({ status: 'normal', viewNumber: 1, commitNumber: 3 });
  });

  test('a wiped primary: the others move to a new view, and it recovers into that view', () => {
    const cluster = withWrites();
    cluster.wipe(0);
    cluster.restart(0);
    cluster.deliverAll();
    expect(cluster.states[0]!.status).toBe('recovering'); // Backups answered; the primary of view 0 cannot.
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    cluster.fire(0, 'recovery-retry');
    cluster.deliverAll();
    expect(cluster.states[0]).toMatchObject({ status: 'normal', viewNumber: 1, commitNumber: 3 });
    expect(cluster.primary()).toBe(1);
  });

  test('with a majority of storage lost, recovery refuses to complete rather than invent a history', () => {
    const cluster = withWrites();
    cluster.wipe(1);
    cluster.wipe(2);
    cluster.restart(1);
    cluster.restart(2);
    for (let round = 0; round < 5; round++) {
      cluster.deliverAll();
      for (const r of [1, 2]) cluster.fire(r, 'recovery-retry');
    }
    cluster.deliverAll();
    expect(cluster.states[1]!.status).toBe('recovering');
    expect(cluster.states[2]!.status).toBe('recovering');
    // It says so: one answer (the primary's) of the two it needs.
    expect(cluster.telemetryNamed('vsr.recovery.waiting', 1).at(-1)!.data).toEqual({ answers: 1, needed: 2, primaryAnswered: true });
    // The primary still holds every op, but alone it commits nothing new.
    cluster.request(0, 'alice', 3, write('x', 3));
    cluster.deliverAll();
    expect(cluster.states[0]!.commitNumber).toBe(3);
  });

  test('the primary\'s only copy of an op two backups hold is damaged: it recovers the op from them', () => {
    const cluster = withWrites();
    cluster.request(0, 'alice', 3, write('x', 'held by the backups'));
    cluster.deliverAll();
    // The primary's store fails its checksums at boot: its interpreter boots it as lost.
    cluster.wipe(0);
    cluster.restart(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    cluster.fire(0, 'recovery-retry');
    cluster.deliverAll();
    expect(cluster.states[0]).toMatchObject({ status: 'normal', viewNumber: 1, commitNumber: 4 });
    expect(kvMachine.snapshot(cluster.states[0]!.app.value as never)).toEqual([['x', 'held by the backups']]);
  });

  test('a whole-cluster restart from intact storage needs no recovery', () => {
    const cluster = withWrites();
    for (const r of [0, 1, 2]) cluster.crash(r);
    for (const r of [0, 1, 2]) cluster.restart(r);
    cluster.deliverAll();
    expect(cluster.telemetryNamed('vsr.recovery.start')).toEqual([]);
  });
});
