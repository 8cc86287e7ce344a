/**
 * One replica of the key-value service: a `VsrServer` (@vsr/node) running
 * the kv machine on durable files (`FileStorage`), the TCP transport on its
 * peer port (replicas authenticate each other with mutual TLS or the cluster
 * secret; clients use the same port, with the client token when one is set),
 * and the HTTP API (TLS and a bearer token when configured). HTTP writes are
 * the server's commands and reads its linearizable reads, run on its client
 * sessions: a session reaches this process's replica directly and the others
 * over their peer ports, so any replica takes requests and they reach the
 * primary.
 *
 * Logs are JSON lines (pino), each with its time, level, replica, view and
 * status. Refused input of every kind (frames, handshakes, requests, HTTP)
 * is counted by reason for /metrics and logged at most once a second per
 * reason.
 */
import type { Server } from 'node:http';
import { pino } from 'pino';
import { kvMachine, type KvOperation, type KvResult, type KvState } from '@vsr/kv';
import { quorumSize } from '@vsr/core';
import {
  Refusals,
  checkpointBytes,
  createServer,
  journalBytes,
  tcpTransport,
  type Address,
  type Logger,
  type PeerLinkStatus,
  type ReplicaHandle,
  type TcpTransport,
  type TlsCredentials,
  type VsrServer,
} from '@vsr/node';
import { openLmdbStore } from '@vsr/storage-lmdb';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { kvHttpServer, type Health } from './http.js';
import { serviceMetrics } from './metrics.js';

/** The version build info reports. */
export const SERVICE_VERSION = '0.1.0';

export interface ServeOptions {
  readonly replicaId: number;
  /** Every replica's peer address, by replica id (this one's included: it listens there). */
  readonly peers: readonly Address[];
  readonly http: Address;
  readonly directory: string;
  /** The store in `directory`: `file`, the journal (`FileStorage`, the default), or `lmdb` (`@vsr/storage-lmdb`). */
  readonly storage?: StorageKind;
  /** Replicas authenticate each other with this secret, or with `tls`. */
  readonly secret?: string;
  /** Mutual TLS between replicas, and TLS for the HTTP API and the client port. */
  readonly tls?: TlsCredentials;
  /** When set, HTTP key requests need `Authorization: Bearer <token>` and client connections present it. */
  readonly token?: string;
  /** Origins whose pages may call the HTTP API (default: none). */
  readonly allowedOrigins?: readonly string[];
  /** Format a new store if the directory holds none: only when forming a new cluster. */
  readonly init?: boolean;
  /** How long an HTTP request may take before it gets 503 (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** Client sessions the HTTP API runs at once (default 256); more requests wait for one. */
  readonly sessionsMax?: number;
  /** Extra replica configuration (timeouts, limits), validated by the core. */
  readonly config?: Record<string, unknown>;
  /** Default: JSON lines (pino) on stderr. */
  readonly logger?: Logger;
  /** Peers not heard from in this time do not count for /health (default 3 s). */
  readonly healthWindowMs?: number;
}

type KvServer = VsrServer<KvState, KvOperation, KvResult>;

export const STORAGE_KINDS = ['file', 'lmdb'] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

