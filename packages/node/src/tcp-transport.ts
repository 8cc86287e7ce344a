/**
 * The TCP transport between replicas.
 *
 * Each replica listens on its own address and opens one outgoing connection
 * to every peer, on which it sends its messages. A connection starts with a
 * challenge–response handshake: the listener sends a fresh random nonce; the
 * dialer answers with its replica id and HMAC-SHA256(secret, nonce:id). Only
 * a peer holding the cluster secret gets past it, and the nonce makes a
 * recorded handshake useless. After it, frames flow: [length u32 BE][JSON].
 *
 * Clients use the same port: a dialer that answers the challenge with
 * `{type: "client"}` instead of an auth frame may only send
 * `{type: "request", request}` frames, and gets `{type: "reply", reply}`
 * frames back. A client request cannot change the protocol's state except
 * through the primary's ordering, so it needs no secret (like the HTTP API);
 * only replicas, which send protocol messages, must prove they hold it.
 *
 * Everything received is untrusted: a frame over the limit (1 KiB until the
 * handshake is done, then `clientFrameBytesMax` or `frameBytesMax`), bytes that
 * are not JSON, a failed handshake, or a message claiming to come from
 * another replica than the authenticated one closes that connection with a
 * logged reason; the replica runs on. Outgoing connections reconnect with
 * exponential backoff, and at once when the peer connects to us (it is back,
 * and a view change should not wait out a backoff); messages are best effort (the protocol retransmits),
 * so a bounded queue drops the oldest when a peer is away.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientRequest, Message, Reply } from '@vsr/core';
import type { ClientRequestHandler, Transport } from './replica.js';
import type { ClientEndpoint } from './client.js';

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface TcpTransportOptions {
  readonly replicaId: number;
  /** Where this replica listens (port 0 picks a free one; see `address()`). */
  readonly listen: Address;
  /** Where replica `id` listens; looked up at each (re)connection. */
  readonly peer: (replicaId: number) => Address | undefined;
  readonly replicaCount: number;
  /** The cluster secret every replica holds. */
  readonly secret: string;
  /**
   * Largest frame accepted from an authenticated replica (default 256 MiB). Log-carrying
   * messages (DoViewChange, StartView, NewState, RecoveryResponse) carry the latest checkpoint,
   * application snapshot included, so this bounds the application state the cluster can hold.
   */
  readonly frameBytesMax?: number;
  /** Largest frame accepted from a client connection (default 1 MiB). */
  readonly clientFrameBytesMax?: number;
  /** Messages queued per peer while it is unreachable (default 1024; the oldest are dropped). */
  readonly queueMax?: number;
  /** Client connections served at once (default 1024); more are refused. */
  readonly clientConnectionsMax?: number;
  readonly log?: (line: string) => void;
}

const HANDSHAKE_TIMEOUT_MS = 2_000;
/** Before a connection has said who it is, frames are tiny: a hello, an auth, a client hello. */
export const HANDSHAKE_FRAME_BYTES_MAX = 1024;
export const PEER_FRAME_BYTES_MAX = 256 * 1024 * 1024;
export const CLIENT_FRAME_BYTES_MAX = 1024 * 1024;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 2_000;

export interface TcpTransport extends Transport {
  /** Resolves once the listener is bound. */
  readonly ready: Promise<void>;
  address(): Address;
}

