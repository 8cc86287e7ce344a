/**
 * A typed, read-only view of a replica's state for embedders and tests: the
 * numbers that say where a replica stands and the application's state, without
 * the persistent structures and boxes (`Opaque`) of `ReplicaState`, whose shape
 * is the core's own business. Comparing two replicas, waiting for convergence
 * or asserting a view change needs nothing else.
 *
 * O(1): it copies eight numbers, the status and one reference, whatever the
 * size of the log or of the application state.
 */
import { checkpointOpNumber } from './checkpoint.js';
import { primaryOf } from './quorum.js';
import type { ReplicaState, Status } from './state.js';

export interface ReplicaView<S = unknown> {
  /** This replica's index in the configuration, 0..replicaCount−1. */
  readonly replicaId: number;
  readonly replicaCount: number;
  readonly status: Status;
  readonly viewNumber: number;
  /** The latest view in which this replica was in normal status: equal to viewNumber while normal. */
  readonly lastNormalView: number;
  /**
   * The primary of `viewNumber` (`primaryOf(viewNumber, replicaCount)`), whether or not that view
   * has started: while `status` is `view-change` it is the replica the view change would make primary.
   */
  readonly primary: number;
  /** The last op in this replica's log. */
  readonly opNumber: number;
  /** The ops executed: every op up to it has been applied to `app`, exactly once. */
  readonly commitNumber: number;
  /** The op of the latest checkpoint, 0 before the first. */
  readonly checkpointOpNumber: number;
  /**
   * The state machine's state after executing `commitNumber` ops. The reducer never copies it: it
   * is the very value `apply` returned, so it must not be mutated.
   */
  readonly app: S;
}

/**
 * The view of `state`, frozen. `S` is the state type of the machine the replica runs; the core
 * cannot check it (the machine sits in the state behind `Opaque`), so the caller names it.
 */
export function observe<S = unknown>(state: ReplicaState): ReplicaView<S> {
  const { replicaId, replicaCount } = state.config;
  return Object.freeze({
    replicaId,
    replicaCount,
    status: state.status,
    viewNumber: state.viewNumber,
    lastNormalView: state.lastNormalView,
    primary: primaryOf(state.viewNumber, replicaCount),
    opNumber: state.log.lastOpNumber,
    commitNumber: state.commitNumber,
    checkpointOpNumber: checkpointOpNumber(state),
    app: state.app.value as S,
  });
}