export interface RunningService {
  readonly server: KvServer;
  readonly replica: ReplicaHandle;
  /** The service's structured log (for the command line's own lines). */
  readonly logger: Logger;
  readonly http: Address;
  readonly peer: Address;
  /** Stops: HTTP first, then the replica after making its writes durable. */
  close(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<RunningService> {
  // Every line says where the replica stands (a line's own fields win where both have one).
  let positionOf: () => object = () => ({ replicaId: options.replicaId });
  const logger =
    options.logger ?? pino({ base: { pid: process.pid }, mixin: () => positionOf() }, pino.destination({ dest: 2, sync: true }));
  const replicaCount = checkServeOptions(options);
  const refusals = new Refusals({ logger });
  const transport = await listenForPeers(options, replicaCount, logger, refusals);

  let metrics: ReturnType<typeof serviceMetrics> | null = null;
  let server: KvServer;
  try {
    server = startKvServer(options, transport, logger, refusals, () => metrics);
  } catch (error) {
    transport.close();
    throw error;
  }
  const replica = server.replica;
  positionOf = () => {
    const now = replica.status();
    return { replicaId: now.replicaId, viewNumber: now.viewNumber, status: now.status };
  };
  if (replica.boot.damage !== null) logger.warn({ replicaId: options.replicaId }, replica.boot.damage);

  metrics = serviceMetrics(() => replica.status(), {
    peers: () => transport.peers(),
    clientConnections: () => transport.clientConnections(),
    refusals: () => refusals.byReason(),
    storageBytes: () => storageBytesOf(options.directory, options.storage ?? 'file'),
    build: { version: SERVICE_VERSION },
  });
  const http = httpServerFor(options, server, transport, metrics, refusals, () => httpAddress);
  const httpAddress = await listen(http, options.http).catch(async (error: unknown) => {
    await server.stop();
    metrics?.close();
    throw new Error(`cannot listen for HTTP on ${options.http.host}:${options.http.port}: ${error instanceof Error ? error.message : String(error)}`);
  });

  let closing: Promise<void> | null = null;
  return {
    server,
    replica,
    logger,
    http: httpAddress,
    peer: transport.address(),
    close() {
      closing ??= (async () => {
        const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        await server.stop();
        metrics?.close();
        await httpClosed;
      })();
      return closing;
    },
  };
}

/** The store options for the server: FileStorage in the directory, or LMDB there. */
function storeOf(options: ServeOptions): { directory: string; create: boolean } | { storage: () => ReturnType<typeof openLmdbStore> } {
  const create = options.init === true;
  if ((options.storage ?? 'file') === 'file') return { directory: options.directory, create };
  return { storage: () => openLmdbStore(options.directory, { create }) };
}

/**
 * A directory holds one kind of store. Started with the other kind, a replica would find no
 * store and recover from its peers as if its disk were lost: refused instead, before anything
 * in the directory changes.
 */
function checkStorageKind(directory: string, kind: StorageKind): void {
  const holds: StorageKind | null = existsSync(join(directory, 'format.json')) ? 'file' : existsSync(join(directory, 'data.mdb')) ? 'lmdb' : null;
  if (holds !== null && holds !== kind) {
    throw new Error(`${directory} holds a ${holds} store, not ${kind}: start it with --storage ${holds} (a directory keeps the kind it was formed with)`);
  }
}

/** Bytes on disk for /metrics, by file: the journal and the checkpoint file, or LMDB's data file. */
function storageBytesOf(directory: string, kind: StorageKind): Record<string, number> {
  if (kind === 'file') return { journal: journalBytes(directory), checkpoint: checkpointBytes(directory) };
  const path = join(directory, 'data.mdb');
  return { 'data.mdb': existsSync(path) ? statSync(path).size : 0 };
}

/** Checks what the command line cannot; returns the replica count. */
function checkServeOptions(options: ServeOptions): number {
  const replicaCount = options.peers.length;
  if (!Number.isInteger(options.replicaId) || options.replicaId < 0 || options.replicaId >= replicaCount) {
    throw new Error(`--id must be a replica id in 0..${replicaCount - 1} (one per peer address), got ${options.replicaId}`);
  }
  if (options.storage !== undefined && !STORAGE_KINDS.includes(options.storage)) {
    throw new Error(`--storage must be one of ${STORAGE_KINDS.join(', ')}, got ${JSON.stringify(options.storage)}`);
  }
  checkStorageKind(options.directory, options.storage ?? 'file');
  if (options.tls === undefined && (options.secret ?? '').length === 0) {
    throw new Error('give --tls-dir or a non-empty --secret: replicas prove to each other who they are');
  }
  return replicaCount;
}

/** Replica names in vsr-kv: its ids, as `replica-<id>` (the members in id order). */
export function replicaName(replicaId: number): string {
  return `replica-${replicaId}`;
}

function startKvServer(
  options: ServeOptions,
  transport: TcpTransport,
  logger: Logger,
  refusals: Refusals,
  metrics: () => ReturnType<typeof serviceMetrics> | null,
): KvServer {
  return createServer({
    machine: kvMachine,
    cluster: { self: replicaName(options.replicaId), members: options.peers.map((address, replicaId) => ({ name: replicaName(replicaId), address })) },
    ...(options.config === undefined ? {} : { config: options.config }),
    ...storeOf(options),
    // Already listening (so a port in use is reported before the store is touched).
    transport: () => transport,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.token === undefined ? {} : { clientToken: options.token }),
    sessionsMax: options.sessionsMax ?? 256,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    logger,
    refusals,
    onFlush: (durationMs) => metrics()?.observeFlush(durationMs),
    onJournalFsync: (durationMs) => metrics()?.observeFsync(durationMs),
    onFatal: (error) => {
      // Crash-only: a replica that cannot keep its promises stops; restarted, it checks its store and repairs from its peers.
      logger.error({ replicaId: options.replicaId }, error.message);
      process.exit(1);
    },
  });
}

function httpServerFor(
  options: ServeOptions,
  server: KvServer,
  transport: TcpTransport,
  metrics: ReturnType<typeof serviceMetrics>,
  refusals: Refusals,
  address: () => Address,
): ReturnType<typeof kvHttpServer> {
  const startedAt = Date.now();
  const port = options.http.port;
  return kvHttpServer({
    // A read goes without the log: linearizable all the same (the primary confirms its view).
    execute: (operation) => (operation.type === 'read' ? server.read(operation) : server.command(operation)),
    status: () => ({ ...server.replica.status(), http: `${options.http.host}:${address().port}`, uptimeMs: Date.now() - startedAt, sessions: server.sessions, peers: transport.peers() }),
    health: () => healthOf(server.replica, transport.peers(), options.healthWindowMs ?? 3_000),
    metrics,
    // Host names this server answers to (against DNS rebinding); a port picked at bind time cannot be listed before.
    ...(port === 0 || isWildcard(options.http.host) ? {} : { allowedHosts: [`${options.http.host}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`] }),
    allowedOrigins: options.allowedOrigins ?? [],
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    onRefused: (reason) => {
      refusals.refuse(`http-${reason}`, `an HTTP request or connection (${reason})`, { replicaId: options.replicaId });
    },
  });
}

async function listenForPeers(options: ServeOptions, replicaCount: number, logger: Logger, refusals: Refusals): Promise<TcpTransport> {
  const self = options.peers[options.replicaId];
  if (self === undefined) throw new Error(`--peers has no address for replica ${options.replicaId}`);
  const transport = tcpTransport({
    replicaId: options.replicaId,
    replicaCount,
    listen: self,
    peer: (id) => options.peers[id],
    ...(options.tls === undefined ? { secret: options.secret } : { tls: options.tls }),
    ...(options.token === undefined ? {} : { clientToken: options.token }),
    logger,
    refusals,
  });
  await transport.ready.catch((error: unknown) => {
    transport.close();
    throw new Error(`cannot listen for peers on ${self.host}:${self.port}: ${error instanceof Error ? error.message : String(error)}`);
  });
  return transport;
}

/**
 * Healthy: normal status, and a majority (this replica included) heard from within
 * `windowMs`, so this replica is part of a cluster that can commit.
 */
function healthOf(replica: ReplicaHandle, peers: readonly PeerLinkStatus[], windowMs: number): Health {
  const status = replica.status();
  const heard = peers.filter((peer) => peer.heardAgoMs !== null && peer.heardAgoMs <= windowMs).map((peer) => peer.replicaId);
  const quorum = quorumSize(peers.length + 1);
  const fields = { replicaId: status.replicaId, status: status.status, viewNumber: status.viewNumber, primary: status.primary, peersHeard: heard, quorum };
  if (status.status !== 'normal') return { ok: false, reason: `status is ${status.status}, not normal`, ...fields };
  if (heard.length + 1 < quorum) {
    return { ok: false, reason: `heard from ${heard.length} of ${peers.length} peers in the last ${windowMs} ms; a majority needs ${quorum - 1}`, ...fields };
  }
  return { ok: true, reason: 'normal, and a majority heard from lately', ...fields };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
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
