/**
 * The TCP transport between replicas, and the client protocol on the same port.
 *
 * Each replica listens on its own address and opens one outgoing connection
 * to every peer, on which it sends its messages. Replicas authenticate each
 * other with mutual TLS or a shared secret (peer-auth.ts): the listener
 * sends `hello`, the dialer answers `auth`, the listener answers `accept`;
 * only then does the dialer send protocol messages. The dialer pings every
 * `pingIntervalMs` and the listener answers, so each side knows when it
 * last heard from each peer and the round-trip time.
 *
 * Clients use the same port: a dialer that answers the hello with
 * `{type: "client", token}` may only send `{type: "request", request}`
 * frames, and gets `{type: "reply", reply}` frames back. When `clientToken`
 * is set, a client must present it. A client request cannot change the
 * protocol's state except through the primary's ordering (and the core
 * bounds and validates it), so a client never needs the replicas' secret.
 *
 * Everything received is untrusted and bounded:
 * - frame size by stage: 1 KiB until a connection says what it is, then
 *   `clientFrameBytesMax` or `frameBytesMax`; JSON depth before any parse;
 * - time: a handshake must finish within `handshakeTimeoutMs`; a client
 *   connection that completes no frame for `clientIdleTimeoutMs` is closed
 *   (a request dribbled a byte at a time counts as idle);
 * - count: `handshakesMax` connections may be in their handshake at once
 *   (the oldest is dropped for a new one), client connections are capped in
 *   all and per source address;
 * - memory: a client that does not read its replies is closed once
 *   `clientBacklogBytesMax` waits for it; a peer whose socket holds more than
 *   `peerBacklogBytesMax` unsent gets no more messages until it drains (the
 *   protocol retransmits what matters).
 * Anything refused closes that connection with a counted, rate-limited log
 * line (`refusals`); the replica runs on.
 */
import { createServer as createTcpServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { ClientInput, Message, Reply } from '@vsr/core';
import type { ClientEndpoint, ClientRequestHandler, Transport } from './transport.js';
import { FrameWriter, describeUntrusted, encodeFrame, frameOf, parseFrameBody, readFrameBodies, type FrameRefusal } from './frames.js';
import { FrameMac, acceptProof, dialProof, freshNonce, isNonce, proofMatches, replicaIdOfCertificate, type HandshakeFacts, type TlsCredentials } from './peer-auth.js';
import { Refusals, silentLogger, type Logger } from './logger.js';

export { encodeFrame, readFrames } from './frames.js';

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
  /** Mutual TLS between replicas (and TLS for clients). Give this or `secret`. */
  readonly tls?: TlsCredentials;
  /** The cluster secret every replica holds, for the shared-secret mode. */
  readonly secret?: string;
  /** When set, a client connection must present this token in its hello. */
  readonly clientToken?: string;
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
  /** Client connections from one source address (default 512). */
  readonly clientConnectionsPerSourceMax?: number;
  /** Connections in their handshake at once (default 128): past it, the oldest is closed. */
  readonly handshakesMax?: number;
  /** Time a connection has to finish its handshake, TLS included (default 2 s). */
  readonly handshakeTimeoutMs?: number;
  /** A client connection that completes no frame in this time is closed (default 30 s). */
  readonly clientIdleTimeoutMs?: number;
  /** How often the dialer pings each peer (default 1 s). */
  readonly pingIntervalMs?: number;
  /** Unsent bytes a peer's socket may hold before messages to it are dropped (default 64 MiB). */
  readonly peerBacklogBytesMax?: number;
  /** Unread reply bytes a client may leave before its connection is closed (default 8 MiB). */
  readonly clientBacklogBytesMax?: number;
  readonly logger?: Logger;
  /** Where refusals are counted (default: a counter of its own, logging to `logger`). */
  readonly refusals?: Refusals;
}

/** What this replica knows of its link to one peer. */
export interface PeerLinkStatus {
  readonly replicaId: number;
  /** The outgoing connection is authenticated. */
  readonly connected: boolean;
  /** Milliseconds since anything authenticated arrived from this peer, or null if nothing ever did. */
  readonly heardAgoMs: number | null;
  /** The last ping's round-trip time. */
  readonly rttMs: number | null;
}

/** Before a connection has said who it is, frames are tiny: a hello, an auth, a client hello. */
export const HANDSHAKE_FRAME_BYTES_MAX = 1024;
export const PEER_FRAME_BYTES_MAX = 256 * 1024 * 1024;
export const CLIENT_FRAME_BYTES_MAX = 1024 * 1024;
const BACKOFF_MIN_MS = 50;
/** How long a refused connection may take to read the frame that says why. */
const REFUSAL_LINGER_MS = 1_000;
const BACKOFF_MAX_MS = 2_000;

