/**
 * Shared by the process tests: a real cluster of `vsr-kv serve` child
 * processes on 127.0.0.1 in a temporary directory, and small HTTP helpers.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restartReplica, startCluster, stopCluster, type ReplicaProcess } from '../src/index.js';

/** Fast timeouts so failover fits a test; the defaults are for real networks. */
export const TEST_CONFIG = JSON.stringify({
  timeouts: { heartbeatMs: 40, primaryTimeoutMs: 300, viewChangeTimeoutMs: 600, viewChangeRetryMs: 60, prepareRetryMs: 40, repairRetryMs: 60, recoveryRetryMs: 60 },
  limits: { checkpointIntervalOps: 64 },
});

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port base P with P..P+n-1 and P+100..P+100+n-1 free. */
export async function freePortBase(replicaCount: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = Array.from({ length: replicaCount }, (_, i) => [base + i, base + 100 + i]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free port range found');
}

export interface TestCluster {
  readonly directory: string;
  readonly port: number;
  readonly replicas: ReplicaProcess[];
  /** Every line the replicas wrote, tagged `[replica i]`. */
  readonly lines: string[];
  url(replicaId: number): string;
  secret(): string;
  kill(replicaId: number): Promise<void>;
  restart(replicaId: number): Promise<void>;
  alive(replicaId: number): boolean;
  stop(): Promise<void>;
}

export async function testCluster(options: { replicaCount?: number; serveArgs?: string[] } = {}): Promise<TestCluster> {
  const replicaCount = options.replicaCount ?? 3;
  const directory = mkdtempSync(join(tmpdir(), 'vsr-kv-test-'));
  const port = await freePortBase(replicaCount);
  const lines: string[] = [];
  const out = (line: string) => lines.push(line);
  const replicas = await startCluster({ replicaCount, directory, port, serveArgs: ['--config', TEST_CONFIG, ...(options.serveArgs ?? [])], out });
  const alive = (replicaId: number) => {
    const child = replicas[replicaId]!.child;
    return child.exitCode === null && child.signalCode === null;
  };
  return {
    directory,
    port,
    replicas,
    lines,
    url: (replicaId) => `http://${replicas[replicaId]!.http}`,
    secret: () => readFileSync(join(directory, 'secret'), 'utf8').trim(),
    alive,
    async kill(replicaId) {
      const child = replicas[replicaId]!.child;
      if (!alive(replicaId)) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    async restart(replicaId) {
      replicas[replicaId] = await restartReplica(replicas[replicaId]!, out);
    },
    async stop() {
      await stopCluster(replicas);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One HTTP request; JSON body in and out. */
export async function http(method: string, url: string, body?: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<HttpAnswer> {
  const response = await fetch(url, { method, headers, signal: AbortSignal.timeout(timeoutMs), ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: response.status, body: parsed };
}

export interface Status {
  replica: number;
  view: number;
  status: string;
  primary: number;
  op: number;
  commit: number;
  pid: number;
}

export async function status(url: string): Promise<Status> {
  return (await http('GET', `${url}/status`)).body as unknown as Status;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  let last: unknown;
  while (Date.now() - started < timeoutMs) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`);
}

/** The replica every live replica agrees is the primary, in normal status. */
export async function primaryOf(cluster: TestCluster): Promise<number> {
  return waitFor('a primary in normal status', async () => {
    for (let id = 0; id < cluster.replicas.length; id++) {
      if (!cluster.alive(id)) continue;
      const s = await status(cluster.url(id));
      if (s.status === 'normal' && s.primary === s.replica) return s.replica;
    }
    return undefined;
  });
}
