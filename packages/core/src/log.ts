/**
 * The in-memory log: a persistent vector (immutable.js List), so appending and
 * truncating cost O(log32 n) and share structure with the previous version of
 * the state; a step never copies the log. It is a class, a value to the
 * reducer's copy-on-write and to immer's deep freeze. Only this module knows
 * how op numbers map to positions.
 */
import { List } from 'immutable';
import type { LogEntry } from './messages.js';

export class Log {
  static readonly EMPTY = new Log(List<LogEntry>());

  static fromEntries(entries: readonly LogEntry[]): Log {
    return new Log(List(entries));
  }

  private constructor(private readonly entries: List<LogEntry>) {
    Object.freeze(this);
  }

  /** The op number of the last entry (0 for an empty log). */
  get lastOpNumber(): number {
    return this.entries.size;
  }

  entryAt(opNumber: number): LogEntry | undefined {
    if (!Number.isInteger(opNumber) || opNumber < 1 || opNumber > this.entries.size) return undefined;
    return this.entries.get(opNumber - 1);
  }

  append(entry: LogEntry): Log {
    if (entry.opNumber !== this.entries.size + 1) {
      throw new Error(`invariant: append of op ${entry.opNumber} to a log ending at op ${this.entries.size}`);
    }
    return new Log(this.entries.push(entry));
  }

  /** Keeps ops 1..opNumber. */
  truncateAfter(opNumber: number): Log {
    return opNumber >= this.entries.size ? this : new Log(this.entries.setSize(Math.max(0, opNumber)));
  }

  /** Entries with op numbers in (afterOpNumber, throughOpNumber]. */
  between(afterOpNumber: number, throughOpNumber: number): LogEntry[] {
    const from = Math.max(0, afterOpNumber);
    const to = Math.min(this.entries.size, throughOpNumber);
    return from >= to ? [] : this.entries.slice(from, to).toArray();
  }

  toArray(): LogEntry[] {
    return this.entries.toArray();
  }

  toJSON(): LogEntry[] {
    return this.toArray();
  }
}

/**
 * Checks that `entries` is a well-formed log segment starting right after
 * `afterOpNumber`: contiguous op numbers, views that never decrease and never
 * exceed `viewNumberMax`, timestamps that never decrease. Returns a reason or null.
 */
export function checkSegment(
  entries: readonly LogEntry[],
  afterOpNumber: number,
  viewNumberMax: number,
  previous?: LogEntry,
): string | null {
  let previousView = previous?.viewNumber ?? 0;
  let previousTimestamp = previous?.timestampMs ?? 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.opNumber !== afterOpNumber + i + 1) {
      return `entry ${i} has op ${entry.opNumber}, expected ${afterOpNumber + i + 1}`;
    }
    if (entry.viewNumber > viewNumberMax) {
      return `op ${entry.opNumber} is from view ${entry.viewNumber}, after view ${viewNumberMax}`;
    }
    if (entry.viewNumber < previousView) return `op ${entry.opNumber} has a lower view than the op before it`;
    if (entry.timestampMs < previousTimestamp) return `op ${entry.opNumber} has a lower timestamp than the op before it`;
    previousView = entry.viewNumber;
    previousTimestamp = entry.timestampMs;
  }
  return null;
}
