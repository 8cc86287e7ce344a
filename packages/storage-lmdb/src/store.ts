/**
 * The LMDB store's flushes: every effect buffered since the last flush, turned into puts and
 * removes and carried out in ONE LMDB write transaction (lmdb's `batch`, run on its write
 * thread, so the event loop goes on meanwhile), which LMDB commits atomically and,
 * with `overlappingSync` off, syncs to disk before the transaction's promise resolves. So a
 * flush is durable when it resolves, and lands whole or not at all across a crash. A
 * checkpoint goes in the same transaction as the effects around it, so `settle` has nothing
 * to wait for.
 */
import type { RootDatabase } from 'lmdb';
import type { Effect } from '@vsr/core';
import type { ReplicaStore } from '@vsr/runtime';
import { META_KEYS, logKey, seal } from './format.js';
import type { Db, Loaded } from './load.js';

/** One write of a flush's transaction. */
type Write = { readonly db: Db; readonly key: Buffer; readonly value: Buffer | null };

/** What the store's log holds once every flush so far has landed: enough to turn effects into keys. */
interface LogBounds {
  base: number;
  last: number;
  /** The op of the newest checkpoint applied (a release must not pass it). */
  checkpointOp: number;
}

export interface Databases {
  readonly root: RootDatabase;
  readonly meta: Db;
  readonly log: Db;
}

export class LmdbStore implements ReplicaStore {
  private pending: Effect[] = [];
  private readonly bounds: LogBounds;
  private closed = false;
  /** A flush refused an effect (a broken caller): the store's picture of the log can no longer be trusted. */
  private failure: Error | null = null;

  constructor(
    private readonly databases: Databases,
    loaded: Loaded,
    readonly report: ReplicaStore['report'],
  ) {
    const { log, checkpoint } = loaded;
    this.bounds = { base: log.base, last: log.base + log.log.length, checkpointOp: checkpoint?.opNumber ?? 0 };
  }

  apply(effect: Effect): void {
    if (effect.kind === 'log-append' || effect.kind === 'log-truncate' || effect.kind === 'log-release' || effect.kind === 'persist-header' || effect.kind === 'persist-checkpoint') {
      this.pending.push(effect);
    }
  }

  get dirty(): boolean {
    return this.pending.length > 0;
  }

  /** The LMDB environment, for tools (statistics, backups) and tests. Writing to it behind the store's back defeats its checks. */
  get environment(): RootDatabase {
    return this.databases.root;
  }

  /** One transaction for every effect applied so far; durable (synced) when it resolves. */
  async flush(): Promise<void> {
    if (this.closed) throw new Error('LmdbStore: closed');
    if (this.failure !== null) throw this.failure;
    const taken = this.pending;
    this.pending = [];
    let writes: Write[];
    try {
      // Checked and planned before the transaction: lmdb commits what a callback wrote even if it throws.
      writes = planWrites(taken, this.bounds, this.databases);
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      throw this.failure;
    }
    if (writes.length === 0) return;
    // `batch`: every put and remove queued in the callback goes into the same asynchronous
    // transaction, carried out on lmdb's write thread; the promise resolves once it has committed.
    await this.databases.root.batch(() => {
      for (const { db, key, value } of writes) {
        if (value === null) void db.remove(key);
        else void db.put(key, value);
      }
    });
  }

  /** Checkpoints are written in the flush's own transaction: nothing is ever left in the background. */
  settle(): Promise<void> {
    return Promise.resolve();
  }

  /** Stops: buffered effects are dropped; a flush under way (its transaction) still lands whole before the environment closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    await this.databases.root.close();
  }
}

/** The keys of ops `from`..`to` removed. */
function removals(db: Db, from: number, to: number): Write[] {
  const writes: Write[] = [];
  for (let opNumber = from; opNumber <= to; opNumber++) writes.push({ db, key: logKey(opNumber), value: null });
  return writes;
}

/** A sealed put. */
const put = (db: Db, key: Buffer, value: unknown): Write => ({ db, key, value: seal(key, value) });

/** The writes one log effect makes, moving `bounds` as `applyLogEffect` moves a stored log. Throws if the effect breaks the log's order. */
function logWrites(effect: Extract<Effect, { kind: 'log-append' | 'log-truncate' | 'log-release' }>, bounds: LogBounds, { meta, log }: Databases): Write[] {
  const logBase = (opNumber: number) => put(meta, META_KEYS.logBase, { opNumber });
  switch (effect.kind) {
    case 'log-append': {
      const { opNumber } = effect.entry;
      if (opNumber !== bounds.last + 1) throw new Error(`invariant: append of op ${opNumber} after op ${bounds.last}`);
      bounds.last = opNumber;
      return [put(log, logKey(opNumber), effect.entry)];
    }
    case 'log-truncate': {
      const { opNumber } = effect;
      if (opNumber >= bounds.base) {
        const writes = removals(log, opNumber + 1, bounds.last);
        bounds.last = Math.min(bounds.last, opNumber);
        return writes;
      }
      // Below the base, the log empties and starts there.
      const writes = [...removals(log, bounds.base + 1, bounds.last), logBase(opNumber)];
      Object.assign(bounds, { base: opNumber, last: opNumber });
      return writes;
    }
    case 'log-release': {
      const { opNumber } = effect;
      if (opNumber > bounds.checkpointOp) throw new Error(`invariant: release of op ${opNumber} with no checkpoint covering it (the newest is at op ${bounds.checkpointOp})`);
      if (opNumber <= bounds.base) return [];
      const writes = [...removals(log, bounds.base + 1, Math.min(opNumber, bounds.last)), logBase(opNumber)];
      Object.assign(bounds, { base: opNumber, last: Math.max(bounds.last, opNumber) });
      return writes;
    }
  }
}

/** The puts and removes that carry out `effects` in order. */
function planWrites(effects: readonly Effect[], bounds: LogBounds, databases: Databases): Write[] {
  const writes: Write[] = [];
  for (const effect of effects) {
    if (effect.kind === 'persist-header') {
      // The recovered replica's first header ends its recovery: the store boots normally from now on.
      writes.push(put(databases.meta, META_KEYS.header, effect.header), { db: databases.meta, key: META_KEYS.lost, value: null });
    } else if (effect.kind === 'persist-checkpoint') {
      writes.push(put(databases.meta, META_KEYS.checkpoint, effect.checkpoint));
      bounds.checkpointOp = effect.checkpoint.opNumber;
    } else if (effect.kind === 'log-append' || effect.kind === 'log-truncate' || effect.kind === 'log-release') {
      writes.push(...logWrites(effect, bounds, databases));
    }
  }
  return writes;
}
