/**
 * `IndexedDbStorage`: one replica's durable store in an IndexedDB database
 * (`vsr-cluster-<cluster>-replica-<replicaId>`), under the effect contract
 * (docs/architecture.md). The format and the open are in storage-format.ts
 * and storage-open.ts; this module carries out the effects.
 *
 * `apply` buffers storage effects in memory; `flush` puts every write since
 * the last flush in ONE readwrite transaction opened with durability
 * 'strict', and resolves only when its `complete` fires (the browser has then
 * made it durable). A transaction is atomic, so a crash leaves all of a
 * flush or none of it. Effects applied during a flush wait for the next one.
 *
 * Checkpoints are written in the background, the relaxation the effect
 * contract allows and the Node store uses: each in a transaction of its own,
 * on an object store no flush touches, so neither the flush nor the sends
 * waiting for it wait for a large checkpoint. Only a `log-release` waits: a
 * flush that releases ops no durable checkpoint covers first waits for the
 * checkpoint writes under way, so a store never holds a log its checkpoint
 * does not reach. (The core releases the log up to the *previous*
 * checkpoint, long durable by then, so in practice nothing waits.)
 */
import { applyLogEffect, type BootStorage, type Checkpoint, type DurableHeader, type Effect, type LogEffect, type LogEntry, type StoredLog } from '@vsr/core';
import { deleteDatabase, transactionDone } from './idb.js';
import {
  CHECKPOINT_KEY,
  CHECKPOINT_STORE,
  HEADER_KEY,
  LOG_BASE_KEY,
  LOG_STORE,
  LOST_KEY,
  META_STORE,
  logBaseRecord,
  seal,
} from './storage-format.js';
import { openStore, type OpenReport } from './storage-open.js';

export { StoreIncompatible, STORE_FORMAT_VERSION } from './storage-format.js';
export type { OpenReport } from './storage-open.js';

/** What the runtime needs of a store: IndexedDbStorage, or a test's instrumented one. */
export interface ReplicaStorage {
  /** What the store held at open. */
  readonly report: OpenReport;
  /** Buffers a storage effect (others are ignored). Durable only once a `flush` that takes it resolves. */
  apply(effect: Effect): void;
  /** True when `apply` has buffered writes that no flush has taken yet. */
  readonly dirty: boolean;
  /** Makes every buffered write durable; one at a time. */
  flush(): Promise<void>;
  /** Resolves once no checkpoint is being written in the background. */
  settle(): Promise<void>;
  /** Stops after the flush under way; buffered writes are dropped (flush first for a clean close). */
  close(): Promise<void>;
  /** Stops like a closed tab: buffered writes are dropped, transactions under way aborted. */
  crash(): void;
}

export interface IndexedDbStorageOptions {
  readonly cluster: number;
  readonly replicaId: number;
  /** Create a new replica's store if there is none: only when the cluster is formed. Otherwise a missing store boots as lost. */
  readonly create?: boolean;
  /** Default: `globalThis.indexedDB`. */
  readonly indexedDB?: IDBFactory;
  /** The database name's prefix (default 'vsr'). */
  readonly namePrefix?: string;
  /** The recovery nonce of a lost store (default: 31 random bits from `crypto.getRandomValues`). */
  readonly nonce?: () => number;
}

/** The database of replica `replicaId` of cluster `cluster`. */
export function replicaDatabaseName(cluster: number, replicaId: number, prefix = 'vsr'): string {
  return `${prefix}-cluster-${cluster}-replica-${replicaId}`;
}

/** Deletes a replica's database (the demo's "wipe"): its next start boots as lost and recovers. */
export function deleteReplicaDatabase(options: Pick<IndexedDbStorageOptions, 'cluster' | 'replicaId' | 'indexedDB' | 'namePrefix'>): Promise<void> {
  return deleteDatabase(factoryOf(options.indexedDB), replicaDatabaseName(options.cluster, options.replicaId, options.namePrefix));
}

function factoryOf(factory: IDBFactory | undefined): IDBFactory {
  const found = factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (found === undefined) throw new Error('IndexedDbStorage: this environment has no indexedDB (pass options.indexedDB)');
  return found;
}

function randomNonce(): number {
  return (crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) & 0x7fff_ffff;
}

type Pending = LogEffect | Extract<Effect, { kind: 'persist-header' | 'persist-checkpoint' }>;

