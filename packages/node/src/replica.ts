/**
 * `startReplica`: runs one @vsr/core replica in a Node process. It feeds the
 * reducer events one at a time and carries out its effects under the effect
 * contract: storage effects go to the durable store; sends and replies that
 * follow a storage effect wait until the store has made it durable. Flushes
 * run on libuv's thread pool, one at a time, so the event loop keeps taking
 * messages and running steps during an fsync; the next flush takes all the
 * effects those steps produced (group commit: one fsync for many steps,
 * more of them the busier the replica); timers are
 * named `setTimeout`s, a new one replacing the old; telemetry is published
 * on `node:diagnostics_channel`, one channel per event name.
 *
 * The transport and the reply channel are pluggable, like the Elixir
 * library's `send_vsr` / `vsr_send` and `send_reply`.
 */
import { channel } from 'node:diagnostics_channel';
import {
  CLIENT_ID_LENGTH_MAX,
  ClientId,
  describe,
  initialState,
  primaryOf,
  step,
  type Effect,
  type Event,
  type Message,
  type ReplicaState,
  type Reply,
  type StateMachine,
  type Telemetry,
  type TimerName,
} from '@vsr/core';
import { FileStorage, type OpenReport } from './storage.js';
import { ClusterLink, VsrClient, type ClientEndpoint } from './client.js';
import { tcpTransport, type Address, type TcpTransport } from './tcp-transport.js';
import { Refusals, silentLogger, type Logger } from './logger.js';
import type { TlsCredentials } from './peer-auth.js';

/**
 * Takes a client request (decoded JSON, not yet validated) and a way to
 * answer that client: the replica calls `respond` with its reply (a result,
 * a redirect to the primary, or an error), now or once the op commits.
 */
export type ClientRequestHandler = (request: unknown, respond: (reply: Reply) => void) => void;

/** Carries protocol messages between replicas. Delivery is best effort. */
export interface Transport {
  send(to: number, message: Message): void;
  /** The transport hands every message it receives (decoded JSON, not yet validated) to `deliver`. */
  listen(deliver: (message: unknown) => void): void;
  /** Optional: a transport that also carries client requests hands them to `handler`. */
  serveClients?(handler: ClientRequestHandler): void;
  /** Optional: a way for this process to send client requests to replica `replicaId` (its replies go to `onReply`). */
  clientEndpoint?(replicaId: number, onReply: (reply: unknown) => void): ClientEndpoint | undefined;
  close(): void;
}

