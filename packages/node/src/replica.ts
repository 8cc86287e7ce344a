/**
 * `startReplica`: runs one @vsr/core replica in a Node process. It feeds the
 * reducer events one at a time and carries out its effects under the effect
 * contract: storage effects go to the durable store; sends and replies that
 * follow a storage effect wait until the store has made it durable
 * (`GroupCommit` of @vsr/runtime: flushes on libuv's thread pool, one at a
 * time, each taking every effect the steps before it produced; the core's
 * `EffectBarrier` says which sends may leave). Timers are named
 * `setTimeout`s, a new one replacing the old; telemetry is published on
 * `node:diagnostics_channel`, one channel per event name.
 *
 * The transport and the reply channel are pluggable, like the Elixir
 * library's `send_vsr` / `vsr_send` and `send_reply`.
 */
import { channel } from 'node:diagnostics_channel';
import {
  readClientId,
  unreadableClientIdReply,
  describe,
  initialState,
  primaryOf,
  type Effect,
  type Event,
  type ReplicaState,
  type Reply,
  type StateMachine,
  type Telemetry,
} from '@vsr/core';
import { GroupCommit, NamedTimers, ReplyRoutes, globalTimers, timedStep, type ReplicaStore, type TimedStep, type TimedTelemetry } from '@vsr/runtime';
import { openFileStore, type OpenReport } from './storage.js';
import { ClusterLink, VsrClient, VsrTimeoutError } from './client.js';
import { tcpTransport, type Address, type TcpTransport } from './tcp-transport.js';
import { Refusals, silentLogger, type Logger } from './logger.js';
import type { TlsCredentials } from './peer-auth.js';
import type { Transport } from './transport.js';

// Where they were first defined, for the users who import them from here.
export type { ClientRequestHandler, Transport } from './transport.js';

export interface ReplicaOptions<S, Op, R> {
  /** Replica configuration (validated by the core: a ConfigError names the field). */
  readonly config: unknown;
  readonly machine: StateMachine<S, Op, R>;
  /** The replica's data directory, for the default store (`FileStorage`): give it or `storage`. */
  readonly directory?: string;
  /**
   * A store of your own, already opened, instead of `FileStorage` in `directory`: anything that
   * keeps the `ReplicaStore` contract (see `@vsr/runtime`). The replica closes it when it stops.
   */
  readonly storage?: ReplicaStore;
  /** Create the store: only for a replica formed with its cluster. Otherwise a missing store recovers. */
  readonly create?: boolean;
  /**
   * How replicas reach each other. Default: TCP (`tcpTransport`), listening on `peers[replicaId]`
   * and authenticating with `secret`; then `ready` says when it is bound.
   */
  readonly transport?: Transport;
  /** For the default TCP transport: every replica's address, by replica id. */
  readonly peers?: readonly Address[];
  /** For the default TCP transport: the cluster secret (shared-secret mode), or `tls`. */
  readonly secret?: string;
  /** For the default TCP transport: mutual TLS credentials (this replica's certificate names its id). */
  readonly tls?: TlsCredentials;
  /**
   * Structured logs (pino's interface; default: none): status and view changes, a new primary,
   * recovery and checkpoint installs, refused input (rate-limited), and why the replica stopped.
   */
  readonly logger?: Logger;
  /** Where refused input is counted and logged (default: a counter of its own on `logger`). */
  readonly refusals?: Refusals;
  /** For metrics: the duration of each flush (one group commit's writes and fsyncs). */
  readonly onFlush?: (durationMs: number) => void;
  /** For metrics: each journal fsync's duration and the bytes it made durable. */
  readonly onJournalFsync?: (durationMs: number, bytes: number) => void;
  /** Called with every reply the replica sends a client (in addition to `request`'s promise). */
  readonly onReply?: (clientId: string, reply: Reply) => void;
  /** Called after each step that changed the status or the view, with the status before and after. */
  readonly onTransition?: (status: ReplicaStatus, previous: ReplicaStatus) => void;
  /** Called with every telemetry event the core emits (as published on the diagnostics channel). */
  readonly onTelemetry?: (event: Telemetry) => void;
  /** Called with every rejected input (default: nothing). */
  readonly onReject?: (reason: string, input: string) => void;
  /**
   * Called when the store fails to write (a full disk, an I/O error). The replica has stopped
   * by then: it can no longer keep the promises it makes. Default: the error is thrown (an
   * uncaught exception), which ends the process.
   */
  readonly onFatal?: (error: Error) => void;
}

