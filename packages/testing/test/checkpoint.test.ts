/**
 * Checkpoints (VR Revisited §5): the application and the client table are
 * captured every `checkpointIntervalOps` ops, the log before the previous
 * checkpoint is released, and a replica that is behind a checkpoint receives
 * it instead of the ops it covers.
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import { Cluster } from '../src/index.js';

const INTERVAL = 4;

function cluster(replicaCount = 3): Cluster {
  const c = new Cluster({ replicaCount, machine: kvMachine, limits: { checkpointIntervalOps: INTERVAL, pipelineMax: 2 } });
  c.request(0, 'alice', 0);
  c.deliverAll();
  return c;
}

function writes(c: Cluster, primary: number, from: number, count: number): void {
  for (let i = from; i < from + count; i++) {
    c.request(primary, 'alice', i, { type: 'write', key: `k${i % 3}`, value: i });
    c.deliverAll();
  }
  c.fire(primary, 'heartbeat');
  c.deliverAll();
}

const kvOf = (c: Cluster, replica: number) => kvMachine.snapshot(c.states[replica]!.app.value as never);

describe('checkpoints (§5)', () => {
  test('every interval, each replica captures the application and client table and releases the log up to the previous checkpoint', () => {
    const c = cluster();
    writes(c, 0, 1, 10); // Ops 1..11.
    for (const r of [0, 1, 2]) {
      const state = c.states[r]!;
      expect(state.checkpoint!.value.opNumber).toBe(8);
      expect(state.checkpoint!.value.clientTable.map(([clientId]) => clientId)).toEqual(['alice']);
      expect(state.log.baseOpNumber).toBe(4);
      expect(c.storage[r]).toMatchObject({ base: 4, checkpoint: { opNumber: 8 } });
    }
    expect(kvMachine.restore(c.states[0]!.checkpoint!.value.snapshot).toJS()).toEqual({ k0: 6, k1: 7, k2: 5 });
    expect(c.describe().split('\n')[2]).toBe('  checkpoint: op 8, log held from op 5');
  });

  test('memory stays bounded: the log never holds much more than two intervals', () => {
    const c = cluster();
    let largest = 0;
    for (let i = 1; i <= 60; i++) {
      c.request(0, 'alice', i, { type: 'write', key: 'k', value: i });
      c.deliverAll();
      largest = Math.max(largest, ...c.states.map((state) => state.log.size));
    }
    expect(largest).toBeLessThanOrEqual(2 * INTERVAL + 2);
  });

  test('a backup behind the primary\'s checkpoint receives the checkpoint, then the entries after it', () => {
    const c = cluster();
    c.isolate(2);
    writes(c, 0, 1, 14); // Ops 1..15: the primary's log starts after op 8.
    c.heal();
    c.fire(0, 'heartbeat');
    c.deliverAll();
    expect(c.telemetryNamed('vsr.checkpoint.installed', 2).map((event) => event.data.op)).toEqual([12]);
    expect(c.states[2]!.commitNumber).toBe(15);
    expect(kvOf(c, 2)).toEqual(kvOf(c, 0));
  });

  test('a restarted replica boots from its checkpoint and the entries after it', () => {
    const c = cluster();
    writes(c, 0, 1, 10);
    c.crash(1);
    c.restart(1);
    expect(c.states[1]).toMatchObject({ commitNumber: 8 });
    expect(kvOf(c, 1)).toEqual([
      ['k0', 6],
      ['k1', 7],
      ['k2', 5],
    ]);
    c.fire(0, 'heartbeat');
    c.deliverAll();
    expect(c.states[1]!.commitNumber).toBe(11);
    expect(kvOf(c, 1)).toEqual(kvOf(c, 0));
  });

  test('a new primary behind the chosen log\'s checkpoint installs it during the view change', () => {
    const c = cluster();
    c.isolate(1);
    writes(c, 0, 1, 14);
    c.heal();
    c.crash(0);
    // Replica 1 (primary of view 1) is far behind; replica 2's DoViewChange carries a checkpoint at op 12.
    c.fire(2, 'primary-timeout');
    c.deliverAll();
    expect(c.primary()).toBe(1);
    expect(c.telemetryNamed('vsr.checkpoint.installed', 1)).toHaveLength(1);
    c.request(1, 'alice', 15, { type: 'read', key: 'k2' });
    c.deliverAll();
    expect(c.repliesTo('alice').at(-1)!.reply).toMatchObject({ result: { ok: true, value: 14 } });
  });

  test('a replica that lost its storage recovers from the primary\'s checkpoint and log', () => {
    const c = cluster();
    writes(c, 0, 1, 10);
    c.wipe(2);
    c.restart(2);
    c.deliverAll();
    expect(c.states[2]).toMatchObject({ status: 'normal', commitNumber: 11 });
    expect(c.states[2]!.checkpoint!.value.opNumber).toBe(8);
    expect(kvOf(c, 2)).toEqual(kvOf(c, 0));
  });
});
