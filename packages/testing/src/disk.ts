/**
 * The in-memory disk of one replica, shared by the harness and the simulator:
 * what storage holds durably, the writes still in its cache (not yet synced),
 * checkpoints being written in the background, and what a boot reads back.
 *
 * Storage effects are written in the order the reducer produced them and
 * become durable in that order (`sync` takes a prefix of the cache), and the
 * log effects have one reading, `applyLogEffect`. A crash loses the cache, or
 * the part of it the disk had not written yet. The harness takes the strict
 * form of the effect contract (`persist`: every write is durable at once); the
 * simulator the group-commit form, with background checkpoints (the
 * contract's one relaxation, see docs/architecture.md).
 */
import { applyLogEffect, type BootStorage, type Checkpoint, type DurableHeader, type Effect, type LogEntry } from '@vsr/core';
import { SafetyViolation } from './monitor.js';

export type StorageEffect = Extract<Effect, { kind: 'log-append' | 'log-truncate' | 'log-release' | 'persist-header' | 'persist-checkpoint' }>;

export class MemoryDisk {
  /** What is durable: the header, the checkpoint, and the log entries after op `base`. */
  header: DurableHeader | null = null;
  checkpoint: Checkpoint | null = null;
  base = 0;
  log: LogEntry[] = [];
  /** Wiped: boot reports lost storage until a header is durable again. */
  lost = false;
  /**
   * Records whose checksum no longer matches (corrupted, or torn by a crash).
   * Checksums are modelled as perfect detectors: a boot refuses a damaged store.
   */
  damaged = 0;
  /** Written, not yet durable, in order. */
  private cache: StorageEffect[] = [];
  /** Checkpoints being written in the background, oldest first. */
  private background: Checkpoint[] = [];

  /** `label` names the disk in a SafetyViolation ("replica 2's disk"). */
  constructor(private readonly label: string) {}

  /** Writes that are not durable yet. */
  get cached(): number {
    return this.cache.length;
  }

  /** Checkpoints still being written in the background. */
  get checkpointsWriting(): number {
    return this.background.length;
  }

  /** A storage effect into the cache: durable at a later `sync`, or lost in a crash. */
  write(effect: StorageEffect): void {
    this.cache.push(effect);
  }

  /** A storage effect durable at once (the harness's strict form of the contract). */
  persist(effect: StorageEffect): void {
    this.apply(effect);
  }

  /**
   * How many cached writes may become durable now: all of them, up to a log
   * release that no durable checkpoint covers yet (a store whose log starts
   * after its checkpoint could not boot).
   */
  writable(): number {
    const durableCheckpoint = this.checkpoint?.opNumber ?? 0;
    const blocked = this.cache.findIndex((effect) => effect.kind === 'log-release' && effect.opNumber > durableCheckpoint);
    return blocked < 0 ? this.cache.length : blocked;
  }

  /** Makes the first `count` cached writes durable, in order. */
  sync(count: number): void {
    if (!Number.isInteger(count) || count < 0 || count > this.cache.length) {
      throw new Error(`${this.label}: sync of ${count} writes with ${this.cache.length} cached`);
    }
    for (const effect of this.cache.slice(0, count)) this.apply(effect);
    this.cache = this.cache.slice(count);
  }

  /** Starts writing a checkpoint in the background: nothing waits for it but a release it covers. */
  writeCheckpointInBackground(checkpoint: Checkpoint): void {
    this.background.push(checkpoint);
  }

  /** The oldest background checkpoint is on the disk. Returns false if none was being written. */
  landCheckpoint(): boolean {
    const checkpoint = this.background.shift();
    if (checkpoint === undefined) return false;
    this.checkpoint = checkpoint;
    return true;
  }

  /**
   * A crash, part one: of the checkpoints being written in the background, the
   * oldest `count` landed (the newest of them is what the disk holds); the rest
   * are lost.
   */
  crashCheckpoints(count: number): void {
    if (count > 0) this.checkpoint = this.background[count - 1] ?? this.checkpoint;
    this.background = [];
  }

  /**
   * A crash, part two: the first `kept` cached writes had reached the disk, the
   * rest are lost. Returns true if a write was cut off (the one the crash may
   * have torn).
   */
  crashCache(kept: number): boolean {
    this.sync(kept);
    const interrupted = this.cache.length > 0;
    this.cache = [];
    return interrupted;
  }

  /** The disk is lost (replaced, or corrupt beyond use): the next boot recovers from peers. */
  wipe(): void {
    this.clear(true);
  }

  /** An empty disk, as formatted for a new replica. */
  format(): void {
    this.clear(false);
  }

  /**
   * What a boot reads back (the core's `boot.storage`): lost storage with a
   * nonce (drawn only then), nothing for a disk that never held a header, or
   * the header, the checkpoint and the log.
   */
  bootStorage(drawNonce: () => number): BootStorage {
    if (this.lost) return { lost: true, nonce: drawNonce() };
    if (this.header === null) return null;
    return { header: this.header, checkpoint: this.checkpoint, log: [...this.log] };
  }

  private apply(effect: StorageEffect): void {
    switch (effect.kind) {
      case 'log-append':
      case 'log-truncate':
      case 'log-release': {
        const problem = applyLogEffect(this, effect);
        if (problem !== null) throw new SafetyViolation(`${this.label}: ${problem}`);
        return;
      }
      case 'persist-header':
        this.header = effect.header;
        this.lost = false;
        return;
      case 'persist-checkpoint':
        this.checkpoint = effect.checkpoint;
        return;
    }
  }

  private clear(lost: boolean): void {
    this.header = null;
    this.checkpoint = null;
    this.base = 0;
    this.log = [];
    this.lost = lost;
    this.damaged = 0;
    this.cache = [];
    this.background = [];
  }
}
