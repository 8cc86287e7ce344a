/**
 * `VsrServer`: a replicated service in TS idiom, the counterpart of the Elixir `VsrServer`
 * behaviour. It owns one replica (`startReplica`) and the client sessions that reach the
 * primary, and offers:
 *
 * - `command(op)`: a replicated command, ordered by the log and executed once, resolving with
 *   the machine's typed result (the behaviour's `client_request` from `handle_call`);
 * - `cast(op)`: the same without waiting for the result (`client_request_noreply`);
 * - `read(query)`: a linearizable read that skips the log;
 * - `staleQuery(fn)`: a local, non-replicated look at this replica's committed state, which may
 *   lag the cluster (what `handle_call` reading the inner state does);
 * - lifecycle events (`configured`, `status`, `primary`, `commit`, `stop`) and a stop hook
 *   (`onStop`, the behaviour's `terminate`);
 * - named replicas, and a cluster given late with `setCluster` (the behaviour's `set_cluster`).
 */
import type { StateMachine, Telemetry } from '@vsr/core';
import type { ReplicaStore } from '@vsr/runtime';
import { ClusterLink, type ClientEndpoint } from './client.js';
import { resolveCluster, type ClusterSpec, type ResolvedCluster } from './cluster-spec.js';
import { silentLogger } from './logger.js';
import { startReplica, type ReplicaHandle, type ReplicaOptions, type ReplicaStatus } from './replica.js';
import { SessionPool } from './session-pool.js';
import type { Transport } from './transport.js';

/** What the server passes through to `startReplica` as it is. */
type PassedThrough = Pick<
  ReplicaOptions<unknown, unknown, unknown>,
  'directory' | 'create' | 'secret' | 'tls' | 'logger' | 'refusals' | 'onFlush' | 'onJournalFsync' | 'onReply' | 'onReject'
>;

export interface ServerOptions<S, Op, R> extends PassedThrough {
  readonly machine: StateMachine<S, Op, R>;
  /** Replica configuration beyond the cluster (timeouts, limits), validated by the core. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** The cluster by names. Leave it out to start unconfigured and call `setCluster` once. */
  readonly cluster?: ClusterSpec;
  /** A store of your own instead of `FileStorage` in `directory`: opened once the cluster is known. */
  readonly storage?: (cluster: ResolvedCluster) => ReplicaStore;
  /** A transport of your own instead of TCP to the members' addresses. */
  readonly transport?: (cluster: ResolvedCluster) => Transport;
  /** The token other replicas' client ports require, if any. */
  readonly clientToken?: string;
  /** Client sessions running commands and reads at once (default 64); more wait for one. */
  readonly sessionsMax?: number;
  /** How long a command or read may take (default 5 s); then it fails with `VsrTimeoutError`. */
  readonly requestTimeoutMs?: number;
  /** Runs once when the server stops, whatever the cause, before `stop()` resolves. */
  readonly onStop?: (stop: ServerStop) => void | Promise<void>;
  /** The replica stopped on its own (the store failed, or a bug): after `onStop`. Default: thrown. */
  readonly onFatal?: (error: Error) => void;
}

export type ServerStop =
  | { readonly reason: 'stopped' }
  | { readonly reason: 'crashed' }
  | { readonly reason: 'fatal'; readonly error: Error }
  /** Stopped before a cluster was ever given. */
  | { readonly reason: 'never-configured' };

/** Where the replica stands, with names. */
export interface ServerStatus extends ReplicaStatus {
  readonly name: string;
  readonly primaryName: string;
}

export interface ServerEvents {
  /** The cluster was given (at start or by `setCluster`). */
  readonly configured: ResolvedCluster;
  /** The status or the view changed. */
  readonly status: { readonly status: ServerStatus; readonly previous: ServerStatus };
  /** A view became normal under a primary. */
  readonly primary: { readonly viewNumber: number; readonly primary: number; readonly primaryName: string; readonly isSelf: boolean };
  /** This replica executed ops through `commitNumber`. */
  readonly commit: { readonly commitNumber: number };
  readonly stop: ServerStop;
}

type Listener<K extends keyof ServerEvents> = (payload: ServerEvents[K]) => void;

/** Where the committed state was read, for `staleQuery`. */
export interface StalePosition {
  readonly commitNumber: number;
  readonly viewNumber: number;
  readonly status: string;
}

/** A server that was started without a cluster, and `setCluster` was not called yet. */
export class ServerNotConfiguredError extends Error {
  constructor(what: string) {
    super(`${what}: the cluster is not set yet; call setCluster first`);
    this.name = 'ServerNotConfiguredError';
  }
}

/** Creates a server: running at once when `options.cluster` is given, else waiting for `setCluster`. */
export function createServer<S, Op, R>(options: ServerOptions<S, Op, R>): VsrServer<S, Op, R> {
  const server = new VsrServer(options);
  if (options.cluster !== undefined) server.setCluster(options.cluster);
  return server;
}

