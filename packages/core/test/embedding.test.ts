/**
 * docs/embedding.md's runtime, run as a test. The code between the `#region runtime` markers is
 * the block the document shows, character for character: the first test fails, printing both,
 * if either changes without the other. The region is ordinary code of this module, so the type
 * check, the lint and this test all see exactly what a reader copies; it runs its scenario when
 * the module loads and throws if the replicas do not converge, and the tests below look closer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe as suite, expect, test } from 'vitest';
import * as core from '../src/index.js';

// #region runtime
import * as t from 'io-ts';
import { EffectBarrier, applyLogEffect, initialState, observe, step } from '@vsr/core';
import type { Checkpoint, DurableHeader, Effect, Event, LogEffect, LogEntry, Reply, StateMachine, TimerName } from '@vsr/core';

// The application, pure. The core decodes each client operation with `operation` before it is logged.
const counter: StateMachine<number, number, number> = { name: 'counter', operation: t.number, init: () => 0,
  apply: (total, add) => [total + add, total + add], snapshot: (total) => total, restore: (snapshot) => snapshot as number };
type Outgoing = Extract<Effect, { kind: 'send' | 'reply' }>;
type Write = LogEffect | Extract<Effect, { kind: 'persist-header' | 'persist-checkpoint' }>;
const replicas = [0, 1, 2].map((replicaId) => ({
  up: false, state: initialState({ replicaId, replicaCount: 3, limits: { checkpointIntervalOps: 8 } }, counter),
  barrier: new EffectBarrier<Outgoing>(), timers: new Map<TimerName, number>(), pending: [] as Write[], // in memory
  header: null as DurableHeader | null, checkpoint: null as Checkpoint | null, log: { base: 0, log: [] as LogEntry[] }, // on disk
}));
type Replica = (typeof replicas)[number];
const network: Outgoing[] = [];
const replies: Reply[] = [];
let nowMs = 0; // the fake clock

function handle(replica: Replica, event: Event): void {
  if (!replica.up) return;
  const [state, effects] = step(replica.state, event);
  replica.state = state;
  for (const effect of effects) { // in order; telemetry and reject are only worth logging
    if (effect.kind === 'send' || effect.kind === 'reply') { if (replica.barrier.admit(effect)) release(effect); }
    else if (effect.kind === 'set-timer') replica.timers.set(effect.timer, nowMs + effect.afterMs);
    else if (effect.kind === 'cancel-timer') replica.timers.delete(effect.timer);
    else if (effect.kind !== 'telemetry' && effect.kind !== 'reject') { replica.barrier.write(); replica.pending.push(effect); }
  }
}
const release = (effect: Outgoing) => (effect.kind === 'send' ? network.push(effect) : replies.push(effect.reply));
function tick(): void { // 10 ms pass: each disk syncs (then the sends held behind its writes leave), messages arrive, timers fire
  nowMs += 10;
  for (const replica of replicas) {
    for (const write of replica.pending.splice(0)) {
      if (write.kind === 'persist-header') replica.header = write.header;
      else if (write.kind === 'persist-checkpoint') replica.checkpoint = write.checkpoint;
      else if (applyLogEffect(replica.log, write) !== null) throw new Error(`${write.kind} does not follow the log`);
    }
    replica.barrier.durableThrough(replica.barrier.writesQueued).forEach(release);
  }
  for (const send of network.splice(0)) if (send.kind === 'send') handle(replicas[send.to]!, { kind: 'message', message: send.message });
  for (const replica of replicas) for (const [timer, atMs] of replica.timers) {
    if (atMs <= nowMs) { replica.timers.delete(timer); handle(replica, { kind: 'timeout', timer }); }
  }
}
const crash = (replica: Replica) => { replica.up = false; replica.timers.clear(); replica.pending = []; replica.barrier.reset(); };
function restart(replica: Replica): void { // boots from what its disk holds (null: it never booted)
  const { header, checkpoint, log } = replica;
  Object.assign(replica, { up: true, state: initialState(replica.state.config, counter) });
  handle(replica, { kind: 'boot', storage: header === null ? null : { header, checkpoint, log: log.log } });
}
function call(requestNumber: number, operation: number | null): unknown { // to every replica, again every 500 ms: backups redirect
  for (let waitedMs = 0; waitedMs < 5_000; waitedMs += 10, tick()) {
    const request = { clientId: 'client-1', requestNumber, operation };
    if (waitedMs % 500 === 0) replicas.forEach((replica) => handle(replica, { kind: 'client-request', request, receivedAtMs: nowMs }));
    const reply = replies.find((reply) => (reply.type === 'reply' || reply.type === 'error') && reply.requestNumber === requestNumber);
    if (reply !== undefined) return reply.type === 'reply' ? reply.result : reply;
  }
  throw new Error(`request ${requestNumber} was never answered`);
}

replicas.forEach(restart);
for (let requestNumber = 0; requestNumber <= 40; requestNumber++) {
  if (requestNumber === 21) crash(replicas[0]!); // the primary of view 0 fails: a backup's primary-timeout starts view 1
  call(requestNumber, requestNumber === 0 ? null : requestNumber); // request 0 registers the client: its operation is null
}
restart(replicas[0]!); // from its header, its checkpoint (op 16) and the log after it
for (let i = 0; i < 100; i++) tick();
const views = replicas.map((replica) => observe<number>(replica.state));
if (views.some((view) => view.commitNumber !== 41 || view.app !== 820)) throw new Error(`diverged: ${JSON.stringify(views)}`);
// #endregion runtime


const MARKER = '<!-- runtime: packages/core/test/embedding.test.ts -->';

/** The fenced block right after the marker in docs/embedding.md, and the region of this file. */
function shownAndRun(): { shown: string; run: string } {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'embedding.md'), 'utf8');
  const shown = /^```ts\n([\s\S]*?)^```$/m.exec(doc.slice(doc.indexOf(MARKER)))?.[1];
  const source = readFileSync(import.meta.filename, 'utf8');
  const run = /^\/\/ #region runtime\n([\s\S]*?)^\/\/ #endregion runtime$/m.exec(source)?.[1];
  if (!doc.includes(MARKER) || shown === undefined || run === undefined) throw new Error(`docs/embedding.md lacks ${MARKER} and a ts block after it, or this file its region`);
  return { shown, run };
}

