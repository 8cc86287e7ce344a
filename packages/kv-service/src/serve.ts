/**
 * One replica of the key-value service: a @vsr/core replica on durable
 * files (`FileStorage`), the TCP transport on its peer port (replicas
 * authenticate with the cluster secret; clients use the same port), and the
 * HTTP API. HTTP requests run as `VsrClient` sessions from a pool: a
 * session reaches this process's replica directly and the others over their
 * peer ports, so any replica takes requests and they reach the primary.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Server } from 'node:http';
import { kvMachine, type KvOperation, type KvResult } from '@vsr/kv';
import {
  ClusterLink,
  VsrClient,
  startReplica,
  tcpTransport,
  type Address,
  type ReplicaHandle,
} from '@vsr/node';
import { kvHttpServer, Unavailable } from './http.js';
import { serviceMetrics } from './metrics.js';

export interface ServeOptions {
  readonly replicaId: number;
  /** Every replica's peer address, by replica id (this one's included: it listens there). */
  readonly peers: readonly Address[];
  readonly http: Address;
  readonly directory: string;
  readonly secret: string;
  /** Format a new store if the directory holds none: only when forming a new cluster. */
  readonly init?: boolean;
  /** How long an HTTP request may take before it gets 503 (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** Client sessions the HTTP API runs at once (default 256); more requests wait for one. */
  readonly sessionsMax?: number;
  /** Extra replica configuration (timeouts, limits), validated by the core. */
  readonly config?: Record<string, unknown>;
  readonly log?: (line: string) => void;
}

export interface RunningService {
  readonly replica: ReplicaHandle;
  readonly http: Address;
  readonly peer: Address;
  /** Stops: HTTP first, then the replica after making its writes durable. */
  close(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<RunningService> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const replicaCount = options.peers.length;
  if (!Number.isInteger(options.replicaId) || options.replicaId < 0 || options.replicaId >= replicaCount) {
    throw new Error(`--id must be a replica id in 0..${replicaCount - 1} (one per peer address), got ${options.replicaId}`);
  }
  if (options.secret.length === 0) throw new Error('--secret must not be empty: replicas prove to each other that they hold it');
  const requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
  const self = options.peers[options.replicaId]!;

  const transport = tcpTransport({
    replicaId: options.replicaId,
    replicaCount,
    listen: self,
    peer: (id) => options.peers[id],
    secret: options.secret,
    log,
  });
  await transport.ready.catch((error: unknown) => {
    transport.close();
    throw new Error(`cannot listen for peers on ${self.host}:${self.port}: ${error instanceof Error ? error.message : String(error)}`);
  });

  const waiting = () => log(`replica ${options.replicaId}: no usable data here, waiting for a majority of peers to recover from (a new cluster starts every replica with --init)`);
  subscribe('vsr.recovery.waiting', waiting);

  let replica: ReplicaHandle;
  try {
    replica = startReplica({
      config: { ...options.config, replicaId: options.replicaId, replicaCount },
      machine: kvMachine,
      directory: options.directory,
      create: options.init === true,
      transport,
      onReject: (reason) => log(`replica ${options.replicaId}: refused input: ${reason}`),
      onFatal: (error) => {
        // Crash-only: a replica whose disk fails stops; restarted, it checks its store and repairs from its peers.
        log(error.message);
        process.exit(1);
      },
    });
  } catch (error) {
    transport.close();
    unsubscribe('vsr.recovery.waiting', waiting);
    throw error;
  }
  if (replica.boot.damage !== null) log(`replica ${options.replicaId}: ${replica.boot.damage}`);

  const link = new ClusterLink({
    replicas: options.peers,
    connect: (id, onReply) => (id === options.replicaId ? { send: (request) => replica.submit(request, onReply), close: () => {} } : undefined),
    log,
  });
  const pool = new SessionPool(link, options.sessionsMax ?? 256, requestTimeoutMs, options.replicaId);
  const metrics = serviceMetrics(() => replica.status());
  const startedAt = Date.now();
  const server = kvHttpServer({
    execute: (operation) => pool.execute(operation),
    status: () => ({ ...replica.status(), http: `${options.http.host}:${httpAddress.port}`, uptimeMs: Date.now() - startedAt, sessions: pool.size }),
    metrics,
  });
  const httpAddress = await listen(server, options.http).catch(async (error: unknown) => {
    await replica.close();
    link.close();
    metrics.close();
    unsubscribe('vsr.recovery.waiting', waiting);
    throw new Error(`cannot listen for HTTP on ${options.http.host}:${options.http.port}: ${error instanceof Error ? error.message : String(error)}`);
  });

  let closing: Promise<void> | null = null;
  return {
    replica,
    http: httpAddress,
    peer: transport.address(),
    close() {
      closing ??= (async () => {
        const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        pool.close();
        link.close();
        await replica.close();
        metrics.close();
        unsubscribe('vsr.recovery.waiting', waiting);
        await httpClosed;
      })();
      return closing;
    },
  };
}

function listen(server: Server, address: Address): Promise<Address> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(bound !== null && typeof bound === 'object' ? { host: address.host, port: bound.port } : address);
    });
  });
}

/**
 * Client sessions for the HTTP API. A VR client has one request outstanding,
 * so concurrent HTTP requests need as many sessions; each is a `VsrClient`
 * (its own id, registered on first use) on the shared link. Up to
 * `sessionsMax`; beyond that a request waits for a free session, within its
 * deadline.
 */
class SessionPool {
  private readonly idle: VsrClient[] = [];
  private readonly waiters: Array<(session: VsrClient) => void> = [];
  private created = 0;
  private closed = false;

  constructor(
    private readonly link: ClusterLink,
    private readonly sessionsMax: number,
    private readonly timeoutMs: number,
    private primaryGuess: number,
  ) {}

  get size(): number {
    return this.created;
  }

  async execute(operation: KvOperation): Promise<KvResult> {
    const deadline = Date.now() + this.timeoutMs;
    const client = await this.acquire(deadline);
    // An idle session may still point at a primary that failed since; start where the last request ended.
    client.primaryGuess = this.primaryGuess;
    try {
      return (await client.request(operation, { timeoutMs: Math.max(1, deadline - Date.now()) })) as KvResult;
    } finally {
      this.primaryGuess = client.primaryGuess;
      this.release(client);
    }
  }

  close(): void {
    this.closed = true;
    for (const session of this.idle) session.close();
  }

  private acquire(deadline: number): Promise<VsrClient> {
    const idle = this.idle.pop();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.created < this.sessionsMax) {
      this.created++;
      return Promise.resolve(this.fresh());
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(take);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Unavailable(`all ${this.sessionsMax} client sessions stayed busy for ${this.timeoutMs} ms`));
      }, Math.max(1, deadline - Date.now()));
      const take = (client: VsrClient) => {
        clearTimeout(timer);
        resolve(client);
      };
      this.waiters.push(take);
    });
  }

  private fresh(): VsrClient {
    return new VsrClient({
      link: this.link,
      timeoutMs: this.timeoutMs,
      attemptTimeoutMs: Math.min(1_000, this.timeoutMs),
      primaryGuess: this.primaryGuess,
    });
  }

  private release(client: VsrClient): void {
    if (this.closed) {
      client.close();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(client);
    else this.idle.push(client);
  }
}
