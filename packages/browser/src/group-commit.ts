/**
 * Group commit under the effect contract, for one replica in a page or a
 * worker: storage effects are buffered in the store and flushed one
 * transaction at a time; while a transaction is under way the replica keeps
 * taking messages and running steps, and the next transaction takes
 * everything those steps buffered (one strict commit for many steps, more
 * of them the busier the replica). Sends and replies pass the core's
 * `EffectBarrier`: each leaves once every storage effect before it is
 * durable, in the order the reducer produced them.
 */
import { EffectBarrier, type Effect } from '@vsr/core';
import type { ReplicaStorage } from './storage.js';

export interface GroupCommitHooks {
  /** For metrics: each flush's duration, from its start to its transaction's `complete`. */
  readonly onFlush?: ((durationMs: number) => void) | undefined;
  /** A flush failed (quota, an aborted transaction): the replica must stop. */
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
    private readonly storage: ReplicaStorage,
    private readonly hooks: GroupCommitHooks,
  ) {}

  /** A storage effect: buffered now, durable once a flush that takes it completes. */
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
   * Stops for a close: waits for the flush under way and the background
   * checkpoints, makes what the last steps buffered durable, and carries out
   * every send that waited.
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

  /** Resolves once a flush already under way has ended, whatever its outcome. */
  async settled(): Promise<void> {
    await this.writing?.catch(() => {});
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing !== null) return; // A running flush starts the next when it ends.
    this.flushScheduled = true;
    // After the current task: every effect of the step (and of any other step in this task) joins the flush.
    queueMicrotask(() => this.startFlush());
  }

  private startFlush(): void {
    this.flushScheduled = false;
    if (this.stopped || this.writing !== null || !this.storage.dirty) return;
    // `flush` takes every effect applied so far, synchronously: those are the writes it makes durable.
    const writesCovered = this.barrier.writesQueued;
    const startedMs = performance.now();
    this.writing = this.storage.flush().then(
      () => {
        this.writing = null;
        this.hooks.onFlush?.(performance.now() - startedMs);
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