export interface ReplicaStatus {
  readonly replicaId: number;
  readonly viewNumber: number;
  readonly status: string;
  /** The primary of `viewNumber` (a replica id). */
  readonly primary: number;
  /** The last op in this replica's log. */
  readonly opNumber: number;
  readonly commitNumber: number;
  readonly pid: number;
}

export interface ReplicaHandle {
  /** Resolves once the transport listens (at once for a transport that needs no binding). */
  readonly ready: Promise<void>;
  /** What storage held at start (a torn tail dropped, or damage that made it recover). */
  readonly boot: OpenReport;
  /**
   * Submits a client request (untrusted input: the core validates it);
   * `respond` gets this replica's answer, which may be a redirect or an error.
   * The reply channel the transport's clients use.
   */
  submit(request: unknown, respond: (reply: Reply) => void): void;
  /**
   * Runs `operation` on the replicated state machine and resolves with its result, like a
   * `VsrClient` whose entry point is this replica: it reaches the primary through this
   * replica's transport (which must carry client requests: `clientEndpoint`), retries with the
   * same request number, and fails with `VsrTimeoutError` after `timeoutMs` (default 5 s).
   * Calls queue: one request is outstanding at a time.
   */
  request(operation: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /**
   * Answers `query` without the log, like `VsrClient.read`: a linearizable read the primary
   * serves after confirming its view with a quorum. Queues with `request`.
   */
  read(query: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /** One raw request under a given client id and number; resolves with this replica's answer (which may be a redirect). */
  requestAs(clientId: string, requestNumber: number, operation: unknown, timeoutMs?: number): Promise<Reply>;
  /**
   * An outside failure detector's report (the Elixir behaviour's `monitor_node`): replica
   * `replicaId` is believed down. If it is this normal backup's primary, the backup starts a
   * view change now instead of waiting out its primary timeout; otherwise nothing happens.
   * Only liveness depends on it: a wrong suspicion costs a view change, never safety.
   * Returns whether a view change started.
   */
  suspect(replicaId: number): boolean;
  status(): ReplicaStatus;
  dump(): string;
  /** The reducer's state, for tests and tools. */
  state(): ReplicaState;
  /** Stops, after making buffered writes durable and sending what waited for them. */
  close(): Promise<void>;
  /**
   * Stops like `kill -9`: buffered writes and held sends are lost. Resolves once a write
   * already under way has ended (so the directory can be reopened without racing it).
   */
  crash(): Promise<void>;
}

export function startReplica<S, Op, R>(options: ReplicaOptions<S, Op, R>): ReplicaHandle {
  return new RunningReplica(options).start();
}

/** One replica in this process: the reducer's state, and the interpreter that carries out its effects. */
class RunningReplica<S, Op, R> {
  private state: ReplicaState;
  private readonly logger: Logger;
  private readonly refusals: Refusals;
  private readonly storage: ReplicaStore;
  private readonly report: OpenReport;
  private readonly transport: Transport;
  private readonly commit: GroupCommit;
  private readonly timers = new NamedTimers(globalTimers);
  private readonly replies: ReplyRoutes;
  private closed = false;
  /** The session `request` uses, made on first use. */
  private client: VsrClient | undefined;
  private link: ClusterLink | undefined;

  constructor(private readonly options: ReplicaOptions<S, Op, R>) {
    this.state = initialState(options.config, options.machine);
    this.logger = options.logger ?? silentLogger;
    this.refusals = options.refusals ?? new Refusals({ logger: this.logger });
    // The store first: it may refuse to start (a format this build does not know), and then nothing is listening yet.
    const storage = openStore(options);
    [this.storage, this.report] = [storage, storage.report];
    try {
      this.transport = options.transport ?? defaultTransport(this.state.config.replicaId, this.state.config.replicaCount, options, this.logger, this.refusals);
    } catch (error) {
      void storage.close();
      throw error;
    }
    // A flush starts once the current turn's steps have run (FileStorage's runs on libuv's thread pool).
    this.commit = new GroupCommit(storage, { schedule: (start) => void setImmediate(start), nowMs: () => performance.now(), onFlush: options.onFlush, onFailure: (error) => this.fail('store', error) });
    this.replies = new ReplyRoutes(this.state.config.limits.clientTableMax);
  }

  start(): ReplicaHandle {
    const submit = (request: unknown, respond: (reply: Reply) => void) => this.submit(request, respond);
    this.transport.listen((message) => this.run({ kind: 'message', message }));
    this.transport.serveClients?.(submit);
    this.run({ kind: 'boot', storage: this.report.boot });
    return {
      ready: (this.transport as Partial<TcpTransport>).ready ?? Promise.resolve(),
      boot: this.report,
      submit,
      request: (operation, requestOptions) => this.request(operation, requestOptions),
      read: (query, readOptions) => this.read(query, readOptions),
      requestAs: (clientId, requestNumber, operation, timeoutMs = 5_000) => this.requestAs(clientId, requestNumber, operation, timeoutMs),
      suspect: (replicaId) => this.suspect(replicaId),
      status: () => this.status(),
      dump: () => describe(this.state),
      state: () => this.state,
      close: () => this.close(),
      crash: () => this.crash(),
    };
  }

  private run(event: Event): void {
    if (this.closed) return;
    let stepped: TimedStep;
    try {
      stepped = timedStep(this.state, event, performanceNow);
    } catch (error) {
      // The reducer is total on any input: a throw is a broken invariant, a bug. Stop rather than run on.
      return this.fail('core', error);
    }
    const before = this.state;
    this.state = stepped.state;
    if (before.status !== this.state.status || before.viewNumber !== this.state.viewNumber) {
      logTransition(this.logger, before, this.state);
      this.options.onTransition?.(statusOf(this.state), statusOf(before));
    }
    for (const effect of stepped.effects) this.carryOut(effect, stepped.stepDurationMs);
  }

  /** The effect contract: storage effects to the store, sends and replies through the barrier, named timers. */
  private carryOut(effect: Effect, stepDurationMs: number): void {
    switch (effect.kind) {
      case 'log-append':
      case 'log-truncate':
      case 'log-release':
      case 'persist-header':
      case 'persist-checkpoint':
        return this.commit.write(effect);
      case 'send': {
        const { to, message } = effect;
        return this.commit.send(() => this.transport.send(to, message));
      }
      case 'reply': {
        const { clientId, reply } = effect;
        return this.commit.send(() => this.deliverReply(clientId, reply));
      }
      case 'set-timer': {
        const timer = effect.timer;
        return this.timers.set(timer, effect.afterMs, () => this.run({ kind: 'timeout', timer }));
      }
      case 'cancel-timer':
        return this.timers.cancel(effect.timer);
      case 'telemetry':
        publish(effect.event, stepDurationMs);
        this.options.onTelemetry?.(effect.event);
        return logMilestone(this.logger, effect.event);
      case 'reject':
        // The reason key is the input's kind ('client-request', 'prepare', ...): a metric label, so a
        // bounded set; `input` itself may name a sender and a view.
        this.refusals.refuse(`invalid-${effect.input.split(' ', 1)[0] ?? 'input'}`, effect.reason, { ...positionOf(this.state), input: effect.input });
        this.options.onReject?.(effect.reason, effect.input);
        return;
    }
  }

  private deliverReply(clientId: string, reply: Reply): void {
    this.options.onReply?.(clientId, reply);
    this.replies.deliver(clientId, reply);
  }

  private submit(request: unknown, respond: (reply: Reply) => void): void {
    if (this.closed) return;
    const clientId = readClientId(request);
    if (clientId === null) {
      respond(unreadableClientIdReply());
      return;
    }
    this.replies.route(clientId, request, respond);
    this.run({ kind: 'client-request', request, receivedAtMs: Date.now() });
  }

  private request(operation: unknown, requestOptions?: { timeoutMs?: number }): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error(`replica ${this.state.config.replicaId}: closed`));
    this.client ??= this.localClient();
    return this.client.request(operation, requestOptions);
  }

