/**
 * `VsrClient`: the client side of VR (VR Revisited §4.1 steps 1 and 6, and
 * the client recovery note of §4.4).
 *
 * A client has one request outstanding at a time. It numbers them 1, 2, …
 * after registering (request 0), and resends a request with the *same*
 * number until some replica answers it, so the cluster's client table
 * executes it at most once however often it is resent. It starts at any
 * replica: a backup answers with a redirect naming its view's primary; a
 * replica that does not answer within `attemptTimeoutMs` is passed over for
 * the next. When `timeoutMs` runs out the request fails with a
 * `VsrTimeoutError` that says the outcome is unknown (it may still execute);
 * the next request gets the next number.
 *
 * Every process gets a fresh client id (random), so two processes never
 * share a session. If the cluster evicted this client from its client table
 * (it answers `not-registered`), the request did not execute and never will
 * under that id, so the client takes a fresh id, registers it and sends the
 * operation again under it.
 *
 * Transport: `ClusterLink` holds one connection per replica (the TCP
 * transport's client protocol on each replica's peer port) shared by any
 * number of clients, and hands each reply to the client it names. `connect`
 * replaces TCP, for example with a replica in the same process.
 */
import { randomBytes } from 'node:crypto';
import { Reply, type ClientRequest } from '@vsr/core';
import { TcpClientEndpoint, type Address, type TcpClientEndpointOptions } from './tcp-transport.js';
import { silentLogger, type Logger } from './logger.js';
import type { ClientEndpoint } from './transport.js';

// Where it was first defined, for the users who import it from here.
export type { ClientEndpoint } from './transport.js';

export interface ClusterLinkOptions {
  /** The replicas' peer addresses, by replica id (clients speak TCP to them unless `connect` says otherwise). */
  readonly replicas?: readonly Address[];
  /** How many replicas, when `connect` reaches every one of them and there are no addresses. */
  readonly replicaCount?: number;
  /** Replaces TCP for replica `replicaId` (for example, an in-process replica's `submit`). */
  readonly connect?: (replicaId: number, onReply: (reply: unknown) => void) => ClientEndpoint | undefined;
  /** Largest reply frame accepted (default 16 MiB). */
  readonly frameBytesMax?: number;
  /** The cluster's client token, if it requires one. */
  readonly token?: string;
  /** TLS to the replicas: the cluster CA checks each replica's certificate. */
  readonly tls?: TcpClientEndpointOptions['tls'];
  readonly logger?: Logger;
}

/** Connections to every replica, shared by many clients; replies go to the client they name. */
export class ClusterLink {
  readonly replicaCount: number;
  private readonly endpoints: ClientEndpoint[];
  private readonly listeners = new Map<string, (reply: Reply, from: number) => void>();
  private closed = false;

  constructor(options: ClusterLinkOptions) {
    const replicaCount = options.replicas?.length ?? options.replicaCount ?? 0;
    if (!Number.isInteger(replicaCount) || replicaCount < 1) throw new Error('ClusterLink: give the replicas\' addresses (or replicaCount with connect)');
    this.replicaCount = replicaCount;
    const logger = options.logger ?? silentLogger;
    this.endpoints = Array.from({ length: replicaCount }, (_, replicaId) => {
      const onReply = (raw: unknown) => this.dispatch(raw, replicaId, logger);
      const connected = options.connect?.(replicaId, onReply);
      if (connected !== undefined) return connected;
      const address = options.replicas?.[replicaId];
      if (address === undefined) throw new Error(`ClusterLink: no way to reach replica ${replicaId} (no address, and connect gave none)`);
      return new TcpClientEndpoint({
        address,
        replicaId,
        frameBytesMax: options.frameBytesMax ?? 16 * 1024 * 1024,
        onReply,
        logger,
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(options.tls === undefined ? {} : { tls: options.tls }),
      });
    });
  }

  /** Whether `close()` was called: nothing more is sent. */
  get isClosed(): boolean {
    return this.closed;
  }

  send(replicaId: number, request: ClientRequest): void {
    if (this.closed) throw new Error('ClusterLink: closed');
    this.endpoints[replicaId]?.send(request);
  }

