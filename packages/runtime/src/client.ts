/**
 * The client side of VR (VR Revisited §4.1 steps 1 and 6, and the client recovery note of
 * §4.4), once for every runtime: Node's `VsrClient` and the browser's `BrowserVsrClient` are
 * this class with a link, a clock and an id source of their own.
 *
 * A client has one request outstanding at a time. It numbers them 1, 2, … after registering
 * (request 0), and resends a request with the *same* number until some replica answers it, so
 * the cluster's client table executes it at most once however often it is resent. It starts at
 * any replica: a backup answers with a redirect naming its view's primary; a replica that does
 * not answer within `attemptTimeoutMs` is passed over for the next. A redirect is not followed
 * when it comes from a view older than one the client has heard of, or names a replica that just
 * stayed silent (a recovering replica names its old view's primary, perhaps the one that
 * crashed, and the two would trade the client back and forth): the next replica is tried
 * instead (`routeAfterRedirect` in @vsr/core, the simulator's clients' rule too). When `timeoutMs` runs out
 * the request fails with a `VsrTimeoutError` that says the outcome is unknown (it may still
 * execute); the next request gets the next number. If the cluster evicted this client from its
 * client table (`not-registered`), the request did not execute and never will under that id, so
 * the client takes a fresh id, registers it and sends the operation again under it.
 *
 * No clock, timer or randomness of its own: the runtime passes them in.
 */
import { repliedInput, routeAfterRedirect, type ClientInput, type Reply } from '@vsr/core';

/** Connections to every replica: requests out, replies in, routed by client id. */
export interface ClientLink {
  readonly replicaCount: number;
  /** Whether the link was closed: nothing more is sent. */
  readonly isClosed: boolean;
  send(replicaId: number, request: ClientInput): void;
  /** Routes replies naming `clientId` to `onReply`; returns the unsubscribe function. */
  subscribe(clientId: string, onReply: (reply: Reply, from: number) => void): () => void;
}

/** The runtime's timers and clock. */
export interface ClientClock {
  nowMs(): number;
  setTimeout(run: () => void, afterMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ClientCoreOptions {
  readonly link: ClientLink;
  readonly clock: ClientClock;
  /** A fresh id: at construction (unless `clientId` is given) and after an eviction. */
  readonly freshClientId: () => string;
  /** The class name in error messages (`VsrClient: closed`). */
  readonly name: string;
  readonly clientId?: string;
  /** How long one request may take in all, retries included (default 10 s). */
  readonly timeoutMs?: number;
  /** How long to wait on one replica before trying the next (default 1 s). */
  readonly attemptTimeoutMs?: number;
  /** The replica to try first (default 0); the client then follows redirects and replies. */
  readonly primaryGuess?: number;
}

/** The request got no answer in time: it may or may not have executed. (A read: it changed nothing either way.) */
export class VsrTimeoutError extends Error {
  constructor(
    readonly clientId: string,
    readonly requestNumber: number,
    readonly timeoutMs: number,
    tried: readonly number[],
    kind: AttemptKind = 'request',
  ) {
    const replicas = tried.length === 0 ? 'none' : [...new Set(tried)].join(', ');
    const outcome = kind === 'request' ? 'it may or may not have executed' : 'a read changes nothing: it may be retried';
    super(`${kind} ${clientId}#${requestNumber} got no reply within ${timeoutMs} ms (tried replicas ${replicas}); ${outcome}`);
    this.name = 'VsrTimeoutError';
  }
}

/** The cluster refused the request (it did not execute): `code` says why. */
export class VsrRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'VsrRequestError';
  }
}

type Final = Extract<Reply, { type: 'reply' | 'error' | 'read-reply' | 'read-error' }>;
type AttemptKind = 'request' | 'read';
/** How many times in a row an evicted client renews its id before giving up. */
const RENEWALS_MAX = 3;

/** One attempt's own state, shared by its callbacks. */
interface Attempt {
  readonly kind: AttemptKind;
  /** The request number, or the read number of a read. */
  readonly number: number;
  readonly request: ClientInput;
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  readonly tried: number[];
  /** Replicas that stayed silent for a whole attempt timer in this attempt (and have not answered since). */
  readonly silent: Set<number>;
  timer: unknown;
  finished: boolean;
  redirects: number;
  readonly resolve: (reply: Final) => void;
  readonly reject: (error: Error) => void;
}