export function tcpTransport(options: TcpTransportOptions): TcpTransport {
  const frameBytesMax = options.frameBytesMax ?? PEER_FRAME_BYTES_MAX;
  const clientFrameBytesMax = options.clientFrameBytesMax ?? CLIENT_FRAME_BYTES_MAX;
  const queueMax = options.queueMax ?? 1024;
  const log = options.log ?? (() => {});
  const clientConnectionsMax = options.clientConnectionsMax ?? 1024;
  let deliver: (message: unknown) => void = () => {};
  let serveClient: ClientRequestHandler | null = null;
  let clientConnections = 0;
  let lastMessage: Message | null = null;
  let lastFrame: Buffer | null = null;
  let closed = false;
  const incoming = new Set<Socket>();
  const outgoing = new Map<number, Outgoing>();

  const server: Server = createServer((socket) => {
    incoming.add(socket);
    socket.on('close', () => incoming.delete(socket));
    socket.on('error', () => {});
    acceptPeer(socket);
  });

  const ready = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });

  /** The listener's side: challenge, verify, then read frames. */
  function acceptPeer(socket: Socket): void {
    const nonce = randomBytes(16).toString('hex');
    let peerId: number | null = null;
    const refuse = (reason: string) => {
      log(`replica ${options.replicaId}: closing connection from ${socket.remoteAddress}:${socket.remotePort}: ${reason}`);
      socket.destroy();
    };
    const timer = setTimeout(() => refuse('no handshake in time'), HANDSHAKE_TIMEOUT_MS);
    socket.write(encodeFrame({ type: 'hello', nonce }));
    let client = false;
    // Until the handshake is done only tiny frames are read: an unauthenticated peer cannot
    // make this replica buffer a large frame.
    const limit = () => (client ? clientFrameBytesMax : peerId === null ? Math.min(HANDSHAKE_FRAME_BYTES_MAX, frameBytesMax) : frameBytesMax);
    readFrames(socket, limit, refuse, (payload) => {
      if (client) {
        const frame = payload as { type?: unknown; request?: unknown } | null;
        if (frame === null || typeof frame !== 'object' || frame.type !== 'request') return refuse('expected a request frame on a client connection');
        serveClient?.(frame.request, (reply: Reply) => {
          if (!socket.destroyed) socket.write(encodeFrame({ type: 'reply', reply }));
        });
        return;
      }
      if (peerId === null) {
        clearTimeout(timer);
        const auth = payload as { type?: unknown; replica?: unknown; mac?: unknown } | null;
        if (auth !== null && typeof auth === 'object' && auth.type === 'client') {
          if (serveClient === null) return refuse('this replica serves no clients');
          if (clientConnections >= clientConnectionsMax) return refuse(`already serving ${clientConnectionsMax} client connections`);
          clientConnections++;
          socket.once('close', () => clientConnections--);
          client = true;
          return;
        }
        if (auth === null || typeof auth !== 'object' || auth.type !== 'auth' || typeof auth.replica !== 'number' || typeof auth.mac !== 'string') {
          return refuse('expected an auth frame');
        }
        if (!Number.isInteger(auth.replica) || auth.replica < 0 || auth.replica >= options.replicaCount || auth.replica === options.replicaId) {
          return refuse(`auth names replica ${String(auth.replica)}, not a peer`);
        }
        const expected = Buffer.from(mac(options.secret, nonce, auth.replica), 'hex');
        const given = Buffer.from(auth.mac, 'hex');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse('authentication failed');
        peerId = auth.replica;
        // The peer is back: reconnect to it now rather than when the backoff says.
        outgoing.get(peerId)?.wake();
        return;
      }
      const claimed = (payload as { replica?: unknown } | null)?.replica;
      if (claimed !== peerId) return refuse(`a message claiming replica ${String(claimed)} on replica ${peerId}'s connection`);
      deliver(payload);
    });
  }

  class Outgoing {
    private socket: Socket | null = null;
    private authenticated = false;
    private queue: Buffer[] = [];
    private backoffMs = BACKOFF_MIN_MS;
    private retry: NodeJS.Timeout | null = null;

    constructor(private readonly to: number) {}

    send(frame: Buffer): void {
      if (this.authenticated && this.socket !== null) {
        this.socket.write(frame);
        return;
      }
      this.queue.push(frame);
      if (this.queue.length > queueMax) this.queue.shift();
      if (this.socket === null && this.retry === null) this.dial();
    }

    private dial(): void {
      const address = options.peer(this.to);
      if (closed || address === undefined) return;
      const socket = connect(address.port, address.host);
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.socket = null;
        this.authenticated = false;
        if (!closed) this.scheduleRetry();
      });
      readFrames(
        socket,
        HANDSHAKE_FRAME_BYTES_MAX, // The listener sends only its hello.
        (reason) => {
          log(`replica ${options.replicaId}: closing connection to replica ${this.to}: ${reason}`);
          socket.destroy();
        },
        (payload) => {
          if (this.authenticated) return; // The listener sends nothing after its challenge.
          const hello = payload as { type?: unknown; nonce?: unknown };
          if (hello.type !== 'hello' || typeof hello.nonce !== 'string') {
            socket.destroy();
            return;
          }
          socket.write(encodeFrame({ type: 'auth', replica: options.replicaId, mac: mac(options.secret, hello.nonce, options.replicaId) }));
          this.authenticated = true;
          this.backoffMs = BACKOFF_MIN_MS;
          for (const frame of this.queue) socket.write(frame);
          this.queue = [];
        },
      );
    }

    /** Dials at once if waiting out a backoff (the peer just connected to us, so it is up). */
    wake(): void {
      if (this.retry === null || closed) return;
      clearTimeout(this.retry);
      this.retry = null;
      this.backoffMs = BACKOFF_MIN_MS;
      if (this.queue.length > 0) this.dial();
    }

    private scheduleRetry(): void {
      if (this.retry !== null) return;
      const delay = this.backoffMs;
      this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
      this.retry = setTimeout(() => {
        this.retry = null;
        if (this.queue.length > 0) this.dial();
      }, delay);
    }

    close(): void {
      if (this.retry !== null) clearTimeout(this.retry);
      this.socket?.destroy();
    }
  }

  return {
    ready,
    address() {
      const bound = server.address();
      if (bound === null || typeof bound === 'string') return options.listen;
      return { host: options.listen.host, port: bound.port };
    },
    send(to: number, message: Message) {
      if (closed || to === options.replicaId) return;
      let connection = outgoing.get(to);
      if (connection === undefined) {
        connection = new Outgoing(to);
        outgoing.set(to, connection);
      }
      // A broadcast hands the same (immutable) message for every peer: encode it once.
      if (message !== lastMessage) {
        lastMessage = message;
        lastFrame = encodeFrame(message);
      }
      connection.send(lastFrame!);
    },
    listen(handler) {
      deliver = handler;
    },
    serveClients(handler) {
      serveClient = handler;
    },
    clientEndpoint(replicaId, onReply) {
      const address = options.peer(replicaId);
      if (address === undefined) return undefined;
      return new TcpClientEndpoint(address, frameBytesMax, onReply, (line) => log(`replica ${options.replicaId}: client connection to replica ${replicaId}: ${line}`));
    },
    close() {
      closed = true;
      for (const connection of outgoing.values()) connection.close();
      for (const socket of incoming) socket.destroy();
      server.close();
    },
  };
}