export class IndexedDbStorage implements ReplicaStorage {
  private pending: Pending[] = [];
  /** The log as every flushed or flushing effect leaves it. */
  private readonly log: StoredLog;
  private header: DurableHeader | null;
  /** The newest checkpoint applied (durable or being written). */
  private checkpoint: Checkpoint | null;
  private durableCheckpointOpNumber: number;
  private checkpointWrites: Promise<void> = Promise.resolve();
  private checkpointsWriting = 0;
  private checkpointFailure: Error | null = null;
  /** Transactions under way and their outcomes: a close waits for them, a crash aborts them. */
  private readonly transactions = new Map<IDBTransaction, Promise<void>>();
  private flushingNow = false;
  private closed = false;

  private constructor(
    private readonly database: IDBDatabase,
    readonly report: OpenReport,
    loaded: { log: StoredLog; header: DurableHeader | null; checkpoint: Checkpoint | null },
  ) {
    this.log = { base: loaded.log.base, log: [...loaded.log.log] };
    this.header = loaded.header;
    this.checkpoint = loaded.checkpoint;
    this.durableCheckpointOpNumber = loaded.checkpoint?.opNumber ?? 0;
    // Another page deleting this database (a wipe) must not wait for this connection.
    database.onversionchange = () => this.crash();
  }

  /**
   * Opens (or creates) the store and says what the replica should boot with
   * (`report`). A damaged store is copied aside and boots as lost; a store
   * this build cannot read rejects with a `StoreIncompatible`, nothing changed.
   */
  static async open(options: IndexedDbStorageOptions): Promise<IndexedDbStorage> {
    const name = replicaDatabaseName(options.cluster, options.replicaId, options.namePrefix);
    const { database, loaded, report } = await openStore(factoryOf(options.indexedDB), name, options.create === true, options.nonce ?? randomNonce);
    return new IndexedDbStorage(database, report, loaded);
  }

  get boot(): BootStorage {
    return this.report.boot;
  }

  apply(effect: Effect): void {
    if (this.closed) return;
    switch (effect.kind) {
      case 'log-append':
      case 'log-truncate':
      case 'log-release':
      case 'persist-header':
      case 'persist-checkpoint':
        this.pending.push(effect);
        return;
      default:
        return;
    }
  }

  get dirty(): boolean {
    return this.pending.length > 0;
  }

  /** True while a flush is under way. */
  get flushing(): boolean {
    return this.flushingNow;
  }

  /**
   * Makes every write buffered so far durable in one strict transaction;
   * resolves when it completes. Effects applied meanwhile wait for the next
   * flush. One at a time: the caller waits for the promise before the next.
   */
  async flush(): Promise<void> {
    if (this.flushingNow) throw new Error('invariant: flush() while another flush is under way');
    if (this.closed) throw new Error('IndexedDbStorage: closed');
    this.flushingNow = true;
    try {
      if (this.checkpointFailure !== null) throw this.checkpointFailure;
      const pending = this.pending;
      this.pending = [];
      const writes = this.plan(pending);
      if (writes.releasedThrough > this.durableCheckpointOpNumber) await this.awaitCheckpoint(writes.releasedThrough);
      if (this.closed || writes.steps.length === 0) return;
      const transaction = this.database.transaction([LOG_STORE, META_STORE], 'readwrite', { durability: 'strict' });
      for (const write of writes.steps) write(transaction);
      await this.track(transaction);
    } finally {
      this.flushingNow = false;
    }
  }

  /**
   * Turns buffered effects into the requests of one transaction (in order:
   * IndexedDB runs a transaction's requests in the order they were made),
   * and starts the background writes of their checkpoints.
   */
  private plan(pending: readonly Pending[]): { steps: Array<(transaction: IDBTransaction) => void>; releasedThrough: number } {
    const steps: Array<(transaction: IDBTransaction) => void> = [];
    let releasedThrough = 0;
    for (const effect of pending) {
      if (effect.kind === 'persist-header') {
        this.header = effect.header;
        const record = seal(effect.header);
        steps.push((transaction) => {
          const meta = transaction.objectStore(META_STORE);
          meta.put(record, HEADER_KEY);
          meta.delete(LOST_KEY); // Recovered: a later start trusts this store again.
        });
      } else if (effect.kind === 'persist-checkpoint') {
        this.writeCheckpointInBackground(effect.checkpoint);
      } else {
        if (effect.kind === 'log-release' && effect.opNumber > this.log.base) {
          if ((this.checkpoint?.opNumber ?? 0) < effect.opNumber) throw new Error(`invariant: release of op ${effect.opNumber} with no checkpoint covering it`);
          releasedThrough = Math.max(releasedThrough, effect.opNumber);
        }
        steps.push(...this.logRequests(effect));
      }
    }
    return { steps, releasedThrough };
  }

