/**
 * `MessageChannelTransport`: replicas in the workers of one page, linked by
 * a mesh of MessagePorts. The page creates one MessageChannel per pair of
 * replicas and hands each end to one of them (worker-host.ts), and one per
 * client and replica (the client's end is in a `PortClientLink`). A port
 * links exactly two parties, so a frame on the port of peer p must come from
 * p, and its message must name p as its sender.
 */
import type { Message } from '@vsr/core';
import type { BrowserTransport, ClientRequestHandler, Refusal } from './transport.js';
import { CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX, decodeFrame, encodeFrame, readPeerMessage } from './wire.js';

export interface MessageChannelTransportOptions {
  readonly replicaId: number;
  readonly replicaCount: number;
  /** This replica's end of the channel to each peer. */
  readonly peerPorts?: Iterable<readonly [number, MessagePort]>;
  /** Ports clients send requests on (more with `addClientPort`). */
  readonly clientPorts?: Iterable<MessagePort>;
  /** The largest peer frame accepted, in UTF-8 bytes (default `FRAME_BYTES_MAX`). */
  readonly frameBytesMax?: number;
}

export class MessageChannelTransport implements BrowserTransport {
  readonly replicaId: number;
  readonly replicaCount: number;
  private readonly peers = new Map<number, MessagePort>();
  private readonly clientPorts = new Set<MessagePort>();
  /** Peers cut off (a partition): nothing is sent to them and what they send is dropped. */
  private blocked = new Set<number>();
  private deliver: ((message: Message, frameId: number) => void) | null = null;
  private onRefusal: (refusal: Refusal) => void = () => {};
  private clientHandler: ClientRequestHandler | null = null;
  private readonly frameBytesMax: number;
  private framesSent = 0;
  private closed = false;

  constructor(options: MessageChannelTransportOptions) {
    this.replicaId = options.replicaId;
    this.replicaCount = options.replicaCount;
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
    for (const [peerId, port] of options.peerPorts ?? []) this.connectPeer(peerId, port);
    for (const port of options.clientPorts ?? []) this.addClientPort(port);
  }

  /** The port to `peerId` (a restarted peer comes with a new one): replaces and closes the old one. */
  connectPeer(peerId: number, port: MessagePort): void {
    if (!Number.isInteger(peerId) || peerId < 0 || peerId >= this.replicaCount || peerId === this.replicaId) {
      throw new Error(`MessageChannelTransport: replica ${this.replicaId} cannot link to peer ${peerId} (replicas are 0..${this.replicaCount - 1})`);
    }
    if (this.closed) return port.close();
    this.peers.get(peerId)?.close();
    this.peers.set(peerId, port);
    port.onmessage = (event: MessageEvent) => this.onPeerFrame(peerId, event.data);
    port.onmessageerror = () => this.onRefusal({ reason: 'undeserializable', detail: `a frame from replica ${peerId} that could not be deserialized` });
  }

  /** A port a client sends requests on; replies go back on it. */
  addClientPort(port: MessagePort): void {
    if (this.closed) return port.close();
    this.clientPorts.add(port);
    port.onmessage = (event: MessageEvent) => this.onClientFrame(port, event.data);
    port.onmessageerror = () => this.onRefusal({ reason: 'undeserializable', detail: 'a client frame that could not be deserialized' });
  }

  /** Cuts the links to these peers (both directions) until the next call; an empty list heals. */
  blockPeers(peerIds: Iterable<number>): void {
    this.blocked = new Set(peerIds);
  }

  send(to: number, message: Message): number {
    const id = this.framesSent++;
    if (this.closed || this.blocked.has(to)) return id;
    this.peers.get(to)?.postMessage(encodeFrame({ kind: 'peer', from: this.replicaId, to, id, message }));
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
    for (const port of [...this.peers.values(), ...this.clientPorts]) port.close();
    this.peers.clear();
    this.clientPorts.clear();
  }

  private onPeerFrame(peerId: number, data: unknown): void {
    if (this.closed || this.blocked.has(peerId)) return;
    const decoded = decodeFrame(data, this.frameBytesMax);
    if (!decoded.ok) return this.onRefusal(decoded.refusal);
    const { frame } = decoded;
    if (frame.kind !== 'peer') return this.onRefusal({ reason: 'unexpected-frame', detail: `a ${frame.kind} frame on the link to replica ${peerId}` });
    const read = readPeerMessage(frame, this.replicaId, peerId);
    if (!read.ok) return this.onRefusal(read.refusal);
    this.deliver?.(read.message, frame.id);
  }

  private onClientFrame(port: MessagePort, data: unknown): void {
    if (this.closed) return;
    const decoded = decodeFrame(data, CLIENT_FRAME_BYTES_MAX);
    if (!decoded.ok) return this.onRefusal(decoded.refusal);
    const { frame } = decoded;
    if (frame.kind !== 'request') return this.onRefusal({ reason: 'unexpected-frame', detail: `a ${frame.kind} frame on a client port` });
    if (frame.to !== this.replicaId) return this.onRefusal({ reason: 'wrong-recipient', detail: `a request for replica ${frame.to} reached replica ${this.replicaId}` });
    const linkId = frame.from;
    this.clientHandler?.(frame.request, (reply) => {
      if (!this.closed && this.clientPorts.has(port)) port.postMessage(encodeFrame({ kind: 'reply', from: this.replicaId, to: linkId, reply }));
    });
  }
}