/** Creates a server on `options.cluster` and resolves once its transport listens. */
export async function startServer<S, Op, R>(options: ServerOptions<S, Op, R> & { readonly cluster: ClusterSpec }): Promise<VsrServer<S, Op, R>> {
  const server = createServer(options);
  try {
    await server.ready;
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

interface Running {
  readonly cluster: ResolvedCluster;
  readonly replica: ReplicaHandle;
  readonly link: ClusterLink;
  readonly pool: SessionPool;
}

export class VsrServer<S, Op, R> {
  private running: Running | null = null;
  private stopping: Promise<void> | null = null;
  private stopped: ServerStop | null = null;
  private readonly listeners: { [K in keyof ServerEvents]: Set<Listener<K>> } = {
    configured: new Set(),
    status: new Set(),
    primary: new Set(),
    commit: new Set(),
    stop: new Set(),
  };
  private markReady: () => void = () => {};
  private markFailed: (error: unknown) => void = () => {};
  /** Resolves once the cluster is set and the transport listens. */
  readonly ready: Promise<void>;

  constructor(private readonly options: ServerOptions<S, Op, R>) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.markFailed = reject;
    });
    this.ready.catch(() => {}); // a failure is also thrown by setCluster, or seen by whoever awaits ready
  }

  /** The cluster, once set. */
  get cluster(): ResolvedCluster | null {
    return this.running?.cluster ?? null;
  }

  /** Client sessions made so far (each registered with the cluster once). */
  get sessions(): number {
    return this.running?.pool.size ?? 0;
  }

  /** The replica, once the cluster is set (for status, dumps and tests). */
  get replica(): ReplicaHandle {
    return this.require('replica').replica;
  }

  /**
   * Gives the cluster and starts the replica: once. Throws a `ClusterSpecError` naming the bad
   * member or field, or what `startReplica` throws (a store this build cannot read, a bad config).
   */
  setCluster(spec: ClusterSpec): ResolvedCluster {
    if (this.stopped !== null || this.stopping !== null) throw new Error('setCluster: the server is stopped');
    if (this.running !== null) throw new Error(`setCluster: the cluster is already set (this replica is ${this.running.cluster.names[this.running.cluster.replicaId]}); reconfiguring a running cluster is not supported`);
    const cluster = resolveCluster(spec);
    // A start that throws (a config the core refuses, a store it cannot read) leaves the server unconfigured: setCluster may be called again.
    this.running = this.start(cluster);
    this.running.replica.ready.then(this.markReady, this.markFailed);
    this.emit('configured', cluster);
    return cluster;
  }

  /** A replicated command: ordered by the log, executed exactly once, resolving with its result. */
  async command(operation: Op, options: { timeoutMs?: number } = {}): Promise<R> {
    const running = this.require('command');
    return (await running.pool.request(operation, options.timeoutMs)) as R;
  }

  /**
   * A command whose result nobody waits for (like `client_request_noreply`). It still runs
   * exactly once if it reaches the primary; a failure to get it there is logged, not thrown.
   */
  cast(operation: Op): void {
    const logger = this.options.logger ?? silentLogger;
    this.command(operation).catch((error: unknown) => {
      logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'a cast command did not complete');
    });
  }

  /** A linearizable read without the log (the machine must declare `reads`). */
  async read(query: unknown, options: { timeoutMs?: number } = {}): Promise<R> {
    const running = this.require('read');
    return (await running.pool.read(query, options.timeoutMs)) as R;
  }

  /**
   * Runs `query` on this replica's committed state, here, without the cluster: fast, but
   * possibly stale (a backup, or a deposed primary, may lag what the cluster has committed).
   * `query` must not change the state. For a fresh answer use `read`.
   */
  staleQuery<T>(query: (state: S, at: StalePosition) => T): T {
    const state = this.require('staleQuery').replica.state();
    return query(state.app.value as S, { commitNumber: state.commitNumber, viewNumber: state.viewNumber, status: state.status });
  }

  /**
   * An outside failure detector says the member `name` is down (`monitor_node`'s counterpart):
   * if it is this backup's primary, a view change starts now. Returns whether one started.
   */
  suspect(name: string): boolean {
    const { replica, cluster } = this.require('suspect');
    const replicaId = cluster.idOf(name);
    if (replicaId === undefined) throw new Error(`suspect: ${JSON.stringify(name)} is not a member (${cluster.names.join(', ')})`);
    return replica.suspect(replicaId);
  }

  status(): ServerStatus {
    const { replica, cluster } = this.require('status');
    return named(replica.status(), cluster);
  }

  /** Subscribes to a lifecycle event; returns the unsubscribe function. */
  on<K extends keyof ServerEvents>(event: K, listener: Listener<K>): () => void {
    const listeners = this.listeners[event] as Set<Listener<K>>;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Stops: pending calls fail, buffered writes are made durable, then `onStop` runs. */
  stop(): Promise<void> {
    return this.halt({ reason: this.running === null ? 'never-configured' : 'stopped' }, (replica) => replica.close());
  }

  /** Stops like `kill -9` (for tests): buffered writes and held sends are lost. */
  crash(): Promise<void> {
    return this.halt({ reason: 'crashed' }, (replica) => replica.crash());
  }

  private start(cluster: ResolvedCluster): Running {
    const { options } = this;
    const transport = options.transport?.(cluster);
    if (transport === undefined && cluster.addresses === null) throw new Error('cluster: every member needs an address for the default TCP transport (or give a transport)');
    let storage: ReplicaStore | undefined;
    let replica: ReplicaHandle;
    try {
      storage = options.storage?.(cluster);
      replica = startReplica({
        ...passedThrough(options),
        config: { ...options.config, replicaId: cluster.replicaId, replicaCount: cluster.replicaCount },
        machine: options.machine,
        ...(storage === undefined ? {} : { storage }),
        ...(transport === undefined ? { peers: cluster.addresses ?? [] } : { transport }),
        onTransition: (status, previous) => this.onTransition(cluster, status, previous),
        onTelemetry: (event) => this.onTelemetry(event),
        onFatal: (error) => void this.onFatal(error),
      });
    } catch (error) {
      // Nothing of this start stays open.
      transport?.close();
      void storage?.close();
      throw error;
    }
    const link = new ClusterLink({
      replicaCount: cluster.replicaCount,
      ...(cluster.addresses === null ? {} : { replicas: cluster.addresses }),
      connect: (replicaId, onReply) => endpointTo(cluster, replicaId, onReply, replica, transport),
      logger: options.logger ?? silentLogger,
      ...(options.clientToken === undefined ? {} : { token: options.clientToken }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    });
    const pool = new SessionPool(link, options.sessionsMax ?? 64, options.requestTimeoutMs ?? 5_000, replica.status().primary);
    return { cluster, replica, link, pool };
  }

  private onTransition(cluster: ResolvedCluster, status: ReplicaStatus, previous: ReplicaStatus): void {
    this.emit('status', { status: named(status, cluster), previous: named(previous, cluster) });
    if (status.status === 'normal') {
      const primaryName = cluster.names[status.primary] ?? String(status.primary);
      this.emit('primary', { viewNumber: status.viewNumber, primary: status.primary, primaryName, isSelf: status.primary === cluster.replicaId });
    }
  }

  private onTelemetry(event: Telemetry): void {
    if (event.name === 'vsr.commit.advance') this.emit('commit', { commitNumber: event.commitNumber });
  }

  private async onFatal(error: Error): Promise<void> {
    await this.halt({ reason: 'fatal', error }, async () => {});
    if (this.options.onFatal !== undefined) this.options.onFatal(error);
    else
      setImmediate(() => {
        throw error;
      });
  }

  private halt(stop: ServerStop, end: (replica: ReplicaHandle) => Promise<void>): Promise<void> {
    this.stopping ??= (async () => {
      const running = this.running;
      if (running !== null) {
        running.pool.close();
        running.link.close();
        await end(running.replica);
      }
      this.stopped = stop;
      this.markFailed(new Error('the server stopped before it was ready'));
      this.emit('stop', stop);
      await this.options.onStop?.(stop);
    })();
    return this.stopping;
  }

  private require(what: string): Running {
    if (this.stopped !== null || this.stopping !== null) throw new Error(`${what}: the server is stopped`);
    if (this.running === null) throw new ServerNotConfiguredError(what);
    return this.running;
  }

  private emit<K extends keyof ServerEvents>(event: K, payload: ServerEvents[K]): void {
    for (const listener of this.listeners[event] as Set<Listener<K>>) listener(payload);
  }
}

/** This replica in process; the others over TCP (addresses) or through the transport. */
function endpointTo(
  cluster: ResolvedCluster,
  replicaId: number,
  onReply: (reply: unknown) => void,
  replica: ReplicaHandle,
  transport: Transport | undefined,
): ClientEndpoint | undefined {
  if (replicaId === cluster.replicaId) return { send: (request) => replica.submit(request, onReply), close: () => {} };
  if (transport === undefined) return undefined; // TCP to the member's address
  // Without a path to the others, calls still work while this replica is the primary.
  return transport.clientEndpoint?.(replicaId, onReply) ?? { send: () => {}, close: () => {} };
}

function named(status: ReplicaStatus, cluster: ResolvedCluster): ServerStatus {
  return { ...status, name: cluster.names[status.replicaId] ?? String(status.replicaId), primaryName: cluster.names[status.primary] ?? String(status.primary) };
}

function passedThrough(options: PassedThrough): PassedThrough {
  const { directory, create, secret, tls, logger, refusals, onFlush, onJournalFsync, onReply, onReject } = options;
  const all = { directory, create, secret, tls, logger, refusals, onFlush, onJournalFsync, onReply, onReject };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined));
}