  private read(query: unknown, readOptions?: { timeoutMs?: number }): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error(`replica ${this.state.config.replicaId}: closed`));
    this.client ??= this.localClient();
    return this.client.read(query, readOptions);
  }

  private requestAs(clientId: string, requestNumber: number, operation: unknown, timeoutMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.abandon(clientId, requestNumber, done);
        reject(new VsrTimeoutError(clientId, requestNumber, timeoutMs, [this.state.config.replicaId]));
      }, timeoutMs);
      const done = (reply: Reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
      this.replies.await(clientId, requestNumber, done);
      this.run({ kind: 'client-request', request: { clientId, requestNumber, operation }, receivedAtMs: Date.now() });
    });
  }

  private suspect(replicaId: number): boolean {
    const state = this.state;
    if (this.closed || state.status !== 'normal' || replicaId === state.config.replicaId) return false;
    if (primaryOf(state.viewNumber, state.config.replicaCount) !== replicaId) return false;
    // The primary timeout's own path: the core starts the view change as if the timer fired.
    this.run({ kind: 'timeout', timer: 'primary-timeout' });
    return this.state.viewNumber > state.viewNumber;
  }

  private status(): ReplicaStatus {
    return statusOf(this.state);
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.link?.close();
    this.timers.stop();
    this.closed = true;
    try {
      await this.commit.stop();
    } finally {
      this.transport.close();
      await this.storage.close();
    }
  }

  private async crash(): Promise<void> {
    if (this.closed) return;
    this.link?.close();
    this.timers.stop();
    this.closed = true;
    this.commit.drop();
    this.transport.close();
    await this.storage.close();
    await this.commit.settled();
  }

  /** The session behind `request`: this replica in process, the others through the transport. */
  private localClient(): VsrClient {
    const self = this.state.config.replicaId;
    this.link = new ClusterLink({
      replicaCount: this.state.config.replicaCount,
      connect: (replicaId, onReply) => {
        if (replicaId === self) return { send: (request) => this.submit(request, onReply), close: () => {} };
        const endpoint = this.transport.clientEndpoint?.(replicaId, onReply);
        if (endpoint !== undefined) return endpoint;
        // Without a path to the others, requests still work while this replica is the primary.
        return { send: () => {}, close: () => {} };
      },
    });
    return new VsrClient({ link: this.link, primaryGuess: primaryOf(this.state.viewNumber, this.state.config.replicaCount), timeoutMs: 5_000, attemptTimeoutMs: 500 });
  }

  /** The store failed, or the core broke an invariant: stop as in a crash and report the true cause. */
  private fail(source: 'store' | 'core', cause: unknown): void {
    void this.crash();
    const error = cause instanceof Error ? cause : new Error(String(cause));
    const what = source === 'store' ? `the store failed (${error.message})` : `the core broke an invariant, a bug (${error.message})`;
    const fatal = new Error(`replica ${this.state.config.replicaId}: ${what}; the replica stopped`, { cause: error });
    this.logger.error({ ...positionOf(this.state), cause: source, error: error.message, stack: error.stack }, fatal.message);
    if (this.options.onFatal !== undefined) this.options.onFatal(fatal);
    else
      setImmediate(() => {
        throw fatal;
      });
  }
}

