/**
 * Checkpoints (VR Revisited §5): the application and the client table are
 * captured every `checkpointIntervalOps` ops, the log before the previous
 * checkpoint is released, and a replica that is behind a checkpoint receives
 * it instead of the ops it covers.
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import type { Cluster } from '../src/index.js';
import { INTERVAL, checkpointingCluster as cluster, writes } from './checkpoint-support.js';

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
    expect(c.telemetryNamed('vsr.checkpoint.installed', 2).map((event) => event.data.opNumber)).toEqual([12]);
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

  /** Delivers everything, recording every DoViewChange and StartView as it is delivered. */
  function deliverRecording(c: Cluster): Array<{ from: number; to: number; type: string; checkpoint: unknown }> {
    const seen: Array<{ from: number; to: number; type: string; checkpoint: unknown }> = [];
    for (;;) {
      const next = c.pending()[0];
      if (next === undefined) return seen;
      const message = next.message as { type: string; checkpoint?: unknown };
      if (message.type === 'do-view-change' || message.type === 'start-view') {
        seen.push({ from: next.from, to: next.to, type: message.type, checkpoint: message.checkpoint });
      }
      c.deliver(next);
    }
  }

  test('a view change among replicas that hold the checkpoint names it without its snapshot', () => {
    const c = cluster();
    writes(c, 0, 1, 10); // Every replica has executed op 11 and holds the checkpoint at op 8.
    c.crash(0);
    c.fire(1, 'primary-timeout');
    c.fire(2, 'primary-timeout');
    const seen = deliverRecording(c);
    expect(c.primary()).toBe(1);
    expect(seen.map(({ type, from, to }) => `${type} ${from}→${to}`)).toEqual(expect.arrayContaining(['do-view-change 2→1', 'start-view 1→2']));
    // Between the live replicas, no snapshot; replica 0 is down and reported nothing, so what is sent to it is whole.
    for (const { checkpoint, type, from, to } of seen.filter(({ to }) => to !== 0)) {
      expect({ type, from, to, checkpoint }).toEqual({ type, from, to, checkpoint: { opNumber: 8, viewNumber: 0, omitted: true } });
    }
    c.request(1, 'alice', 11, { type: 'read', key: 'k1' });
    c.deliverAll();
    expect(c.repliesTo('alice').at(-1)!.reply).toMatchObject({ result: { ok: true, value: 10 } });
    expect(kvOf(c, 2)).toEqual(kvOf(c, 1));
  });

  test('a replica that reported an older checkpoint gets the whole checkpoint, and only it', () => {
    const c = cluster();
    c.isolate(2);
    writes(c, 0, 1, 14); // Replicas 0 and 1 hold the checkpoint at op 12; replica 2 none.
    c.heal();
    c.crash(0);
    c.fire(1, 'primary-timeout');
    c.fire(2, 'primary-timeout');
    const seen = deliverRecording(c);
    expect(c.primary()).toBe(1);
    const startViews = seen.filter(({ type, to }) => type === 'start-view' && to === 2);
    expect(startViews.length).toBeGreaterThan(0);
    for (const { checkpoint } of startViews) expect(checkpoint).toMatchObject({ opNumber: 12, snapshot: expect.anything() });
    expect(c.states[2]!.commitNumber).toBe(15);
    expect(kvOf(c, 2)).toEqual(kvOf(c, 1));
  });

  test('a reference to a checkpoint the receiver does not hold is refused, and nothing changes', () => {
    const c = cluster();
    c.isolate(2);
    writes(c, 0, 1, 14);
    c.heal();
    const before = c.states[2]!;
    const entries = c.states[0]!.log.between(12, 15);
    const effects = c.handle(2, {
      kind: 'message',
      message: { type: 'start-view', cluster: 0, replica: 1, viewNumber: 1, opNumber: 15, commitNumber: 15, checkpoint: { opNumber: 12, viewNumber: 0, omitted: true }, log: entries },
    });
    expect(effects.find((effect) => effect.kind === 'reject')).toMatchObject({
      reason: expect.stringMatching(/names checkpoint 12 without its contents, but this replica has executed only up to op \d+/),
    });
    expect(c.states[2]).toBe(before);
  });
});
