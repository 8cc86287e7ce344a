/**
 * The in-memory log: a persistent vector (immutable.js List), so appending and
 * truncating cost O(log32 n) and share structure with the previous version of
 * the state; a step never copies the log. It is a class, a value to the
 * reducer's copy-on-write and to immer's deep freeze. Only this module knows
 * how op numbers map to positions.
 */
import { List } from 'immutable';
import type { LogEntry } from './messages.js';
import { InvariantError, assert, defined } from './assert.js';

export class Log {
  static readonly EMPTY = new Log(0, List<LogEntry>());

  /** A log holding `entries`, which follow op `baseOpNumber` (the checkpoint they start after). */
  static fromEntries(entries: readonly LogEntry[], baseOpNumber = 0): Log {
    return new Log(baseOpNumber, List(entries));
  }

  private constructor(
    /** Ops up to here are released: covered by the checkpoint. */
    readonly baseOpNumber: number,
    private readonly entries: List<LogEntry>,
  ) {
    Object.freeze(this);
  }

  /** The op number of the last entry (the base when the log holds none). */
  get lastOpNumber(): number {
    return this.baseOpNumber + this.entries.size;
  }

  /** How many entries the log holds in memory. */
  get size(): number {
    return this.entries.size;
  }

  entryAt(opNumber: number): LogEntry | undefined {
    if (!Number.isInteger(opNumber) || opNumber <= this.baseOpNumber || opNumber > this.lastOpNumber) return undefined;
    return this.entries.get(opNumber - this.baseOpNumber - 1);
  }

  append(entry: LogEntry): Log {
    // Callers check untrusted entries first (checkSegment): a gap here is a bug in the core.
    if (entry.opNumber !== this.lastOpNumber + 1) {
      throw new InvariantError(`append of op ${entry.opNumber} to a log ending at op ${this.lastOpNumber}`);
    }
    return new Log(this.baseOpNumber, this.entries.push(entry));
  }

  /** Keeps ops up to `opNumber` (never below the base: released ops are gone already). */
  truncateAfter(opNumber: number): Log {
    if (opNumber >= this.lastOpNumber) return this;
    // Released ops are covered by a checkpoint, so executed: nothing below the base is ever undone.
    assert(opNumber >= this.baseOpNumber, () => `truncating to op ${opNumber}, below the log's base ${this.baseOpNumber}`);
    return new Log(this.baseOpNumber, this.entries.setSize(opNumber - this.baseOpNumber));
  }

  /** Releases ops up to `opNumber` (a checkpoint covers them). Past the end, the log is empty from there. */
  releaseThrough(opNumber: number): Log {
    if (opNumber <= this.baseOpNumber) return this;
    if (opNumber >= this.lastOpNumber) return new Log(opNumber, List<LogEntry>());
    return new Log(opNumber, this.entries.skip(opNumber - this.baseOpNumber).toList());
  }

  /** Entries with op numbers in (afterOpNumber, throughOpNumber] that the log holds. */
  between(afterOpNumber: number, throughOpNumber: number): LogEntry[] {
    const from = Math.max(0, afterOpNumber - this.baseOpNumber);
    const to = Math.min(this.entries.size, throughOpNumber - this.baseOpNumber);
    return from >= to ? [] : this.entries.slice(from, to).toArray();
  }

  /** The entries the log holds, after its base. */
  toArray(): LogEntry[] {
    return this.entries.toArray();
  }

  toJSON(): { baseOpNumber: number; entries: LogEntry[] } {
    return { baseOpNumber: this.baseOpNumber, entries: this.toArray() };
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
    const entry = defined(entries[i], () => `entry ${i} of ${entries.length}`);
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