/** The store the options name: the user's, or `FileStorage` in `directory`. */
function openStore(options: ReplicaOptions<unknown, unknown, unknown>): ReplicaStore {
  if (options.storage !== undefined) {
    if (options.directory !== undefined) throw new Error('startReplica: give `directory` (for FileStorage) or `storage`, not both');
    return options.storage;
  }
  if (options.directory === undefined) throw new Error('startReplica: give `directory` (the data directory for FileStorage) or `storage` (a store of your own)');
  return openFileStore(options.directory, { create: options.create === true, onJournalFsync: options.onJournalFsync });
}

function defaultTransport(
  replicaId: number,
  replicaCount: number,
  options: Pick<ReplicaOptions<unknown, unknown, unknown>, 'peers' | 'secret' | 'tls'>,
  logger: Logger,
  refusals: Refusals,
): TcpTransport {
  const { peers, secret, tls } = options;
  if (peers === undefined || (secret === undefined && tls === undefined)) {
    throw new Error('startReplica: give a transport, or peers and a secret or tls credentials for the default TCP transport');
  }
  if (peers.length !== replicaCount) {
    throw new Error(`startReplica: peers must list ${replicaCount} addresses (one per replica), got ${peers.length}`);
  }
  if (tls === undefined && secret?.length === 0) throw new Error('startReplica: the cluster secret must not be empty');
  const listen = peers[replicaId];
  if (listen === undefined) throw new Error(`startReplica: peers has no address for replica ${replicaId}`);
  const auth = tls === undefined ? { secret } : { tls };
  return tcpTransport({ replicaId, replicaCount, listen, peer: (id) => peers[id], ...auth, logger, refusals });
}