/** The `kind` (or `type`) literals of a union of object codecs: what a table in the document must list. */
function literalsOf(codec: t.Mixed, field: 'kind' | 'type'): string[] {
  const members = codec instanceof t.UnionType ? (codec.types as t.Mixed[]) : [codec];
  return members.map((member) => {
    const objects = member instanceof t.IntersectionType ? (member.types as t.Mixed[]) : [member];
    const props = objects.map((object) => (object instanceof t.InterfaceType ? (object.props as Record<string, t.Mixed>) : {}));
    const literal = props.map((fields) => fields[field]).find((codec) => codec instanceof t.LiteralType);
    if (!(literal instanceof t.LiteralType)) throw new Error(`${member.name} has no ${field} literal`);
    return String(literal.value);
  });
}

suite('docs/embedding.md', () => {
  test('shows exactly the runtime this file runs', () => {
    const { shown, run } = shownAndRun();
    expect(shown).toBe(run);
    expect(run.split('\n').filter((line) => line.trim() !== '').length).toBeLessThanOrEqual(70);
  });

  test('names every event, effect, reply, error code and timer the codecs allow', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'embedding.md'), 'utf8');
    const errorReply = core.Reply.types[2];
    const names = [
      ...literalsOf(core.Event, 'kind'),
      ...literalsOf(core.Effect, 'kind'),
      ...literalsOf(core.Reply, 'type'),
      ...Object.keys(errorReply.props.code.keys),
      ...Object.keys(core.TimerName.keys),
    ];
    expect(names.length).toBeGreaterThan(25);
    expect(names.filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
  });
});

