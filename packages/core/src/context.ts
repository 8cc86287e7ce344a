/**
 * The per-step context: the configuration, the state machine, and the list
 * the handlers append effects to. Handlers receive a copy-on-write draft of
 * the state (see `step`) and this context; `step` turns both into
 * `[state, effects]`.
 */
import type { Draft } from 'immer';
import type { ReplicaConfig } from './config.js';
import type { Effect, TelemetryData, TelemetryName, TelemetryPayload, TimerName } from './effects.js';
import type { Message, Reply } from './messages.js';
import { primaryOf } from './quorum.js';
import { assert } from './assert.js';
import type { ClientTable, InFlightRequests } from './client-table.js';
import type { Log } from './log.js';
import type { RequestQueue } from './request-queue.js';
import type { Opaque, PrimaryReads, PrimaryState, ReplicaState, StateMachine } from './state.js';

/**
 * The mutable view of the state that handlers work on. The persistent
 * collections are values (class instances that are never copied or frozen
 * as plain data): handlers replace them, never mutate them, so the draft
 * type keeps their own types.
 */
type Values = 'log' | 'clientTable' | 'app' | 'machine' | 'config' | 'primary';
/** `reads` is a frozen record that handlers replace (reads.ts), never change. */
export type DraftPrimary = Omit<Draft<PrimaryState>, 'inFlight' | 'queue' | 'reads'> & { inFlight: InFlightRequests; queue: RequestQueue; reads: PrimaryReads };
export type DraftState = Omit<Draft<ReplicaState>, Values> & {
  log: Log;
  clientTable: ClientTable;
  app: Opaque<unknown>;
  readonly machine: Opaque<StateMachine>;
  readonly config: ReplicaState['config'];
  primary: DraftPrimary | null;
};

/** Distributes over the message union so each variant keeps its own fields. */
type WithoutEnvelope<M> = M extends Message ? Omit<M, 'cluster' | 'replica' | 'viewNumber'> : never;
export type MessageBody = WithoutEnvelope<Message>;

export class StepContext {
  readonly effects: Effect[] = [];
  constructor(
    readonly config: ReplicaConfig,
    readonly machine: StateMachine,
  ) {}

  get self(): number {
    return this.config.replicaId;
  }

  get replicaCount(): number {
    return this.config.replicaCount;
  }

  isPrimaryOf(viewNumber: number): boolean {
    return primaryOf(viewNumber, this.config.replicaCount) === this.config.replicaId;
  }

  emit(effect: Effect): void {
    this.effects.push(effect);
  }

  /** Emits a telemetry event; its payload has the shape `TelemetryPayloads[name]` says (an event without fields takes none). */
  telemetry<N extends TelemetryName>(s: DraftState, name: N, ...payload: keyof TelemetryPayload<N> extends never ? [] : [TelemetryPayload<N>]): void {
    const data: TelemetryData = payload[0] ?? {};
    this.effects.push({
      kind: 'telemetry',
      event: {
        name,
        replicaId: this.config.replicaId,
        viewNumber: s.viewNumber,
        opNumber: s.log.lastOpNumber,
        commitNumber: s.commitNumber,
        data,
      },
    });
  }

  /** Builds a message from this replica in its current view. */
  message(s: DraftState, body: MessageBody): Message {
    return { cluster: this.config.cluster, replica: this.config.replicaId, viewNumber: s.viewNumber, ...body };
  }

  send(s: DraftState, to: number, body: MessageBody): void {
    // A replica's own vote or acknowledgement is recorded directly; a message to itself would count it twice.
    assert(to !== this.config.replicaId && to < this.config.replicaCount, 'a replica sends only to another replica of the configuration');
    this.effects.push({ kind: 'send', to, message: this.message(s, body) });
  }

  /** Sends to every other replica. */
  broadcast(s: DraftState, body: MessageBody): void {
    const message = this.message(s, body);
    for (let to = 0; to < this.config.replicaCount; to++) {
      if (to !== this.config.replicaId) this.effects.push({ kind: 'send', to, message });
    }
  }

  reply(reply: Reply): void {
    this.effects.push({ kind: 'reply', clientId: reply.clientId, reply });
  }

  /** Starts (or restarts) a timer for its configured duration, times `scale` (a backoff). */
  setTimer(timer: TimerName, scale = 1): void {
    this.effects.push({ kind: 'set-timer', timer, afterMs: timerDurationMs(this.config, timer) * scale });
  }

  cancelTimer(timer: TimerName): void {
    this.effects.push({ kind: 'cancel-timer', timer });
  }

  /** Refuses untrusted input: a reason for the interpreter and a telemetry event. Protocol state is untouched. */
  reject(s: DraftState, reason: string, input: string): void {
    this.effects.push({ kind: 'reject', reason, input });
    this.telemetry(s, 'vsr.input.rejected', { reason, input });
  }
}

export function timerDurationMs(config: ReplicaConfig, timer: TimerName): number {
  const { timeouts } = config;
  switch (timer) {
    case 'heartbeat':
      return timeouts.heartbeatMs;
    case 'primary-timeout':
      return timeouts.primaryTimeoutMs;
    case 'prepare-retry':
      return timeouts.prepareRetryMs;
    case 'view-change-timeout':
      return timeouts.viewChangeTimeoutMs;
    case 'view-change-retry':
      return timeouts.viewChangeRetryMs;
    case 'repair-retry':
      return timeouts.repairRetryMs;
    case 'recovery-retry':
      return timeouts.recoveryRetryMs;
  }
}
