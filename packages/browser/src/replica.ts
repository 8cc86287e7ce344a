/**
 * `startBrowserReplica`: runs one @vsr/core replica in a page or a Web
 * Worker. It feeds the reducer one event at a time and carries out the
 * effects under the effect contract: storage effects go to the store, whose
 * flushes are IndexedDB transactions (group-commit.ts); sends and replies
 * that follow a storage effect wait until the transaction holding it has
 * completed. Timers are named `setTimeout`s, a new one replacing the old;
 * telemetry goes to a callback (the page, or the worker's host).
 */
import {
  readClientId,
  unreadableClientIdReply,
  initialState,
  observe,
  primaryOf,
  type Effect,
  type Event,
  type Message,
  type ReplicaState,
  type ReplicaView,
  type Reply,
  type StateMachine,
  type Telemetry,
} from '@vsr/core';
import { GroupCommit, NamedTimers, ReplyRoutes, globalTimers, timedStep, type ReplicaTimers, type TimedStep, type TimedTelemetry } from '@vsr/runtime';
import type { OpenReport, ReplicaStorage } from './storage.js';
import type { BrowserTransport, Refusal } from './transport.js';

export type { ReplicaTimers } from '@vsr/runtime';

/** One message leaving or reaching this replica, or its new position: for a live space-time diagram. */
export type ReplicaTraceEvent =
  | { readonly kind: 'send'; readonly atMs: number; readonly from: number; readonly to: number; readonly id: number; readonly type: string; readonly viewNumber: number; readonly opNumber?: number }
  | { readonly kind: 'deliver'; readonly atMs: number; readonly from: number; readonly to: number; readonly id: number }
  | { readonly kind: 'state'; readonly atMs: number; readonly replicaId: number; readonly viewNumber: number; readonly status: string; readonly opNumber: number; readonly commitNumber: number };

export interface BrowserReplicaOptions<S, Op, R> {
  /** The core's configuration (validated by it: a ConfigError names the field); `replicaId` is set from the option below. */
  readonly config: unknown;
  readonly replicaId: number;
  readonly machine: StateMachine<S, Op, R>;
  readonly transport: BrowserTransport;
  /** An opened store (`IndexedDbStorage.open`): its report says what the replica boots with. */
  readonly storage: ReplicaStorage;
  /** Every telemetry event of the core; `vsr.operation.applied` with the duration of the step that applied the op. */
  readonly telemetry?: (event: Telemetry | TimedTelemetry) => void;
  /** Default: the global setTimeout and clearTimeout. */
  readonly timers?: ReplicaTimers;
  /** After each step that moved the replica (status, view, op or commit number). */
  readonly onStatus?: (status: BrowserReplicaStatus) => void;
  /** Each input the core rejected, with its reason. */
  readonly onReject?: (reason: string, input: string) => void;
  /** Each frame the transport refused, with the count of refusals of that reason so far. */
  readonly onRefusal?: (refusal: Refusal, count: number) => void;
  /** Sends, deliveries and state changes (for a diagram); nothing is traced without it. */
  readonly onTrace?: (event: ReplicaTraceEvent) => void;
  /** The store failed or the core broke an invariant: the replica has stopped. Default: rethrown from a timer. */
  readonly onFatal?: (error: Error) => void;
}

export interface BrowserReplicaStatus {
  readonly replicaId: number;
  readonly viewNumber: number;
  readonly status: string;
  /** The primary of `viewNumber` (a replica id). */
  readonly primary: number;
  /** The last op in this replica's log. */
  readonly opNumber: number;
  readonly commitNumber: number;
  readonly checkpointOpNumber: number;
}

export interface BrowserReplicaHandle {
  readonly replicaId: number;
  /** What the store held at open (fresh, restored, or lost and why). */
  readonly boot: OpenReport;
  status(): BrowserReplicaStatus;
  /** The core's typed view of the replica (`S`: the machine's state type). */
  observe<S = unknown>(): ReplicaView<S>;
  /** The reducer's state, for tests and tools. */
  state(): ReplicaState;
  /** Submits a client request (untrusted: the core validates it); `respond` gets the answer, maybe a redirect. */
  submit(request: unknown, respond: (reply: Reply) => void): void;
  /** Frames the transport refused so far, by reason. */
  refusals(): Readonly<Record<string, number>>;
  /** Sends and replies waiting for a flush. */
  heldCount(): number;
  /** Stops after making buffered writes durable and sending what waited for them. */
  close(): Promise<void>;
  /** Stops like a closed tab: buffered writes and held sends are lost; transactions under way are aborted. */
  crash(): Promise<void>;
}

export function startBrowserReplica<S, Op, R>(options: BrowserReplicaOptions<S, Op, R>): BrowserReplicaHandle {
  return new RunningReplica(options).start();
}

/** The core's configuration with this replica's id; refuses a config that names another. */
function configFor(config: unknown, replicaId: number): unknown {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return config; // The core names the problem.
  const named = (config as { replicaId?: unknown }).replicaId;
  if (named !== undefined && named !== replicaId) throw new Error(`startBrowserReplica: config.replicaId is ${JSON.stringify(named)} but replicaId is ${replicaId}`);
  return { ...config, replicaId };
}

class RunningReplica<S, Op, R> {
  private state: ReplicaState;
  private readonly commit: GroupCommit;
  private readonly timers: NamedTimers;
  private readonly replies: ReplyRoutes;
  private readonly refused = new Map<string, number>();
  private readonly replicaId: number;
  private closed = false;

