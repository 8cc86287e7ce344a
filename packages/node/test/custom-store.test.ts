/**
 * startReplica with a store of the user's own (`storage`), here a durable-in-memory one: a
 * cluster commits on it, and a replica restarted on what its store made durable catches up,
 * with nothing acknowledged lost. The store sees only what the `ReplicaStore` contract names.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import { MemoryNetwork, startReplica, type ReplicaHandle } from '../src/index.js';
import { TIMEOUTS } from './support.js';
import { memoryStore, type Disk } from './memory-store.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('startReplica with a store of your own', () => {
  test('a cluster commits on memory stores, and a restarted replica boots from what its store made durable', async () => {
    const network = new MemoryNetwork();
    const disks: Disk[] = [0, 1, 2].map(() => ({ header: null, checkpoint: null, log: { base: 0, log: [] }, flushes: 0 }));
    const start = (replicaId: number) =>
      startReplica({
        config: { replicaId, replicaCount: 3, timeouts: TIMEOUTS, limits: { checkpointIntervalOps: 4 } },
        machine: kvMachine,
        storage: memoryStore(disks[replicaId]!),
        transport: network.transport(replicaId),
      });
    const replicas: ReplicaHandle[] = [0, 1, 2].map(start);
    cleanups.push(async () => void (await Promise.all(replicas.map((replica) => replica.close()))));
    for (let i = 1; i <= 10; i++) expect(await replicas[0]!.request({ type: 'write', key: `k${i % 3}`, value: i })).toEqual({ ok: true });
    expect(disks.every((disk) => disk.flushes > 0 && disk.header !== null)).toBe(true);
    expect(disks[1]!.checkpoint?.opNumber).toBeGreaterThanOrEqual(8);

    await replicas[1]!.crash();
    replicas[1] = start(1);
    expect(replicas[1].boot.boot).toMatchObject({ header: { viewNumber: 0 } });
    expect(await replicas[2]!.request({ type: 'write', key: 'k1', value: 'after' })).toEqual({ ok: true });
    await expect.poll(() => replicas[1]!.status().commitNumber, { timeout: 3_000 }).toBe(replicas[0]!.status().commitNumber);
    expect(await replicas[1].read({ type: 'read', key: 'k1' })).toEqual({ ok: true, value: 'after' });
  });

  test('startReplica wants a directory or a store, not neither nor both', () => {
    const base = { config: { replicaId: 0, replicaCount: 1 }, machine: kvMachine, transport: new MemoryNetwork().transport(0) };
    expect(() => startReplica(base)).toThrow(/give `directory` \(the data directory for FileStorage\) or `storage`/);
    const disk: Disk = { header: null, checkpoint: null, log: { base: 0, log: [] }, flushes: 0 };
    expect(() => startReplica({ ...base, directory: '/nonexistent', storage: memoryStore(disk) })).toThrow(/not both/);
  });
});
