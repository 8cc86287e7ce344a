/** What the suite needs to know of a store kind: how to open, reopen and crash it, and the faults it can be dealt. */
import type { ReplicaStore } from '@vsr/runtime';

/**
 * How a flush survives a crash in its middle:
 * - `whole`: all of it or none of it (one transaction: LMDB, IndexedDB);
 * - `ordered-prefix`: the effects before some point of the flush, in order (a journal synced
 *   before a header is renamed into place: the default Node store). Weaker, but enough for the
 *   effect contract: what lands is what a crash between two of those effects would have left.
 *
 * In both, a checkpoint may land on its own (the relaxation the effect contract allows), but a
 * release never lands without a checkpoint covering it.
 */
export type FlushAtomicity = 'whole' | 'ordered-prefix';

/**
 * How the suite reaches a store kind. Its hooks are methods, not function-typed fields, so that
 * an adapter of a particular place and store type is accepted wherever the suite takes one.
 */
export interface StoreAdapter<Place = unknown, Store extends ReplicaStore = ReplicaStore> {
  /** Names the store kind in reports and failure messages. */
  readonly name: string;
  /** A fresh, empty place for one store (a new directory, a new database name). */
  place(): Place | Promise<Place>;
  /**
   * Opens the store at `place`. `create`: the replica is being formed with its cluster (a place
   * with no store then holds a new one; without it, such a place boots as lost).
   */
  open(place: Place, options: { readonly create: boolean }): Store | Promise<Store>;
  /**
   * Abandons the store as a process crash would: writes buffered and not flushed are lost, and
   * a flush under way may land or not, as the store's atomicity allows. Resolves once the
   * abandoned store does no more I/O, so the place can be reopened.
   */
  crash(store: Store): void | Promise<void>;
  /** Removes what `place` made once a run is over (optional). */
  dispose?(place: Place): void | Promise<void>;
  /** Default `whole`. */
  readonly flushAtomicity?: FlushAtomicity;
  /**
   * Cuts the store's last durable write short, as a crash in the middle of it would, at a point
   * `choice` picks (any non-negative integer: map it onto the bytes of that write, leaving at
   * least one byte of it and cutting at least one). Called on a closed store whose last flush
   * was one log-append. Leave it out if the store cannot tear (a transactional store).
   */
  tearTail?(place: Place, choice: number): void | Promise<void>;
  /**
   * Changes durable data behind the store's back, at a place `choice` picks (any non-negative
   * integer: map it onto the bytes the store holds), bypassing any checksum the store keeps.
   * Called on a closed store. Returns what was changed, for failure messages. Leave it out if
   * the store kind cannot be reached under the store.
   */
  corrupt?(place: Place, choice: number): string | Promise<string>;
}

export interface ConformanceOptions {
  /** Runs of each property (default 25). */
  readonly numRuns?: number;
  /** fast-check's seed (default: drawn, and printed). Replays a reported failure with its `path`. */
  readonly seed?: number;
  /** fast-check's path, from a failure report, to replay exactly the shrunk counterexample. */
  readonly path?: string;
  /** Where each property prints its seed and outcome (default `console.log`; `() => {}` for silence). */
  readonly log?: (line: string) => void;
  /** Longest random sequence of operations in a run (default 40). */
  readonly operationsMax?: number;
}

export interface PropertyOutcome {
  readonly property: string;
  readonly store: string;
  /** Not run: the adapter has no hook for the fault it needs (and why). */
  readonly skipped: string | null;
  readonly seed: number;
  readonly numRuns: number;
}

/** A property that failed: the message holds fast-check's report (seed, path, counterexample, error). */
export class StoreConformanceError extends Error {
  constructor(
    readonly property: string,
    readonly store: string,
    readonly seed: number,
    report: string,
  ) {
    super(`${store} fails "${property}" (seed ${seed})\n${report}`);
    this.name = 'StoreConformanceError';
  }
}