  constructor(private readonly options: BrowserReplicaOptions<S, Op, R>) {
    this.state = initialState(configFor(options.config, options.replicaId), options.machine);
    this.replicaId = this.state.config.replicaId;
    this.timers = new NamedTimers(options.timers ?? globalTimers);
    // A flush is one IndexedDB transaction, started after the current task: every effect of its steps joins it.
    this.commit = new GroupCommit(options.storage, { schedule: (start) => queueMicrotask(start), nowMs: () => performance.now(), onFailure: (error) => this.fail('store', error) });
    this.replies = new ReplyRoutes(this.state.config.limits.clientTableMax);
  }

  start(): BrowserReplicaHandle {
    const submit = (request: unknown, respond: (reply: Reply) => void) => this.submit(request, respond);
    this.options.transport.listen(
      (message, frameId) => this.receive(message, frameId),
      (refusal) => this.refuse(refusal),
    );
    this.options.transport.serveClients?.(submit);
    this.run({ kind: 'boot', storage: this.options.storage.report.boot });
    return {
      replicaId: this.replicaId,
      boot: this.options.storage.report,
      status: () => statusOf(this.state),
      observe: <T>() => observe<T>(this.state),
      state: () => this.state,
      submit,
      refusals: () => Object.fromEntries(this.refused),
      heldCount: () => this.commit.heldCount,
      close: () => this.close(),
      crash: () => this.crash(),
    };
  }

  private receive(message: Message, frameId: number): void {
    this.options.onTrace?.({ kind: 'deliver', atMs: Date.now(), from: message.replica, to: this.replicaId, id: frameId });
    this.run({ kind: 'message', message });
  }

  private run(event: Event): void {
    if (this.closed) return;
    let stepped: TimedStep;
    try {
      stepped = timedStep(this.state, event, () => performance.now());
    } catch (error) {
      // The reducer is total on any input: a throw is a broken invariant, a bug. Stop rather than run on.
      return this.fail('core', error);
    }
    const before = this.state;
    this.state = stepped.state;
    for (const effect of stepped.effects) this.carryOut(effect, stepped.stepDurationMs);
    if (moved(before, this.state)) this.reportStatus();
  }

  private reportStatus(): void {
    const status = statusOf(this.state);
    this.options.onStatus?.(status);
    const { replicaId, viewNumber, opNumber, commitNumber } = status;
    this.options.onTrace?.({ kind: 'state', atMs: Date.now(), replicaId, viewNumber, status: status.status, opNumber, commitNumber });
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
        return this.commit.send(() => this.sendNow(to, message));
      }
      case 'reply': {
        const { clientId, reply } = effect;
        return this.commit.send(() => this.replies.deliver(clientId, reply));
      }
      case 'set-timer': {
        const timer = effect.timer;
        return this.timers.set(timer, effect.afterMs, () => this.run({ kind: 'timeout', timer }));
      }
      case 'cancel-timer':
        return this.timers.cancel(effect.timer);
      case 'telemetry':
        // vsr.operation.applied carries the duration of the step that applied the op.
        return this.options.telemetry?.(effect.event.name === 'vsr.operation.applied' ? { ...effect.event, stepDurationMs } : effect.event);
      case 'reject':
        return this.options.onReject?.(effect.reason, effect.input);
    }
  }

  private sendNow(to: number, message: Message): void {
    const id = this.options.transport.send(to, message);
    const opNumber = 'opNumber' in message ? message.opNumber : undefined;
    this.options.onTrace?.({ kind: 'send', atMs: Date.now(), from: this.replicaId, to, id, type: message.type, viewNumber: message.viewNumber, ...(opNumber === undefined ? {} : { opNumber }) });
  }

  private refuse(refusal: Refusal): void {
    const count = (this.refused.get(refusal.reason) ?? 0) + 1;
    this.refused.set(refusal.reason, count);
    this.options.onRefusal?.(refusal, count);
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

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.stop();
    try {
      await this.commit.stop();
    } finally {
      this.options.transport.close();
      await this.options.storage.close();
    }
  }

  private async crash(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.stop();
    this.commit.drop();
    this.options.transport.close();
    this.options.storage.crash();
    await this.commit.settled();
  }

  /** The store failed, or the core broke an invariant: stop as in a crash and report the true cause. */
  private fail(source: 'store' | 'core', cause: unknown): void {
    void this.crash();
    const error = cause instanceof Error ? cause : new Error(String(cause));
    const what = source === 'store' ? `the store failed (${error.message})` : `the core broke an invariant, a bug (${error.message})`;
    const fatal = new Error(`replica ${this.replicaId}: ${what}; the replica stopped`, { cause: error });
    if (this.options.onFatal !== undefined) this.options.onFatal(fatal);
    else
      globalThis.setTimeout(() => {
        throw fatal;
      }, 0);
  }
}

function statusOf(state: ReplicaState): BrowserReplicaStatus {
  const view = observe(state);
  return {
    replicaId: view.replicaId,
    viewNumber: view.viewNumber,
    status: view.status,
    primary: primaryOf(view.viewNumber, view.replicaCount),
    opNumber: view.opNumber,
    commitNumber: view.commitNumber,
    checkpointOpNumber: view.checkpointOpNumber,
  };
}

function moved(before: ReplicaState, after: ReplicaState): boolean {
  if (before === after) return false;
  return (
    before.status !== after.status || before.viewNumber !== after.viewNumber || before.log.lastOpNumber !== after.log.lastOpNumber || before.commitNumber !== after.commitNumber
  );
}

/** The request's client id if it has a valid one (the core's rule), to route the reply by. */
