/**
 * The runtime on this thread: three replicas over a MessageChannel mesh on
 * fake-indexeddb, with real timers. Writes commit through the client; the
 * primary crashes (no flush) and a new one takes over with every
 * acknowledged write; a replica whose database was deleted recovers from its
 * peers; malformed frames are refused and counted while the cluster serves;
 * and no send leaves before the flush holding the writes before it.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import type { Effect, Message } from '@vsr/core';
import { VsrTimeoutError, deleteReplicaDatabase, type BrowserReplicaHandle, type BrowserReplicaStatus, type ReplicaStorage } from '../src/index.js';
import { startCluster, type TestCluster } from './support/cluster.js';

const clusters: TestCluster[] = [];
afterEach(async () => {
  for (const cluster of clusters.splice(0)) await cluster.close();
});
async function cluster(...args: Parameters<typeof startCluster>): Promise<TestCluster> {
  const started = await startCluster(...args);
  clusters.push(started);
  return started;
}

function eventually<T>(read: () => T, what: string, timeoutMs = 4_000) {
  return expect.poll(read, { timeout: timeoutMs, interval: 10, message: what });
}

const isPrimary = (replica: BrowserReplicaHandle | null) => {
  const status = replica?.status();
  return status !== undefined && status.status === 'normal' && status.primary === status.replicaId;
};

describe('startBrowserReplica over MessageChannel', () => {
  test('three replicas commit writes and serve reads through the client, entering at a backup', async () => {
    const { replicas, client } = await cluster();
    const alice = client({ primaryGuess: 2 }); // A backup: it redirects to the primary.
    expect(await alice.request({ type: 'write', key: 'k', value: 'v' })).toEqual({ ok: true });
    expect(await alice.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'v' });
    expect(await alice.request({ type: 'cas', key: 'k', expected: 'v', value: 'w' })).toEqual({ ok: true });
    expect(alice.primaryGuess).toBe(0);
    await eventually(() => replicas.map((replica) => replica!.status().commitNumber), 'every replica executes the four ops').toEqual([4, 4, 4]);
    expect(replicas[1]!.status()).toMatchObject({ replicaId: 1, viewNumber: 0, status: 'normal', primary: 0, opNumber: 4 });
  });

  test('the primary crashes without a flush: a new primary takes over and no acknowledged write is lost', async () => {
    const { replicas, client, crash } = await cluster();
    const alice = client();
    for (let i = 1; i <= 12; i++) expect(await alice.request({ type: 'write', key: `k${i % 4}`, value: i })).toEqual({ ok: true });
    await crash(0);
    for (let k = 0; k < 4; k++) expect(await alice.request({ type: 'read', key: `k${k}` })).toEqual({ ok: true, value: 8 + (k === 0 ? 4 : k) });
    expect(replicas.findIndex(isPrimary)).toBe(1);
    expect(await alice.request({ type: 'write', key: 'after', value: 'failover' })).toEqual({ ok: true });
  });

  test('a counter driven by compare-and-set through a primary crash ends at exactly its count (retries keep their number)', async () => {
    const { client, crash } = await cluster();
    const bob = client({ timeoutMs: 8_000 });
    expect(await bob.request({ type: 'write', key: 'n', value: 0 })).toEqual({ ok: true });
    for (let n = 0; n < 20; n++) {
      if (n === 7) void crash(0); // While the next request is on its way.
      expect(await bob.request({ type: 'cas', key: 'n', expected: n, value: n + 1 })).toEqual({ ok: true });
    }
    expect(await bob.request({ type: 'read', key: 'n' })).toEqual({ ok: true, value: 20 });
  });

  test('a replica that restarts on its database catches up; one whose database was deleted recovers from its peers', async () => {
    const { replicas, client, crash, start, factory } = await cluster();
    const alice = client();
    for (let i = 1; i <= 10; i++) await alice.request({ type: 'write', key: 'k', value: i });
    await crash(2);
    for (let i = 11; i <= 20; i++) await alice.request({ type: 'write', key: 'k', value: i });
    const restarted = await start(2, false);
    expect(restarted.boot.boot).toMatchObject({ header: { viewNumber: 0 } });
    await eventually(() => restarted.status().commitNumber, 'the restarted replica catches up').toBe(21);
    await crash(1);
    await deleteReplicaDatabase({ cluster: 0, replicaId: 1, indexedDB: factory });
    const wiped = await start(1, false);
    expect(wiped.boot.boot).toMatchObject({ lost: true });
    await eventually(() => wiped.status(), 'the wiped replica recovers: normal, at commit 21 or later').toSatisfy(
      (status: BrowserReplicaStatus) => status.status === 'normal' && status.commitNumber >= 21,
    );
    expect(kvMachine.snapshot(wiped.observe<never>().app)).toEqual([['k', 20]]);
    expect(replicas[1]).toBe(wiped);
  });

  test('malformed frames on peer and client ports are refused with a reason and counted; the cluster still serves', async () => {
    const { replicas, ports, client, transports } = await cluster(3, { frameBytesMax: 64 * 1024 });
    const alice = client();
    expect(await alice.request({ type: 'write', key: 'k', value: 1 })).toEqual({ ok: true });
    const fromReplica1 = ports[0]![1]!; // Reaches replica 0 as if from replica 1.
    const commit = (replica: number) => ({ type: 'commit', cluster: 0, replica, viewNumber: 0, commitNumber: 1 });
    const frame = (from: number, message: unknown) => JSON.stringify({ kind: 'peer', from, to: 0, id: 1, message });
    for (const garbage of [
      42,
      { kind: 'peer' },
      'not json',
      '['.repeat(1_000),
      'x'.repeat(70 * 1024),
      JSON.stringify({ kind: 'peer', from: 1 }),
      frame(2, commit(2)), // Claims replica 2 on replica 1's link.
      frame(1, commit(2)), // A message naming another sender than its frame.
      frame(1, { type: 'prepare', replica: 1 }),
      JSON.stringify({ kind: 'reply', from: 1, to: 'c', reply: {} }),
      JSON.stringify({ kind: 'peer', from: 1, to: 2, id: 1, message: commit(1) }),
    ]) {
      fromReplica1.postMessage(garbage);
    }
    // And on a client port: a peer frame, garbage, and a request for another replica.
    const stranger = new MessageChannel();
    transports[0]!.addClientPort(stranger.port2);
    for (const garbage of ['{', JSON.stringify({ kind: 'peer', from: 1, to: 0, id: 0, message: commit(1) }), JSON.stringify({ kind: 'request', from: 'me', to: 1, request: {} })]) {
      stranger.port1.postMessage(garbage);
    }
    await eventually(() => replicas[0]!.refusals(), 'every frame refused, by reason').toEqual({
      'not-a-string': 2,
      'not-json': 2,
      'too-deep': 1,
      'frame-too-large': 1,
      'bad-frame': 1,
      'wrong-sender': 2,
      'bad-message': 1,
      'unexpected-frame': 2,
      'wrong-recipient': 2,
    });
    stranger.port1.close();
    expect(await alice.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 1 });
    expect(replicas.every((replica) => replica!.status().status === 'normal')).toBe(true);
  });

  test('a request that no replica can answer fails with a clear timeout', async () => {
    const { client, crash } = await cluster();
    const alice = client({ timeoutMs: 600, attemptTimeoutMs: 100 });
    expect(await alice.request({ type: 'write', key: 'k', value: 1 })).toEqual({ ok: true });
    await crash(1);
    await crash(2); // No majority: the primary cannot commit.
    const failure = await alice.request({ type: 'write', key: 'k', value: 2 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VsrTimeoutError);
    expect((failure as Error).message).toMatch(new RegExp(`^request ${alice.clientId}#2 got no reply within 600 ms \\(tried replicas 0(, \\d)*\\); it may or may not have executed$`));
  });
});

/** A store whose flushes wait for the test to let them go; it knows the last op each completed flush made durable. */
class HeldStorage implements ReplicaStorage {
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => {};
  private buffered: number[] = [];
  durableOps = new Set<number>();

