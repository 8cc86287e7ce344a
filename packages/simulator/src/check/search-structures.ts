/** The data structures of the WGL search (search.ts): an event list, a hashed bitset and the memo. */

/**
 * Events as a doubly linked list over their indices, with a head sentinel; -1 ends it. An
 * unlinked event keeps its own links ("dancing links"), so undoing removals in reverse order
 * restores the list exactly.
 */
export class EventList {
  private readonly head: number;
  private readonly nextOf: Int32Array;
  private readonly prevOf: Int32Array;

  constructor(eventCount: number) {
    this.head = eventCount;
    this.nextOf = new Int32Array(eventCount + 1);
    this.prevOf = new Int32Array(eventCount + 1);
    for (let event = 0; event < eventCount; event++) {
      this.nextOf[event] = event + 1 < eventCount ? event + 1 : -1;
      this.prevOf[event] = event === 0 ? this.head : event - 1;
    }
    this.nextOf[this.head] = eventCount > 0 ? 0 : -1;
  }

  first(): number {
    return this.nextOf[this.head]!;
  }

  next(event: number): number {
    return this.nextOf[event]!;
  }

  unlink(event: number): void {
    const prev = this.prevOf[event]!;
    const next = this.nextOf[event]!;
    this.nextOf[prev] = next;
    if (next !== -1) this.prevOf[next] = prev;
  }

  /** Removes an op's call and return events. */
  lift(call: number, ret: number): void {
    this.unlink(call);
    this.unlink(ret);
  }

  /** Undoes `lift(call, ret)`; must undo the most recent lift still in force. */
  unlift(call: number, ret: number): void {
    this.relink(ret);
    this.relink(call);
  }

  /** Undoes `unlink(event)`; must undo the most recent unlink still in force. */
  relink(event: number): void {
    const prev = this.prevOf[event]!;
    const next = this.nextOf[event]!;
    this.nextOf[prev] = event;
    if (next !== -1) this.prevOf[next] = event;
  }
}

/** murmur3's 32-bit finaliser: a cheap bijective mix. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/** A set of small integers as a bitset, with a Zobrist hash (the XOR of a fixed word per member) kept in O(1) per change. */
export class Bitset {
  readonly words: Uint32Array;
  hash = 0;
  size = 0;

  constructor(capacity: number) {
    this.words = new Uint32Array(Math.ceil(capacity / 32));
  }

  has(member: number): boolean {
    return (this.words[member >>> 5]! & (1 << (member & 31))) !== 0;
  }

  add(member: number): void {
    this.words[member >>> 5]! |= 1 << (member & 31);
    this.hash ^= mix32(2 * member + 1);
    this.size++;
  }

  remove(member: number): void {
    this.words[member >>> 5]! &= ~(1 << (member & 31));
    this.hash ^= mix32(2 * member + 1);
    this.size--;
  }
}

/**
 * The memo of search nodes reached: (determinate ops placed, indeterminate ops used, state
 * number), where a node is also taken as reached when one with the same placed set and state
 * and a subset of its used set was (the dominance rule of search.ts).
 */
export class VisitedNodes {
  /** By hash of (placed set, state): records [state, ...placed words, ...used words]. */
  private readonly buckets = new Map<number, Uint32Array[]>();

  /** Records the node unless a node recorded before dominates it; returns whether it was recorded. */
  add(placed: Bitset, used: Bitset, state: number): boolean {
    const hash = placed.hash ^ mix32(2 * state + 2);
    const usedAt = 1 + placed.words.length;
    const bucket = this.buckets.get(hash);
    if (bucket !== undefined) {
      for (const record of bucket) {
        if (record[0] === state && sameWords(record, 1, placed.words) && subsetWords(record, usedAt, used.words)) return false;
      }
    }
    const record = new Uint32Array(usedAt + used.words.length);
    record[0] = state;
    record.set(placed.words, 1);
    record.set(used.words, usedAt);
    if (bucket === undefined) this.buckets.set(hash, [record]);
    else bucket.push(record);
    return true;
  }
}

/** Whether record[offset…] holds exactly `words`. */
function sameWords(record: Uint32Array, offset: number, words: Uint32Array): boolean {
  for (let i = 0; i < words.length; i++) if (record[offset + i] !== words[i]) return false;
  return true;
}

/** Whether the set in record[offset…] is a subset of `words`. */
function subsetWords(record: Uint32Array, offset: number, words: Uint32Array): boolean {
  for (let i = 0; i < words.length; i++) if ((record[offset + i]! & ~words[i]!) !== 0) return false;
  return true;
}
