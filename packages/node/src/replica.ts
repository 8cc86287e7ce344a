/**
 * `startReplica`: runs one @vsr/core replica in a Node process. It feeds the
 * reducer events one at a time and carries out its effects under the effect
 * contract: storage effects go to the durable store; sends and replies that
 * follow a storage effect wait until the store has been flushed (one fsync
 * for all the steps of a turn of the event loop: group commit); timers are
 * named `setTimeout`s, a new one replacing the old; telemetry is published
 * on `node:diagnostics_channel`, one channel per event name.
 *
 * The transport and the reply channel are pluggable, like the Elixir
 * library's `send_vsr` / `vsr_send` and `send_reply`.
 */
import { channel } from 'node:diagnostics_channel';
import {
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
  readonly transport: Transport;
  /** Called with every reply the replica sends a client (in addition to `request`'s promise). */
  readonly onReply?: (clientId: string, reply: Reply) => void;
  /** Called with every rejected input (default: nothing). */
  readonly onReject?: (reason: string, input: string) => void;
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
  /** What storage held at start (a torn tail dropped, or damage that made it recover). */
  readonly boot: OpenReport;
  /**
   * Submits a client request (untrusted input: the core validates it);
   * `respond` gets this replica's answer, which may be a redirect or an error.
   * The reply channel the transport's clients use.
   */
  submit(request: unknown, respond: (reply: Reply) => void): void;
  /** Submits a client request here; resolves with this replica's answer (which may be a redirect). */
  request(clientId: string, requestNumber: number, operation: unknown, timeoutMs?: number): Promise<Reply>;
  status(): ReplicaStatus;
  dump(): string;
  /** The reducer's state, for tests and tools. */
  state(): ReplicaState;
  /** Stops, after making buffered writes durable. */
  close(): void;
  /** Stops like `kill -9`: buffered writes and held sends are lost. */
  crash(): void;
}

export class RequestTimeout extends Error {
  constructor(clientId: string, requestNumber: number, timeoutMs: number) {
    super(`request ${clientId}#${requestNumber} got no answer within ${timeoutMs} ms`);
    this.name = 'RequestTimeout';
  }
}

export function startReplica<S, Op, R>(options: ReplicaOptions<S, Op, R>): ReplicaHandle {
  let state = initialState(options.config, options.machine);
  const { storage, report } = FileStorage.open(options.directory, { create: options.create === true });
  const timers = new Map<TimerName, NodeJS.Timeout>();
  const waiting = new Map<string, Array<(reply: Reply) => void>>();
  /**
   * Where to send each client's next reply: the channel its latest request
   * came in on. A client has one request outstanding, so one route each;
   * bounded like the client table (the oldest route goes first).
   */
  const routes = new Map<string, (reply: Reply) => void>();
  const routesMax = state.config.limits.clientTableMax;
  /** Sends and replies that follow storage effects not yet flushed. */
  let held: Array<() => void> = [];
  let flushScheduled = false;
  let closed = false;

  const flush = (): void => {
    flushScheduled = false;
    if (closed) return;
    storage.flush();
    const released = held;
    held = [];
    for (const send of released) send();
  };

  const outgoing = (send: () => void): void => {
    if (storage.dirty || held.length > 0) {
      held.push(send);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    } else {
      send();
    }
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
          if (!flushScheduled) {
            flushScheduled = true;
            setImmediate(flush);
          }
          break;
        case 'send': {
          const { to, message } = effect;
          outgoing(() => options.transport.send(to, message));
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
          break;
        case 'reject':
          options.onReject?.(effect.reason, effect.input);
          break;
      }
    }
  };

  const run = (event: Event): void => {
    if (closed) return;
    const [next, effects] = step(state, event);
    state = next;
    carryOut(effects);
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
        message: 'request.clientId: expected a non-empty string (a client request is {clientId, requestNumber, operation})',
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

  options.transport.listen((message) => run({ kind: 'message', message }));
  options.transport.serveClients?.(submit);
  run({ kind: 'boot', storage: report.boot });

  return {
    boot: report,
    submit,
    request(clientId, requestNumber, operation, timeoutMs = 5_000) {
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
    close() {
      if (closed) return;
      if (storage.dirty || held.length > 0) flush();
      stop();
    },
    crash() {
      if (!closed) stop();
    },
  };

  function stop(): void {
    closed = true;
    held = [];
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
    options.transport.close();
    storage.close();
  }
}

function readClientId(request: unknown): string | null {
  if (request === null || typeof request !== 'object') return null;
  const clientId = (request as { clientId?: unknown }).clientId;
  return typeof clientId === 'string' && clientId.length > 0 ? clientId : null;
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
