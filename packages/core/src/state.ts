/**
 * The replica's state: plain data, apart from three persistent collections
 * (the log, the client table, the primary's in-flight index) that share
 * structure between versions so a step never copies them whole.
 */
import type * as t from 'io-ts';
import type { ClientTable, InFlightRequests } from './client-table.js';
import type { Log } from './log.js';
import type { Checkpoint, CheckpointReference } from './messages.js';
import type { RequestQueue } from './request-queue.js';
import type { ReplicaConfig } from './config.js';

import type { VoteSet } from './quorum.js';

/** What the state machine sees besides the operation. Everything in it is in the log. */
export interface ApplyContext {
  readonly opNumber: number;
  readonly timestampMs: number;
  readonly clientId: string;
  readonly requestNumber: number;
}

/**
 * The application: pure and deterministic. `apply` must not mutate `state`;
 * it returns the next state and the result sent to the client.
 */
export interface StateMachine<S = unknown, Op = unknown, R = unknown> {
  readonly name: string;
  /** Validates untrusted operations before they enter the log. */
  readonly operation: t.Decoder<unknown, Op>;
  init(): S;
  apply(state: S, operation: Op, context: ApplyContext): readonly [S, R];
  /** A deterministic, JSON-serialisable image of the state (checkpoints, comparisons). */
  snapshot(state: S): unknown;
  restore(snapshot: unknown): S;
}

/**
 * Holds a value the reducer never copies or freezes: the application's state
 * (which may be a large persistent structure) and the state machine itself.
 */
export class Opaque<T> {
  constructor(readonly value: T) {}
  toJSON(): unknown {
    const value = this.value as { name?: unknown; apply?: unknown };
    if (value !== null && typeof value === 'object' && typeof value.apply === 'function') return value.name;
    return this.value;
  }
}

/** The latest request a client executed, and its cached reply. */
export interface ClientSession {
  readonly requestNumber: number;
  readonly result: unknown;
  /** The op that executed it. */
  readonly opNumber: number;
}

export interface PipelineOp {
  readonly opNumber: number;
  /** Replicas known to hold the op durably in this view (the primary's own vote included). */
  readonly acks: VoteSet;
}

/** Present only while this replica is the primary of its view, in normal status. */
export interface PrimaryState {
  readonly pipeline: readonly PipelineOp[];
  readonly queue: RequestQueue;
  /** clientId → requestNumber of every request queued or in the pipeline. */
  readonly inFlight: InFlightRequests;
}

export interface DoViewChangeVote {
  readonly replica: number;
  readonly lastNormalView: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  readonly checkpoint: Opaque<Checkpoint | CheckpointReference> | null;
  /** A value, not a draft: the chosen log is installed from it. */
  readonly log: Log;
}

/** Present only while status is view-change. */
export interface ViewChangeState {
  readonly startViewChangeVotes: VoteSet;
  readonly doViewChangeSent: boolean;
  /** DoViewChange messages received by the would-be primary, one per replica, sorted by replica. */
  readonly doViewChanges: readonly DoViewChangeVote[];
  /**
   * By replica: the op of its durable checkpoint, as it reported in this view
   * change (StartViewChange or DoViewChange), or null. A log sent to a replica
   * whose checkpoint is at least the sender's may leave the snapshot out.
   */
  readonly checkpointOpNumbers: readonly (number | null)[];
  /**
   * View changes started in a row without reaching normal status, this one
   * excluded: 0 for the first. Its timers back off exponentially with it.
   */
  readonly attempt: number;
}

/** Present only while status is recovering. */
export interface RecoveryState {
  readonly nonce: number;
  /** One answer per replica (the latest), sorted by replica. */
  readonly responses: readonly RecoveryAnswer[];
}

export interface RecoveryAnswer {
  readonly replica: number;
  readonly viewNumber: number;
  /** From the primary of `viewNumber` only. */
  readonly primaryState: {
    readonly opNumber: number;
    readonly commitNumber: number;
    readonly checkpoint: Opaque<Checkpoint> | null;
    readonly log: Log;
  } | null;
}

export type Status = 'booting' | 'normal' | 'view-change' | 'recovering';

export interface ReplicaState {
  readonly config: ReplicaConfig;
  readonly machine: Opaque<StateMachine>;
  readonly status: Status;
  readonly viewNumber: number;
  readonly lastNormalView: number;
  /** Entries after the checkpoint (the log's base is the checkpoint's op number, or 0). */
  readonly log: Log;
  /** The latest checkpoint, or null before the first. Boxed: its snapshot may be large. */
  readonly checkpoint: Opaque<Checkpoint> | null;
  /** Ops executed; every one of them is known committed. */
  readonly commitNumber: number;
  /** The highest commit number heard of; can run ahead of the log while a backup repairs. */
  readonly commitNumberMax: number;
  readonly app: Opaque<unknown>;
  /** Insertion order is recency of execution: the first session is the one to evict. */
  readonly clientTable: ClientTable;
  /** Timestamp of the latest op in the log. */
  readonly timestampMs: number;
  readonly primary: PrimaryState | null;
  readonly viewChange: ViewChangeState | null;
  /** A backup waiting for NewState: the op number it asked after. */
  readonly repairOpNumber: number | null;
  readonly recovery: RecoveryState | null;
}