export interface TcpTransport extends Transport {
  /** Resolves once the listener is bound. */
  readonly ready: Promise<void>;
  readonly refusals: Refusals;
  address(): Address;
  peers(): PeerLinkStatus[];
  /** Client connections open now, and the cap. */
  clientConnections(): { readonly open: number; readonly max: number };
}

interface Settings {
  readonly replicaId: number;
  readonly replicaCount: number;
  readonly tls: TlsCredentials | undefined;
  readonly secret: string | undefined;
  readonly clientToken: string | undefined;
  readonly frameBytesMax: number;
  readonly clientFrameBytesMax: number;
  readonly queueMax: number;
  readonly clientConnectionsMax: number;
  readonly clientConnectionsPerSourceMax: number;
  readonly handshakesMax: number;
  readonly handshakeTimeoutMs: number;
  readonly clientIdleTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly peerBacklogBytesMax: number;
  readonly clientBacklogBytesMax: number;
}

function settingsOf(options: TcpTransportOptions): Settings {
  if ((options.tls === undefined) === (options.secret === undefined || options.secret === '')) {
    throw new Error('tcpTransport: give exactly one of tls (mutual TLS) or a non-empty secret');
  }
  return {
    replicaId: options.replicaId,
    replicaCount: options.replicaCount,
    tls: options.tls,
    secret: options.tls === undefined ? options.secret : undefined,
    clientToken: options.clientToken,
    frameBytesMax: options.frameBytesMax ?? PEER_FRAME_BYTES_MAX,
    clientFrameBytesMax: options.clientFrameBytesMax ?? CLIENT_FRAME_BYTES_MAX,
    queueMax: options.queueMax ?? 1024,
    clientConnectionsMax: options.clientConnectionsMax ?? 1024,
    clientConnectionsPerSourceMax: options.clientConnectionsPerSourceMax ?? 512,
    handshakesMax: options.handshakesMax ?? 128,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 2_000,
    clientIdleTimeoutMs: options.clientIdleTimeoutMs ?? 30_000,
    pingIntervalMs: options.pingIntervalMs ?? 1_000,
    peerBacklogBytesMax: options.peerBacklogBytesMax ?? 64 * 1024 * 1024,
    clientBacklogBytesMax: options.clientBacklogBytesMax ?? 8 * 1024 * 1024,
  };
}

/** State the listener and the dialers share. */
interface Shared {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly refusals: Refusals;
  /** When each peer was last heard from (Date.now()). */
  readonly heardAtMs: Map<number, number>;
  deliver: (message: unknown) => void;
  serveClient: ClientRequestHandler | null;
  closed: boolean;
}

export function tcpTransport(options: TcpTransportOptions): TcpTransport {
  const settings = settingsOf(options);
  const logger = options.logger ?? silentLogger;
  const shared: Shared = {
    settings,
    logger,
    refusals: options.refusals ?? new Refusals({ logger }),
    heardAtMs: new Map(),
    deliver: () => {},
    serveClient: null,
    closed: false,
  };
  const outgoing = new Map<number, Outgoing>();
  const linkTo = (peerId: number): Outgoing => {
    let connection = outgoing.get(peerId);
    if (connection === undefined) {
      connection = new Outgoing(shared, peerId, () => options.peer(peerId));
      outgoing.set(peerId, connection);
    }
    return connection;
  };
  const listener = new Listener(shared, (peerId) => linkTo(peerId).wake());
  // Links to every peer are opened as soon as this replica listens and kept up (pings, health),
  // so a replica that restarts is heard from before its peers' timeouts, not when it first sends.
  const ready = listener.listen(options.listen).then(() => {
    for (let peerId = 0; peerId < settings.replicaCount; peerId++) if (peerId !== settings.replicaId && !shared.closed) linkTo(peerId).start();
  });
  let lastMessage: Message | null = null;
  let lastFrame: Buffer = Buffer.alloc(0);

  return {
    ready,
    refusals: shared.refusals,
    address: () => listener.address(options.listen),
    peers: () => peerStatuses(shared, outgoing),
    clientConnections: () => ({ open: listener.clientCount(), max: settings.clientConnectionsMax }),
    send(to: number, message: Message) {
      if (shared.closed || to === settings.replicaId) return;
      const connection = linkTo(to);
      // A broadcast hands the same (immutable) message for every peer: encode it once.
      if (message !== lastMessage) {
        lastMessage = message;
        lastFrame = Buffer.from(JSON.stringify(message), 'utf8');
      }
      connection.send(lastFrame);
    },
    listen(handler) {
      shared.deliver = handler;
    },
    serveClients(handler) {
      shared.serveClient = handler;
    },
    clientEndpoint(replicaId, onReply) {
      const address = options.peer(replicaId);
      if (address === undefined) return undefined;
      return new TcpClientEndpoint({
        address,
        replicaId,
        frameBytesMax: settings.frameBytesMax,
        onReply,
        ...(settings.clientToken === undefined ? {} : { token: settings.clientToken }),
        ...(settings.tls === undefined ? {} : { tls: settings.tls }),
        logger,
      });
    },
    close() {
      shared.closed = true;
      for (const connection of outgoing.values()) connection.close();
      listener.close();
    },
  };
}

