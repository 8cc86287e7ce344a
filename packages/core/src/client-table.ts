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
import { Map as ImmutableMap } from 'immutable';
import { PersistentQueue } from './persistent-queue.js';
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

export interface ClientTableBounds {
  readonly sessionsMax: number;
  readonly bytesMax: number;
}

/** A session with its measured size (so replacing or evicting it never measures it again) and its place in the recency order. */
interface Stored {
  readonly session: ClientSession;
  readonly bytes: number;
  /** When it was recorded, in the table's own count of records: larger is more recent. */
  readonly recordedAt: number;
}

/** The recency order: one mark per record, oldest first; a mark is stale once its client has been recorded again (or evicted). */
interface Mark {
  readonly clientId: string;
  readonly recordedAt: number;
}

/**
 * A persistent map (immutable.js) of sessions, with the least recently executed first in a
 * persistent queue of marks, wrapped in a class so the reducer treats it as a value. Recording
 * sets the session and pushes a mark; eviction takes marks from the front, skipping stale ones;
 * the queue is rebuilt from its live marks when stale ones outnumber the sessions, so it stays
 * within about twice the table. (An ordered map did the same with a delete and a set on both
 * its map and its list per record: a fifth of a replica's time per request.)
 */
export class ClientTable {
  static readonly EMPTY = new ClientTable(ImmutableMap<string, Stored>(), PersistentQueue.empty<Mark>(), 0, 0);

  static fromEntries(entries: Iterable<readonly [string, ClientSession]>): ClientTable {
    // In the order given (a checkpoint's, oldest first); a client given twice keeps its first place and its last session, as an ordered map's construction does.
    const sessions = new Map<string, ClientSession>();
    for (const [clientId, session] of entries) sessions.set(clientId, session);
    const unbounded = { sessionsMax: Number.MAX_SAFE_INTEGER, bytesMax: Number.MAX_SAFE_INTEGER };
    let table = ClientTable.EMPTY;
    for (const [clientId, session] of sessions) table = table.put(clientId, session, unbounded).table;
    return table;
  }

  private constructor(
    private readonly sessions: ImmutableMap<string, Stored>,
    private readonly order: PersistentQueue<Mark>,
    /** The sum of `sessionBytes` over the sessions. */
    readonly bytes: number,
    /** How many records this table and its predecessors took: the next record's `recordedAt`. */
    private readonly records: number,
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
    const entries: Array<[string, ClientSession]> = [];
    for (const mark of this.order) {
      const entry = this.sessions.get(mark.clientId);
      if (entry !== undefined && entry.recordedAt === mark.recordedAt) entries.push([mark.clientId, entry.session]);
    }
    assert(entries.length === this.sessions.size, 'every session has exactly one live mark');
    return entries;
  }

  /**
   * Records a client's executed request. Returns the new table and the clients evicted to
   * keep it within its bounds, oldest first. Deterministic: eviction takes the sessions
   * executed least recently, never the one just recorded.
   */
  record(clientId: string, session: ClientSession, bounds: ClientTableBounds): { table: ClientTable; evicted: string[] } {
    assert(bounds.sessionsMax >= 1 && bounds.bytesMax >= 1, 'the client table holds at least one session and one byte');
    const existing = this.sessions.get(clientId);
    // A client's requests run in order: the session only moves forward (design rule 10 of docs/protocol.md).
    assert(existing === undefined || session.requestNumber > existing.session.requestNumber, 'a session records a newer request than the one it holds');
    const { table, evicted } = this.put(clientId, session, bounds);
    // Bounded: recording never grows a table past its bounds. (A table restored from a peer
    // configured with larger ones can start above ours; recording then shrinks it to ours.)
    assert(table.size <= bounds.sessionsMax || table.size === 1, 'the client table stays within clientTableMax');
    assert(table.bytes <= bounds.bytesMax || table.size === 1, 'the client table stays within clientTableBytesMax');
    assert(table.get(clientId) === session, 'the session just recorded is in the table');
    return { table, evicted };
  }

  private put(clientId: string, session: ClientSession, bounds: ClientTableBounds): { table: ClientTable; evicted: string[] } {
    const recordedAt = this.records;
    const entry: Stored = Object.freeze({ session, bytes: sessionBytes(clientId, session), recordedAt });
    let sessions = this.sessions.set(clientId, entry);
    let order = this.order.push(Object.freeze({ clientId, recordedAt }));
    let bytes = this.bytes - (this.sessions.get(clientId)?.bytes ?? 0) + entry.bytes;
    const evicted: string[] = [];
    // The newest session stays even if it alone is over the byte bound: its client must get its reply again.
    while (sessions.size > 1 && (sessions.size > bounds.sessionsMax || bytes > bounds.bytesMax)) {
      const taken = order.take();
      assert(taken !== null, 'a table of several sessions has marks');
      order = taken.rest;
      const oldest = taken.value;
      const live = sessions.get(oldest.clientId);
      if (live === undefined || live.recordedAt !== oldest.recordedAt) continue; // stale
      assert(oldest.clientId !== clientId, 'the session just recorded is the newest, never the oldest of several');
      sessions = sessions.delete(oldest.clientId);
      bytes -= live.bytes;
      evicted.push(oldest.clientId);
    }
    if (order.size > 2 * sessions.size + 32) order = order.filter((mark) => sessions.get(mark.clientId)?.recordedAt === mark.recordedAt);
    return { table: new ClientTable(sessions, order, bytes, recordedAt + 1), evicted };
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
