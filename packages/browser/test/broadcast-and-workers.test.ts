/**
 * The three-tab mode (one replica per "tab" on a BroadcastChannel, a crash
 * closing one) and the worker host (WorkerCluster with workers run in
 * process over the same protocol a real worker speaks): writes commit, a
 * crashed primary is replaced, a restarted and a wiped replica rejoin,
 * partitions cut links, malformed frames and commands are refused.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import type { StateMachine } from '@vsr/core';
import {
  BroadcastChannelTransport,
  BroadcastClientLink,
  BrowserVsrClient,
  IndexedDbStorage,
  WorkerCluster,
  inProcessWorker,
  spawnWorkerReplica,
  startBrowserReplica,
  type BrowserReplicaHandle,
  type WorkerEvent,
} from '../src/index.js';
import { IDBFactory } from './support/idb.js';
import { TIMEOUTS } from './support/cluster.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const machines = { kv: kvMachine as StateMachine<unknown, unknown, unknown> };
const eventually = <T>(read: () => T, what: string, timeoutMs = 4_000) => expect.poll(read, { timeout: timeoutMs, interval: 10, message: what });

describe('BroadcastChannel: one replica per tab', () => {
  test('a cluster on one channel serves, survives a closed tab, and refuses garbage posted on the channel', async () => {
    const channelName = `vsr-test-${crypto.randomUUID()}`;
    const factory = new IDBFactory();
    const replicas: BrowserReplicaHandle[] = [];
    for (let replicaId = 0; replicaId < 3; replicaId++) {
      const storage = await IndexedDbStorage.open({ cluster: 0, replicaId, create: true, indexedDB: factory });
      const transport = new BroadcastChannelTransport({ cluster: 0, replicaId, replicaCount: 3, channelName });
      replicas.push(startBrowserReplica({ config: { replicaCount: 3, timeouts: TIMEOUTS }, replicaId, machine: kvMachine, transport, storage }));
    }
    const link = new BroadcastClientLink({ cluster: 0, replicaCount: 3, channelName });
    const client = new BrowserVsrClient({ link, timeoutMs: 5_000, attemptTimeoutMs: 300, primaryGuess: 1 });
    const intruder = new BroadcastChannel(channelName);
    cleanups.push(async () => {
      intruder.close();
      client.close();
      link.close();
      await Promise.all(replicas.map((replica) => replica.close()));
    });
    expect(await client.request({ type: 'write', key: 'k', value: 'tabs' })).toEqual({ ok: true });
    const commit = { type: 'commit', cluster: 0, replica: 1, viewNumber: 0, commitNumber: 1 };
    for (const garbage of ['nope', 7, JSON.stringify({ kind: 'peer', from: 2, to: 0, id: 0, message: commit }), JSON.stringify({ kind: 'peer', from: 1, to: 0, id: 0, message: { type: 'commit' } })]) {
      intruder.postMessage(garbage);
    }
    await eventually(() => replicas[0]!.refusals(), 'replica 0 refuses what was posted to it, and every replica the garbage').toEqual({ 'not-json': 1, 'not-a-string': 1, 'wrong-sender': 1, 'bad-message': 1 });
    expect(replicas[2]!.refusals()).toEqual({ 'not-json': 1, 'not-a-string': 1 }); // Frames for replica 0 are not its business.
    await replicas[0]!.crash(); // The primary's tab closes.
    expect(await client.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'tabs' });
    expect(replicas[1]!.status()).toMatchObject({ status: 'normal', primary: 1 });
  });
});

describe('WorkerCluster', () => {
  function workerCluster(factory = new IDBFactory()) {
    const events: Array<[number, WorkerEvent]> = [];
    const cluster = new WorkerCluster({
      replicaCount: 3,
      cluster: 5,
      createWorker: () => inProcessWorker(machines, { indexedDB: factory }),
      config: { timeouts: TIMEOUTS, limits: { checkpointIntervalOps: 8 } },
      trace: true,
      indexedDB: factory,
      onEvent: (replicaId, event) => events.push([replicaId, event]),
    });
    cleanups.push(() => cluster.close());
    return { cluster, events, factory };
  }

  test('replicas in workers: commit, crash of the primary, restart, wipe, partition', async () => {
    const { cluster, events } = workerCluster();
    const started = await cluster.start({ create: true });
    expect(started.map((event) => [event.boot, event.databaseName])).toEqual([0, 1, 2].map((id) => ['fresh', `vsr-cluster-5-replica-${id}`]));
    const client = cluster.client({ timeoutMs: 8_000, attemptTimeoutMs: 300 });
    for (let i = 1; i <= 10; i++) expect(await client.request({ type: 'write', key: 'k', value: i })).toEqual({ ok: true });
    await eventually(() => cluster.status(2)?.commitNumber, 'statuses reach the page').toBe(11);
    expect(events.some(([, event]) => event.type === 'trace' && event.event.kind === 'send' && event.event.type === 'prepare')).toBe(true);
    expect(events.some(([, event]) => event.type === 'telemetry' && event.event.name === 'vsr.commit.advance')).toBe(true);

    cluster.crash(0);
    expect(cluster.status(0)).toBeNull();
    expect(await client.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 10 });
    expect(cluster.status(1)).toMatchObject({ status: 'normal', primary: 1 });

    expect((await cluster.restart(0)).boot).toBe('restored');
    expect(await client.request({ type: 'write', key: 'k', value: 11 })).toEqual({ ok: true });
    await eventually(() => cluster.status(0)?.commitNumber ?? 0, 'the restarted replica catches up past the write after its restart').toBeGreaterThanOrEqual(13);

    const wiped = await cluster.wipe(2);
    expect(wiped.boot).toBe('lost');
    expect(await client.request({ type: 'write', key: 'k', value: 12 })).toEqual({ ok: true });
    await eventually(() => cluster.status(2)?.status, 'the wiped replica recovers from its peers').toBe('normal');
    expect(events.some(([replicaId, event]) => replicaId === 2 && event.type === 'telemetry' && event.event.name === 'vsr.recovery.complete')).toBe(true);

    cluster.partition(1, true); // The primary, cut off: the others elect replica 2.
    await eventually(() => cluster.status(2)?.primary, 'a view change without the isolated primary', 6_000).toBe(2);
    expect(await client.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 12 });
    cluster.partition(1, false);
    await eventually(() => cluster.status(1)?.status === 'normal' && cluster.status(1)?.viewNumber === cluster.status(2)?.viewNumber, 'the healed replica joins the new view', 6_000).toBe(true);
  });

  test('a worker refuses a command that does not decode, and a second start; an unknown machine is a fatal event, not a crash of the page', async () => {
    const factory = new IDBFactory();
    const worker = inProcessWorker(machines, { indexedDB: factory });
    const events: WorkerEvent[] = [];
    const replica = spawnWorkerReplica(worker, { replicaId: 0, replicaCount: 1, cluster: 9, create: true, transport: { kind: 'message-channel', peerPorts: [], clientPorts: [] } }, (event) => events.push(event));
    cleanups.push(() => replica.close());
    expect((await replica.started).boot).toBe('fresh');
    worker.postMessage({ type: 'explode' }, []);
    worker.postMessage({ type: 'start', replicaId: 0, replicaCount: 1, cluster: 9, create: true, machine: 'kv', transport: { kind: 'message-channel' }, peerPorts: [], clientPorts: [] }, []);
    await eventually(() => events.filter((event) => event.type === 'refused').map((event) => (event as { detail: string }).detail), 'both refused').toEqual([
      expect.stringMatching(/^a command that does not decode \(command/),
      'a second start command',
    ]);
    const other = inProcessWorker(machines, { indexedDB: factory });
    const unknown = spawnWorkerReplica(other, { replicaId: 0, replicaCount: 1, cluster: 9, create: false, machine: 'chess', transport: { kind: 'broadcast-channel' } });
    cleanups.push(() => other.terminate());
    await expect(unknown.started).rejects.toThrow(/no state machine named "chess" in this worker \(it has kv\)/);
  });
});