function mac(secret: string, nonce: string, replicaId: number): string {
  return createHmac('sha256', secret).update(`${nonce}:${replicaId}`).digest('hex');
}

export function encodeFrame(payload: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** Splits a byte stream into frames; calls `refuse` (once) on anything malformed. */
export function readFrames(
  socket: Socket,
  frameBytesMax: number | (() => number),
  refuse: (reason: string) => void,
  onFrame: (payload: unknown) => void,
): void {
  const limit = typeof frameBytesMax === 'number' ? () => frameBytesMax : frameBytesMax;
  let buffered: Buffer = Buffer.alloc(0);
  let refused = false;
  const fail = (reason: string) => {
    if (refused) return;
    refused = true;
    refuse(reason);
  };
  socket.on('data', (chunk: Buffer) => {
    if (refused) return;
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (!refused && buffered.length >= 4) {
      const length = buffered.readUInt32BE(0);
      const bytesMax = limit();
      if (length > bytesMax) return fail(`a frame of ${length} bytes, over the ${bytesMax}-byte limit`);
      if (buffered.length < 4 + length) return;
      const body = buffered.subarray(4, 4 + length);
      buffered = buffered.subarray(4 + length);
      let payload: unknown;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        return fail('a frame that is not JSON');
      }
      onFrame(payload);
    }
  });
}

/** The TCP transport's client protocol: hello → {type:'client'} → request frames out, reply frames in. */
export class TcpClientEndpoint implements ClientEndpoint {
  private socket: Socket | null = null;
  private ready = false;
  /** Requests waiting for the connection; one per client at most matters, so a few suffice. */
  private queue: ClientRequest[] = [];
  private closed = false;

  constructor(
    private readonly address: Address,
    private readonly frameBytesMax: number,
    private readonly onReply: (reply: unknown) => void,
    private readonly log: (line: string) => void,
  ) {}

  send(request: ClientRequest): void {
    if (this.closed) return;
    if (this.ready && this.socket !== null) {
      this.socket.write(encodeFrame({ type: 'request', request }));
      return;
    }
    this.queue.push(request);
    if (this.queue.length > 4096) this.queue.shift();
    if (this.socket === null) this.dial();
  }

  private dial(): void {
    const socket = connect(this.address.port, this.address.host);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = null;
        this.ready = false;
      }
    });
    readFrames(
      socket,
      this.frameBytesMax,
      (reason) => {
        this.log(`closing the client connection: ${reason}`);
        socket.destroy();
      },
      (payload) => {
        const frame = payload as { type?: unknown; reply?: unknown } | null;
        if (frame === null || typeof frame !== 'object') return;
        if (!this.ready) {
          if (frame.type !== 'hello') {
            socket.destroy();
            return;
          }
          socket.write(encodeFrame({ type: 'client' }));
          this.ready = true;
          for (const request of this.queue) socket.write(encodeFrame({ type: 'request', request }));
          this.queue = [];
          return;
        }
        if (frame.type === 'reply') this.onReply(frame.reply);
      },
    );
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.socket?.destroy();
  }
}
