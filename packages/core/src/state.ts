/**
 * The replica's state: plain data, apart from three persistent collections
 * (the log, the client table, the primary's in-flight index) that share
 * structure between versions so a step never copies them whole.
 *
 * Each field's comment says what always holds of it after a step, as etcd raft's
 * tracker/progress.go does. `checkReplicaInvariants` (invariants.ts) checks those a state shows
 * on its own at O(pipeline + votes) cost, and names the one that breaks; a bound that an
 * operation keeps (the client table's, the pipeline's when preparing) is asserted where it runs.
 */
import type * as t from 'io-ts';
import type { ClientTable, InFlightRequests } from './client-table.js';
import type { Log } from './log.js';
import type { Checkpoint, CheckpointReference } from './messages.js';
import type { RequestQueue } from './request-queue.js';
import type { ReplicaConfig } from './config.js';

import type { VoteSet } from './quorum.js';
import type { PersistentQueue } from './persistent-queue.js';

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
  /**
   * Reads without the log (reads.ts), if the machine answers queries: `query` validates an
   * untrusted query, `answer` computes its result from the state, changing nothing. Without it,
   * every read goes through the log as an operation.
   */
  readonly reads?: MachineReads<S, unknown, R>;
  /**
   * The version of what `snapshot` returns (a non-negative integer; default 0). Checkpoints
   * record it. Raise it when the snapshot's format changes, and give `migrate`.
   */
  readonly snapshotVersion?: number;
  /**
   * Turns a snapshot of an older version (`fromVersion` < `snapshotVersion`) into one of the
   * current version, for `restore`. A replica refuses, with the reason, a checkpoint of a newer
   * version than its machine's, or of an older one it cannot migrate.
   */
  migrate?(snapshot: unknown, fromVersion: number): unknown;
}

export interface MachineReads<S, Q, R> {
  readonly query: t.Decoder<unknown, Q>;
  answer(state: S, query: Q): R;
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
  /**
   * Replicas known to hold the op durably in this view (the primary's own vote included).
   * A vote set. Acknowledgements are cumulative, so an op's acks include every later op's: they
   * never grow along the pipeline.
   */
  readonly acks: VoteSet;
}

/**
 * Present only while this replica is the primary of its view, in normal status. The primary has
 * executed every op it committed: commitNumber === commitNumberMax.
 */
export interface PrimaryState {
  /**
   * The ops after commitNumber, in order, exactly up to log.lastOpNumber. The oldest lacks a
   * quorum (one that has one is committed at once). Preparing keeps it within pipelineMax; a view
   * change may hand the new primary more (replicas that restarted lost their commit numbers).
   */
  readonly pipeline: readonly PipelineOp[];
  /**
   * Requests waiting for room in the pipeline: within requestQueueMax requests and
   * requestQueueBytesMax bytes, and non-empty only while the pipeline holds pipelineMax ops.
   */
  readonly queue: RequestQueue;
  /** clientId → requestNumber of every request queued or in the pipeline. */
  readonly inFlight: InFlightRequests;
  /** Reads waiting for a confirmation round or for an op to commit (reads.ts). */
  readonly reads: PrimaryReads;
}

/** A read the primary holds until it may answer it. */
export interface PendingRead {
  readonly clientId: string;
  readonly readNumber: number;
  readonly query: unknown;
  /** The primary's last op when the read arrived: it is answered once that op is executed. */
  readonly opNumber: number;
  /** The first confirmation round sent after the read arrived: a quorum must confirm it (or a later one). */
  readonly round: number;
}

export interface PrimaryReads {
  /** The latest confirmation round sent in this view; 0 before the first. */
  readonly round: number;
  /**
   * By replica id: the latest round each confirmed (0: none yet); the primary's own is `round`.
   * Confirmations are cumulative: a backup that confirmed round r received it, in the view,
   * after every read of an earlier round had arrived, so it confirms those rounds too.
   */
  readonly confirmed: readonly number[];
  /** The latest round a quorum confirmed: the (f + 1)-th largest of `confirmed`, at most `round`. */
  readonly confirmedRound: number;
  /**
   * In arrival order, at most readsPendingMax. A read's round and op number never decrease
   * along it (rounds and the primary's log only grow in its view), so the reads that may be
   * answered are always the oldest ones.
   */
  readonly pending: PersistentQueue<PendingRead>;
  /** Of `pending`, the reads that arrived while readRoundsMax rounds were out: they wait for round + 1. */
  readonly nextRoundReads: number;
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
  /** A vote set, with this replica's own vote from the start. */
  readonly startViewChangeVotes: VoteSet;
  /** Only once startViewChangeVotes holds a quorum (f + 1). */
  readonly doViewChangeSent: boolean;
  /**
   * DoViewChange messages received by the would-be primary, one per replica, sorted by replica;
   * empty at any other replica. Each vote's lastNormalView is before the view. The primary's own
   * vote is among them from the moment it has a StartViewChange quorum (doViewChangeSent).
   */
  readonly doViewChanges: readonly DoViewChangeVote[];
  /**
   * By replica (one entry each): the op of its durable checkpoint, as it reported in this view
   * change (StartViewChange or DoViewChange), or null; this replica's own is its checkpoint's op.
   * A log sent to a replica whose checkpoint is at least the sender's may leave the snapshot out.
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
  /** One answer per other replica (the latest), sorted by replica; never this replica's own. */
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
  /**
   * Decides which of primary, viewChange and recovery exist (see each). While booting or
   * recovering the replica holds nothing of its own: view 0, an empty log, nothing executed, no
   * checkpoint (a lost disk is not trusted).
   */
  readonly status: Status;
  /** A safe integer; views only count up. */
  readonly viewNumber: number;
  /**
   * lastNormalView <= viewNumber: equal in normal status, below it in view-change status. It
   * changes only when the replica enters normal status (become-normal.ts).
   */
  readonly lastNormalView: number;
  /**
   * Entries after log.baseOpNumber, which is the checkpoint's op, the previous checkpoint's, or
   * 0 (so log.baseOpNumber <= checkpoint op): every entry after the checkpoint is held. The last
   * entry has op log.lastOpNumber.
   */
  readonly log: Log;
  /**
   * The latest checkpoint, or null before the first; its op is at most commitNumber. Boxed: its
   * snapshot may be large.
   */
  readonly checkpoint: Opaque<Checkpoint> | null;
  /**
   * Ops executed; every one of them is known committed and held or covered by the checkpoint:
   * commitNumber === min(commitNumberMax, log.lastOpNumber) after every step (design rules 5
   * and 6 of docs/protocol.md).
   */
  readonly commitNumber: number;
  /**
   * The highest commit number heard of: commitNumber <= commitNumberMax. It can run ahead of
   * the log while a backup repairs; at the primary it equals commitNumber.
   */
  readonly commitNumberMax: number;
  readonly app: Opaque<unknown>;
  /**
   * Insertion order is recency of execution: the first session is the one to evict. Recording
   * a session never grows it past clientTableMax.
   */
  readonly clientTable: ClientTable;
  /** Timestamp of the latest op in the log: at least the last entry's. */
  readonly timestampMs: number;
  /** Non-null iff status is normal and this replica is primaryOf(viewNumber). */
  readonly primary: PrimaryState | null;
  /** Non-null iff status is view-change. */
  readonly viewChange: ViewChangeState | null;
  /**
   * A backup waiting for NewState: the op number it asked after, at most log.lastOpNumber.
   * Non-null only at a backup in normal status.
   */
  readonly repairOpNumber: number | null;
  /** Non-null iff status is recovering. */
  readonly recovery: RecoveryState | null;
}
