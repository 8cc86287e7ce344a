/**
 * Durability (design rule 8 of docs/protocol.md) as far as this step goes: the view is persisted
 * before the replica speaks in it, and a replica that restarts from intact
 * storage rejoins without denying anything it acknowledged. (Lost or corrupt
 * storage, checkpoints and recovery come with the recovery work.)
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import type { Effect } from '@vsr/core';
import { Cluster } from '../src/index.js';

function started(): Cluster {
  const cluster = new Cluster({ replicaCount: 3, machine: kvMachine });
  cluster.request(0, 'alice', 0);
  cluster.deliverAll();
  cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 'durable' });
  cluster.deliverAll();
  return cluster;
}

const firstIndex = (effects: readonly Effect[], predicate: (effect: Effect) => boolean) => effects.findIndex(predicate);

describe('durability', () => {
  test('a replica persists the new view before it sends anything in it', () => {
    const cluster = started();
    const effects = cluster.fire(1, 'primary-timeout');
    const persist = firstIndex(effects, (effect) => effect.kind === 'persist-header');
    const send = firstIndex(effects, (effect) => effect.kind === 'send');
    expect(persist).toBeGreaterThanOrEqual(0);
    expect(persist).toBeLessThan(send);
    expect(effects[persist]).toEqual({ kind: 'persist-header', header: { viewNumber: 1, lastNormalView: 0 } });
  });

  test('the new primary persists the view as normal before sending StartView; a backup before its PrepareOk', () => {
    const cluster = started();
    cluster.crash(0);
    cluster.fire(2, 'primary-timeout');
    cluster.deliverAll((envelope) => envelope.message.type === 'start-view-change');
    const dvc = cluster.pending((envelope) => envelope.message.type === 'do-view-change')[0]!;
    const atPrimary = cluster.deliver(dvc);
    const persist = firstIndex(atPrimary, (e) => e.kind === 'persist-header' && e.header.lastNormalView === 1);
    expect(persist).toBeLessThan(firstIndex(atPrimary, (e) => e.kind === 'send' && e.message.type === 'start-view'));
    const startView = cluster.pending((envelope) => envelope.message.type === 'start-view' && envelope.to === 2)[0]!;
    const atBackup = cluster.deliver(startView);
    expect(firstIndex(atBackup, (e) => e.kind === 'persist-header')).toBeLessThan(
      firstIndex(atBackup, (e) => e.kind === 'send'),
    );
  });

  test('a backup restarted from storage rejoins, re-executes the committed ops and converges', () => {
    const cluster = started();
    cluster.crash(2);
    cluster.request(0, 'alice', 2, { type: 'write', key: 'y', value: 'while down' });
    cluster.deliverAll();
    cluster.restart(2);
    expect(cluster.states[2]).toMatchObject({ status: 'normal', viewNumber: 0, commitNumber: 0 });
    expect(cluster.states[2]!.log.lastOpNumber).toBe(2);
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    expect(cluster.states[2]!.commitNumber).toBe(3);
    expect(kvMachine.snapshot(cluster.states[2]!.app.value as never)).toEqual([
      ['x', 'durable'],
      ['y', 'while down'],
    ]);
  });

  test('a primary restarted from storage does not resume as primary: it starts a view change', () => {
    const cluster = started();
    cluster.crash(0);
    cluster.restart(0);
    expect(cluster.states[0]).toMatchObject({ status: 'view-change', viewNumber: 1, lastNormalView: 0 });
    cluster.deliverAll();
    expect(cluster.primary()).toBe(1);
    cluster.request(1, 'alice', 2, { type: 'read', key: 'x' });
    cluster.deliverAll();
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ result: { ok: true, value: 'durable' } });
  });

  test('a replica that crashed during a view change reboots into that view change', () => {
    const cluster = started();
    cluster.fire(2, 'primary-timeout');
    cluster.crash(2);
    cluster.restart(2);
    expect(cluster.states[2]).toMatchObject({ status: 'view-change', viewNumber: 1, lastNormalView: 0 });
  });

  test('the whole cluster restarts from storage and serves the data it acknowledged', () => {
    const cluster = started();
    for (const r of [0, 1, 2]) cluster.crash(r);
    for (const r of [0, 1, 2]) cluster.restart(r);
    cluster.deliverAll();
    for (const r of [1, 2]) if (cluster.isArmed(r, 'primary-timeout')) cluster.fire(r, 'primary-timeout');
    cluster.deliverAll();
    const primary = cluster.primary()!;
    expect(primary).toBeDefined();
    cluster.request(primary, 'alice', 2, { type: 'read', key: 'x' });
    cluster.deliverAll();
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ result: { ok: true, value: 'durable' } });
  });

  test('a crash that kept a StartView\'s log writes but lost the header after them still boots, claiming the older view', () => {
    const cluster = started();
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    cluster.request(1, 'alice', 2, { type: 'write', key: 'x', value: 'view 1' });
    cluster.deliverAll();
    // Replica 2's disk: the log of view 1, but the header still of view 0.
    const log = cluster.storage[2]!.log.slice();
    expect(log.at(-1)!.viewNumber).toBe(1);
    cluster.crash(2);
    cluster.storage[2]!.header = { viewNumber: 0, lastNormalView: 0 };
    cluster.restart(2);
    expect(cluster.states[2]).toMatchObject({ status: 'normal', viewNumber: 0, lastNormalView: 0 });
    expect(cluster.states[2]!.log.lastOpNumber).toBe(log.length);
    // It learns of view 1 from its primary and rejoins.
    cluster.fire(1, 'heartbeat');
    cluster.deliverAll();
    expect(cluster.states[2]).toMatchObject({ status: 'normal', viewNumber: 1, commitNumber: 3 });
  });

  test('boot refuses storage that is not a log, and a second boot', () => {
    const cluster = started();
    const bad = cluster.handle(1, {
      kind: 'boot',
      storage: { header: { viewNumber: 0, lastNormalView: 0 }, log: [] },
    });
    expect(bad.find((effect) => effect.kind === 'reject')).toMatchObject({ reason: 'boot: the replica has already booted' });
  });
});