suite('the runtime', () => {
  test('converged in view 1 after the failover, every replica at op 41 with its checkpoint at op 40', () => {
    for (const view of views) {
      expect(view).toMatchObject({ status: 'normal', viewNumber: 1, lastNormalView: 1, primary: 1, opNumber: 41, commitNumber: 41, checkpointOpNumber: 40, app: 820 });
    }
    expect(views.map((view) => view.replicaId)).toEqual([0, 1, 2]);
  });

  test('answered every request once executed: the registration with null, request n with 1 + ... + n', () => {
    const first = new Map<number, core.Reply>();
    for (const reply of replies) if (reply.type === 'reply' && !first.has(reply.requestNumber)) first.set(reply.requestNumber, reply);
    expect([...first.keys()].sort((a, b) => a - b)).toEqual([...Array(41).keys()]);
    for (const [requestNumber, reply] of first) expect(reply).toMatchObject({ type: 'reply', clientId: 'client-1', result: requestNumber === 0 ? null : (requestNumber * (requestNumber + 1)) / 2 });
    expect(replies.filter((reply) => reply.type === 'error')).toEqual([]);
  });

  test('left each disk holding what the state holds, with nothing held back', () => {
    tick();
    for (const replica of replicas) {
      const view = observe(replica.state);
      expect(replica.header).toEqual({ viewNumber: view.viewNumber, lastNormalView: view.lastNormalView });
      expect(replica.checkpoint?.opNumber).toBe(view.checkpointOpNumber);
      expect(replica.log.base + replica.log.log.length).toBe(view.opNumber);
      expect(replica.log.log.map((entry) => entry.opNumber)).toEqual([...Array(view.opNumber - replica.log.base).keys()].map((i) => replica.log.base + 1 + i));
      expect([replica.barrier.heldCount, replica.pending.length]).toEqual([0, 0]);
    }
  });

  test('holds each send until the writes before it are durable', () => {
    const [primary, backup] = [replicas[1]!, replicas[2]!];
    handle(primary, { kind: 'client-request', request: { clientId: 'client-1', requestNumber: 41, operation: 1 }, receivedAtMs: nowMs });
    // The primary journals op 42 and holds its Prepares behind that write.
    const prepares = () => network.filter((send) => send.kind === 'send' && send.message.type === 'prepare').length;
    expect([primary.pending.map((write) => write.kind), primary.barrier.heldCount, prepares()]).toEqual([['log-append'], 2, 0]);
    tick(); // the primary's fsync lets the Prepares leave; the backup journals op 42 and holds its PrepareOk
    expect([backup.pending.map((write) => write.kind), backup.barrier.heldCount]).toEqual([['log-append'], 1]);
    expect(replies.some((reply) => reply.type === 'reply' && reply.requestNumber === 41)).toBe(false);
    tick(); // the backups' fsync lets the PrepareOks leave: op 42 commits and the client is answered
    expect(replies.find((reply) => reply.type === 'reply' && reply.requestNumber === 41)).toMatchObject({ opNumber: 42, result: 821 });
  });

  test('refuses a registration that carries an operation, at the primary and at a backup, and runs nothing', () => {
    const request = { clientId: 'client-2', requestNumber: 0, operation: 5 };
    for (const replica of [replicas[1]!, replicas[0]!]) {
      const before = observe(replica.state);
      const [after, effects] = core.step(replica.state, { kind: 'client-request', request });
      expect(effects.filter((effect) => effect.kind === 'reply')).toEqual([
        { kind: 'reply', clientId: 'client-2', reply: { type: 'error', clientId: 'client-2', requestNumber: 0, code: 'invalid-operation', message: expect.stringMatching(/registration.*expected null/) } },
      ]);
      expect(observe(after)).toEqual(before);
    }
  });
});
