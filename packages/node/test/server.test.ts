/**
 * VsrServer: typed replicated commands, linearizable and stale reads, named replicas, a
 * cluster given late (setCluster), lifecycle events and the stop hook.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { kvMachine, type KvOperation, type KvResult, type KvState } from '@vsr/kv';
import { ClusterSpecError, createServer, MemoryNetwork, ServerNotConfiguredError, type ClusterSpec, type ServerEvents, type ServerStop, type VsrServer } from '../src/index.js';
import { emptyDisk, memoryStore, type Disk } from './memory-store.js';
import { TIMEOUTS } from './support.js';

const NAMES = ['alpha', 'beta', 'gamma'];
const clusterOf = (self: string): ClusterSpec => ({ self, members: NAMES.map((name) => ({ name })) });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

type KvServer = VsrServer<KvState, KvOperation, KvResult>;

interface Started {
  readonly servers: KvServer[];
  readonly stops: Array<ServerStop[]>;
  readonly network: MemoryNetwork;
}

/** Three kv servers on memory stores and an in-process network; `lateName` starts without its cluster. */
function threeServers(options: { lateName?: string; disks?: Disk[]; failFlush?: (name: string) => boolean } = {}): Started {
  const network = new MemoryNetwork();
  const disks = options.disks ?? NAMES.map(emptyDisk);
  const stops: Array<ServerStop[]> = NAMES.map(() => []);
  const servers = NAMES.map((name, index) =>
    createServer({
      machine: kvMachine,
      config: { timeouts: TIMEOUTS },
      ...(name === options.lateName ? {} : { cluster: clusterOf(name) }),
      storage: () => memoryStore(disks[index] ?? emptyDisk(), { failFlush: () => options.failFlush?.(name) === true }),
      transport: (cluster) => network.transport(cluster.replicaId),
      requestTimeoutMs: 3_000,
      onStop: (stop) => void stops[index]?.push(stop),
      onFatal: () => {},
    }),
  );
  cleanups.push(async () => void (await Promise.all(servers.map((server) => server.stop()))));
  return { servers, stops, network };
}

const at = (servers: KvServer[], index: number): KvServer => {
  const server = servers[index];
  if (server === undefined) throw new Error(`no server ${index}`);
  return server;
};

