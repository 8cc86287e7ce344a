/** A durable-in-memory `ReplicaStore` for tests: what it made durable outlives it, as a disk outlives a process. */
import { applyStorageEffect, type BootStorage, type Checkpoint, type DurableHeader, type Effect, type StoredLog } from '@vsr/core';
import type { ReplicaStore } from '../src/index.js';

/** What a memory store made durable: survives its store, as a disk survives a process. */
export interface Disk {
  header: DurableHeader | null;
  checkpoint: Checkpoint | null;
  log: StoredLog;
  flushes: number;
}

export function memoryStore(disk: Disk, options: { failFlush?: () => boolean } = {}): ReplicaStore {
  let buffered: Effect[] = [];
  const boot: BootStorage = disk.header === null ? null : { header: disk.header, checkpoint: disk.checkpoint, log: [...disk.log.log] };
  return {
    report: { boot, tornTail: false, damage: null },
    apply: (effect) => void buffered.push(effect),
    get dirty() {
      return buffered.length > 0;
    },
    flush: async () => {
      if (options.failFlush?.() === true) throw new Error('the disk is full');
      const taken = buffered;
      buffered = [];
      await Promise.resolve(); // a flush takes a turn, as a disk would
      for (const effect of taken) {
        const problem = applyStorageEffect(disk, effect);
        if (problem !== null) throw new Error(problem);
      }
      disk.flushes++;
    },
    settle: () => Promise.resolve(),
    close: () => {
      buffered = [];
    },
  };
}


export const emptyDisk = (): Disk => ({ header: null, checkpoint: null, log: { base: 0, log: [] }, flushes: 0 });