/** The request's client id if it has a valid one (the core's rule), to route the reply by. */

/** Where a replica stands, as `status()` reports it. */
function statusOf(state: ReplicaState): ReplicaStatus {
  return {
    replicaId: state.config.replicaId,
    viewNumber: state.viewNumber,
    status: state.status,
    primary: primaryOf(state.viewNumber, state.config.replicaCount),
    opNumber: state.log.lastOpNumber,
    commitNumber: state.commitNumber,
    pid: process.pid,
  };
}

/** The fields every replica log line carries. */
function positionOf(state: ReplicaState): { replicaId: number; viewNumber: number; status: string } {
  return { replicaId: state.config.replicaId, viewNumber: state.viewNumber, status: state.status };
}

/** One line for a status change, a view change or a new primary. */
function logTransition(logger: Logger, before: ReplicaState, after: ReplicaState): void {
  const primary = primaryOf(after.viewNumber, after.config.replicaCount);
  const fields = { ...positionOf(after), primary, previousViewNumber: before.viewNumber, previousStatus: before.status };
  if (after.status === 'normal') {
    const role = primary === after.config.replicaId ? 'this replica is the primary' : `replica ${primary} is the primary`;
    logger.info(fields, `view ${after.viewNumber} is normal; ${role}`);
  } else if (after.status === 'view-change') logger.info(fields, `view change to view ${after.viewNumber} (from ${before.status} in view ${before.viewNumber})`);
  else logger.info(fields, `status ${before.status} -> ${after.status} in view ${after.viewNumber}`);
}

/** One line for a recovery or a checkpoint installed. */
function logMilestone(logger: Logger, event: Telemetry): void {
  const fields = { replicaId: event.replicaId, viewNumber: event.viewNumber, opNumber: event.opNumber, commitNumber: event.commitNumber, ...event.data };
  switch (event.name) {
    case 'vsr.recovery.start':
      return logger.warn(fields, 'recovering: this replica lost its state and asks its peers for it');
    case 'vsr.recovery.waiting':
      // Every retry: detail for whoever looks, not a line per 100 ms.
      return logger.debug(fields, 'recovering: still waiting for answers from a majority, the latest primary among them');
    case 'vsr.recovery.complete':
      return logger.info(fields, `recovered at op ${event.opNumber}, commit ${event.commitNumber}`);
    case 'vsr.checkpoint.installed':
      return logger.info(fields, `installed a checkpoint from a peer (commit ${event.commitNumber})`);
    default:
      return;
  }
}

const channels = new Map<string, ReturnType<typeof channel>>();

/**
 * Publishes a telemetry event on the diagnostics channel named after it (e.g.
 * `vsr.view_change.complete`); `vsr.operation.applied` as a `TimedTelemetry`, with the duration
 * of the step that applied the op (the others as they are: no copy per event on the hot path).
 */
function publish(event: Telemetry, stepDurationMs: number): void {
  let target = channels.get(event.name);
  if (target === undefined) {
    target = channel(event.name);
    channels.set(event.name, target);
  }
  if (!target.hasSubscribers) return;
  target.publish(event.name === 'vsr.operation.applied' ? ({ ...event, stepDurationMs } satisfies TimedTelemetry) : event);
}

const performanceNow = () => performance.now();
