/**
 * The client table (design rule 10 of docs/protocol.md): every replica keeps it, committed ops
 * update it, so it survives view changes. A client registers with request
 * number 0; each later request must carry a higher number than the last.
 *
 * The table is bounded, in sessions and in bytes: registering a client when it
 * is full evicts the least recently executed session, and so does a cached
 * result that takes the table past its byte bound (a client whose requests
 * return large results cannot make every replica hold them for everyone).
 * The bytes are the sessions' JSON sizes, which every replica computes alike,
 * so eviction stays deterministic. An evicted client's requests are refused
 * with `not-registered` rather than executed again, so eviction can cost a
 * client its session but can never make a request execute twice.
 */
import { Map as ImmutableMap, OrderedMap } from 'immutable';
import type { ClientRequest } from './messages.js';
import type { ClientSession } from './state.js';
import { assert } from './assert.js';
import { measureJson } from './json-bounds.js';

/** What a session costs besides its result: its key, its numbers, the map's own entry. */
const SESSION_OVERHEAD_BYTES = 64;

/** A session's share of the table's byte bound: its overhead, its key and its result as JSON. */
function sessionBytes(clientId: string, session: ClientSession): number {
  const measured = measureJson(session.result, Number.MAX_SAFE_INTEGER);
  // A result that is not JSON cannot be sent either; it is counted as empty rather than trusted.
  return SESSION_OVERHEAD_BYTES + clientId.length + (measured.ok ? measured.bytes : 0);
}

/** A session with its measured size, so that replacing or evicting it never measures it again. */
interface Stored {
  readonly session: ClientSession;
  readonly bytes: number;
}

function stored(clientId: string, session: ClientSession): Stored {
  return Object.freeze({ session, bytes: sessionBytes(clientId, session) });
}

export interface ClientTableBounds {
  readonly sessionsMax: number;
  readonly bytesMax: number;
}

/** A persistent ordered map (immutable.js), wrapped in a class so the reducer treats it as a value. */
export class ClientTable {
  static readonly EMPTY = new ClientTable(OrderedMap<string, Stored>(), 0);

  static fromEntries(entries: Iterable<readonly [string, ClientSession]>): ClientTable {
    let sessions = OrderedMap<string, Stored>();
    let bytes = 0;
    for (const [clientId, session] of entries) {
      const previous = sessions.get(clientId);
      if (previous !== undefined) bytes -= previous.bytes; // the last entry for a client wins, as a map's construction does
      const entry = stored(clientId, session);
      sessions = sessions.set(clientId, entry);
      bytes += entry.bytes;
    }
    return new ClientTable(sessions, bytes);
  }

  private constructor(
    private readonly sessions: OrderedMap<string, Stored>,
    /** The sum of `sessionBytes` over the sessions. */
    readonly bytes: number,
  ) {
    Object.freeze(this);
  }

  get(clientId: string): ClientSession | undefined {
    return this.sessions.get(clientId)?.session;
  }

  /** How many sessions the table holds. */
  get size(): number {
    return this.sessions.size;
  }

  /** Oldest first: the order eviction follows. */
  entries(): Array<[string, ClientSession]> {
    return this.sessions.entrySeq().map(([clientId, entry]): [string, ClientSession] => [clientId, entry.session]).toArray();
  }

  /**
   * Records a client's executed request. Returns the new table and the clients evicted to
   * keep it within its bounds, oldest first. Deterministic: eviction takes the sessions
   * executed least recently, never the one just recorded.
   */
  record(clientId: string, session: ClientSession, bounds: ClientTableBounds): { table: ClientTable; evicted: string[] } {
    assert(bounds.sessionsMax >= 1 && bounds.bytesMax >= 1, 'the client table holds at least one session and one byte');
    const existing = this.sessions.get(clientId);
    let sessions = this.sessions;
    let bytes = this.bytes;
    if (existing !== undefined) {
      // A client's requests run in order: the session only moves forward (design rule 10 of docs/protocol.md).
      assert(session.requestNumber > existing.session.requestNumber, 'a session records a newer request than the one it holds');
      // Delete then set moves the session to the end: most recently used.
      sessions = sessions.delete(clientId);
      bytes -= existing.bytes;
    }
    const entry = stored(clientId, session);
    sessions = sessions.set(clientId, entry);
    bytes += entry.bytes;
    const evicted: string[] = [];
    // The newest session stays even if it alone is over the byte bound: its client must get its reply again.
    while (sessions.size > 1 && (sessions.size > bounds.sessionsMax || bytes > bounds.bytesMax)) {
      const [oldestId, oldest] = sessions.entrySeq().first() ?? [clientId, entry];
      if (oldestId === clientId) break;
      sessions = sessions.delete(oldestId);
      bytes -= oldest.bytes;
      evicted.push(oldestId);
    }
    const table = new ClientTable(sessions, bytes);
    // Bounded: recording never grows a table past its bounds. (A table restored from a peer
    // configured with larger ones can start above ours; recording then shrinks it to ours.)
    assert(table.size <= bounds.sessionsMax || table.size === 1, 'the client table stays within clientTableMax');
    assert(table.bytes <= bounds.bytesMax || table.size === 1, 'the client table stays within clientTableBytesMax');
    assert(table.get(clientId) === session, 'the session just recorded is in the table');
    return { table, evicted };
  }

  toJSON(): Array<[string, ClientSession]> {
    return this.entries();
  }
}

/** The primary's index of requests queued or in the pipeline: clientId → requestNumber. */
export class InFlightRequests {
  static readonly EMPTY = new InFlightRequests(ImmutableMap<string, number>());

  private constructor(private readonly requests: ImmutableMap<string, number>) {
    Object.freeze(this);
  }

  get(clientId: string): number | undefined {
    return this.requests.get(clientId);
  }

  add(clientId: string, requestNumber: number): InFlightRequests {
    return new InFlightRequests(this.requests.set(clientId, requestNumber));
  }

  /** Removes the client's entry if it is for this request. */
  remove(clientId: string, requestNumber: number): InFlightRequests {
    return this.requests.get(clientId) === requestNumber
      ? new InFlightRequests(this.requests.delete(clientId))
      : this;
  }

  toJSON(): Array<[string, number]> {
    return this.requests.entrySeq().toArray().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

export type RequestVerdict =
  /** Not executed yet: it may enter the log. */
  | { readonly kind: 'new' }
  /** The client's latest executed request: answer from the cache. */
  | { readonly kind: 'latest'; readonly session: ClientSession }
  /** Older than the client's latest: drop it (the client has moved on). */
  | { readonly kind: 'stale'; readonly session: ClientSession }
  /** The client has no session (never registered, or evicted). */
  | { readonly kind: 'not-registered' };

export function classifyRequest(table: ClientTable, request: ClientRequest): RequestVerdict {
  const session = table.get(request.clientId);
  if (session === undefined) {
    return request.requestNumber === 0 ? { kind: 'new' } : { kind: 'not-registered' };
  }
  if (request.requestNumber < session.requestNumber) return { kind: 'stale', session };
  if (request.requestNumber === session.requestNumber) return { kind: 'latest', session };
  return { kind: 'new' };
}