export interface ReplicaOptions<S, Op, R> {
  /** Replica configuration (validated by the core: a ConfigError names the field). */
  readonly config: unknown;
  readonly machine: StateMachine<S, Op, R>;
  /** The replica's data directory. */
  readonly directory: string;
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
  readonly replica: number;
  readonly view: number;
  readonly status: string;
  readonly primary: number;
  readonly op: number;
  readonly commit: number;
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
  /** One raw request under a given client id and number; resolves with this replica's answer (which may be a redirect). */
  requestAs(clientId: string, requestNumber: number, operation: unknown, timeoutMs?: number): Promise<Reply>;
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

export class RequestTimeout extends Error {
  constructor(clientId: string, requestNumber: number, timeoutMs: number) {
    super(`request ${clientId}#${requestNumber} got no answer within ${timeoutMs} ms`);
    this.name = 'RequestTimeout';
  }
}

export function startReplica<S, Op, R>(options: ReplicaOptions<S, Op, R>): ReplicaHandle {
  let state = initialState(options.config, options.machine);
  const logger = options.logger ?? silentLogger;
  const refusals = options.refusals ?? new Refusals({ logger });
  // The store first: it may refuse to start (a format this build does not know), and then nothing is listening yet.
  const { storage, report } = FileStorage.open(options.directory, { create: options.create === true });
  storage.onJournalFsync = options.onJournalFsync ?? null;
  let transport: Transport;
  try {
    transport = options.transport ?? defaultTransport(state.config.replicaId, state.config.replicaCount, options, logger, refusals);
  } catch (error) {
    storage.close();
    throw error;
  }
  const timers = new Map<TimerName, NodeJS.Timeout>();
  const waiting = new Map<string, Array<(reply: Reply) => void>>();
  /**
   * Where to send each client's next reply: the channel its latest request
   * came in on. A client has one request outstanding, so one route each;
   * bounded like the client table (the oldest route goes first).
   */
  const routes = new Map<string, (reply: Reply) => void>();
  const routesMax = state.config.limits.clientTableMax;
  /**
   * Sends and replies waiting for a flush: `after` is the number of the flush
   * that makes durable every storage effect before them. Released in order.
   */
  let held: Array<{ readonly after: number; readonly send: () => void }> = [];
  /** Flushes started, and flushes that have completed: flush n takes every effect buffered before it starts. */
  let flushesStarted = 0;
  let flushesDone = 0;
  let writing: Promise<void> | null = null;
  let flushScheduled = false;
  let closed = false;
  /** The session `request` uses, made on first use. */
  let client: VsrClient | undefined;
  let link: ClusterLink | undefined;

  const release = (): void => {
    let ready = 0;
    while (ready < held.length && held[ready]!.after <= flushesDone) ready++;
    for (const { send } of held.splice(0, ready)) send();
  };

  const startFlush = (): void => {
    flushScheduled = false;
    if (closed || writing !== null || !storage.dirty) return;
    const flush = ++flushesStarted;
    const startedMs = performance.now();
    writing = storage.flushAsync().then(
      () => {
        writing = null;
        options.onFlush?.(performance.now() - startedMs);
        if (closed) return;
        flushesDone = flush;
        release();
        // Everything the steps during this flush buffered goes in the next one, at once.
        if (storage.dirty) startFlush();
      },
      (error: unknown) => {
        writing = null;
        if (closed) return;
        fail('store', error);
      },
    );
  };

  const scheduleFlush = (): void => {
    if (flushScheduled || writing !== null) return; // A running flush starts the next when it ends.
    flushScheduled = true;
    setImmediate(startFlush);
  };

  const outgoing = (send: () => void): void => {
    // Effects buffered now go in the next flush to start; if none, a running flush may hold
    // the effects this send follows; and order is kept behind what already waits.
    const after = Math.max(storage.dirty ? flushesStarted + 1 : writing !== null ? flushesStarted : 0, held.at(-1)?.after ?? 0);
    if (after <= flushesDone) send();
    else held.push({ after, send });
  };

  const deliverReply = (clientId: string, reply: Reply): void => {
    options.onReply?.(clientId, reply);
    const route = routes.get(clientId);
    if (route !== undefined) {
      routes.delete(clientId);
      route(reply);
    }
    const key = `${clientId}#${reply.requestNumber}`;
    const resolvers = waiting.get(key);
    if (resolvers === undefined) return;
    waiting.delete(key);
    for (const resolve of resolvers) resolve(reply);
  };

  const carryOut = (effects: readonly Effect[]): void => {
    for (const effect of effects) {
      switch (effect.kind) {
        case 'log-append':
        case 'log-truncate':
        case 'log-release':
        case 'persist-header':
        case 'persist-checkpoint':
          storage.apply(effect);
          scheduleFlush();
          break;
        case 'send': {
          const { to, message } = effect;
          outgoing(() => transport.send(to, message));
          break;
        }
        case 'reply': {
          const { clientId, reply } = effect;
          outgoing(() => deliverReply(clientId, reply));
          break;
        }
        case 'set-timer': {
          const timer = effect.timer;
          clearTimeout(timers.get(timer));
          timers.set(
            timer,
            setTimeout(() => {
              timers.delete(timer);
              run({ kind: 'timeout', timer });
            }, effect.afterMs),
          );
          break;
        }
        case 'cancel-timer':
          clearTimeout(timers.get(effect.timer));
          timers.delete(effect.timer);
          break;
        case 'telemetry':
          publish(effect.event);
          logMilestone(logger, effect.event);
          break;
        case 'reject':
          // The reason key is the input's kind ('client-request', 'prepare', ...): a metric label, so a
          // bounded set; `input` itself may name a sender and a view.
          refusals.refuse(`invalid-${effect.input.split(' ', 1)[0] ?? 'input'}`, effect.reason, { ...positionOf(state), input: effect.input });
          options.onReject?.(effect.reason, effect.input);
          break;
      }
    }
  };

  const run = (event: Event): void => {
    if (closed) return;
    let stepped: [ReplicaState, readonly Effect[]];
    try {
      stepped = step(state, event);
    } catch (error) {
      // The reducer is total on any input: a throw is a broken invariant, a bug. Stop rather than run on.
      return fail('core', error);
    }
    const before = state;
    state = stepped[0];
    logTransition(logger, before, state);
    carryOut(stepped[1]);
  };

  const submit = (request: unknown, respond: (reply: Reply) => void): void => {
    if (closed) return;
    const clientId = readClientId(request);
    if (clientId === null) {
      respond({
        type: 'error',
        clientId: '',
        requestNumber: null,
        code: 'invalid-request',
        message: `request.clientId: expected a string of 1 to ${CLIENT_ID_LENGTH_MAX} characters (a client request is {clientId, requestNumber, operation})`,
      });
      return;
    }
    routes.delete(clientId);
    routes.set(clientId, respond);
    if (routes.size > routesMax) {
      const oldest = routes.keys().next().value;
      if (oldest !== undefined) routes.delete(oldest);
    }
    run({ kind: 'client-request', request, receivedAtMs: Date.now() });
  };

  transport.listen((message) => run({ kind: 'message', message }));
  transport.serveClients?.(submit);
  run({ kind: 'boot', storage: report.boot });

  const handle: ReplicaHandle = {
    ready: (transport as Partial<TcpTransport>).ready ?? Promise.resolve(),
    boot: report,
    submit,
    request(operation, requestOptions) {
      if (closed) return Promise.reject(new Error(`replica ${state.config.replicaId}: closed`));
      client ??= localClient();
      return client.request(operation, requestOptions);
    },
    requestAs(clientId, requestNumber, operation, timeoutMs = 5_000) {
      return new Promise<Reply>((resolve, reject) => {
        const key = `${clientId}#${requestNumber}`;
        const timer = setTimeout(() => {
          const resolvers = waiting.get(key)?.filter((candidate) => candidate !== done) ?? [];
          if (resolvers.length > 0) waiting.set(key, resolvers);
          else waiting.delete(key);
          reject(new RequestTimeout(clientId, requestNumber, timeoutMs));
        }, timeoutMs);
        const done = (reply: Reply) => {
          clearTimeout(timer);
          resolve(reply);
        };
        waiting.set(key, [...(waiting.get(key) ?? []), done]);
        run({ kind: 'client-request', request: { clientId, requestNumber, operation }, receivedAtMs: Date.now() });
      });
    },
    status() {
      return {
        replica: state.config.replicaId,
        view: state.viewNumber,
        status: state.status,
        primary: primaryOf(state.viewNumber, state.config.replicaCount),
        op: state.log.lastOpNumber,
        commit: state.commitNumber,
        pid: process.pid,
      };
    },
    dump: () => describe(state),
    state: () => state,
    async close() {
      if (closed) return;
      link?.close();
      stopTimers();
      closed = true;
      try {
        if (writing !== null) await writing;
        await storage.settle(); // A checkpoint being written in the background.
        storage.flush(); // What the last steps buffered, now that nothing else is writing.
        for (const { send } of held.splice(0)) send();
      } finally {
        transport.close();
        storage.close();
      }
    },
    async crash() {
      if (closed) return;
      link?.close();
      stopTimers();
      closed = true;
      held = [];
      transport.close();
      storage.close();
      await writing?.catch(() => {});
      await storage.settle();
    },
  };
  return handle;

  /** The session behind `request`: this replica in process, the others through the transport. */
  function localClient(): VsrClient {
    const self = state.config.replicaId;
    link = new ClusterLink({
      replicaCount: state.config.replicaCount,
      connect: (replicaId, onReply) => {
        if (replicaId === self) return { send: (request) => submit(request, onReply), close: () => {} };
        const endpoint = transport.clientEndpoint?.(replicaId, onReply);
        if (endpoint !== undefined) return endpoint;
        // Without a path to the others, requests still work while this replica is the primary.
        return { send: () => {}, close: () => {} };
      },
    });
    return new VsrClient({ link, primaryGuess: primaryOf(state.viewNumber, state.config.replicaCount), timeoutMs: 5_000, attemptTimeoutMs: 500 });
  }

  function stopTimers(): void {
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
  }

  /** The store failed, or the core broke an invariant: stop as in a crash and report the true cause. */
  function fail(source: 'store' | 'core', cause: unknown): void {
    void handle.crash();
    const error = cause instanceof Error ? cause : new Error(String(cause));
    const what = source === 'store' ? `the store failed (${error.message})` : `the core broke an invariant, a bug (${error.message})`;
    const fatal = new Error(`replica ${state.config.replicaId}: ${what}; the replica stopped`, { cause: error });
    logger.error({ ...positionOf(state), cause: source, error: error.message, stack: error.stack }, fatal.message);
    if (options.onFatal !== undefined) options.onFatal(fatal);
    else
      setImmediate(() => {
        throw fatal;
      });
  }
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
function readClientId(request: unknown): string | null {
  if (request === null || typeof request !== 'object') return null;
  const clientId = (request as { clientId?: unknown }).clientId;
  return ClientId.is(clientId) ? clientId : null;
}

/** The fields every replica log line carries. */
function positionOf(state: ReplicaState): { replica: number; view: number; status: string } {
  return { replica: state.config.replicaId, view: state.viewNumber, status: state.status };
}

/** One line for a status change, a view change or a new primary. */
function logTransition(logger: Logger, before: ReplicaState, after: ReplicaState): void {
  if (before.status === after.status && before.viewNumber === after.viewNumber) return;
  const primary = primaryOf(after.viewNumber, after.config.replicaCount);
  const fields = { ...positionOf(after), primary, previousView: before.viewNumber, previousStatus: before.status };
  if (after.status === 'normal') {
    const role = primary === after.config.replicaId ? 'this replica is the primary' : `replica ${primary} is the primary`;
    logger.info(fields, `view ${after.viewNumber} is normal; ${role}`);
  } else if (after.status === 'view-change') logger.info(fields, `view change to view ${after.viewNumber} (from ${before.status} in view ${before.viewNumber})`);
  else logger.info(fields, `status ${before.status} -> ${after.status} in view ${after.viewNumber}`);
}

/** One line for a recovery or a checkpoint installed. */
function logMilestone(logger: Logger, event: Telemetry): void {
  const fields = { replica: event.replicaId, view: event.viewNumber, opNumber: event.opNumber, commitNumber: event.commitNumber, ...event.data };
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

/** Publishes a telemetry event on the diagnostics channel named after it (e.g. `vsr.view_change.complete`). */
function publish(event: Telemetry): void {
  let target = channels.get(event.name);
  if (target === undefined) {
    target = channel(event.name);
    channels.set(event.name, target);
  }
  if (target.hasSubscribers) target.publish(event);
}
