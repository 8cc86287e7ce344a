/**
 * Group commit under the effect contract (docs/architecture.md), for an interpreter whose
 * storage flushes asynchronously: storage effects are buffered in the store, and flushes run
 * one at a time while the replica keeps taking messages and running steps; the next flush takes
 * everything those steps buffered (one fsync or one transaction for many steps, more of them
 * the busier the replica). Sends and replies pass the `EffectBarrier`: each leaves once every
 * storage effect before it is durable, in the order the reducer produced them.
 *
 * The one implementation for the Node runtime (a flush on libuv's thread pool, scheduled with
 * `setImmediate`) and the browser's (an IndexedDB transaction, scheduled as a microtask). No
 * clock or scheduler of its own: the interpreter passes them in.
 */
import { EffectBarrier, type BootStorage, type Effect } from '@vsr/core';

/** What group commit needs of a store. */
export interface GroupCommitStorage {
  /** Buffers one storage effect (durable once a flush that takes it ends). */
  apply(effect: Effect): void;
  /** Whether effects wait for a flush. */
  readonly dirty: boolean;
  /** Makes every effect applied so far durable; effects applied while it runs wait for the next. */
  flush(): Promise<void>;
  /** Resolves once checkpoints written in the background have landed. */
  settle(): Promise<void>;
}

export interface GroupCommitHooks {
  /** Runs `start` after the current step (and any other in the same turn): when the flush starts. */
  readonly schedule: (start: () => void) => void;
  /** For `onFlush`'s durations. */
  readonly nowMs: () => number;
  /** For metrics: each flush's duration, from its start to its end. */
  readonly onFlush?: ((durationMs: number) => void) | undefined;
  /** A flush failed (a full disk, an I/O error, an aborted transaction): the replica must stop. */
  readonly onFailure: (error: unknown) => void;
}

export class GroupCommit {
  private readonly barrier = new EffectBarrier<() => void>();
  /** The flush under way, if any. */
  private writing: Promise<void> | null = null;
  private flushScheduled = false;
  /** Closed or crashed: no flush starts, and a flush that ends releases nothing. */
  private stopped = false;

  constructor(
    private readonly storage: GroupCommitStorage,
    private readonly hooks: GroupCommitHooks,
  ) {}

  /** A storage effect: buffered now, durable once a flush that takes it ends. */
  write(effect: Effect): void {
    this.storage.apply(effect);
    this.barrier.write();
    this.scheduleFlush();
  }

  /** A send or reply: carried out now if every storage effect before it is durable, else once they are. */
  send(send: () => void): void {
    if (this.barrier.admit(send)) send();
  }

  /** Outgoing effects waiting for a flush. */
  get heldCount(): number {
    return this.barrier.heldCount;
  }

  /**
   * Stops for a close: waits for the flush under way and the background checkpoints, makes
   * what the last steps buffered durable, and carries out every send that waited.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.writing !== null) await this.writing.catch(() => {});
    await this.storage.settle();
    const covered = this.barrier.writesQueued;
    if (this.storage.dirty) await this.storage.flush();
    for (const send of this.barrier.durableThrough(covered)) send();
  }

  /** Stops for a crash: the sends that waited are lost, as the buffered writes are. */
  drop(): void {
    this.stopped = true;
    this.barrier.reset();
  }

  /** Resolves once a flush already under way, and the checkpoints in the background, have ended, whatever their outcome. */
  async settled(): Promise<void> {
    await this.writing?.catch(() => {});
    await this.storage.settle();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing !== null) return; // A running flush starts the next when it ends.
    this.flushScheduled = true;
    this.hooks.schedule(() => this.startFlush());
  }

  private startFlush(): void {
    this.flushScheduled = false;
    if (this.stopped || this.writing !== null || !this.storage.dirty) return;
    // `flush` takes every effect applied so far, synchronously: those are the writes it makes durable.
    const writesCovered = this.barrier.writesQueued;
    const startedMs = this.hooks.nowMs();
    this.writing = this.storage.flush().then(
      () => {
        this.writing = null;
        this.hooks.onFlush?.(this.hooks.nowMs() - startedMs);
        if (this.stopped) return;
        for (const send of this.barrier.durableThrough(writesCovered)) send();
        // Everything the steps during this flush buffered goes in the next one, at once.
        if (this.storage.dirty) this.startFlush();
      },
      (error: unknown) => {
        this.writing = null;
        if (!this.stopped) this.hooks.onFailure(error);
      },
    );
  }
}

/**
 * A replica's durable store, as a runtime drives it: what it held when opened, the effects
 * buffered and flushed under group commit, and a close. Node's `FileStorage` (through
 * `openFileStore`) and the browser's `IndexedDbStorage` are two; a user may bring a third.
 * What it must guarantee is the effect contract (docs/architecture.md): a flush makes every
 * effect applied before it durable, in order; across a crash it lands whole or as an ordered
 * prefix of its effects (never a later effect without an earlier one, no release without its
 * checkpoint), and a reopened store hands back exactly what was made durable. The suite in
 * `@vsr/store-conformance` checks a store against it.
 */
export interface ReplicaStore extends GroupCommitStorage {
  /** What the store held when opened. */
  readonly report: {
    /** What to hand the reducer in its boot event. */
    readonly boot: BootStorage;
    /** A record cut short at the end was dropped. */
    readonly tornTail: boolean;
    /** Why the store was refused (the replica boots as lost), if it was. */
    readonly damage: string | null;
  };
  /** Stops; writes buffered and not flushed are dropped (flush first for a clean stop). */
  close(): void | Promise<void>;
}
