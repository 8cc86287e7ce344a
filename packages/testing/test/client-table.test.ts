/**
 * The client table (VR Revisited §4, design rule 10 of docs/protocol.md): at-most-once execution
 * per (client, request number), on every replica, across view changes.
 */
import { describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import { Cluster, recorderMachine, type RecorderState } from '../src/index.js';

const history = (cluster: Cluster, replica: number) => (cluster.states[replica]!.app.value as RecorderState).history;

function withClient(options: { clientTableMax?: number } = {}): Cluster {
  const cluster = new Cluster({
    replicaCount: 3,
    machine: recorderMachine,
    limits: options.clientTableMax === undefined ? {} : { clientTableMax: options.clientTableMax },
  });
  cluster.request(0, 'c1', 0);
  cluster.deliverAll();
  return cluster;
}

describe('client table', () => {
  test('a duplicate of the latest request gets the cached reply without running again', () => {
    const cluster = withClient();
    cluster.request(0, 'c1', 1, 'first');
    cluster.deliverAll();
    const effects = cluster.request(0, 'c1', 1, 'first');
    expect(effects.some((effect) => effect.kind === 'log-append')).toBe(false);
    cluster.deliverAll();
    expect(cluster.repliesTo('c1').slice(-2).map((received) => received.reply)).toEqual([
      { type: 'reply', clientId: 'c1', requestNumber: 1, viewNumber: 0, opNumber: 2, result: 1 },
      { type: 'reply', clientId: 'c1', requestNumber: 1, viewNumber: 0, opNumber: 2, result: 1 },
    ]);
    expect(history(cluster, 0)).toEqual(['c1#1:first']);
  });

  test('a newer request runs; an older one is dropped without running or answering', () => {
    const cluster = withClient();
    cluster.request(0, 'c1', 1, 'one');
    cluster.deliverAll();
    cluster.request(0, 'c1', 2, 'two');
    cluster.deliverAll();
    const replies = cluster.repliesTo('c1').length;
    cluster.request(0, 'c1', 1, 'one');
    cluster.deliverAll();
    expect(cluster.repliesTo('c1')).toHaveLength(replies);
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    expect(history(cluster, 1)).toEqual(['c1#1:one', 'c1#2:two']);
  });

  test('a request waiting in the pipeline is not entered twice when the client retries', () => {
    const cluster = withClient();
    cluster.request(0, 'c1', 1, 'slow');
    const effects = cluster.request(0, 'c1', 1, 'slow');
    expect(effects.filter((effect) => effect.kind === 'log-append')).toHaveLength(0);
    cluster.deliverAll();
    expect(history(cluster, 0)).toEqual(['c1#1:slow']);
  });

  test('a newer request from a client whose request is still in flight is refused as busy, not dropped in silence', () => {
    const cluster = withClient();
    cluster.request(0, 'c1', 1, 'slow');
    const effects = cluster.request(0, 'c1', 2, 'eager');
    expect(effects.filter((effect) => effect.kind === 'log-append')).toHaveLength(0);
    expect(cluster.repliesTo('c1').at(-1)?.reply).toMatchObject({ type: 'error', requestNumber: 2, code: 'busy', message: expect.stringContaining('has request 1 in flight') });
    cluster.deliverAll();
    expect(history(cluster, 0)).toEqual(['c1#1:slow']);
    // Once 1 is answered, 2 runs.
    cluster.request(0, 'c1', 2, 'eager');
    cluster.deliverAll();
    expect(history(cluster, 0)).toEqual(['c1#1:slow', 'c1#2:eager']);
  });

  test('two clients may use the same request numbers', () => {
    const cluster = withClient();
    cluster.request(0, 'c2', 0);
    cluster.deliverAll();
    cluster.request(0, 'c1', 1, 'from c1');
    cluster.request(0, 'c2', 1, 'from c2');
    cluster.deliverAll();
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    expect(history(cluster, 2)).toEqual(['c1#1:from c1', 'c2#1:from c2']);
  });

  test('every replica keeps the table, so a new primary answers a retry from it after a view change', () => {
    const cluster = withClient();
    cluster.request(0, 'c1', 1, 'once');
    cluster.deliverAll();
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll();
    // The client never saw the reply and retries at the new primary.
    const effects = cluster.request(1, 'c1', 1, 'once');
    expect(effects.some((effect) => effect.kind === 'log-append')).toBe(false);
    expect(cluster.repliesTo('c1').at(-1)).toMatchObject({ replica: 1, reply: { requestNumber: 1, result: 1 } });
    expect(history(cluster, 1)).toEqual(['c1#1:once']);
  });

  test('a retry that reaches the new primary while the first copy is still uncommitted runs once', () => {
    const cluster = withClient();
    cluster.request(0, 'c1', 1, 'racy');
    cluster.deliverAll((envelope) => envelope.message.type === 'prepare');
    cluster.drop((envelope) => envelope.message.type === 'prepare-ok');
    cluster.crash(0);
    cluster.fire(1, 'primary-timeout');
    cluster.deliverAll((envelope) => envelope.message.type !== 'prepare-ok');
    // Op 2 (the first copy) is in the new primary's uncommitted suffix; the retry must not enter the log again.
    const effects = cluster.request(1, 'c1', 1, 'racy');
    expect(effects.some((effect) => effect.kind === 'log-append')).toBe(false);
    cluster.deliverAll();
    expect(history(cluster, 1)).toEqual(['c1#1:racy']);
    expect(cluster.repliesTo('c1').at(-1)!.reply).toMatchObject({ requestNumber: 1, opNumber: 2 });
  });

  test('a request from a client that never registered is refused, not executed', () => {
    const cluster = withClient();
    cluster.request(0, 'stranger', 7, 'hello');
    cluster.deliverAll();
    expect(cluster.repliesTo('stranger')[0]!.reply).toMatchObject({ type: 'error', code: 'not-registered' });
    expect(history(cluster, 0)).toEqual([]);
  });

  test('the table is bounded: registering past the limit evicts the least recently used client, deterministically', () => {
    const cluster = withClient({ clientTableMax: 2 });
    cluster.request(0, 'c2', 0);
    cluster.deliverAll();
    cluster.request(0, 'c1', 1, 'keeps c1 fresh');
    cluster.deliverAll();
    cluster.request(0, 'c3', 0); // Evicts c2, used least recently.
    cluster.deliverAll();
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    for (const state of cluster.states) {
      expect(state.clientTable.entries().map(([clientId]) => clientId)).toEqual(['c1', 'c3']);
    }
    expect(cluster.telemetryNamed('vsr.client.evicted').map((event) => event.data.clientId)).toEqual(['c2', 'c2', 'c2']);
    // The evicted client's next request is refused: its earlier requests can never run twice.
    cluster.request(0, 'c2', 1, 'after eviction');
    cluster.deliverAll();
    expect(cluster.repliesTo('c2').at(-1)!.reply).toMatchObject({ type: 'error', code: 'not-registered' });
  });

  test('with the key-value machine: write then read, read of a missing key, delete, compare-and-set', () => {
    const cluster = new Cluster({ replicaCount: 3, machine: kvMachine });
    let requestNumber = 0;
    const run = (operation: unknown) => {
      cluster.request(0, 'kv', requestNumber++, operation);
      cluster.deliverAll();
      return cluster.repliesTo('kv').at(-1)!.reply;
    };
    run(null);
    expect(run({ type: 'read', key: 'k' })).toMatchObject({ result: { ok: false, error: 'not-found' } });
    expect(run({ type: 'write', key: 'k', value: 'v1' })).toMatchObject({ result: { ok: true } });
    expect(run({ type: 'read', key: 'k' })).toMatchObject({ result: { ok: true, value: 'v1' } });
    expect(run({ type: 'cas', key: 'k', expected: 'nope', value: 'v2' })).toMatchObject({
      result: { ok: false, error: 'precondition-failed', actual: 'v1' },
    });
    expect(run({ type: 'cas', key: 'k', expected: 'v1', value: 'v2' })).toMatchObject({ result: { ok: true } });
    expect(run({ type: 'cas', key: 'absent', expected: 1, value: 2 })).toMatchObject({
      result: { ok: false, error: 'not-found' },
    });
    expect(run({ type: 'delete', key: 'k' })).toMatchObject({ result: { ok: true, existed: true } });
    expect(run({ type: 'read', key: 'k' })).toMatchObject({ result: { ok: false, error: 'not-found' } });
  });

  test('ten concurrent writes through the primary are visible on every replica', () => {
    const cluster = new Cluster({ replicaCount: 3, machine: kvMachine });
    for (let i = 0; i < 10; i++) cluster.request(0, `w${i}`, 0);
    cluster.deliverAll();
    for (let i = 0; i < 10; i++) cluster.request(0, `w${i}`, 1, { type: 'write', key: `k${i}`, value: i });
    cluster.deliverAll();
    cluster.fire(0, 'heartbeat');
    cluster.deliverAll();
    const expected = Array.from({ length: 10 }, (_, i) => [`k${i}`, i]).sort(([a], [b]) => String(a).localeCompare(String(b)));
    for (const state of cluster.states) {
      expect(kvMachine.snapshot(state.app.value as never)).toEqual(expected);
    }
  });
});
