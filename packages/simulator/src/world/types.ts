/**
 * The shapes of one simulated world: its options, its summary, its trace, and the events its
 * queue holds. Every module of the world shares them.
 */
import type { Limits, StateMachine, TimerName, Timeouts } from '@vsr/core';
import type { KvOperation, KvResult } from '@vsr/kv';
import type { FaultClass, FaultName, FaultRates } from '../faults.js';
import type { Model, Workload } from '../model.js';

/** Bugs a test can plant in the interpreter, to show the checkers catch them. */
export interface InterpreterBugs {
  /** Let sends and replies leave before the writes they follow are durable. */
  readonly sendBeforeDurable?: boolean;
  /**
   * At boot, take the last log record for a torn write and drop it, instead of
   * refusing the store: truncating an op the replica may have acknowledged.
   */
  readonly truncateTailAtBoot?: boolean;
  /**
   * Never write the durable header; at boot, a store without a header is taken
   * for a new replica and formatted: the replica rejoins as if fresh.
   */
  readonly skipHeaderWrites?: boolean;
  /**
   * Let a log release reach the disk before the checkpoint covering it (the
   * one thing the background-checkpoint relaxation forbids): a crash in
   * between leaves a store whose log starts after its checkpoint.
   */
  readonly releaseBeforeCheckpoint?: boolean;
}

/** One fault at a simulated time. A crash that would take down more than f replicas is skipped. */
export type ScheduledFault =
  | { readonly atMs: number; readonly kind: 'crash'; readonly replica: number }
  | { readonly atMs: number; readonly kind: 'restart'; readonly replica: number }
  | { readonly atMs: number; readonly kind: 'wipe'; readonly replica: number }
  | {
      readonly atMs: number;
      readonly kind: 'partition';
      readonly blocked: ReadonlyArray<readonly [number, number]>;
      readonly durationMs: number;
    };

export interface SimulationOptions<Op = KvOperation, R = KvResult, State = unknown> {
  readonly seed: number;
  readonly replicaCount: number;
  readonly clientCount: number;
  readonly requests: number;
  readonly faults: readonly FaultName[];
  /**
   * The service under test (default: the key-value machine, its workload, and the key-value
   * linearizability checker). Pass all three: `{ machine, workload, model }`.
   */
  readonly machine?: StateMachine<unknown, Op, R>;
  readonly workload?: Workload<Op, R> | (() => Workload<Op, R>);
  readonly model?: Model<State, Op, R>;
  /** Keep every event for --trace and --html (slower). */
  readonly trace?: boolean;
  /** After the faults heal, every request must complete within this (simulated) time of being sent (or of the healing). */
  readonly livenessBoundMs?: number;
  /**
   * The share of runs (with crash, wipe or partition faults, and no schedule) whose faults end
   * in a partial heal: f replicas stay crashed or cut off until the workload is over, and the
   * quorum core must answer every request within the liveness bound (default 0.5).
   */
  readonly partialHealShare?: number;
  /**
   * How the workload's reads travel (operations the machine also answers as queries, such as
   * the key-value read): `log`, as operations through the log (the default); `direct`, as reads
   * the primary answers after confirming its view with a quorum; `mixed`, each one either way
   * at random.
   */
  readonly reads?: 'log' | 'direct' | 'mixed';
  /** A client retries a request at another replica after this long without an answer. */
  readonly requestTimeoutMs?: number;
  /** A client whose workload returns null stays idle for a time drawn in [idleMinMs, idleMaxMs] (default 200..2000). */
  readonly idleMinMs?: number;
  readonly idleMaxMs?: number;
  /**
   * Budgets that end a run making no progress (reported as a liveness violation): simulated
   * time (default 600 s + 2 s per request) and events (default 1,000,000 + 5,000 per request).
   */
  readonly simulatedMsMax?: number;
  readonly eventsMax?: number;
  readonly timeouts?: Partial<Timeouts>;
  readonly limits?: Partial<Limits>;
  readonly bugs?: InterpreterBugs;
  /** Check every replica's state invariants after each step (default true; see SafetyMonitor). */
  readonly stateInvariants?: boolean;
  /** Replace some of the drawn fault rates (for targeted campaigns and tests). */
  readonly rates?: Partial<FaultRates>;
  /**
   * Crashes, restarts and partitions at given times, instead of drawing them
   * from the seed (network faults still follow `faults` and `rates`). This is
   * what fast-check generates and shrinks; see `faultScheduleArbitrary`.
   */
  readonly schedule?: readonly ScheduledFault[];
}