describe('VsrServer', () => {
  test('a command sent to any member runs once on the replicated machine and resolves with its typed result', async () => {
    const { servers } = threeServers();
    const written: KvResult = await at(servers, 2).command({ type: 'write', key: 'k', value: 1 });
    expect(written).toEqual({ ok: true });
    expect(await at(servers, 1).command({ type: 'cas', key: 'k', expected: 1, value: 2 })).toEqual({ ok: true });
    expect(await at(servers, 0).command({ type: 'cas', key: 'k', expected: 1, value: 3 })).toMatchObject({ ok: false });
    expect(await at(servers, 1).read({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 2 });
  });

  test('staleQuery reads the local committed state, which a backup reaches once it has executed the op', async () => {
    const { servers } = threeServers();
    await at(servers, 0).command({ type: 'write', key: 'k', value: 'v' });
    expect(at(servers, 0).staleQuery((state) => state.get('k'))).toBe('v');
    await expect.poll(() => at(servers, 2).staleQuery((state, position) => [state.get('k'), position.commitNumber > 0]), { timeout: 3_000 }).toEqual(['v', true]);
  });

  test('a cast runs without anyone waiting for it', async () => {
    const { servers } = threeServers();
    at(servers, 1).cast({ type: 'write', key: 'cast', value: 7 });
    await expect.poll(() => at(servers, 0).staleQuery((state) => state.get('cast')), { timeout: 3_000 }).toBe(7);
  });

  test('replicas are named: status and primary events carry the names, ids follow the member order', async () => {
    const { servers } = threeServers({ lateName: 'gamma' });
    const primaries: Array<ServerEvents['primary']> = [];
    at(servers, 2).on('primary', (event) => primaries.push(event));
    const resolved = at(servers, 2).setCluster(clusterOf('gamma'));
    expect(resolved).toMatchObject({ replicaId: 2, replicaCount: 3, names: NAMES });
    expect(resolved.idOf('beta')).toBe(1);
    await at(servers, 0).command({ type: 'write', key: 'k', value: 1 });
    expect(at(servers, 0).status()).toMatchObject({ name: 'alpha', primaryName: 'alpha', replicaId: 0, status: 'normal' });
    expect(at(servers, 1).status()).toMatchObject({ name: 'beta', primaryName: 'alpha' });
    // gamma started after the others: it learns the view (a status event), and alpha is its primary.
    await expect.poll(() => primaries.length, { timeout: 3_000 }).toBeGreaterThan(0);
    expect(primaries.at(-1)).toMatchObject({ primaryName: 'alpha', isSelf: false });
  });

  test('a server started without its cluster refuses calls clearly, then serves once setCluster gives it', async () => {
    const { servers } = threeServers({ lateName: 'beta' });
    const late = at(servers, 1);
    expect(late.cluster).toBeNull();
    await expect(late.command({ type: 'write', key: 'k', value: 1 })).rejects.toThrow(ServerNotConfiguredError);
    expect(() => late.staleQuery((state) => state.size)).toThrow(/the cluster is not set yet; call setCluster first/);
    const configured: unknown[] = [];
    late.on('configured', (cluster) => configured.push(cluster.names));
    late.setCluster(clusterOf('beta'));
    expect(configured).toEqual([NAMES]);
    await late.ready;
    expect(await late.command({ type: 'write', key: 'k', value: 1 })).toEqual({ ok: true });
    expect(() => late.setCluster(clusterOf('beta'))).toThrow(/already set \(this replica is beta\)/);
  });

  test('a bad cluster is refused with the member and field named, and the server stays unconfigured', () => {
    const { servers } = threeServers({ lateName: 'alpha' });
    const late = at(servers, 0);
    expect(() => late.setCluster({ self: 'alpha', members: [{ name: 'alpha' }, { name: 'alpha' }] })).toThrow(/members\[1\]: the name "alpha" is also members\[0\]/);
    expect(() => late.setCluster({ self: 'delta', members: [{ name: 'alpha' }] })).toThrow(/self: "delta" is not one of the members \(alpha\)/);
    expect(() => late.setCluster({ self: 'a b', members: [{ name: 'a b' }] })).toThrow(ClusterSpecError);
    expect(() => late.setCluster({ self: 'alpha', members: [{ name: 'alpha', address: { host: '127.0.0.1', port: 70_000 } }] })).toThrow(/members\[0\]\.address/);
    expect(() => late.setCluster({ self: 'alpha', members: [] })).toThrow(/members must be a non-empty list/);
    expect(late.cluster).toBeNull();
  });

  test('a start the core refuses leaves the server unconfigured, its transport closed, and setCluster may be called again', () => {
    const network = new MemoryNetwork();
    let transportsClosed = 0;
    let config: Record<string, unknown> = { timeouts: { primaryTimeoutMs: -1 } };
    const server = createServer({
      machine: kvMachine,
      get config() {
        return config;
      },
      storage: () => memoryStore(emptyDisk()),
      transport: (cluster) => {
        const transport = network.transport(cluster.replicaId);
        return { ...transport, close: () => void (transportsClosed++, transport.close()) };
      },
    });
    cleanups.push(() => server.stop());
    expect(() => server.setCluster({ self: 'solo', members: [{ name: 'solo' }] })).toThrow(/primaryTimeoutMs/);
    expect(server.cluster).toBeNull();
    expect(transportsClosed).toBe(1);
    config = { timeouts: TIMEOUTS };
    expect(server.setCluster({ self: 'solo', members: [{ name: 'solo' }] }).replicaCount).toBe(1);
  });

  test('commit events follow the commit number, and stop runs the stop hook once with its reason', async () => {
    const { servers, stops } = threeServers();
    const commits: number[] = [];
    at(servers, 0).on('commit', (event) => commits.push(event.commitNumber));
    await at(servers, 0).command({ type: 'write', key: 'k', value: 1 });
    await at(servers, 0).command({ type: 'write', key: 'k', value: 2 });
    expect(commits.length).toBeGreaterThanOrEqual(2);
    expect(commits).toEqual([...commits].sort((a, b) => a - b));
    expect(commits.at(-1)).toBe(at(servers, 0).status().commitNumber);
    const stopEvents: ServerStop[] = [];
    at(servers, 1).on('stop', (stop) => stopEvents.push(stop));
    await Promise.all([at(servers, 1).stop(), at(servers, 1).stop()]);
    expect(stops[1]).toEqual([{ reason: 'stopped' }]);
    expect(stopEvents).toEqual([{ reason: 'stopped' }]);
    await expect(at(servers, 1).command({ type: 'write', key: 'k', value: 3 })).rejects.toThrow(/the server is stopped/);
  });

  test('a failure detector that suspects the primary starts a view change at once; a wrong suspicion costs only that', async () => {
    const { servers } = threeServers();
    await at(servers, 0).command({ type: 'write', key: 'k', value: 1 });
    expect(at(servers, 1).suspect('gamma')).toBe(false); // not its primary
    expect(at(servers, 0).suspect('alpha')).toBe(false); // itself
    expect(() => at(servers, 1).suspect('delta')).toThrow(/not a member/);
    expect(at(servers, 1).suspect('alpha')).toBe(true);
    expect(at(servers, 1).status().status).toBe('view-change');
    // alpha was alive all along: the cluster moves on to a view with a new primary, losing nothing.
    await expect.poll(() => at(servers, 0).status().viewNumber, { timeout: 3_000 }).toBeGreaterThan(0);
    expect(await at(servers, 0).command({ type: 'cas', key: 'k', expected: 1, value: 2 })).toEqual({ ok: true });
    expect(at(servers, 1).status().primaryName).not.toBe('alpha');
  });

  test('a store that fails stops the server with the true cause, through the stop hook', async () => {
    let failing = false;
    const { servers, stops } = threeServers({ failFlush: (name) => failing && name === 'gamma' });
    await at(servers, 0).command({ type: 'write', key: 'k', value: 1 });
    failing = true;
    await at(servers, 0).command({ type: 'write', key: 'k', value: 2 });
    await expect.poll(() => stops[2]?.length, { timeout: 3_000 }).toBe(1);
    const [stop] = stops[2] ?? [];
    expect(stop?.reason).toBe('fatal');
    expect(stop?.reason === 'fatal' ? stop.error.message : '').toMatch(/the store failed \(the disk is full\)/);
  });
});