  constructor(private readonly inner: ReplicaStorage) {}

  get report() {
    return this.inner.report;
  }
  get dirty() {
    return this.inner.dirty;
  }
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open();
  }
  apply(effect: Effect): void {
    if (effect.kind === 'log-append') this.buffered.push(effect.entry.opNumber);
    this.inner.apply(effect);
  }
  async flush(): Promise<void> {
    const taken = this.buffered;
    this.buffered = [];
    const flushing = this.inner.flush(); // Takes the buffered effects now, as the contract says.
    await this.gate;
    await flushing;
    for (const opNumber of taken) this.durableOps.add(opNumber);
  }
  settle = () => this.inner.settle();
  close = () => this.inner.close();
  crash = () => this.inner.crash();
}

test('the effect contract: a backup sends PrepareOk for an op only after the transaction holding it completed', async () => {
  const { start, crash, client, transports } = await cluster();
  await crash(1);
  let held: HeldStorage | null = null;
  const backup = await start(1, false, (storage) => (held = new HeldStorage(storage)));
  const storage = held as unknown as HeldStorage;
  const sent: Message[] = [];
  const transport = transports[1]!;
  const send = transport.send.bind(transport);
  transport.send = (to, message) => {
    if (message.type === 'prepare-ok') expect(storage.durableOps.has(message.opNumber), `PrepareOk for op ${message.opNumber} before its flush completed`).toBe(true);
    sent.push(message);
    return send(to, message);
  };
  const alice = client();
  expect(await alice.request({ type: 'write', key: 'k', value: 1 })).toEqual({ ok: true });
  await eventually(() => backup.status().opNumber, 'the backup holds the ops').toBeGreaterThanOrEqual(2);
  storage.hold();
  const writing = alice.request({ type: 'write', key: 'k', value: 2 });
  const opNumber = backup.status().opNumber + 1;
  await eventually(() => backup.status().opNumber, 'the backup receives the Prepare').toBe(opNumber);
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(sent.some((message) => message.type === 'prepare-ok' && message.opNumber >= opNumber)).toBe(false);
  expect(backup.heldCount()).toBeGreaterThan(0);
  storage.release();
  expect(await writing).toEqual({ ok: true });
  await eventually(() => sent.some((message) => message.type === 'prepare-ok' && message.opNumber >= opNumber), 'the PrepareOk leaves once the flush completed').toBe(true);
});