function peerStatuses(shared: Shared, outgoing: ReadonlyMap<number, Outgoing>): PeerLinkStatus[] {
  const now = Date.now();
  const statuses: PeerLinkStatus[] = [];
  for (let replicaId = 0; replicaId < shared.settings.replicaCount; replicaId++) {
    if (replicaId === shared.settings.replicaId) continue;
    const heard = shared.heardAtMs.get(replicaId);
    const connection = outgoing.get(replicaId);
    statuses.push({ replicaId, connected: connection?.connected ?? false, heardAgoMs: heard === undefined ? null : now - heard, rttMs: connection?.rttMs ?? null });
  }
  return statuses;
}

// ---------------------------------------------------------------------------
// The listener: accepts peers and clients

class Listener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Connections still in their handshake, oldest first. */
  private readonly handshaking = new Set<Socket>();
  private readonly clientsBySource = new Map<string, number>();
  private clients = 0;

  constructor(
    private readonly shared: Shared,
    private readonly onPeerAuthenticated: (peerId: number) => void,
  ) {
    const { tls, handshakeTimeoutMs } = shared.settings;
    const onSecure = (socket: Socket) => new Incoming(shared, this, socket);
    // noDelay: replies and pongs on accepted connections leave at once; Nagle's algorithm would
    // hold a small frame until the one before it is acknowledged (as dialed sockets already do).
    this.server =
      tls === undefined
        ? createTcpServer({ noDelay: true }, onSecure)
        : createTlsServer({ noDelay: true, ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: false, handshakeTimeout: handshakeTimeoutMs }, onSecure);
    // Every raw connection, TLS or not: counted, and given a deadline for its whole handshake.
    this.server.on('connection', (socket: Socket) => this.admit(socket));
    // A failed TLS handshake; one that stalls is closed by the handshake deadline in `admit`.
    this.server.on('tlsClientError', () => {});
  }

  listen(address: Address): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(address.port, address.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  address(fallback: Address): Address {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') return fallback;
    return { host: fallback.host, port: bound.port };
  }

  private admit(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.handshaking.delete(socket);
    });
    this.handshaking.add(socket);
    if (this.handshaking.size > this.shared.settings.handshakesMax) {
      const oldest = this.handshaking.values().next().value;
      if (oldest !== undefined) this.drop(oldest, 'handshakes-full', `${this.shared.settings.handshakesMax} connections already in their handshake; closing the oldest`);
    }
    const timer = setTimeout(() => {
      if (this.handshaking.has(socket)) this.drop(socket, 'handshake-timeout', `no handshake within ${this.shared.settings.handshakeTimeoutMs} ms`);
    }, this.shared.settings.handshakeTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
  }

  /** The connection said what it is: it no longer counts against the handshake cap. */
  handshakeDone(socket: Socket): void {
    this.handshaking.delete(rawSocketOf(socket));
  }

  /** Admits a client connection within the caps; returns false after refusing it. */
  admitClient(socket: Socket): boolean {
    const { clientConnectionsMax, clientConnectionsPerSourceMax } = this.shared.settings;
    const source = socket.remoteAddress ?? 'unknown';
    const fromSource = this.clientsBySource.get(source) ?? 0;
    if (this.clients >= clientConnectionsMax) return this.refuse(socket, 'client-connections', `already serving ${clientConnectionsMax} client connections`);
    if (fromSource >= clientConnectionsPerSourceMax) return this.refuse(socket, 'client-connections-per-source', `already serving ${clientConnectionsPerSourceMax} client connections from ${source}`);
    this.clients++;
    this.clientsBySource.set(source, fromSource + 1);
    socket.once('close', () => {
      this.clients--;
      const left = (this.clientsBySource.get(source) ?? 1) - 1;
      if (left > 0) this.clientsBySource.set(source, left);
      else this.clientsBySource.delete(source);
    });
    return true;
  }

  clientCount(): number {
    return this.clients;
  }

  peerAuthenticated(peerId: number): void {
    this.onPeerAuthenticated(peerId);
  }

  /**
   * Refuses a connection: counted, logged (rate-limited; `quiet` at debug level, for closes that
   * are routine), told why in a last frame, then closed. It stops counting against the handshake
   * cap at once and nothing more it sends is read.
   */
  refuse(socket: Socket, reason: string, detail: string, quiet = false): false {
    this.shared.refusals.refuse(reason, detail, { replicaId: this.shared.settings.replicaId, from: `${socket.remoteAddress}:${socket.remotePort}` }, quiet ? 'debug' : 'warn');
    this.handshaking.delete(rawSocketOf(socket));
    if (socket.destroyed) return false;
    socket.pause();
    // The sender learns why; a sender that does not read gets no more than this small frame.
    socket.end(encodeFrame({ type: 'refused', reason, message: detail }));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    return false;
  }

  /** Closes a connection that never said what it is, at once: counted and logged, no last frame. */
  private drop(socket: Socket, reason: string, detail: string): void {
    this.shared.refusals.refuse(reason, detail, { replicaId: this.shared.settings.replicaId, from: `${socket.remoteAddress}:${socket.remotePort}` });
    this.handshaking.delete(socket);
    socket.destroy();
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

/** A TLS socket's underlying TCP socket (the one the 'connection' event saw), or the socket itself. */
function rawSocketOf(socket: Socket): Socket {
  return ((socket as TLSSocket & { _parent?: Socket })._parent ?? socket);
}

type Stage = { kind: 'handshake' } | { kind: 'client' } | { kind: 'peer'; peerId: number; receive: FrameMac | null; reply: FrameMac | null };

/** One accepted connection, from hello to close. */
class Incoming {
  private stage: Stage = { kind: 'handshake' };
  private readonly nonce = freshNonce();
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly writer: FrameWriter;

  constructor(
    private readonly shared: Shared,
    private readonly listener: Listener,
    private readonly socket: Socket,
  ) {
    this.writer = new FrameWriter(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.stopIdleTimer());
    socket.write(encodeFrame({ type: 'hello', replica: shared.settings.replicaId, nonce: this.nonce }));
    readFrameBodies(socket, () => this.frameBytesMax(), (refusal) => this.refuse(refusal.reason, refusal.detail), (body) => this.onBody(body));
  }

  private frameBytesMax(): number {
    const { frameBytesMax, clientFrameBytesMax } = this.shared.settings;
    if (this.stage.kind === 'client') return clientFrameBytesMax;
    return this.stage.kind === 'peer' ? frameBytesMax : Math.min(HANDSHAKE_FRAME_BYTES_MAX, frameBytesMax);
  }

  private refused = false;

  private refuse(reason: string, detail: string, quiet = false): void {
    this.refused = true;
    this.stopIdleTimer();
    this.writer.flush(); // What was already answered goes out before the refusal.
    this.listener.refuse(this.socket, reason, detail, quiet);
  }

  private onBody(body: Buffer): void {
    if (this.refused) return;
    const stage = this.stage;
    let plain: Buffer | null = body;
    if (stage.kind === 'peer' && stage.receive !== null) {
      plain = stage.receive.open(body);
      if (plain === null) return this.refuse('bad-mac', `a frame from replica ${stage.peerId} whose MAC is wrong`);
    }
    const parsed = parseFrameBody(plain);
    if (!parsed.ok) return this.refuse(parsed.refusal.reason, parsed.refusal.detail);
    if (stage.kind === 'client') return this.onClientFrame(parsed.payload);
    if (stage.kind === 'peer') return this.onPeerFrame(stage, parsed.payload);
    this.onHandshake(parsed.payload);
  }

  private onHandshake(payload: unknown): void {
    const frame = (payload !== null && typeof payload === 'object' ? payload : {}) as Record<string, unknown>;
    if (frame['type'] === 'client') return this.becomeClient(frame['token']);
    if (frame['type'] !== 'auth') return this.refuse('bad-handshake', 'expected an auth or client frame');
    const { replicaId, replicaCount, secret } = this.shared.settings;
    const dialerId = frame['replica'];
    if (typeof dialerId !== 'number' || !Number.isInteger(dialerId) || dialerId < 0 || dialerId >= replicaCount || dialerId === replicaId) {
      return this.refuse('bad-handshake', `auth names replica ${describeUntrusted(dialerId)}, not a peer`);
    }
    if (secret === undefined) return this.acceptTlsPeer(dialerId);
    if (!isNonce(frame['nonce'])) return this.refuse('bad-handshake', 'auth carries no valid nonce');
    const facts: HandshakeFacts = { listenerId: replicaId, dialerId, listenerNonce: this.nonce, dialerNonce: frame['nonce'] };
    if (!proofMatches(frame['mac'], dialProof(secret, facts))) return this.refuse('auth-failed', `authentication failed for replica ${dialerId}`);
    this.socket.write(encodeFrame({ type: 'accept', mac: acceptProof(secret, facts) }));
    this.becomePeer(dialerId, new FrameMac(secret, 'dialer-to-listener', facts), new FrameMac(secret, 'listener-to-dialer', facts));
  }

  private acceptTlsPeer(dialerId: number): void {
    const tlsSocket = this.socket as TLSSocket;
    const named = tlsSocket.authorized === true ? replicaIdOfCertificate(tlsSocket.getPeerCertificate()) : null;
    if (named !== dialerId) {
      const why = tlsSocket.authorized === true ? `its certificate names ${named === null ? 'no replica' : `replica ${named}`}` : `no certificate from the cluster CA (${tlsSocket.authorizationError instanceof Error ? tlsSocket.authorizationError.message : describeUntrusted(tlsSocket.authorizationError ?? 'none given')})`;
      return this.refuse('auth-failed', `authentication failed for replica ${dialerId}: ${why}`);
    }
    this.socket.write(encodeFrame({ type: 'accept' }));
    this.becomePeer(dialerId, null, null);
  }

  private becomePeer(peerId: number, receive: FrameMac | null, reply: FrameMac | null): void {
    this.stage = { kind: 'peer', peerId, receive, reply };
    this.listener.handshakeDone(this.socket);
    this.shared.heardAtMs.set(peerId, Date.now());
    this.shared.logger.info({ replicaId: this.shared.settings.replicaId, peerId, direction: 'incoming' }, `peer ${peerId} connected`);
    this.socket.once('close', () => {
      if (!this.shared.closed) this.shared.logger.info({ replicaId: this.shared.settings.replicaId, peerId, direction: 'incoming' }, `peer ${peerId} disconnected`);
    });
    // The peer is back: reconnect to it now rather than when the backoff says.
    this.listener.peerAuthenticated(peerId);
  }

  private onPeerFrame(stage: Extract<Stage, { kind: 'peer' }>, payload: unknown): void {
    this.shared.heardAtMs.set(stage.peerId, Date.now());
    const frame = payload as { type?: unknown; replica?: unknown; sentAtMs?: unknown } | null;
    if (frame !== null && typeof frame === 'object' && frame.type === 'ping') {
      const pong = Buffer.from(JSON.stringify({ type: 'pong', sentAtMs: frame.sentAtMs }), 'utf8');
      this.writer.write(stage.reply === null ? frameOf(pong) : frameOf(stage.reply.sign(pong), pong));
      return;
    }
    const claimed = frame?.replica;
    if (claimed !== stage.peerId) return this.refuse('forged-sender', `a message claiming replica ${describeUntrusted(claimed)} on replica ${stage.peerId}'s connection`);
    this.shared.deliver(payload);
  }

  private becomeClient(token: unknown): void {
    const { clientToken } = this.shared.settings;
    if (this.shared.serveClient === null) return this.refuse('no-clients', 'this replica serves no clients');
    if (clientToken !== undefined && !proofMatches(token, clientToken)) return this.refuse('client-token', 'a client without the right token');
    if (!this.listener.admitClient(this.socket)) return;
    this.stage = { kind: 'client' };
    this.listener.handshakeDone(this.socket);
    this.restartIdleTimer();
  }

  private onClientFrame(payload: unknown): void {
    this.restartIdleTimer();
    const frame = payload as { type?: unknown; request?: unknown } | null;
    if (frame === null || typeof frame !== 'object' || frame.type !== 'request') return this.refuse('client-frame', 'expected a request frame on a client connection');
    this.shared.serveClient?.(frame.request, (reply: Reply) => this.sendReply(reply));
  }

  private sendReply(reply: Reply): void {
    if (this.socket.destroyed) return;
    const { clientBacklogBytesMax } = this.shared.settings;
    const backlogBytes = this.writer.backlogBytes;
    if (backlogBytes > clientBacklogBytesMax) {
      return this.refuse('slow-client', `a client left ${backlogBytes} bytes of replies unread (limit ${clientBacklogBytesMax})`);
    }
    this.writer.write(encodeFrame({ type: 'reply', reply }));
  }

  private restartIdleTimer(): void {
    this.stopIdleTimer();
    const { clientIdleTimeoutMs } = this.shared.settings;
    // Routine for a client that is merely idle (it reconnects when it has a request): logged quietly.
    this.idleTimer = setTimeout(() => this.refuse('client-idle', `a client connection completed no frame in ${clientIdleTimeoutMs} ms`, true), clientIdleTimeoutMs);
  }

  private stopIdleTimer(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

// ---------------------------------------------------------------------------
// The dialer: one outgoing connection per peer

/** Opens a connection to `address`: TLS that checks the server names replica `replicaId`, or plain TCP. */
function dialTo(address: Address, replicaId: number, tls: (Pick<TlsCredentials, 'ca'> & Partial<TlsCredentials>) | undefined): Socket {
  if (tls === undefined) return tcpConnect(address.port, address.host);
  return tlsConnect({
    host: address.host,
    port: address.port,
    ca: tls.ca,
    ...(tls.cert === undefined || tls.key === undefined ? {} : { cert: tls.cert, key: tls.key }),
    // The identity that matters is the replica id, not the address (which a config may change).
    checkServerIdentity: (_host, certificate) => {
      const named = replicaIdOfCertificate(certificate);
      return named === replicaId ? undefined : new Error(`the server's certificate names ${named === null ? 'no replica' : `replica ${named}`}, not replica ${replicaId}`);
    },
  });
}

class Outgoing {
  private socket: Socket | null = null;
  /** The current connection's writer, once it is authenticated. */
  private writer: FrameWriter | null = null;
  private macs: { send: FrameMac; receive: FrameMac } | null = null;
  connected = false;
  rttMs: number | null = null;
  private queue: Buffer[] = [];
  private backoffMs = BACKOFF_MIN_MS;
  private retry: NodeJS.Timeout | null = null;
  private pinger: NodeJS.Timeout | null = null;
  /** Whether the current connection's listener has said, in a valid hello, that it is the peer. */
  private helloReceived = false;
  /** The current connection's two nonces, once its hello has arrived. */
  private listenerNonce = '';
  private dialerNonce = '';

  constructor(
    private readonly shared: Shared,
    private readonly to: number,
    private readonly addressOf: () => Address | undefined,
  ) {}

  /** Sends one message body (JSON), or queues it until the connection is authenticated. */
  send(body: Buffer): void {
    const writer = this.writer;
    if (this.connected && writer !== null) {
      if (writer.backlogBytes > this.shared.settings.peerBacklogBytesMax) {
        this.shared.refusals.refuse('peer-backlog', `replica ${this.to} is not reading; dropping messages to it until it drains`, { replicaId: this.shared.settings.replicaId, peerId: this.to });
        return;
      }
      writer.write(this.seal(body));
      return;
    }
    this.queue.push(body);
    if (this.queue.length > this.shared.settings.queueMax) this.queue.shift();
    if (this.socket === null && this.retry === null) this.dial();
  }

  private seal(body: Buffer): Buffer {
    return this.macs === null ? frameOf(body) : frameOf(this.macs.send.sign(body), body);
  }

  private dial(): void {
    if (this.shared.closed) return;
    const address = this.addressOf();
    if (address === undefined) {
      this.scheduleRetry(); // Not known yet: look it up again after the backoff.
      return;
    }
    const socket = dialTo(address, this.to, this.shared.settings.tls);
    this.socket = socket;
    this.helloReceived = false;
    socket.setNoDelay(true);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Unreachable peers are routine (the backoff retries); a certificate that fails to verify is not.
      if (this.shared.settings.tls !== undefined && !/^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(error.code ?? '')) {
        this.shared.refusals.refuse('tls', `TLS to replica ${this.to} failed: ${error.message}`, { replicaId: this.shared.settings.replicaId, peerId: this.to });
      }
    });
    socket.on('close', () => this.onClose(socket));
    // The listener has as long as a dialer would have to finish the handshake: a silent one (a
    // process squatting on a dead replica's port) must not hold this link.
    const deadlineMs = setTimeout(() => {
      if (this.socket === socket && !this.connected) this.drop(socket, 'handshake-timeout', `replica ${this.to}'s address did not finish the handshake within ${this.shared.settings.handshakeTimeoutMs} ms`);
    }, this.shared.settings.handshakeTimeoutMs);
    socket.once('close', () => clearTimeout(deadlineMs));
    const nonce = freshNonce();
    let stage: 'hello' | 'accept' | 'open' = 'hello';
    const drop = (refusal: FrameRefusal) => this.drop(socket, refusal.reason, refusal.detail);
    readFrameBodies(socket, HANDSHAKE_FRAME_BYTES_MAX, drop, (body) => {
      const plain = stage === 'open' && this.macs !== null ? this.macs.receive.open(body) : body;
      if (plain === null) return this.drop(socket, 'bad-mac', `a frame from replica ${this.to} whose MAC is wrong`);
      const parsed = parseFrameBody(plain);
      if (!parsed.ok) return drop(parsed.refusal);
      const frame = (parsed.payload !== null && typeof parsed.payload === 'object' ? parsed.payload : {}) as Record<string, unknown>;
      if (stage === 'hello') stage = this.onHello(socket, frame, nonce) ? 'accept' : stage;
      else if (stage === 'accept') stage = this.onAccept(socket, frame) ? 'open' : stage;
      else if (frame['type'] === 'pong') this.onPong(frame['sentAtMs']);
    });
  }

  private facts(listenerNonce: string, dialerNonce: string): HandshakeFacts {
    return { listenerId: this.to, dialerId: this.shared.settings.replicaId, listenerNonce, dialerNonce };
  }

  private onHello(socket: Socket, hello: Record<string, unknown>, nonce: string): boolean {
    if (hello['type'] !== 'hello' || !isNonce(hello['nonce'])) {
      this.drop(socket, 'bad-handshake', `replica ${this.to}'s address answered without a valid hello`);
      return false;
    }
    if (hello['replica'] !== this.to) {
      this.drop(socket, 'wrong-peer', `the listener at replica ${this.to}'s address says it is replica ${describeUntrusted(hello['replica'])}`);
      return false;
    }
    const { secret, replicaId } = this.shared.settings;
    this.helloReceived = true;
    this.listenerNonce = hello['nonce'];
    const auth = secret === undefined ? { type: 'auth', replica: replicaId } : { type: 'auth', replica: replicaId, nonce, mac: dialProof(secret, this.facts(hello['nonce'], nonce)) };
    socket.write(encodeFrame(auth));
    this.dialerNonce = nonce;
    return true;
  }

  private onAccept(socket: Socket, accept: Record<string, unknown>): boolean {
    const { secret } = this.shared.settings;
    if (accept['type'] !== 'accept') {
      this.drop(socket, 'bad-handshake', `replica ${this.to} did not accept the handshake`);
      return false;
    }
    if (secret !== undefined) {
      const facts = this.facts(this.listenerNonce, this.dialerNonce);
      if (!proofMatches(accept['mac'], acceptProof(secret, facts))) {
        this.drop(socket, 'auth-failed', `the listener at replica ${this.to}'s address could not prove it holds the secret`);
        return false;
      }
      this.macs = { send: new FrameMac(secret, 'dialer-to-listener', facts), receive: new FrameMac(secret, 'listener-to-dialer', facts) };
    }
    this.connected = true;
    this.backoffMs = BACKOFF_MIN_MS;
    this.shared.heardAtMs.set(this.to, Date.now());
    this.shared.logger.info({ replicaId: this.shared.settings.replicaId, peerId: this.to, direction: 'outgoing' }, `connected to peer ${this.to}`);
    const writer = new FrameWriter(socket);
    this.writer = writer;
    for (const body of this.queue) writer.write(this.seal(body));
    this.queue = [];
    this.pinger = setInterval(() => this.ping(), this.shared.settings.pingIntervalMs);
    return true;
  }

  private ping(): void {
    if (!this.connected || this.writer === null) return;
    this.writer.write(this.seal(Buffer.from(JSON.stringify({ type: 'ping', replica: this.shared.settings.replicaId, sentAtMs: Date.now() }), 'utf8')));
  }

  private onPong(sentAtMs: unknown): void {
    const now = Date.now();
    this.shared.heardAtMs.set(this.to, now);
    if (typeof sentAtMs === 'number' && sentAtMs <= now) this.rttMs = now - sentAtMs;
  }

  private drop(socket: Socket, reason: string, detail: string): void {
    this.shared.refusals.refuse(reason, detail, { replicaId: this.shared.settings.replicaId, peerId: this.to });
    socket.destroy();
  }

  private onClose(socket: Socket): void {
    if (this.socket !== socket) return;
    if (this.connected && !this.shared.closed) {
      this.shared.logger.info({ replicaId: this.shared.settings.replicaId, peerId: this.to, direction: 'outgoing' }, `disconnected from peer ${this.to}`);
    }
    this.socket = null;
    this.writer = null;
    this.macs = null;
    this.connected = false;
    if (this.pinger !== null) clearInterval(this.pinger);
    this.pinger = null;
    if (!this.shared.closed) this.scheduleRetry();
  }

  /** Opens the link now if it is not open or opening: links to every peer are kept up. */
  start(): void {
    if (this.socket === null && this.retry === null) this.dial();
  }

  /**
   * The peer just authenticated to us, so it is up: dial at once if waiting out a backoff, and
   * drop a connection whose listener has not even said hello (it may be to whatever held the
   * port before). A connection past the hello is left to finish or to its deadline: when two
   * replicas dial each other at once, each one's incoming link authenticates while its own
   * outgoing one waits for `accept`, and dropping those made both redial together, again and
   * again (links between two backups flapped every 50 ms for seconds, and a view change that
   * needed them could not complete).
   */
  wake(): void {
    if (this.shared.closed) return;
    this.backoffMs = BACKOFF_MIN_MS;
    if (this.retry !== null) {
      clearTimeout(this.retry);
      this.retry = null;
      this.dial();
    } else if (this.socket !== null && !this.connected && !this.helloReceived) {
      this.socket.destroy(); // Its close schedules a redial after the shortest backoff.
    }
  }

  private scheduleRetry(): void {
    if (this.retry !== null) return;
    const delayMs = this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    this.retry = setTimeout(() => {
      this.retry = null;
      this.dial();
    }, delayMs);
  }

  close(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.pinger !== null) clearInterval(this.pinger);
    this.socket?.destroy();
  }
}