export class ClientCore {
  protected readonly link: ClientLink;
  private readonly clock: ClientClock;
  private readonly freshClientId: () => string;
  private readonly name: string;
  private id: string;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  /** The last request number used (-1: not registered yet; 0: registration). */
  private requestNumber = -1;
  /** The last read number used: reads take no request number (they never enter the log). */
  private readNumber = 0;
  private target: number;
  /** The newest view any replica has answered from: a redirect from an older one is a stale hint. */
  private viewNumberKnown = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private unsubscribe: () => void;
  /** The attempt in flight, if any. */
  private current: Attempt | null = null;
  private closed = false;

  constructor(options: ClientCoreOptions) {
    this.link = options.link;
    this.clock = options.clock;
    this.freshClientId = options.freshClientId;
    this.name = options.name;
    this.timeoutMs = this.positive(options.timeoutMs ?? 10_000, 'timeoutMs');
    this.attemptTimeoutMs = this.positive(options.attemptTimeoutMs ?? 1_000, 'attemptTimeoutMs');
    this.target = this.replicaIdOf(options.primaryGuess ?? 0);
    this.id = options.clientId ?? this.freshClientId();
    this.unsubscribe = this.link.subscribe(this.id, (reply, from) => this.hear(reply, from));
  }

  get clientId(): string {
    return this.id;
  }

  /** The replica this client believes is the primary. */
  get primaryGuess(): number {
    return this.target;
  }

  /** Where the next request starts (say, what another client learned since); it still follows redirects. */
  set primaryGuess(replicaId: number) {
    this.target = this.replicaIdOf(replicaId);
  }

  /**
   * Runs `operation` on the replicated state machine and resolves with its result. Calls
   * queue: one request is outstanding at a time; each has its own `timeoutMs` (default: the
   * client's), counted from when it starts.
   */
  request(operation: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    const timeoutMs = this.positive(options.timeoutMs ?? this.timeoutMs, 'timeoutMs');
    return this.enqueue(() => this.run(operation, timeoutMs));
  }

  /**
   * Answers `query` from the cluster's committed state without entering the log: a
   * linearizable read (the primary confirms its view with a quorum first). It queues with
   * `request`, and needs no registration. Refused with `reads-unsupported` by a cluster whose
   * state machine answers no queries.
   */
  read(query: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    const timeoutMs = this.positive(options.timeoutMs ?? this.timeoutMs, 'timeoutMs');
    return this.enqueue(() => this.runRead(query, timeoutMs));
  }

  /** Runs `work` after every call queued before it, whatever their outcome: one at a time. */
  private enqueue(work: () => Promise<unknown>): Promise<unknown> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Stops: a request in flight fails at once with a "closed" error, and later ones too. */
  close(): void {
    this.closed = true;
    this.abort(new Error(`${this.name}: closed`));
    this.unsubscribe();
  }

