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

/** A string's 32-bit FNV-1a hash. */
function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0;
}

interface Node {
  readonly words: Uint32Array;
  readonly stateKey: string;
}

/** The memo of search nodes reached: (set of placed ops, state key). */
export class VisitedNodes {
  private readonly buckets = new Map<number, Node[]>();

  /** Records the node unless it was recorded before; returns whether it is new. */
  add(placed: Bitset, stateKey: string): boolean {
    const hash = (placed.hash ^ hashString(stateKey)) | 0;
    const bucket = this.buckets.get(hash);
    if (bucket?.some((node) => node.stateKey === stateKey && sameWords(node.words, placed.words)) === true) return false;
    const node = { words: placed.words.slice(), stateKey };
    if (bucket === undefined) this.buckets.set(hash, [node]);
    else bucket.push(node);
    return true;
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