// ---------------------------------------------------------------------------
// The client side of the client protocol

export interface TcpClientEndpointOptions {
  readonly address: Address;
  /** The replica at `address`: with TLS, its certificate must name it. */
  readonly replicaId: number;
  /** Largest reply frame accepted. */
  readonly frameBytesMax: number;
  readonly onReply: (reply: unknown) => void;
  /** The cluster's client token, if it requires one. */
  readonly token?: string;
  /** TLS to the replica: `ca` checks its certificate (a client certificate is optional). */
  readonly tls?: Pick<TlsCredentials, 'ca'> & Partial<TlsCredentials>;
  readonly logger?: Logger;
}

/** The TCP transport's client protocol: hello → {type:'client', token} → request frames out, reply frames in. */
export class TcpClientEndpoint implements ClientEndpoint {
  private socket: Socket | null = null;
  private writer: FrameWriter | null = null;
  private ready = false;
  /** Requests waiting for the connection; one per client at most matters, so a few suffice. */
  private queue: ClientInput[] = [];
  private closed = false;

  constructor(private readonly options: TcpClientEndpointOptions) {}

  send(request: ClientInput): void {
    if (this.closed) return;
    if (this.ready && this.writer !== null) {
      this.writer.write(encodeFrame({ type: 'request', request }));
      return;
    }
    this.queue.push(request);
    if (this.queue.length > 4096) this.queue.shift();
    if (this.socket === null) this.dial();
  }

