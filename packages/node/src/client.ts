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
import { Reply, type ClientInput } from '@vsr/core';
import { ClientCore, type ClientClock } from '@vsr/runtime';
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

  send(replicaId: number, request: ClientInput): void {
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

export { VsrTimeoutError, VsrRequestError } from '@vsr/runtime';

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

/** Node's timers and clock for the client. */
const NODE_CLOCK: ClientClock = {
  nowMs: () => Date.now(),
  setTimeout: (run, afterMs) => setTimeout(run, afterMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};

/** The core's `ClientCore` over a `ClusterLink` (TCP to every replica, or `connect`'s endpoints). */
export class VsrClient extends ClientCore {
  private readonly ownsLink: boolean;

  constructor(options: VsrClientOptions) {
    if (options.link === undefined && options.replicas === undefined) throw new Error('VsrClient: give link or replicas');
    const link = options.link ?? new ClusterLink({ replicas: options.replicas ?? [] });
    super({ ...options, link, clock: NODE_CLOCK, freshClientId, name: 'VsrClient' });
    this.ownsLink = options.link === undefined;
  }

  /** Stops: a request in flight fails at once with a "closed" error, and later ones too; a link of its own is closed. */
  override close(): void {
    super.close();
    if (this.ownsLink) (this.link as ClusterLink).close();
  }
}


/** A fresh id per client: process id, time and 64 random bits, so no two processes share one. */
export function freshClientId(): string {
  return `c-${process.pid}-${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`;
}