  /** The requests that make one log effect durable; the in-memory log follows it (`applyLogEffect`). */
  private logRequests(effect: LogEffect): Array<(transaction: IDBTransaction) => void> {
    const baseBefore = this.log.base;
    const problem = applyLogEffect(this.log, effect);
    if (problem !== null) throw new Error(`invariant: ${problem}`);
    const base = this.log.base;
    const setBase = (transaction: IDBTransaction) => transaction.objectStore(META_STORE).put(logBaseRecord(base), LOG_BASE_KEY);
    switch (effect.kind) {
      case 'log-append': {
        const record = seal(effect.entry);
        const opNumber = effect.entry.opNumber;
        return [(transaction) => transaction.objectStore(LOG_STORE).put(record, opNumber)];
      }
      case 'log-truncate': {
        if (base !== baseBefore) return [(transaction) => transaction.objectStore(LOG_STORE).clear(), setBase];
        const after = effect.opNumber;
        return [(transaction) => transaction.objectStore(LOG_STORE).delete(IDBKeyRange.lowerBound(after, true))];
      }
      case 'log-release': {
        if (base === baseBefore) return [];
        return [(transaction) => transaction.objectStore(LOG_STORE).delete(IDBKeyRange.upperBound(base)), setBase];
      }
    }
  }

  private writeCheckpointInBackground(checkpoint: Checkpoint): void {
    this.checkpoint = checkpoint;
    if (this.closed) return;
    const record = seal(checkpoint);
    // Created now, so background checkpoints land in the order they were taken (IndexedDB runs
    // readwrite transactions on one object store in the order they were created).
    const transaction = this.database.transaction([CHECKPOINT_STORE], 'readwrite', { durability: 'strict' });
    transaction.objectStore(CHECKPOINT_STORE).put(record, CHECKPOINT_KEY);
    this.checkpointsWriting++;
    const written = this.track(transaction).then(
      () => {
        this.durableCheckpointOpNumber = Math.max(this.durableCheckpointOpNumber, checkpoint.opNumber);
      },
      (error: unknown) => {
        if (!this.closed) this.checkpointFailure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    this.checkpointWrites = Promise.all([this.checkpointWrites, written]).then(() => {
      this.checkpointsWriting--;
    });
  }

  /** Waits until a checkpoint at or after `opNumber` is durable (before a release that relies on it). */
  private async awaitCheckpoint(opNumber: number): Promise<void> {
    while (this.durableCheckpointOpNumber < opNumber && !this.closed) {
      if (this.checkpointsWriting === 0) throw new Error(`invariant: release of op ${opNumber} before a checkpoint covers it`);
      await this.checkpointWrites;
      if (this.checkpointFailure !== null) throw this.checkpointFailure;
    }
  }

  private track(transaction: IDBTransaction): Promise<void> {
    const done = transactionDone(transaction).finally(() => this.transactions.delete(transaction));
    this.transactions.set(transaction, done);
    return done;
  }

  async settle(): Promise<void> {
    while (this.checkpointsWriting > 0) await this.checkpointWrites;
  }

  /** What the store will hold once the flushes taken so far complete (for tests and tools). */
  snapshot(): { header: DurableHeader | null; checkpoint: Checkpoint | null; base: number; log: LogEntry[] } {
    return { header: this.header, checkpoint: this.checkpoint, base: this.log.base, log: [...this.log.log] };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    // Transactions under way still complete: IndexedDB closes the connection after them.
    this.database.close();
    await Promise.allSettled(this.transactions.values());
  }

  crash(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    for (const transaction of this.transactions.keys()) {
      try {
        transaction.abort();
      } catch {
        // It finished already (committed or failed): nothing to abort.
      }
    }
    this.database.close();
  }
}