  private dial(): void {
    const { address, replicaId, tls } = this.options;
    const socket = dialTo(address, replicaId, tls);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = null;
        this.writer = null;
        this.ready = false;
      }
    });
    const log = (detail: string) => (this.options.logger ?? silentLogger).warn({ peerId: replicaId }, `closing the client connection to replica ${replicaId}: ${detail}`);
    readFrameBodies(socket, this.options.frameBytesMax, (refusal) => {
      log(refusal.detail);
      socket.destroy();
    }, (body) => {
      const parsed = parseFrameBody(body);
      if (!parsed.ok) {
        log(parsed.refusal.detail);
        socket.destroy();
        return;
      }
      this.onFrame(socket, parsed.payload);
    });
  }

  private onFrame(socket: Socket, payload: unknown): void {
    const frame = payload as { type?: unknown; reply?: unknown; reason?: unknown; message?: unknown } | null;
    if (frame === null || typeof frame !== 'object') return;
    if (!this.ready) {
      if (frame.type === 'refused') return this.onFrameRefused(frame);
      if (frame.type !== 'hello') {
        socket.destroy();
        return;
      }
      socket.write(encodeFrame(this.options.token === undefined ? { type: 'client' } : { type: 'client', token: this.options.token }));
      this.ready = true;
      const writer = new FrameWriter(socket);
      this.writer = writer;
      for (const request of this.queue) writer.write(encodeFrame({ type: 'request', request }));
      this.queue = [];
      return;
    }
    if (frame.type === 'reply') this.options.onReply(frame.reply);
    else if (frame.type === 'refused') this.onFrameRefused(frame);
  }

  private onFrameRefused(frame: { reason?: unknown; message?: unknown }): void {
    const logger = this.options.logger ?? silentLogger;
    // An idle connection closed by the replica is routine: the next request reconnects.
    const log = frame.reason === 'client-idle' ? logger.debug.bind(logger) : logger.warn.bind(logger);
    log({ peerId: this.options.replicaId, refused: describeUntrusted(frame.reason) }, `replica ${this.options.replicaId} refused this client: ${typeof frame.message === 'string' ? frame.message.slice(0, 300) : describeUntrusted(frame.message)}`);
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.socket?.destroy();
  }
}
