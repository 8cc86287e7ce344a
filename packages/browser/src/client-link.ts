/**
 * A client's channels to the replicas: `PortClientLink` (a MessagePort to
 * each replica, made by the page) and `BroadcastClientLink` (the cluster's
 * BroadcastChannel). A link has an id of its own, which its request frames
 * carry as `from` and replies carry as `to`, and hands each reply, decoded
 * with the core's `Reply` codec, to the client it names. Replies are
 * untrusted like any frame: what does not decode is counted and dropped.
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import { Reply, decodeWith, type ClientInput } from '@vsr/core';
import { clusterChannelName } from './broadcast-channel-transport.js';
import { FRAME_BYTES_MAX, REPLY_FRAME_BYTES_MAX, decodeFrame, encodeFrame } from './wire.js';

export interface ClientLink {
  readonly replicaCount: number;
  /** Whether `close()` was called: nothing more is sent. */
  readonly isClosed: boolean;
  send(replicaId: number, request: ClientInput): void;
  /** Routes replies naming `clientId` to `onReply`; returns the unsubscribe function. */
  subscribe(clientId: string, onReply: (reply: Reply, from: number) => void): () => void;
  /** Replies refused so far, by reason. */
  refusals(): Readonly<Record<string, number>>;
  close(): void;
}

/** What both links share: the subscribers, the refusal counts, and reading a reply frame. */
abstract class LinkBase {
  readonly linkId = `link-${crypto.randomUUID()}`;
  private readonly listeners = new Map<string, (reply: Reply, from: number) => void>();
  private readonly refused = new Map<string, number>();
  protected closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  subscribe(clientId: string, onReply: (reply: Reply, from: number) => void): () => void {
    if (this.listeners.has(clientId)) throw new Error(`ClientLink: client ${clientId} is already subscribed`);
    this.listeners.set(clientId, onReply);
    return () => {
      if (this.listeners.get(clientId) === onReply) this.listeners.delete(clientId);
    };
  }

  refusals(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.refused);
  }

  protected encodeRequest(replicaId: number, request: ClientInput): string {
    return encodeFrame({ kind: 'request', from: this.linkId, to: replicaId, request });
  }

  /** A frame received; `expectedFrom` is the replica at the other end of a port (undefined on a broadcast channel). */
  protected receive(data: unknown, expectedFrom: number | undefined): void {
    if (this.closed) return;
    const decoded = decodeFrame(data, expectedFrom === undefined ? FRAME_BYTES_MAX : REPLY_FRAME_BYTES_MAX);
    if (!decoded.ok) return this.count(decoded.refusal.reason);
    const { frame } = decoded;
    if (frame.kind !== 'reply') {
      if (expectedFrom !== undefined) this.count('unexpected-frame');
      return; // On a broadcast channel: the replicas' traffic.
    }
    if (frame.to !== this.linkId) return expectedFrom === undefined ? undefined : this.count('wrong-recipient');
    if (expectedFrom !== undefined && frame.from !== expectedFrom) return this.count('wrong-sender');
    const reply = decodeWith(Reply, frame.reply);
    if (isLeft(reply)) return this.count('bad-reply');
    this.listeners.get(reply.right.clientId)?.(reply.right, frame.from);
  }

  private count(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }
}

/** A MessagePort to each replica, by replica id (its other end added to the replica's transport as a client port). */
export class PortClientLink extends LinkBase implements ClientLink {
  readonly replicaCount: number;
  private readonly ports: Array<MessagePort | null>;

  constructor(ports: ReadonlyArray<MessagePort | null>) {
    super();
    if (ports.length < 1) throw new Error('PortClientLink: give a port per replica');
    this.replicaCount = ports.length;
    this.ports = ports.map(() => null);
    ports.forEach((port, replicaId) => {
      if (port !== null) this.connect(replicaId, port);
    });
  }

  /** The port to `replicaId` (a restarted replica comes with a new one); closes the old one. */
  connect(replicaId: number, port: MessagePort): void {
    if (!Number.isInteger(replicaId) || replicaId < 0 || replicaId >= this.replicaCount) throw new Error(`PortClientLink: no replica ${replicaId}`);
    if (this.closed) return port.close();
    this.ports[replicaId]?.close();
    this.ports[replicaId] = port;
    port.onmessage = (event: MessageEvent) => this.receive(event.data, replicaId);
  }

  send(replicaId: number, request: ClientInput): void {
    if (this.closed) throw new Error('ClientLink: closed');
    this.ports[replicaId]?.postMessage(this.encodeRequest(replicaId, request));
  }

  close(): void {
    this.closed = true;
    for (const port of this.ports) port?.close();
  }
}

/** Clients of a cluster whose replicas live in tabs: requests and replies on the cluster's BroadcastChannel. */
export class BroadcastClientLink extends LinkBase implements ClientLink {
  readonly replicaCount: number;
  private readonly channel: BroadcastChannel;

  constructor(options: { readonly cluster: number; readonly replicaCount: number; readonly channelName?: string }) {
    super();
    if (!Number.isInteger(options.replicaCount) || options.replicaCount < 1) throw new Error('BroadcastClientLink: replicaCount must be a positive integer');
    this.replicaCount = options.replicaCount;
    this.channel = new BroadcastChannel(options.channelName ?? clusterChannelName(options.cluster));
    this.channel.onmessage = (event: MessageEvent) => this.receive(event.data, undefined);
  }

  send(replicaId: number, request: ClientInput): void {
    if (this.closed) throw new Error('ClientLink: closed');
    this.channel.postMessage(this.encodeRequest(replicaId, request));
  }

  close(): void {
    this.closed = true;
    this.channel.close();
  }
}
