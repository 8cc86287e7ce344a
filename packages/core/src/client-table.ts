/**
 * The client table (design rule 10 of docs/protocol.md): every replica keeps it, committed ops
 * update it, so it survives view changes. A client registers with request
 * number 0; each later request must carry a higher number than the last.
 *
 * The table is bounded: registering a client when it is full evicts the
 * least recently executed session. An evicted client's requests are refused
 * with `not-registered` rather than executed again, so eviction can cost a
 * client its session but can never make a request execute twice.
 */
import { Map as ImmutableMap, OrderedMap } from 'immutable';
import type { ClientRequest } from './messages.js';
import type { ClientSession } from './state.js';
import { assert } from './assert.js';

/** A persistent ordered map (immutable.js), wrapped in a class so the reducer treats it as a value. */
export class ClientTable {
  static readonly EMPTY = new ClientTable(OrderedMap<string, ClientSession>());

  static fromEntries(entries: Iterable<readonly [string, ClientSession]>): ClientTable {
    return new ClientTable(OrderedMap(entries as Iterable<[string, ClientSession]>));
  }

  private constructor(private readonly sessions: OrderedMap<string, ClientSession>) {
    Object.freeze(this);
  }

  get(clientId: string): ClientSession | undefined {
    return this.sessions.get(clientId);
  }

  /** How many sessions the table holds. */
  get size(): number {
    return this.sessions.size;
  }

  /** Oldest first: the order eviction follows. */
  entries(): Array<[string, ClientSession]> {
    return this.sessions.entrySeq().toArray();
  }

  /**
   * Records a client's executed request. Returns the new table and the client
   * evicted to make room, if any. Deterministic: eviction takes the session
   * executed least recently.
   */
  record(clientId: string, session: ClientSession, clientTableMax: number): { table: ClientTable; evicted: string | null } {
    assert(clientTableMax >= 1, 'the client table holds at least one session');
    const existing = this.sessions.get(clientId);
    if (existing !== undefined) {
      // A client's requests run in order: the session only moves forward (design rule 10 of docs/protocol.md).
      assert(session.requestNumber > existing.requestNumber, 'a session records a newer request than the one it holds');
      // Delete then set moves the session to the end: most recently used.
      return { table: new ClientTable(this.sessions.delete(clientId).set(clientId, session)), evicted: null };
    }
    let next = this.sessions;
    let evicted: string | null = null;
    if (next.size >= clientTableMax) {
      evicted = next.keySeq().first() ?? null;
      if (evicted !== null) next = next.delete(evicted);
    }
    const table = new ClientTable(next.set(clientId, session));
    // Bounded: recording never grows a table at its bound. (A table restored from a peer
    // configured with a larger bound can start above ours; it then stays the same size.)
    assert(table.size <= Math.max(clientTableMax, this.size), 'the client table stays within clientTableMax');
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