  private async run(operation: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) throw new Error(`${this.name}: closed`);
    const deadlineMs = this.clock.nowMs() + timeoutMs;
    for (let renewals = 0; ; renewals++) {
      if (this.requestNumber < 0) {
        const registration = await this.attempt('request', 0, null, deadlineMs, timeoutMs);
        if (registration.type === 'error') throw new VsrRequestError(registration.code, `registration of ${this.id} refused (${registration.code}): ${registration.message}`);
        this.requestNumber = 0;
      }
      const requestNumber = ++this.requestNumber;
      const reply = await this.attempt('request', requestNumber, operation, deadlineMs, timeoutMs);
      if (reply.type === 'reply' || reply.type === 'read-reply') return reply.result;
      if (reply.code === 'not-registered' && renewals < RENEWALS_MAX) {
        this.renew(); // Evicted: this request did not execute and never will under this id.
        continue;
      }
      throw new VsrRequestError(reply.code, `request ${this.id}#${requestNumber} refused (${reply.code}): ${reply.message}`);
    }
  }

  private async runRead(query: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) throw new Error(`${this.name}: closed`);
    const readNumber = ++this.readNumber;
    const reply = await this.attempt('read', readNumber, query, this.clock.nowMs() + timeoutMs, timeoutMs);
    if (reply.type === 'read-reply' || reply.type === 'reply') return reply.result;
    throw new VsrRequestError(reply.code, `read ${this.id}#${readNumber} refused (${reply.code}): ${reply.message}`);
  }

  private renew(): void {
    this.unsubscribe();
    this.id = this.freshClientId();
    this.requestNumber = -1;
    this.unsubscribe = this.link.subscribe(this.id, (reply, from) => this.hear(reply, from));
  }

  /** Sends one request (or read), to one replica after another, until one answers it with a result or a refusal. */
  private attempt(kind: AttemptKind, number: number, payload: unknown, deadlineMs: number, timeoutMs: number): Promise<Final> {
    const request: ClientInput =
      kind === 'read'
        ? { clientId: this.id, readNumber: number, query: payload }
        : { clientId: this.id, requestNumber: number, operation: number === 0 ? null : payload };
    return new Promise<Final>((resolve, reject) => {
      this.current = { kind, number, request, deadlineMs, timeoutMs, tried: [], silent: new Set(), timer: null, finished: false, redirects: 0, resolve, reject };
      this.sendTo(this.current, this.target, 0);
    });
  }

  /**
   * Sends the attempt's request to `replicaId` after `delayMs`, and passes on to the next
   * replica if it stays silent. One timer at a time, and nothing after the attempt ends: a
   * reply can arrive synchronously inside `link.send` (an in-process replica), so every
   * callback checks `finished`, and the next timer is armed before sending.
   */
  private sendTo(attempt: Attempt, replicaId: number, delayMs: number): void {
    if (attempt.finished) return;
    this.clock.clearTimeout(attempt.timer);
    const remainingMs = attempt.deadlineMs - this.clock.nowMs();
    if (remainingMs <= 0) return this.end(attempt, () => attempt.reject(new VsrTimeoutError(attempt.request.clientId, attempt.number, attempt.timeoutMs, attempt.tried, attempt.kind)));
    this.target = replicaId;
    attempt.timer = this.clock.setTimeout(() => {
      if (attempt.finished) return;
      // The link may be shared (a pool of clients on one link) and closed under this request.
      if (this.link.isClosed) return this.end(attempt, () => attempt.reject(new Error(`${this.name}: the cluster link was closed`)));
      attempt.tried.push(replicaId);
      const waitMs = Math.min(this.attemptTimeoutMs, Math.max(1, attempt.deadlineMs - this.clock.nowMs()));
      attempt.timer = this.clock.setTimeout(() => {
        attempt.silent.add(replicaId);
        this.sendTo(attempt, (replicaId + 1) % this.link.replicaCount, 0);
      }, waitMs);
      this.link.send(replicaId, attempt.request);
    }, Math.min(delayMs, remainingMs));
  }

  /** A reply to this client: a result or a refusal from any replica ends the attempt; a redirect counts only from the replica last tried. */
  private hear(reply: Reply, from: number): void {
    const attempt = this.current;
    if (attempt === null || attempt.finished || answers(reply, attempt.kind) !== attempt.number) return;
    attempt.silent.delete(from);
    if (reply.type === 'reply' || reply.type === 'read-reply') {
      this.viewNumberKnown = Math.max(this.viewNumberKnown, reply.viewNumber);
      this.target = reply.viewNumber % this.link.replicaCount;
      return this.end(attempt, () => attempt.resolve(reply));
    }
    if (reply.type === 'redirect' || reply.type === 'read-redirect') {
      if (from !== this.target) return; // an old attempt's answer: the current one decides
      attempt.redirects++;
      const primary = reply.primary % this.link.replicaCount;
      // A replica changing views names itself or a primary that is not ready yet: back off.
      const backoffMs = primary === from || attempt.redirects > 2 ? Math.min(500, 10 * 2 ** Math.min(attempt.redirects, 6)) : 0;
      const route = routeAfterRedirect({ from, viewNumber: reply.viewNumber, primary }, { replicaCount: this.link.replicaCount, viewNumberKnown: this.viewNumberKnown, silent: attempt.silent });
      this.viewNumberKnown = route.viewNumberKnown;
      if (route.forgive !== null) attempt.silent.delete(route.forgive);
      return this.sendTo(attempt, route.to, backoffMs);
    }
    if (reply.code === 'busy') return this.sendTo(attempt, from, 50); // The primary's queue is full: the same replica, a little later.
    this.end(attempt, () => attempt.resolve(reply));
  }

  private end(attempt: Attempt, settle: () => void): void {
    attempt.finished = true;
    this.clock.clearTimeout(attempt.timer);
    if (this.current === attempt) this.current = null;
    settle();
  }

  private abort(error: Error): void {
    const attempt = this.current;
    if (attempt !== null && !attempt.finished) this.end(attempt, () => attempt.reject(error));
  }

  private replicaIdOf(replicaId: number): number {
    if (!Number.isInteger(replicaId) || replicaId < 0 || replicaId >= this.link.replicaCount) {
      throw new Error(`${this.name}: primaryGuess must be a replica id in 0..${this.link.replicaCount - 1}, got ${replicaId}`);
    }
    return replicaId;
  }

  private positive(value: number, what: string): number {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${this.name}: ${what} must be a positive number of milliseconds, got ${value}`);
    return value;
  }
}

/** The number of the request (or read) a reply answers; null for a reply of the other kind. */
function answers(reply: Reply, kind: AttemptKind): number | null {
  const answered = repliedInput(reply);
  return answered.kind === kind ? answered.number : null;
}
