/**
 * The view change (VR Revisited §4.2) and the pitfalls of design rules 2–5 (docs/protocol.md),
 * including every view-change defect of the Elixir library it was modelled on
 * (docs/protocol.md, "From the Elixir library's test suite").
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import { Cluster } from '../src/index.js';

const write = (key: string, value: string | number) => ({ type: 'write', key, value });

/** Three replicas, alice registered and `writes` committed everywhere. */
function cluster3(writes = 0): Cluster {
  const cluster = new Cluster({ replicaCount: 3, machine: kvMachine });
  cluster.request(0, 'alice', 0);
  cluster.deliverAll();
  for (let i = 1; i <= writes; i++) {
    cluster.request(0, 'alice', i, write('x', i));
    cluster.deliverAll();
  }
  cluster.fire(0, 'heartbeat');
  cluster.deliverAll();
  return cluster;
}

describe('view change (§4.2)', () => {
  test('the primary stops, a backup times out, and every survivor reaches the new view in normal status', () => {
    const cluster = cluster3(2);
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    for (const r of [1, 2]) {
      expect(cluster.states[r]).toMatchObject({ viewNumber: 1, status: 'normal', lastNormalView: 1 });
    }
    expect(cluster.primary()).toBe(1);
    cluster.request(1, 'alice', 3, { type: 'read', key: 'x' });
    cluster.deliverAll();
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ result: { ok: true, value: 2 } });
  });

  test('once a replica starts a view change it accepts no Prepare from the older view', () => {
    const cluster = cluster3(1);
    cluster.request(0, 'alice', 2, write('x', 'late'));
    cluster.fire(2, 'primary-timeout'); // Replica 2 moves to view 1 before the Prepare of view 0 arrives.
    const before = cluster.states[2]!.log.lastOpNumber;
    cluster.deliverAll((envelope) => envelope.to === 2 && envelope.message.type === 'prepare');
    expect(cluster.states[2]!.log.lastOpNumber).toBe(before);
    expect(cluster.states[2]).toMatchObject({ status: 'view-change', viewNumber: 1 });
  });

  test('the new primary needs f + 1 DoViewChange messages, its own among them; a duplicate never counts twice', () => {
    const cluster = new Cluster({ replicaCount: 5, machine: kvMachine });
    cluster.request(0, 'alice', 0);
    cluster.deliverAll();
    cluster.crash(0);
    // Replicas 2, 3 and 4 start view 1 among themselves and each send DoViewChange to replica 1.
    for (const r of [2, 3, 4]) cluster.fire(r, 'primary-timeout');
    cluster.deliverAll((envelope) => envelope.to !== 1);
    const fromTwo = cluster.pending((e) => e.message.type === 'do-view-change' && e.from === 2)[0]!;
    cluster.drop((e) => e.to === 1 && e !== fromTwo);
    // Replica 2's DoViewChange arrives three times: replica 1 joins the view change but cannot finish it.
    cluster.duplicate(fromTwo);
    cluster.duplicate(fromTwo);
    cluster.deliverAll((e) => e.to === 1);
    expect(cluster.states[1]).toMatchObject({ status: 'view-change', viewNumber: 1 });
    expect(cluster.states[1]!.viewChange!.doViewChanges.map((vote) => vote.replica)).toEqual([2]);
    // Its own vote needs f = 2 StartViewChange votes from others; replica 3's retry brings one, and its DoViewChange.
    cluster.deliverAll();
    expect(cluster.states[1]!.status).toBe('view-change');
    cluster.fire(3, 'view-change-retry');
    cluster.deliverAll();
    expect(cluster.states[1]).toMatchObject({ status: 'normal', viewNumber: 1 });
    expect(cluster.telemetryNamed('vsr.view_change.complete', 1)[0]!.data.votes).toBe(3);
  });

  test('the log with the most ops wins among equal last normal views, and the committed op survives', () => {
    const cluster = cluster3(1);
    // Op 3 reaches replica 2 only; replica 2's PrepareOk commits it at the primary, which replies.
    cluster.request(0, 'alice', 2, write('x', 'committed'));
    cluster.drop((envelope) => envelope.to === 1);
    cluster.deliverAll();
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ requestNumber: 2, result: { ok: true } });
    cluster.crash(0);
    // Replica 1, the new primary, lacks op 3; replica 2's DoViewChange carries it.
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    expect(cluster.states[1]!.log.lastOpNumber).toBe(3);
    expect(cluster.states[1]!.commitNumber).toBe(3);
    cluster.request(1, 'alice', 3, { type: 'read', key: 'x' });
    cluster.deliverAll();
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ result: { ok: true, value: 'committed' } });
  });

  test('a later last normal view beats a longer log from an older view', () => {
    const cluster = new Cluster({ replicaCount: 5, machine: kvMachine });
    for (const client of ['alice', 'bob']) {
      cluster.request(0, client, 0);
      cluster.deliverAll();
    }
    // View 0's primary prepares ops 3 and 4; only replica 4 receives them; nothing commits.
    cluster.request(0, 'alice', 1, write('x', 'view-0'));
    cluster.request(0, 'bob', 1, write('y', 'view-0'));
    cluster.drop((envelope) => envelope.to !== 4);
    cluster.deliverAll();
    cluster.drop(() => true);
    expect(cluster.states[4]!.log.lastOpNumber).toBe(4);
    cluster.crash(0);
    cluster.isolate(4);
    // View 1 forms without replica 4; its primary prepares a different op 3, held by replicas 1 and 2 only.
    for (const r of [1, 2, 3]) cluster.fire(r, 'primary-timeout');
    cluster.deliverAll();
    expect(cluster.primary()).toBe(1);
    cluster.request(1, 'alice', 1, write('x', 'view-1'));
    cluster.drop((envelope) => envelope.to !== 2);
    cluster.deliverAll();
    cluster.drop(() => true);
    cluster.crash(1);
    cluster.heal();
    // View 2: replica 2 (last normal view 1, op 3) against replica 4 (last normal view 0, op 4).
    for (const r of [2, 3]) cluster.fire(r, 'primary-timeout');
    cluster.deliverAll();
    expect(cluster.primary()).toBe(2);
    const dvcFrom4 = cluster.trace.find((line) => line.startsWith('deliver r4->r2 do-view-change'));
    expect(dvcFrom4).toContain('last-normal-view=0 op=4');
    for (const r of [2, 3, 4]) {
      const log = cluster.states[r]!.log;
      expect(log.lastOpNumber).toBe(3);
      expect(log.entryAt(3)!.viewNumber).toBe(1);
    }
  });

  test('a superseded view change keeps the last normal view of the last view that was normal', () => {
    const cluster = cluster3(1);
    cluster.crash(0);
    cluster.isolate(2);
    cluster.fire(1, 'primary-timeout'); // View 1 cannot form: replica 1 hears nobody.
    cluster.fire(1, 'view-change-timeout'); // On to view 2.
    expect(cluster.states[1]).toMatchObject({ viewNumber: 2, status: 'view-change', lastNormalView: 0 });
    cluster.heal();
    cluster.fire(1, 'view-change-retry');
    cluster.deliverAll();
    const dvcs = cluster.trace.filter((line) => line.includes('do-view-change'));
    expect(dvcs.every((line) => line.includes('last-normal-view=0'))).toBe(true);
    expect(cluster.states[2]).toMatchObject({ viewNumber: 2, status: 'normal', lastNormalView: 2 });
  });

  test('after a view change every replica executes the newly committed ops, in order, exactly once', () => {
    const cluster = cluster3(0);
    // Two writes commit at the primary; backups hold them but have not heard the commit number.
    cluster.request(0, 'alice', 1, write('x', 1));
    cluster.deliverAll();
    cluster.request(0, 'alice', 2, write('y', 2));
    cluster.deliverAll();
    expect(cluster.states[0]!.commitNumber).toBe(3);
    expect(cluster.states[1]!.commitNumber).toBe(2);
    // Only the new primary hears that op 3 committed; replica 2 learns it from StartView.
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll((envelope) => envelope.to === 1);
    cluster.drop(() => true);
    expect(cluster.states[1]!.commitNumber).toBe(3);
    cluster.crash(0);
    cluster.fire(2, 'primary-timeout');
    cluster.deliverAll();
    expect(cluster.telemetryNamed('vsr.commit.advance', 2).at(-1)!.data).toEqual({ from: 2, to: 3 });
    for (const r of [1, 2]) {
      const state = cluster.states[r]!;
      expect(state.commitNumber).toBe(3);
      expect(kvMachine.snapshot(state.app.value as never)).toEqual([
        ['x', 1],
        ['y', 2],
      ]);
    }
  });

  test('backups send PrepareOk for the uncommitted suffix after StartView, and the new primary commits it', () => {
    const cluster = cluster3(1);
    cluster.request(0, 'alice', 2, write('x', 'pending'));
    cluster.deliverAll((envelope) => envelope.message.type === 'prepare');
    cluster.drop((envelope) => envelope.message.type === 'prepare-ok'); // Op 3 never commits in view 0.
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll((envelope) => envelope.message.type !== 'prepare-ok');
    expect(cluster.states[1]!.commitNumber).toBe(2);
    const oks = cluster.pending((envelope) => envelope.message.type === 'prepare-ok');
    expect(oks.map((envelope) => [envelope.from, envelope.to])).toEqual([[2, 1]]);
    expect(oks[0]!.message).toMatchObject({ opNumber: 3, viewNumber: 1 });
    cluster.deliverAll();
    expect(cluster.states[1]!.commitNumber).toBe(3);
  });

  test('StartView for a lower view is ignored; for a higher view it is adopted', () => {
    const cluster = cluster3(1);
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    const startView = {
      type: 'start-view',
      cluster: 0,
      replica: 0,
      viewNumber: 0,
      opNumber: 0,
      commitNumber: 0,
      checkpoint: null,
      log: [],
    } as const;
    const before = cluster.states[2];
    cluster.handle(2, { kind: 'message', message: startView });
    expect(cluster.states[2]).toBe(before);
    const log = cluster.states[1]!.log.toArray();
    cluster.handle(2, {
      kind: 'message',
      message: { ...startView, replica: 1, viewNumber: 4, opNumber: log.length, commitNumber: 2, log },
    });
    expect(cluster.states[2]).toMatchObject({ viewNumber: 4, status: 'normal', lastNormalView: 4 });
  });

  test('lost StartViewChange and DoViewChange messages are resent until the view change completes', () => {
    const cluster = cluster3(1);
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.drop(() => true); // Every StartViewChange is lost.
    cluster.fire(1, 'view-change-retry');
    cluster.deliverAll((envelope) => envelope.message.type === 'start-view-change');
    cluster.drop((envelope) => envelope.message.type === 'do-view-change'); // And the DoViewChange too.
    expect(cluster.states[1]!.status).toBe('view-change');
    cluster.fire(2, 'view-change-retry');
    cluster.deliverAll();
    expect(cluster.states[1]).toMatchObject({ status: 'normal', viewNumber: 1 });
    expect(cluster.states[2]).toMatchObject({ status: 'normal', viewNumber: 1 });
  });

  test('a view change that stalls moves on to the next view, whose primary finishes it', () => {
    const cluster = cluster3(1);
    cluster.crash(1); // The primary of view 1.
    cluster.fire(2, 'primary-timeout');
    cluster.deliverAll();
    // Replicas 0 and 2 agree on view 1, but its primary never answers.
    expect(cluster.states[0]).toMatchObject({ viewNumber: 1, status: 'view-change' });
    expect(cluster.states[2]).toMatchObject({ viewNumber: 1, status: 'view-change' });
    cluster.fire(2, 'view-change-timeout');
    cluster.deliverAll();
    expect(cluster.states[2]).toMatchObject({ viewNumber: 2, status: 'normal' });
    expect(cluster.states[0]).toMatchObject({ viewNumber: 2, status: 'normal' });
    expect(cluster.primary()).toBe(2);
  });

  test('view changes that fail in a row wait twice as long each time, up to sixteen times, and the count resets once normal', () => {
    const cluster = cluster3(1);
    cluster.crash(0);
    cluster.crash(1); // No majority: every view change stalls.
    const timeoutMs = (effects: readonly { kind: string; timer?: string; afterMs?: number }[], timer: string) =>
      effects.filter((effect) => effect.kind === 'set-timer' && effect.timer === timer).map((effect) => effect.afterMs);
    const base = cluster.states[2]!.config.timeouts.viewChangeTimeoutMs;
    const retry = cluster.states[2]!.config.timeouts.viewChangeRetryMs;
    expect(timeoutMs(cluster.fire(2, 'primary-timeout'), 'view-change-timeout')).toEqual([base]);
    const seen: Array<number | undefined> = [];
    for (let i = 0; i < 6; i++) seen.push(...timeoutMs(cluster.fire(2, 'view-change-timeout'), 'view-change-timeout'));
    expect(seen).toEqual([2, 4, 8, 16, 16, 16].map((factor) => factor * base));
    expect(timeoutMs(cluster.fire(2, 'view-change-retry'), 'view-change-retry')).toEqual([16 * retry]);
    // A majority again: the view change completes, and the next one starts from the base timeout.
    cluster.restart(0);
    cluster.restart(1);
    cluster.deliverAll();
    for (let round = 0; round < 4 && cluster.states.some((state) => state.status !== 'normal'); round++) {
      for (const r of [0, 1, 2]) if (cluster.isArmed(r, 'view-change-retry')) cluster.fire(r, 'view-change-retry');
      cluster.deliverAll();
    }
    const primary = cluster.primary();
    expect(primary).toBeDefined();
    const backup = [0, 1, 2].find((r) => r !== primary)!;
    expect(timeoutMs(cluster.fire(backup, 'primary-timeout'), 'view-change-timeout')).toEqual([base]);
  });

  test('a replica that missed StartView joins the later view it hears of and gets the log from its primary', () => {
    const cluster = cluster3(1);
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll((envelope) => envelope.message.type !== 'start-view');
    cluster.drop((envelope) => envelope.message.type === 'start-view');
    expect(cluster.states[2]).toMatchObject({ viewNumber: 1, status: 'view-change' });
    cluster.request(1, 'alice', 2, write('x', 'after'));
    // The Prepare of view 1 is not accepted as is; the view-change retry brings StartView.
    cluster.deliverAll();
    expect(cluster.states[2]!.status).toBe('view-change');
    cluster.fire(2, 'view-change-retry');
    cluster.deliverAll();
    expect(cluster.states[2]).toMatchObject({ viewNumber: 1, status: 'normal' });
    // Its PrepareOk for the uncommitted suffix lets the primary commit the write.
    expect(cluster.states[1]!.commitNumber).toBe(3);
    expect(cluster.repliesTo('alice').at(-1)!.reply).toMatchObject({ requestNumber: 2, result: { ok: true } });
  });

  test('a backup in an old view learns of the new view from a Prepare and catches up without truncating committed ops', () => {
    const cluster = cluster3(2);
    cluster.isolate(2);
    cluster.crash(0);
    cluster.restart(0); // Replica 0 was primary: it starts a view change, and view 1 forms with replica 1.
    cluster.deliverAll();
    expect(cluster.primary()).toBe(1);
    expect(cluster.states[2]).toMatchObject({ viewNumber: 0, status: 'normal' });
    cluster.heal();
    // The Prepare of view 1 tells replica 2 it is behind: it joins view 1 and installs StartView.
    cluster.request(1, 'alice', 3, write('x', 3));
    cluster.deliverAll();
    cluster.fire(1, 'heartbeat');
    cluster.deliverAll();
    expect(cluster.states[2]).toMatchObject({ viewNumber: 1, status: 'normal', commitNumber: 4 });
  });

  test('the paper\'s state-transfer case (three replicas, three view changes): no committed op is lost', () => {
    // After Vanlightly's TLA+ counterexample to VR Revisited §5.2: a replica that hears of a
    // later view from a Prepare truncates to its commit number and claims the new view as its
    // last normal view; a later view change then prefers its short log and loses a committed op.
    const c = cluster3(0); // alice registered: op 1, committed everywhere.
    const is = (from: number, to: number, type: string) => (e: { from: number; to: number; message: { type: string } }) =>
      e.from === from && e.to === to && e.message.type === type;
    // Value A (op 2): replica 2 never receives its Prepare and moves on to views 1, then 2.
    c.request(0, 'alice', 1, write('x', 'A'));
    c.drop(is(0, 2, 'prepare'));
    c.fire(2, 'primary-timeout');
    c.drop((e) => e.from === 2);
    c.fire(2, 'view-change-timeout');
    c.drop(is(2, 1, 'start-view-change'));
    // Replica 1 acknowledges A; the primary commits it and answers the client.
    c.deliverAll((e) => e.to === 1 && e.message.type === 'prepare');
    c.deliverAll((e) => e.message.type === 'prepare-ok');
    expect(c.repliesTo('alice').at(-1)!.reply).toMatchObject({ requestNumber: 1, opNumber: 2, result: { ok: true } });
    expect(c.states[1]!.commitNumber).toBe(1); // Replica 1 does not know A committed.
    // Value B (op 3) reaches nobody.
    c.request(0, 'alice', 2, write('x', 'B'));
    c.drop((e) => e.message.type === 'prepare');
    // Replica 0 hears of view 2 and helps replica 2 form it; nobody hears its StartView.
    c.deliverAll(is(2, 0, 'start-view-change'));
    c.drop(is(0, 1, 'start-view-change'));
    c.deliverAll((e) => e.to === 2);
    expect(c.primary()).toBe(2);
    c.drop((e) => e.message.type === 'start-view');
    // Replica 0, still changing views, gives up on view 2 and moves to view 3.
    c.fire(0, 'view-change-timeout');
    c.drop(is(0, 2, 'start-view-change'));
    // View 2's primary resends the uncommitted B; replica 1 hears of view 2 from that Prepare.
    c.fire(2, 'prepare-retry');
    c.drop((e) => e.message.type === 'prepare' && e.to === 0);
    c.deliverAll(is(2, 1, 'prepare'));
    // Ours: replica 1 joins view 2 to await its StartView; it truncates nothing and claims no new view.
    expect(c.states[1]).toMatchObject({ viewNumber: 2, status: 'view-change', lastNormalView: 0 });
    expect(c.states[1]!.log.entryAt(2)).toMatchObject({ requests: [{ clientId: 'alice', requestNumber: 1 }] });
    // View 2's primary fails; view 3 forms from replicas 0 and 1.
    c.crash(2);
    c.deliverAll();
    expect(c.primary()).toBe(0);
    expect(c.states[0]!.viewNumber).toBe(3);
    for (const r of [0, 1]) {
      expect(c.states[r]!.log.entryAt(2)).toMatchObject({ requests: [{ clientId: 'alice', requestNumber: 1 }] });
    }
    // (The harness checks at every step that the new primary holds every answered op.)
  });
});
