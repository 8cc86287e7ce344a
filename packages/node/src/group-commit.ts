/**
 * Group commit under the effect contract, for one replica process: storage
 * effects are buffered in the store, and flushes run on libuv's thread pool
 * one at a time, so the event loop keeps taking messages and running steps
 * during an fsync; the next flush takes everything those steps buffered (one
 * fsync for many steps, more of them the busier the replica). Sends and
 * replies pass the effect barrier (`EffectBarrier` of @vsr/core): each leaves
 * once every storage effect before it is durable, in the order the reducer
 * produced them.
 */
import { EffectBarrier, type Effect } from '@vsr/core';
import type { FileStorage } from './storage.js';

export interface GroupCommitHooks {
  /** For metrics: the duration of each flush (one group commit's writes and fsyncs). */
  readonly onFlush?: ((durationMs: number) => void) | undefined;
  /** A flush failed (a full disk, an I/O error): the replica must stop. */
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
    private readonly storage: FileStorage,
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

  /**
   * Stops for a close: waits for the flush under way and the background
   * checkpoints, makes what the last steps buffered durable (nothing else is
   * writing by then), and carries out every send that waited.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.writing !== null) await this.writing;
    await this.storage.settle(); // A checkpoint being written in the background.
    this.storage.flush();
    for (const send of this.barrier.durableThrough(this.barrier.writesQueued)) send();
  }

  /** Stops for a crash: the sends that waited are lost, as the buffered writes are. */
  drop(): void {
    this.stopped = true;
    this.barrier.reset();
  }

  /** Resolves once a write already under way has ended, whatever its outcome. */
  async settled(): Promise<void> {
    await this.writing?.catch(() => {});
    await this.storage.settle();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing !== null) return; // A running flush starts the next when it ends.
    this.flushScheduled = true;
    setImmediate(() => this.startFlush());
  }

  private startFlush(): void {
    this.flushScheduled = false;
    if (this.stopped || this.writing !== null || !this.storage.dirty) return;
    // The flush takes every effect buffered so far: those are the writes it makes durable.
    const writesCovered = this.barrier.writesQueued;
    const startedMs = performance.now();
    this.writing = this.storage.flushAsync().then(
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
        if (this.stopped) return;
        this.hooks.onFailure(error);
      },
    );
  }
}
