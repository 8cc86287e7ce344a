/**
 * `BrowserVsrClient`: the client side of VR (VR Revisited §4.1 steps 1 and
 * 6), with the semantics of the Node `VsrClient`: one request outstanding at
 * a time, numbered 1, 2, … after registering (request 0); a request is resent
 * with the *same* number until a replica answers it, so the cluster's client
 * table executes it at most once; any replica is an entry point (a backup
 * redirects to its view's primary; a replica silent for `attemptTimeoutMs`
 * is passed over for the next); after `timeoutMs` the request fails with a
 * `VsrTimeoutError` saying its outcome is unknown. A fresh client id per
 * client object, so per page load (`crypto.randomUUID`); if the cluster
 * evicted the session (`not-registered`: the request did not execute), it
 * takes a fresh id, registers and sends the operation again.
 */
import type { ClientRequest, Reply } from '@vsr/core';
import type { ClientLink } from './client-link.js';

export { PortClientLink, BroadcastClientLink, type ClientLink } from './client-link.js';

/** The request got no answer in time: it may or may not have executed. */
export class VsrTimeoutError extends Error {
  constructor(
    readonly clientId: string,
    readonly requestNumber: number,
    readonly timeoutMs: number,
    tried: readonly number[],
  ) {
    const replicas = tried.length === 0 ? 'none' : [...new Set(tried)].join(', ');
    super(`request ${clientId}#${requestNumber} got no reply within ${timeoutMs} ms (tried replicas ${replicas}); it may or may not have executed`);
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

export interface BrowserVsrClientOptions {
  readonly link: ClientLink;
  /** Defaults to a fresh random id. */
  readonly clientId?: string;
  /** How long one request may take in all, retries included (default 10 s). */
  readonly timeoutMs?: number;
  /** How long to wait on one replica before trying the next (default 1 s). */
  readonly attemptTimeoutMs?: number;
  /** The replica to try first (default 0). */
  readonly primaryGuess?: number;
}

/** A fresh id per client: 122 random bits, so no two page loads share a session. */
export function freshClientId(): string {
  return `c-${crypto.randomUUID()}`;
}

type Final = Extract<Reply, { type: 'reply' | 'error' }>;
type Heard = { readonly reply: Reply; readonly from: number } | 'timeout';
/** How many times in a row an evicted client renews its id before giving up. */
const RENEWALS_MAX = 3;

export class BrowserVsrClient {
  private id: string;
  private readonly link: ClientLink;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  /** The last request number used (-1: not registered yet; 0: registration). */
  private requestNumber = -1;
  private target: number;
  private tail: Promise<unknown> = Promise.resolve();
  private unsubscribe: () => void;
  /** The wait in progress: a reply (or the close) ends it. */
  private waiting: { readonly hear: (reply: Reply, from: number) => void; readonly abort: (error: Error) => void } | null = null;
  private closed = false;

  constructor(options: BrowserVsrClientOptions) {
    this.link = options.link;
    this.timeoutMs = positive(options.timeoutMs ?? 10_000, 'timeoutMs');
    this.attemptTimeoutMs = positive(options.attemptTimeoutMs ?? 1_000, 'attemptTimeoutMs');
    this.target = this.replicaIdOf(options.primaryGuess ?? 0, 'primaryGuess');
    this.id = options.clientId ?? freshClientId();
    this.unsubscribe = this.link.subscribe(this.id, (reply, from) => this.waiting?.hear(reply, from));
  }

  get clientId(): string {
    return this.id;
  }

  /** The replica this client believes is the primary. */
  get primaryGuess(): number {
    return this.target;
  }

  /**
   * Runs `operation` on the replicated state machine and resolves with its
   * result. Calls queue: one request is outstanding at a time; each has its
   * own `timeoutMs` (default: the client's), counted from when it starts.
   */
  request(operation: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    const timeoutMs = positive(options.timeoutMs ?? this.timeoutMs, 'timeoutMs');
    const run = this.tail.then(
      () => this.run(operation, timeoutMs),
      () => this.run(operation, timeoutMs),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Stops: a request in flight fails at once with a "closed" error, and later ones too. The link stays open. */
  close(): void {
    this.closed = true;
    this.waiting?.abort(new Error('BrowserVsrClient: closed'));
    this.unsubscribe();
  }

  private async run(operation: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) throw new Error('BrowserVsrClient: closed');
    const deadlineMs = Date.now() + timeoutMs;
    for (let renewals = 0; ; renewals++) {
      if (this.requestNumber < 0) {
        const registration = await this.attempt(0, null, deadlineMs, timeoutMs);
        if (registration.type === 'error') throw new VsrRequestError(registration.code, `registration of ${this.id} refused (${registration.code}): ${registration.message}`);
        this.requestNumber = 0;
      }
      const requestNumber = ++this.requestNumber;
      const reply = await this.attempt(requestNumber, operation, deadlineMs, timeoutMs);
      if (reply.type === 'reply') return reply.result;
      if (reply.code === 'not-registered' && renewals < RENEWALS_MAX) {
        this.renew(); // Evicted: this request did not execute and never will under this id.
        continue;
      }
      throw new VsrRequestError(reply.code, `request ${this.id}#${requestNumber} refused (${reply.code}): ${reply.message}`);
    }
  }

  private renew(): void {
    this.unsubscribe();
    this.id = freshClientId();
    this.requestNumber = -1;
    this.unsubscribe = this.link.subscribe(this.id, (reply, from) => this.waiting?.hear(reply, from));
  }

  /** Sends one request, to one replica after another, until one answers it with a result or a refusal. */
  private async attempt(requestNumber: number, operation: unknown, deadlineMs: number, timeoutMs: number): Promise<Final> {
    const request: ClientRequest = { clientId: this.id, requestNumber, operation: requestNumber === 0 ? null : operation };
    const tried: number[] = [];
    let delayMs = 0;
    for (let redirects = 0; ; ) {
      if (delayMs > 0) await this.wait(requestNumber, this.target, Math.min(delayMs, Math.max(0, deadlineMs - Date.now())), false);
      const remainingMs = deadlineMs - Date.now();
      if (remainingMs <= 0) throw new VsrTimeoutError(request.clientId, requestNumber, timeoutMs, tried);
      if (this.link.isClosed) throw new Error('BrowserVsrClient: the cluster link was closed');
      const target = this.target;
      tried.push(target);
      this.link.send(target, request);
      const heard = await this.wait(requestNumber, target, Math.min(this.attemptTimeoutMs, remainingMs), true);
      delayMs = 0;
      if (heard === 'timeout') {
        this.target = (target + 1) % this.link.replicaCount;
        continue;
      }
      const { reply, from } = heard;
      if (reply.type === 'reply') {
        this.target = reply.viewNumber % this.link.replicaCount;
        return reply;
      }
      if (reply.type === 'redirect') {
        redirects++;
        this.target = reply.primary % this.link.replicaCount;
        // A replica changing views names itself or a primary that is not ready yet: back off.
        if (reply.primary === from || redirects > 2) delayMs = Math.min(500, 10 * 2 ** Math.min(redirects, 6));
        continue;
      }
      if (reply.code !== 'busy') return reply;
      delayMs = 50; // The primary's queue is full: the same replica, a little later.
    }
  }

  /**
   * Waits up to `waitMs` for the reply to `requestNumber`: a result or a
   * refusal from any replica, a redirect only from `target` (an older
   * attempt's redirect must not steer this one). With `listen` false it only
   * sleeps (a backoff); either way the close ends it.
   */
  private wait(requestNumber: number, target: number, waitMs: number, listen: boolean): Promise<Heard> {
    return new Promise<Heard>((resolve, reject) => {
      const timer = setTimeout(() => finish(() => resolve('timeout')), waitMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiting = null;
        settle();
      };
      this.waiting = {
        hear: (reply, from) => {
          if (!listen || reply.requestNumber !== requestNumber) return;
          if (reply.type === 'redirect' && from !== target) return;
          finish(() => resolve({ reply, from }));
        },
        abort: (error) => finish(() => reject(error)),
      };
      if (this.closed) this.waiting.abort(new Error('BrowserVsrClient: closed'));
    });
  }

  private replicaIdOf(replicaId: number, name: string): number {
    if (!Number.isInteger(replicaId) || replicaId < 0 || replicaId >= this.link.replicaCount) {
      throw new Error(`BrowserVsrClient: ${name} must be a replica id in 0..${this.link.replicaCount - 1}, got ${replicaId}`);
    }
    return replicaId;
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`BrowserVsrClient: ${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}
