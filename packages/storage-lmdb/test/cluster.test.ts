/**
 * Three kv replicas on LMDB stores through `startReplica({ storage })`, over the in-memory
 * network: they commit writes; a crashed replica restarts on its LMDB directory and catches
 * up; then the whole cluster stops and starts again from its three directories, and every
 * acknowledged write reads back.
 */
import { afterEach, expect, test } from 'vitest';
import { join } from 'node:path';
import { kvMachine } from '@vsr/kv';
import { MemoryNetwork, startReplica, type ReplicaHandle } from '@vsr/node';
import { openLmdbStore } from '../src/index.js';
import { freshDirectory, removeDirectories } from './support/raw.js';

const TIMEOUTS = { heartbeatMs: 20, primaryTimeoutMs: 150, prepareRetryMs: 20, viewChangeTimeoutMs: 400, viewChangeRetryMs: 40, repairRetryMs: 40, recoveryRetryMs: 40 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  removeDirectories();
});

function cluster(root: string, network: MemoryNetwork, create: boolean): ReplicaHandle[] {
  const start = (replicaId: number) =>
    startReplica({
      config: { replicaId, replicaCount: 3, timeouts: TIMEOUTS, limits: { checkpointIntervalOps: 4 } },
      machine: kvMachine,
      storage: openLmdbStore(join(root, `replica-${replicaId}`), { create }),
      transport: network.transport(replicaId),
    });
  const replicas = [0, 1, 2].map(start);
  cleanups.push(async () => void (await Promise.all(replicas.map((replica) => replica.close()))));
  return replicas;
}

/** The replica at `index`, which the test started. */
const at = (replicas: ReplicaHandle[], index: number): ReplicaHandle => {
  const replica = replicas[index];
  if (replica === undefined) throw new Error(`no replica ${index}`);
  return replica;
};

test('a cluster commits on LMDB stores; a crashed replica and then the whole cluster restart from their directories, losing nothing acknowledged', async () => {
  const root = freshDirectory('vsr-lmdb-cluster-');
  const acknowledged = new Map<string, unknown>();
  const write = async (replica: ReplicaHandle, key: string, value: unknown) => {
    expect(await replica.request({ type: 'write', key, value })).toEqual({ ok: true });
    acknowledged.set(key, value);
  };
  const network = new MemoryNetwork();
  let replicas = cluster(root, network, true);
  for (let i = 1; i <= 12; i++) await write(at(replicas, 0), `k${i % 4}`, i);

  // Replica 1 crashes (what it had buffered is lost) and restarts on what its LMDB store made durable.
  await at(replicas, 1).crash();
  const restarted = startReplica({
    config: { replicaId: 1, replicaCount: 3, timeouts: TIMEOUTS, limits: { checkpointIntervalOps: 4 } },
    machine: kvMachine,
    storage: openLmdbStore(join(root, 'replica-1')),
    transport: network.transport(1),
  });
  replicas[1] = restarted;
  expect(restarted.boot.damage).toBeNull();
  expect(restarted.boot.boot).toMatchObject({ header: { viewNumber: 0 }, checkpoint: { opNumber: expect.any(Number) } });
  await write(at(replicas, 2), 'k1', 'after the crash');
  const caughtUp = () => restarted.status().commitNumber === Math.max(...replicas.map((replica) => replica.status().commitNumber));
  await expect.poll(caughtUp, { timeout: 5_000 }).toBe(true);
  expect(await restarted.read({ type: 'read', key: 'k1' })).toEqual({ ok: true, value: 'after the crash' });

  // The whole cluster stops and starts again from its three directories.
  await Promise.all(replicas.map((replica) => replica.close()));
  replicas = cluster(root, new MemoryNetwork(), false);
  expect(replicas.map((replica) => replica.boot.damage)).toEqual([null, null, null]);
  for (const [key, value] of acknowledged) expect(await at(replicas, 1).read({ type: 'read', key })).toEqual({ ok: true, value });
}, 30_000);
