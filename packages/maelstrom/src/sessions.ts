/**
 * The VSR client sessions a node keeps on behalf of Maelstrom's clients. The node is the VSR
 * client: each Maelstrom client (`src` "c7") gets a session (`ClientCore` of `@vsr/runtime`):
 * it registers, numbers its requests, sends each to the replica it believes is the primary
 * (this node's own replica in process, the others as Maelstrom messages), follows redirects
 * and view changes, and resends with the *same* request number, so the cluster executes a
 * request at most once however often it is resent.
 *
 * A session has one request in flight. Maelstrom's clients send one operation at a time, but a
 * client that timed out sends its next while the node still works on the last: it then gets a
 * second session, up to `sessionsPerClientMax`; past that the operation is refused before it
 * is sent (definitely not executed). Sessions are bounded in all (`sessionsMax`): an idle
 * session of the client heard from least recently makes room.
 */
import { ClientCore, VsrRequestError, VsrTimeoutError, type ClientClock, type ClientLink } from '@vsr/runtime';
import type { ClientInput, Reply } from '@vsr/core';

/** What became of one operation run through a session. */
export type SessionOutcome =
  | { readonly kind: 'result'; readonly result: unknown }
  /** The cluster refused it (it did not execute); `code` is the core's. */
  | { readonly kind: 'refused'; readonly code: string; readonly text: string }
  /** No answer in time: a request may or may not have executed. */
  | { readonly kind: 'timeout'; readonly text: string }
  /** Not sent: no session free for this client. */
  | { readonly kind: 'unavailable'; readonly text: string }
  /** The session failed otherwise (closed under it): the outcome is unknown. */
  | { readonly kind: 'failed'; readonly text: string };

export interface SessionSettings {
  /** How long one operation may take in all, retries included. */
  readonly requestTimeoutMs: number;
  /** How long to wait on one replica before trying the next. */
  readonly attemptTimeoutMs: number;
  readonly sessionsPerClientMax: number;
  readonly sessionsMax: number;
}

/**
 * Maelstrom's lin-kv clients wait max(10 × mean latency, 1 s) for an answer (1 s at its default
 * latency of 0): a session gives up a little before, so the client hears an indefinite 13
 * rather than nothing, and the session is free for the client's next operation.
 */
export const DEFAULT_SESSION_SETTINGS: SessionSettings = Object.freeze({ requestTimeoutMs: 900, attemptTimeoutMs: 250, sessionsPerClientMax: 4, sessionsMax: 1_024 });

interface Session {
  readonly core: ClientCore;
  busy: boolean;
}

/**
 * The client side of this node's link to the cluster: requests to its own replica go in
 * process, to the others through `sendRemote`; replies come back through `deliver`.
 */
export class NodeLink implements ClientLink {
  isClosed = false;
  private readonly handlers = new Map<string, (reply: Reply, from: number) => void>();

  constructor(
    readonly replicaCount: number,
    private readonly selfId: number,
    private readonly submitLocal: (request: ClientInput, respond: (reply: Reply) => void) => void,
    private readonly sendRemote: (replicaId: number, request: ClientInput) => void,
  ) {}

  send(replicaId: number, request: ClientInput): void {
    if (this.isClosed) return;
    if (replicaId === this.selfId) this.submitLocal(request, (reply) => this.deliver(reply, this.selfId));
    else this.sendRemote(replicaId, request);
  }

  subscribe(clientId: string, onReply: (reply: Reply, from: number) => void): () => void {
    this.handlers.set(clientId, onReply);
    return () => {
      if (this.handlers.get(clientId) === onReply) this.handlers.delete(clientId);
    };
  }

  /** A reply from replica `from`; false if no session of this node has that client id. */
  deliver(reply: Reply, from: number): boolean {
    const handler = this.handlers.get(reply.clientId);
    if (handler === undefined) return false;
    handler(reply, from);
    return true;
  }

  close(): void {
    this.isClosed = true;
  }
}

export class ClientSessions {
  /** Maelstrom client name → its sessions; most recently heard from last. */
  private readonly sessions = new Map<string, Session[]>();
  private sessionCount = 0;
  private idCounter = 0;

  constructor(
    private readonly link: ClientLink,
    private readonly clock: ClientClock,
    /** Client ids start with it: unique to this node and this process. */
    private readonly idPrefix: string,
    /** The primary this node's replica knows of, if it is in normal status (else null: a session keeps what it learned). */
    private readonly primaryGuess: () => number | null,
    private readonly settings: SessionSettings,
  ) {}

  get size(): number {
    return this.sessionCount;
  }

  /** Runs `work` on a free session of `client` and says what became of it. Never rejects. */
  async run(client: string, work: (core: ClientCore) => Promise<unknown>): Promise<SessionOutcome> {
    const session = this.freeSession(client);
    if (session === null) {
      return { kind: 'unavailable', text: `client ${client} has ${this.settings.sessionsPerClientMax} operations in flight (or the node has ${this.settings.sessionsMax} sessions busy); this one was not sent` };
    }
    session.busy = true;
    const primary = this.primaryGuess();
    if (primary !== null) session.core.primaryGuess = primary;
    try {
      return { kind: 'result', result: await work(session.core) };
    } catch (error) {
      return outcomeOf(error);
    } finally {
      session.busy = false;
    }
  }

  close(): void {
    for (const list of this.sessions.values()) for (const session of list) session.core.close();
    this.sessions.clear();
    this.sessionCount = 0;
  }

  private freeSession(client: string): Session | null {
    const list = this.sessions.get(client) ?? [];
    if (list.length > 0) {
      // Most recently heard from last: the first idle session in the map is the one to close for room.
      this.sessions.delete(client);
      this.sessions.set(client, list);
    }
    const idle = list.find((session) => !session.busy);
    if (idle !== undefined) return idle;
    if (list.length >= this.settings.sessionsPerClientMax || !this.makeRoom()) return null;
    // Within the core's 128 characters: a node id of at most 64, the nonce, 32 of the client's name, the counter.
    const name = client.slice(0, 32);
    const core = new ClientCore({
      link: this.link,
      clock: this.clock,
      freshClientId: () => `${this.idPrefix}.${name}.${++this.idCounter}`,
      name: `session of ${client}`,
      timeoutMs: this.settings.requestTimeoutMs,
      attemptTimeoutMs: this.settings.attemptTimeoutMs,
      primaryGuess: this.primaryGuess() ?? 0,
    });
    const session: Session = { core, busy: false };
    list.push(session);
    this.sessions.delete(client);
    this.sessions.set(client, list);
    this.sessionCount++;
    return session;
  }

  /** Whether a session may be added: under the bound, or after closing an idle one of the client heard from least recently. */
  private makeRoom(): boolean {
    if (this.sessionCount < this.settings.sessionsMax) return true;
    for (const [client, list] of this.sessions) {
      const index = list.findIndex((session) => !session.busy);
      if (index < 0) continue;
      list[index]?.core.close();
      list.splice(index, 1);
      if (list.length === 0) this.sessions.delete(client);
      this.sessionCount--;
      return true;
    }
    return false;
  }
}

function outcomeOf(error: unknown): SessionOutcome {
  if (error instanceof VsrTimeoutError) return { kind: 'timeout', text: error.message };
  if (error instanceof VsrRequestError) return { kind: 'refused', code: error.code, text: error.message };
  return { kind: 'failed', text: error instanceof Error ? error.message : String(error) };
}
