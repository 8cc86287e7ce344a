/**
 * What the log effects mean for storage, for interpreters: a stored log is
 * the entries after op `base` (the ops a checkpoint covers are released).
 * The harness, the simulator and the Node store all keep their logs with
 * this one function, so the effect contract has one reading.
 */
import type { Effect } from './effects.js';
import type { Checkpoint, DurableHeader, LogEntry } from './messages.js';

export interface StoredLog {
  base: number;
  log: LogEntry[];
}

export type LogEffect = Extract<Effect, { kind: 'log-append' | 'log-truncate' | 'log-release' }>;

/** Applies one log effect. Returns a reason, changing nothing, if an append does not follow the log. */
export function applyLogEffect(stored: StoredLog, effect: LogEffect): string | null {
  switch (effect.kind) {
    case 'log-append': {
      const last = stored.base + stored.log.length;
      if (effect.entry.opNumber !== last + 1) return `append of op ${effect.entry.opNumber} after op ${last}`;
      stored.log.push(effect.entry);
      return null;
    }
    case 'log-truncate':
      // Below the base, the log empties and starts there.
      if (effect.opNumber < stored.base) {
        stored.log = [];
        stored.base = effect.opNumber;
      } else {
        stored.log.length = Math.min(stored.log.length, effect.opNumber - stored.base);
      }
      return null;
    case 'log-release':
      if (effect.opNumber > stored.base) {
        stored.log = stored.log.slice(Math.min(stored.log.length, effect.opNumber - stored.base));
        stored.base = effect.opNumber;
      }
      return null;
  }
}

/** Everything a store holds, kept in memory: the header, the checkpoint and the log. */
export interface StoreImage {
  header: DurableHeader | null;
  checkpoint: Checkpoint | null;
  log: StoredLog;
}

/**
 * Applies one storage effect to a store's image (other effects change nothing): the header
 * and the checkpoint replace the ones before, log effects as `applyLogEffect`. Returns why a
 * log effect does not apply, changing nothing, or null.
 */
export function applyStorageEffect(image: StoreImage, effect: Effect): string | null {
  switch (effect.kind) {
    case 'persist-header':
      image.header = effect.header;
      return null;
    case 'persist-checkpoint':
      image.checkpoint = effect.checkpoint;
      return null;
    case 'log-append':
    case 'log-truncate':
    case 'log-release':
      return applyLogEffect(image.log, effect);
    default:
      return null;
  }
}
