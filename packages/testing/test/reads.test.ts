/**
 * Reads without the log, rule by rule. The primary answers a read from the state it has
 * executed once a quorum confirmed, in a round sent after the read arrived, that it is still
 * the primary, and once it has executed every op it held when the read arrived.
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import type { Reply, StateMachine } from '@vsr/core';
import { Cluster } from '../src/index.js';

const readX = { type: 'read', key: 'x' };

function withX(replicaCount = 3, options: Partial<ConstructorParameters<typeof Cluster>[0]> = {}): Cluster {
  const cluster = new Cluster({ replicaCount, machine: kvMachine, ...options });
  cluster.request(0, 'alice', 0);
  cluster.deliverAll();
  cluster.request(0, 'alice', 1, { type: 'write', key: 'x', value: 1 });
  cluster.deliverAll();
  return cluster;
}

function readReplies(cluster: Cluster, clientId: string): Reply[] {
  return cluster.repliesTo(clientId).map((received) => received.reply).filter((reply) => reply.type.startsWith('read-'));
}

describe('reads without the log', () => {
  test('the primary answers a read once a quorum confirms its view, and the log does not grow', () => {
    const cluster = withX();
    const lastOp = cluster.states[0]!.log.lastOpNumber;
    const effects = cluster.read(0, 'bob', 1, readX);
    expect(effects.some((effect) => effect.kind === 'reply')).toBe(false);
    expect(cluster.pending((e) => e.message.type === 'confirm-view').map((e) => e.to)).toEqual([1, 2]);
    // One backup's confirmation: with the primary's own, f + 1 = 2.
    cluster.deliver(cluster.pending((e) => e.message.type === 'confirm-view' && e.to === 1)[0]!);
    cluster.deliver(cluster.pending((e) => e.message.type === 'confirm-view-ok')[0]!);
    expect(readReplies(cluster, 'bob')).toEqual([
      { type: 'read-reply', clientId: 'bob', readNumber: 1, viewNumber: 0, commitNumber: lastOp, result: { ok: true, value: 1 } },
    ]);
    expect(cluster.states.map((state) => state.log.lastOpNumber)).toEqual([lastOp, lastOp, lastOp]);
    expect(cluster.storage[0]!.log.length).toBe(lastOp);
  });

  test('a read waits for the ops the primary held when it arrived, and sees them', () => {
    const cluster = withX();
    cluster.request(0, 'alice', 2, { type: 'write', key: 'x', value: 2 }); // prepared, not committed
    cluster.read(0, 'bob', 1, readX);
    cluster.deliverAll((e) => e.message.type === 'confirm-view' || e.message.type === 'confirm-view-ok');
    expect(readReplies(cluster, 'bob')).toEqual([]);
    cluster.deliverAll();
    expect(readReplies(cluster, 'bob')).toMatchObject([{ type: 'read-reply', result: { ok: true, value: 2 } }]);
  });

  test('a primary cut off from a quorum answers no read, while the new primary answers with the newer value', () => {
    const cluster = withX();
    cluster.isolate(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    expect(cluster.primary()).toBe(1);
    cluster.request(1, 'alice', 2, { type: 'write', key: 'x', value: 2 });
    cluster.deliverAll();
    // The old primary still believes it leads view 0; its rounds reach nobody.
    cluster.read(0, 'bob', 1, readX);
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    expect(readReplies(cluster, 'bob')).toEqual([]);
    // Healed, it hears of view 1 and drops the read unanswered: the client asks again elsewhere.
    cluster.heal();
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    cluster.fire(1, 'heartbeat');
    cluster.deliverAll();
    expect(cluster.states[0]!.viewNumber).toBe(1);
    expect(readReplies(cluster, 'bob')).toEqual([]);
    cluster.read(1, 'bob', 2, readX);
    cluster.deliverAll();
    expect(readReplies(cluster, 'bob')).toMatchObject([{ type: 'read-reply', readNumber: 2, viewNumber: 1, result: { ok: true, value: 2 } }]);
  });

  test('a backup in normal status in a later view confirms nothing for the old primary', () => {
    const cluster = withX();
    cluster.read(0, 'bob', 1, readX);
    // Both backups move to view 1 before the rounds arrive.
    cluster.fire(1, 'primary-timeout');
    cluster.fire(2, 'primary-timeout');
    cluster.deliverAll((e) => e.message.type !== 'confirm-view' && e.to !== 0);
    cluster.deliverAll((e) => e.message.type === 'confirm-view');
    expect(cluster.pending((e) => e.message.type === 'confirm-view-ok')).toEqual([]);
    expect(readReplies(cluster, 'bob')).toEqual([]);
  });

  test('one round confirms every read that arrived before it was sent; reads that arrive while the rounds are out share the next', () => {
    const cluster = withX(3, { limits: { readRoundsMax: 1 } });
    cluster.read(0, 'bob', 1, readX);
    cluster.deliverAll((e) => e.message.type === 'confirm-view' && e.to === 1);
    cluster.read(0, 'carol', 1, readX); // while round 1 is out
    cluster.read(0, 'dave', 1, readX);
    cluster.deliver(cluster.pending((e) => e.message.type === 'confirm-view-ok')[0]!);
    expect(readReplies(cluster, 'bob')).toHaveLength(1);
    expect(readReplies(cluster, 'carol')).toEqual([]);
    expect(readReplies(cluster, 'dave')).toEqual([]);
    expect(cluster.states[0]!.primary!.reads).toMatchObject({ round: 2, confirmedRound: 1 });
    cluster.deliverAll();
    expect(readReplies(cluster, 'carol')).toHaveLength(1);
    expect(readReplies(cluster, 'dave')).toHaveLength(1);
    // Two rounds for three reads.
    expect(cluster.telemetryNamed('vsr.read.confirmed', 0).map((event) => event.data)).toEqual([
      { round: 1, pending: 3 },
      { round: 2, pending: 2 },
    ]);
  });

  test('up to readRoundsMax rounds are out at once: a read arriving while one is out starts the next at once', () => {
    const cluster = withX(3, { limits: { readRoundsMax: 2 } });
    cluster.read(0, 'bob', 1, readX);
    cluster.read(0, 'carol', 1, readX); // round 1 is out: round 2 goes now
    cluster.read(0, 'dave', 1, readX); // two are out: dave waits for round 3
    expect(cluster.pending((e) => e.message.type === 'confirm-view' && e.to === 1).map((e) => (e.message.type === 'confirm-view' ? e.message.round : null))).toEqual([1, 2]);
    expect(cluster.states[0]!.primary!.reads).toMatchObject({ round: 2, confirmedRound: 0, nextRoundReads: 1 });
    cluster.deliverAll();
    expect(['bob', 'carol', 'dave'].map((client) => readReplies(cluster, client).length)).toEqual([1, 1, 1]);
    expect(cluster.states[0]!.primary!.reads).toMatchObject({ round: 3, confirmedRound: 3, nextRoundReads: 0 });
  });

  test('a round whose confirmations are lost is sent again, with the same number, at the heartbeat', () => {
    const cluster = withX();
    cluster.read(0, 'bob', 1, readX);
    cluster.drop((e) => e.message.type === 'confirm-view');
    const resent = cluster.fire(0, 'heartbeat').filter((effect) => effect.kind === 'send' && effect.message.type === 'confirm-view');
    expect(resent.map((effect) => (effect.kind === 'send' ? [effect.to, effect.message] : null))).toMatchObject([
      [1, { round: 1 }],
      [2, { round: 1 }],
    ]);
    cluster.deliverAll();
    expect(readReplies(cluster, 'bob')).toMatchObject([{ type: 'read-reply', result: { ok: true, value: 1 } }]);
  });

  test('confirmations are cumulative: a later round confirms the earlier ones, and an older or duplicated one changes nothing', () => {
    const cluster = withX(5, { limits: { readRoundsMax: 2 } });
    cluster.read(0, 'bob', 1, readX); // round 1
    cluster.read(0, 'carol', 1, readX); // round 2
    cluster.deliverAll((e) => e.message.type === 'confirm-view' && e.to <= 2);
    const oks = cluster.pending((e) => e.message.type === 'confirm-view-ok');
    const late = (from: number, round: number) => oks.find((e) => e.from === from && e.message.type === 'confirm-view-ok' && e.message.round === round)!;
    // Backup 1's round 1 answer is lost; its round 2 answer arrives first, then backup 2's.
    cluster.drop((e) => e.id === late(1, 1).id);
    cluster.deliver(late(1, 2));
    expect(cluster.states[0]!.primary!.reads.confirmed).toEqual([2, 2, 0, 0, 0]);
    cluster.duplicate(late(2, 1));
    cluster.deliver(late(2, 2));
    expect(cluster.states[0]!.primary!.reads).toMatchObject({ confirmed: [2, 2, 2, 0, 0], confirmedRound: 2 });
    expect(readReplies(cluster, 'bob')).toHaveLength(1);
    expect(readReplies(cluster, 'carol')).toHaveLength(1);
    // Backup 2's round 1 answers, arriving last, change nothing.
    cluster.deliverAll((e) => e.message.type === 'confirm-view-ok');
    expect(cluster.states[0]!.primary!.reads).toMatchObject({ confirmed: [2, 2, 2, 0, 0], confirmedRound: 2 });
  });

  test('a backup redirects a read to the primary', () => {
    const cluster = withX();
    cluster.read(1, 'bob', 7, readX);
    expect(readReplies(cluster, 'bob')).toEqual([{ type: 'read-redirect', clientId: 'bob', readNumber: 7, viewNumber: 0, primary: 0 }]);
  });

  test('a single replica is its own quorum: it answers at once', () => {
    const cluster = withX(1);
    cluster.read(0, 'bob', 1, readX);
    expect(readReplies(cluster, 'bob')).toMatchObject([{ type: 'read-reply', result: { ok: true, value: 1 } }]);
  });

  test('bad reads are refused with a reason, and the replica runs on', () => {
    const cluster = withX();
    cluster.read(0, 'bob', 1, { type: 'write', key: 'x', value: 3 });
    cluster.handle(0, { kind: 'client-request', request: { clientId: 'bob', readNumber: -1, query: readX } });
    let deep: unknown = readX;
    for (let i = 0; i < 40; i++) deep = { nested: deep };
    cluster.read(0, 'bob', 2, deep);
    expect(readReplies(cluster, 'bob').map((reply) => (reply.type === 'read-error' ? [reply.readNumber, reply.code] : reply.type))).toEqual([
      [1, 'invalid-read'],
      [null, 'invalid-read'],
      [2, 'invalid-read'],
    ]);
    expect(cluster.states[0]!.primary!.reads.pending.size).toBe(0);
    const { reads: _reads, ...noReads } = kvMachine as StateMachine;
    const plain = new Cluster({ replicaCount: 3, machine: noReads });
    plain.read(0, 'bob', 1, readX);
    expect(readReplies(plain, 'bob')).toMatchObject([{ type: 'read-error', code: 'reads-unsupported' }]);
  });

  test('the primary holds at most readsPendingMax reads; past it, reads are refused as busy', () => {
    const cluster = withX(3, { limits: { readsPendingMax: 2 } });
    for (const client of ['b1', 'b2', 'b3']) cluster.read(0, client, 1, readX);
    expect(readReplies(cluster, 'b3')).toMatchObject([{ type: 'read-error', code: 'busy' }]);
    cluster.deliverAll();
    expect(readReplies(cluster, 'b1')).toHaveLength(1);
    expect(readReplies(cluster, 'b2')).toHaveLength(1);
  });
});
