/**
 * A persistent FIFO queue (a front list and a reversed back list of frozen cells, Okasaki's
 * two-list queue): `push` allocates one cell, `shift` is O(1) amortised, and every version
 * stays valid. The reducer uses each state once to make the next, so the amortisation holds.
 */
interface Cell<T> {
  readonly value: T;
  readonly next: Cell<T> | null;
}

export class PersistentQueue<T> {
  static empty<T>(): PersistentQueue<T> {
    return new PersistentQueue<T>(null, null, 0);
  }

  private constructor(
    /** Oldest first. */
    private readonly front: Cell<T> | null,
    /** Newest first. */
    private readonly back: Cell<T> | null,
    readonly size: number,
  ) {
    Object.freeze(this);
  }

  push(value: T): PersistentQueue<T> {
    return new PersistentQueue(this.front, Object.freeze({ value, next: this.back }), this.size + 1);
  }

  /** The oldest value and the queue without it, or null when empty. */
  take(): { readonly value: T; readonly rest: PersistentQueue<T> } | null {
    const front = this.front ?? reversed(this.back);
    if (front === null) return null;
    return { value: front.value, rest: new PersistentQueue(front.next, this.front === null ? null : this.back, this.size - 1) };
  }

  /** The same values with the oldest at hand, so that `peek` is O(1) until the next `push` after the front runs out. */
  normalized(): PersistentQueue<T> {
    return this.front !== null || this.back === null ? this : new PersistentQueue(reversed(this.back), null, this.size);
  }

  /** The oldest value (undefined when empty): O(1) on a normalized queue, O(size) otherwise. */
  peek(): T | undefined {
    if (this.front !== null) return this.front.value;
    let cell = this.back;
    while (cell?.next) cell = cell.next;
    return cell?.value;
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let cell = this.front; cell !== null; cell = cell.next) yield cell.value;
    const back: T[] = [];
    for (let cell = this.back; cell !== null; cell = cell.next) back.push(cell.value);
    for (let index = back.length - 1; index >= 0; index--) yield back[index] as T;
  }

  /** The values that pass `keep` (called oldest first), in order, as one front list: a cell per value kept, no queue per step. */
  filter(keep: (value: T) => boolean): PersistentQueue<T> {
    const kept: T[] = [];
    for (let cell = this.front; cell !== null; cell = cell.next) if (keep(cell.value)) kept.push(cell.value);
    const back: T[] = [];
    for (let cell = this.back; cell !== null; cell = cell.next) back.push(cell.value);
    for (let index = back.length - 1; index >= 0; index--) {
      const value = back[index] as T;
      if (keep(value)) kept.push(value);
    }
    let front: Cell<T> | null = null;
    for (let index = kept.length - 1; index >= 0; index--) front = Object.freeze({ value: kept[index] as T, next: front });
    return new PersistentQueue(front, null, kept.length);
  }
}

function reversed<T>(cell: Cell<T> | null): Cell<T> | null {
  let out: Cell<T> | null = null;
  for (let at = cell; at !== null; at = at.next) out = Object.freeze({ value: at.value, next: out });
  return out;
}