  /** Routes replies naming `clientId` to `onReply`; returns the unsubscribe function. */
  subscribe(clientId: string, onReply: (reply: Reply, from: number) => void): () => void {
    if (this.listeners.has(clientId)) throw new Error(`ClusterLink: client ${clientId} is already subscribed`);
    this.listeners.set(clientId, onReply);
    return () => {
      if (this.listeners.get(clientId) === onReply) this.listeners.delete(clientId);
    };
  }

  close(): void {
    this.closed = true;
    for (const endpoint of this.endpoints) endpoint.close();
  }

  private dispatch(raw: unknown, from: number, logger: Logger): void {
    const decoded = Reply.decode(raw);
    if (decoded._tag === 'Left') {
      logger.warn({ peerId: from }, `ignoring a reply from replica ${from} that does not decode`);
      return;
    }
    this.listeners.get(decoded.right.clientId)?.(decoded.right, from);
  }
}

/** The request got no answer in time: it may or may not have executed. */
export class VsrTimeoutError extends Error {
  constructor(
    readonly clientId: string,
    readonly requestNumber: number,
    readonly timeoutMs: number,
    tried: readonly number[],
  ) {
    super(
      `request ${clientId}#${requestNumber} got no reply within ${timeoutMs} ms (tried replicas ${[...new Set(tried)].join(', ')}); ` +
        'it may or may not have executed',
    );
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

export interface VsrClientOptions {
  /** Connections to the cluster: a shared `ClusterLink`, or the replicas' addresses for a link of this client's own. */
  readonly link?: ClusterLink;
  readonly replicas?: readonly Address[];
  /** Defaults to a fresh random id. */
  readonly clientId?: string;
  /** How long one request may take in all, retries included (default 10 s). */
  readonly timeoutMs?: number;
  /** How long to wait on one replica before trying the next (default 1 s). */
  readonly attemptTimeoutMs?: number;
  /** The replica to try first (default 0); the client then follows redirects and replies. */
  readonly primaryGuess?: number;
}

export class VsrClient {
  private id: string;
  private readonly link: ClusterLink;
  private readonly ownsLink: boolean;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  /** The last request number used (0: registration). */
  private requestNumber = -1;
  private target: number;
  private tail: Promise<unknown> = Promise.resolve();
  private unsubscribe: () => void;
  private onReply: ((reply: Reply, from: number) => void) | null = null;
  /** Ends the attempt in flight with an error (set while one is). */
  private abortAttempt: ((error: Error) => void) | null = null;
  private closed = false;

  constructor(options: VsrClientOptions) {
    if (options.link === undefined && options.replicas === undefined) throw new Error('VsrClient: give link or replicas');
    this.link = options.link ?? new ClusterLink({ replicas: options.replicas ?? [] });
    this.ownsLink = options.link === undefined;
    this.timeoutMs = positive(options.timeoutMs ?? 10_000, 'timeoutMs');
    this.attemptTimeoutMs = positive(options.attemptTimeoutMs ?? 1_000, 'attemptTimeoutMs');
    const guess = options.primaryGuess ?? 0;
    if (!Number.isInteger(guess) || guess < 0 || guess >= this.link.replicaCount) {
      throw new Error(`VsrClient: primaryGuess must be a replica id in 0..${this.link.replicaCount - 1}, got ${guess}`);
    }
    this.target = guess;
    this.id = options.clientId ?? freshClientId();
    this.unsubscribe = this.link.subscribe(this.id, (reply, from) => this.onReply?.(reply, from));
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
    if (!Number.isInteger(replicaId) || replicaId < 0 || replicaId >= this.link.replicaCount) {
      throw new Error(`VsrClient: primaryGuess must be a replica id in 0..${this.link.replicaCount - 1}, got ${replicaId}`);
    }
    this.target = replicaId;
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

  /** Stops: a request in flight fails at once with a "closed" error, and later ones too. */
  close(): void {
    this.closed = true;
    this.abortAttempt?.(new Error('VsrClient: closed'));
    this.unsubscribe();
    if (this.ownsLink) this.link.close();
  }

  private async run(operation: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) throw new Error('VsrClient: closed');
    const deadlineMs = Date.now() + timeoutMs;
    for (let renewals = 0; ; renewals++) {
      if (this.requestNumber < 0) {
        const registration = await this.attempt(0, null, deadlineMs, timeoutMs);
        if (registration.type === 'error') throw new VsrRequestError(registration.code, registration.message);
        this.requestNumber = 0;
      }
      const requestNumber = this.requestNumber + 1;
      this.requestNumber = requestNumber;
      const reply = await this.attempt(requestNumber, operation, deadlineMs, timeoutMs);
      if (reply.type === 'reply') return reply.result;
      if (reply.code === 'not-registered' && renewals < 3) {
        // Evicted from the client table: this request did not execute and never will under this id.
        this.renew();
        continue;
      }
      throw new VsrRequestError(reply.code, `request ${this.id}#${requestNumber} refused (${reply.code}): ${reply.message}`);
    }
  }

  private renew(): void {
    this.unsubscribe();
    this.id = freshClientId();
    this.requestNumber = -1;
    this.unsubscribe = this.link.subscribe(this.id, (reply, from) => this.onReply?.(reply, from));
  }

  /** Sends one request until a replica answers it with a result or a refusal. */
  private attempt(requestNumber: number, operation: unknown, deadlineMs: number, timeoutMs: number): Promise<Extract<Reply, { type: 'reply' | 'error' }>> {
    const clientId = this.id;
    const request: ClientRequest = { clientId, requestNumber, operation: requestNumber === 0 ? null : operation };
    const tried: number[] = [];
    return new Promise((resolve, reject) => {
      // One timer at a time, and nothing after the attempt ends: a reply can arrive
      // synchronously inside link.send (an in-process replica), so every callback
      // checks `finished`, and the next timer is armed before sending.
      let timer: NodeJS.Timeout | null = null;
      let finished = false;
      let redirects = 0;
      const finish = (): void => {
        finished = true;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        if (this.onReply === onReply) this.onReply = null;
        if (this.abortAttempt === abort) this.abortAttempt = null;
      };
      const abort = (error: Error): void => {
        if (finished) return;
        finish();
        reject(error);
      };
      this.abortAttempt = abort;
      const sendTo = (replicaId: number, delayMs: number): void => {
        if (finished) return;
        if (timer !== null) clearTimeout(timer);
        const remaining = deadlineMs - Date.now();
        if (remaining <= 0) {
          finish();
          reject(new VsrTimeoutError(clientId, requestNumber, timeoutMs, tried));
          return;
        }
        this.target = replicaId;
        timer = setTimeout(
          () => {
            if (finished) return;
            // The link is shared (a pool of clients on one link) and was closed under this request.
            if (this.link.isClosed) return abort(new Error('VsrClient: the cluster link was closed'));
            tried.push(replicaId);
            timer = setTimeout(() => sendTo((replicaId + 1) % this.link.replicaCount, 0), Math.min(this.attemptTimeoutMs, Math.max(1, deadlineMs - Date.now())));
            this.link.send(replicaId, request);
          },
          Math.min(delayMs, remaining),
        );
      };
      const onReply = (reply: Reply, from: number): void => {
        if (finished || reply.requestNumber !== requestNumber) return;
        switch (reply.type) {
          case 'reply':
            finish();
            this.target = reply.viewNumber % this.link.replicaCount;
            resolve(reply);
            return;
          case 'redirect':
            if (from !== this.target) return; // an old attempt's answer: the current one decides
            redirects++;
            // A replica changing views names itself or a primary that is not ready: back off.
            sendTo(reply.primary % this.link.replicaCount, reply.primary === from || redirects > 2 ? Math.min(500, 10 * 2 ** Math.min(redirects, 6)) : 0);
            return;
          case 'error':
            if (reply.code === 'busy') {
              sendTo(from, 50);
              return;
            }
            finish();
            resolve(reply);
            return;
        }
      };
      this.onReply = onReply;
      sendTo(this.target, 0);
    });
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`VsrClient: ${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}

/** A fresh id per client: process id, time and 64 random bits, so no two processes share one. */
export function freshClientId(): string {
  return `c-${process.pid}-${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`;
}
