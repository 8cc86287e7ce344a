/**
 * `BroadcastChannelTransport`: a cluster spanning the tabs of one origin,
 * one replica per tab, over one BroadcastChannel per cluster. Every frame
 * reaches every tab, so each names its sender and its recipient, and a
 * replica takes only the frames addressed to it; closing a tab is a crash.
 * Any script of the origin can post on the channel, so the sender a frame
 * claims is checked against the message it carries, and the reducer checks
 * the rest: the channel carries no authentication (the origin is the trust
 * boundary).
 */
import type { Message } from '@vsr/core';
import type { BrowserTransport, ClientRequestHandler, Refusal } from './transport.js';
import { CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX, decodeFrame, encodeFrame, readPeerMessage } from './wire.js';

export interface BroadcastChannelTransportOptions {
  readonly cluster: number;
  readonly replicaId: number;
  readonly replicaCount: number;
  /** Default `clusterChannelName(cluster)`. */
  readonly channelName?: string;
  /** The largest frame accepted, in UTF-8 bytes (default `FRAME_BYTES_MAX`). */
  readonly frameBytesMax?: number;
}

/** The BroadcastChannel of a cluster's replicas and clients. */
export function clusterChannelName(cluster: number): string {
  return `vsr-cluster-${cluster}`;
}

export class BroadcastChannelTransport implements BrowserTransport {
  readonly replicaId: number;
  private readonly channel: BroadcastChannel;
  private blocked = new Set<number>();
  private deliver: ((message: Message, frameId: number) => void) | null = null;
  private onRefusal: (refusal: Refusal) => void = () => {};
  private clientHandler: ClientRequestHandler | null = null;
  private readonly frameBytesMax: number;
  private framesSent = 0;
  private closed = false;

  constructor(options: BroadcastChannelTransportOptions) {
    this.replicaId = options.replicaId;
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
    this.channel = new BroadcastChannel(options.channelName ?? clusterChannelName(options.cluster));
    this.channel.onmessage = (event: MessageEvent) => this.onFrame(event.data);
    this.channel.onmessageerror = () => this.onRefusal({ reason: 'undeserializable', detail: 'a frame that could not be deserialized' });
  }

  /** Cuts the links to these peers (both directions) until the next call; an empty list heals. */
  blockPeers(peerIds: Iterable<number>): void {
    this.blocked = new Set(peerIds);
  }

  send(to: number, message: Message): number {
    const id = this.framesSent++;
    if (this.closed || this.blocked.has(to)) return id;
    this.channel.postMessage(encodeFrame({ kind: 'peer', from: this.replicaId, to, id, message }));
    return id;
  }

  listen(deliver: (message: Message, frameId: number) => void, onRefusal: (refusal: Refusal) => void): void {
    this.deliver = deliver;
    this.onRefusal = onRefusal;
  }

  serveClients(handler: ClientRequestHandler): void {
    this.clientHandler = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }

  private onFrame(data: unknown): void {
    if (this.closed) return;
    const decoded = decodeFrame(data, this.frameBytesMax);
    if (!decoded.ok) return this.onRefusal(decoded.refusal);
    const { frame, bytes } = decoded;
    switch (frame.kind) {
      case 'reply':
        return; // For the clients on the channel.
      case 'peer': {
        if (frame.to !== this.replicaId || this.blocked.has(frame.from)) return; // Another replica's, or cut off.
        const read = readPeerMessage(frame, this.replicaId);
        if (!read.ok) return this.onRefusal(read.refusal);
        this.deliver?.(read.message, frame.id);
        return;
      }
      case 'request': {
        if (frame.to !== this.replicaId) return;
        if (bytes > CLIENT_FRAME_BYTES_MAX) return this.onRefusal({ reason: 'frame-too-large', detail: `a client frame of ${bytes} bytes, over the ${CLIENT_FRAME_BYTES_MAX}-byte limit` });
        const linkId = frame.from;
        this.clientHandler?.(frame.request, (reply) => {
          if (!this.closed) this.channel.postMessage(encodeFrame({ kind: 'reply', from: this.replicaId, to: linkId, reply }));
        });
        return;
      }
    }
  }
}
