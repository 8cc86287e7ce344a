/**
 * Shared by the process tests: a real cluster of `vsr-kv serve` child
 * processes on 127.0.0.1 in a temporary directory, and small HTTP helpers.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvHttpClient, clusterSecurity, restartReplica, startCluster, stopCluster, type ReplicaProcess } from '../src/index.js';

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
  /** An HTTP(S) client with the cluster's CA and token. */
  readonly client: KvHttpClient;
  /** The cluster's bearer token, if it requires one. */
  readonly token: string | undefined;
  kill(replicaId: number): Promise<void>;
  restart(replicaId: number): Promise<void>;
  alive(replicaId: number): boolean;
  stop(): Promise<void>;
}

/** The client for each replica's HTTP address (host:port): it holds that cluster's CA and token. */
const clients = new Map<string, KvHttpClient>();

export async function testCluster(options: { replicaCount?: number; serveArgs?: string[]; tls?: boolean; token?: boolean } = {}): Promise<TestCluster> {
  const replicaCount = options.replicaCount ?? 3;
  const directory = mkdtempSync(join(tmpdir(), 'vsr-kv-test-'));
  const port = await freePortBase(replicaCount);
  const lines: string[] = [];
  const out = (line: string) => lines.push(line);
  const replicas = await startCluster({
    replicaCount,
    directory,
    port,
    serveArgs: ['--config', TEST_CONFIG, ...(options.serveArgs ?? [])],
    out,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  const security = clusterSecurity(directory);
  const client = new KvHttpClient(security);
  for (const replica of replicas) clients.set(replica.http, client);
  const alive = (replicaId: number) => {
    const child = replicas[replicaId]!.child;
    return child.exitCode === null && child.signalCode === null;
  };
  return {
    directory,
    port,
    replicas,
    lines,
    url: (replicaId) => `${security.scheme}://${replicas[replicaId]!.http}`,
    client,
    token: security.token,
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
      client.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * One HTTP request; JSON body in and out. A URL of a test cluster's replica goes through that
 * cluster's client (its CA and token); `anonymous` sends it without the token.
 */
export async function http(method: string, url: string, body?: string, headers: Record<string, string> = {}, timeoutMs = 10_000, anonymous = false): Promise<HttpAnswer> {
  const host = new URL(url).host;
  const client = anonymous ? anonymousClient : (clients.get(host) ?? anonymousClient);
  const answer = await client.request(method, url, { ...(body === undefined ? {} : { body }), headers, timeoutMs });
  return { status: answer.status, body: jsonBody(answer.text) };
}

/** An answer's body as the JSON object it should be, or `{text}` when it is not JSON. */
export function jsonBody(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text };
  }
}

/** No token, and the CA of every test cluster made so far (so https works, but not the API). */
const anonymousClient = {
  request: (method: string, url: string, options: { body?: string; headers?: Record<string, string>; timeoutMs?: number }) => {
    const cas = [...clients.values()].map((client) => client.ca).filter((ca): ca is string => ca !== undefined);
    const client = new KvHttpClient({ ...(cas.length === 0 ? {} : { ca: cas.join('\n') }) }, { keepAlive: false });
    return client.request(method, url, options).finally(() => client.close());
  },
};

/** What GET /status answers (ReplicaStatus and the service's own fields). */
export interface Status {
  replicaId: number;
  viewNumber: number;
  status: string;
  primary: number;
  opNumber: number;
  commitNumber: number;
  pid: number;
}

export async function status(url: string): Promise<Status> {
  return (await http('GET', `${url}/status`)).body as unknown as Status;
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
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
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})`}`);
}

/** The replica every live replica agrees is the primary, in normal status. */
export async function primaryOf(cluster: TestCluster): Promise<number> {
  return waitFor('a primary in normal status', async () => {
    for (let id = 0; id < cluster.replicas.length; id++) {
      if (!cluster.alive(id)) continue;
      const s = await status(cluster.url(id));
      if (s.status === 'normal' && s.primary === s.replicaId) return s.replicaId;
    }
    return undefined;
  });
}