export interface SimulationSummary {
  readonly seed: number;
  readonly replicas: number;
  readonly faults: string;
  readonly fault_classes: FaultClass[];
  readonly requests_ok: number;
  /** Of requests_ok, the reads answered without the log (options.reads). */
  readonly reads_direct: number;
  readonly requests_indeterminate: number;
  readonly committed_ops: number;
  readonly view_changes: number;
  readonly crashes: number;
  readonly restarts: number;
  /** Replicas that lost their disk. */
  readonly wipes: number;
  /** Recoveries completed (VR Revisited §4.3). */
  readonly recoveries: number;
  /** Stored records corrupted or torn. */
  readonly storage_faults: number;
  /** Boots that found a damaged store and recovered it from peers. */
  readonly repairs: number;
  /** NewState messages a backup installed to fill a gap. */
  readonly state_transfers: number;
  /** Checkpoints taken, and installed from a peer (snapshot transfer). */
  readonly checkpoints: number;
  readonly checkpoints_installed: number;
  /** The most log entries any replica held in memory at once. */
  readonly log_entries_max: number;
  readonly partitions: number;
  readonly messages_sent: number;
  readonly messages_dropped: number;
  readonly rejected_inputs: number;
  readonly steps: number;
  /** Events the world processed (deliveries, timers, fsyncs, client events, faults). */
  readonly events: number;
  readonly linearizable: boolean;
  readonly converged: boolean;
  readonly violations: string[];
  readonly trace_digest: string;
  readonly sim_ms: number;
  readonly wall_ms: number;
}

/** One operation a client performed, as the simulator records it (for the key-value machine, `HistoryOperation`). */
export interface SimulatedOperation<Op = unknown, R = unknown> {
  /** Unique within the history. */
  id: number;
  clientId: string;
  operation: Op;
  callMs: number;
  /** Null when the client never learned the outcome. */
  returnMs: number | null;
  outcome: { type: 'ok'; result: R } | { type: 'indeterminate' };
}

export type TraceEvent =
  | { atMs: number; kind: 'send'; id: number; from: number; to: number; type: string; viewNumber: number; opNumber?: number }
  | { atMs: number; kind: 'deliver'; id: number; to: number }
  | { atMs: number; kind: 'drop'; id: number; reason: string }
  | { atMs: number; kind: 'timer'; replicaId: number; timer: TimerName }
  | { atMs: number; kind: 'state'; replicaId: number; viewNumber: number; status: string; opNumber: number; commitNumber: number }
  | { atMs: number; kind: 'crash'; replicaId: number }
  | { atMs: number; kind: 'restart'; replicaId: number }
  | { atMs: number; kind: 'wipe'; replicaId: number }
  | { atMs: number; kind: 'partition'; blocked: Array<[number, number]> }
  | { atMs: number; kind: 'heal' }
  | { atMs: number; kind: 'faults-end' }
  | { atMs: number; kind: 'call'; client: string; id: number; operation: unknown }
  | { atMs: number; kind: 'return'; client: string; id: number; result: unknown }
  | { atMs: number; kind: 'violation'; message: string };

export interface SimulationResult<Op = KvOperation, R = KvResult> {
  readonly summary: SimulationSummary;
  readonly history: Array<SimulatedOperation<Op, R>>;
  readonly trace: TraceEvent[];
}
