/**
 * The TCP transport on 127.0.0.1: messages arrive between authenticated
 * peers; a peer without the secret, garbage bytes, an oversized frame or a
 * forged sender are refused with a reason, and the replica keeps working.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { connect, createServer, type Socket } from 'node:net';
import type { Message } from '@vsr/core';
import { Refusals, TcpClientEndpoint, createClusterCertificates, encodeFrame, lineLogger, readFrames, tcpTransport, type TcpTransport, type TcpTransportOptions } from '../src/index.js';

const open: TcpTransport[] = [];
afterEach(() => {
  for (const transport of open.splice(0)) transport.close();
});

const commit = (replica: number, commitNumber: number): Message => ({ type: 'commit', cluster: 0, replica, viewNumber: 0, commitNumber });

async function pair(secrets: [string, string] = ['s3cret', 's3cret'], frameBytesMax = 1024) {
  const received: unknown[][] = [[], []];
  const logs: string[] = [];
  const transports: TcpTransport[] = [];
  for (const replicaId of [0, 1]) {
    const transport = tcpTransport({
      replicaId,
      replicaCount: 2,
      listen: { host: '127.0.0.1', port: 0 },
      peer: (id) => transports[id]?.address(),
      secret: secrets[replicaId]!,
      frameBytesMax,
      refusals: new Refusals({ logger: lineLogger((line) => logs.push(line)), intervalMs: 0 }),
    });
    transport.listen((message) => received[replicaId]!.push(message));
    await transport.ready;
    transports.push(transport);
    open.push(transport);
  }
  return { transports, received, logs };
}

/** One transport that talks to no peer (for refusals aimed at it), its refusals logged into `logs` without rate limit. */
async function loneTransport(options: Partial<TcpTransportOptions> & { replicaCount: number }): Promise<{ transport: TcpTransport; logs: string[] }> {
  const logs: string[] = [];
  const transport = tcpTransport({
    replicaId: 0,
    listen: { host: '127.0.0.1', port: 0 },
    peer: () => undefined,
    secret: 's3cret',
    refusals: new Refusals({ logger: lineLogger((line) => logs.push(line)), intervalMs: 0 }),
    ...options,
  });
  open.push(transport);
  transport.listen(() => {});
  await transport.ready;
  return { transport, logs };
}

/**
 * Polls `read` until the matcher that follows holds, for up to `timeoutMs`; a timeout fails saying what
 * was expected and what `read` last returned.
 */
function eventually<T>(read: () => T, timeoutMs = 2_000) {
  return expect.poll(read, { timeout: timeoutMs, interval: 10 });
}

/** Waits for a log line containing `text` (or matching it); a timeout fails showing every line logged. */
function logged(logs: readonly string[], text: string | RegExp): Promise<void> {
  return eventually(() => logs).toContainEqual(typeof text === 'string' ? expect.stringContaining(text) : expect.stringMatching(text));
}

async function rawConnection(port: number, bytes: Buffer): Promise<void> {
  await new Promise<void>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, 500);
  });
}

describe('the TCP transport', () => {
  test('authenticated peers exchange messages, in order', async () => {
    const { transports, received } = await pair();
    for (let i = 1; i <= 5; i++) transports[0]!.send(1, commit(0, i));
    transports[1]!.send(0, commit(1, 9));
    await eventually(() => received.map((messages) => messages.length)).toEqual([1, 5]);
    expect(received[1]!.map((message) => (message as { commitNumber: number }).commitNumber)).toEqual([1, 2, 3, 4, 5]);
  });

  test('a peer without the secret cannot deliver anything', async () => {
    const { transports, received, logs } = await pair(['s3cret', 'wrong']);
    transports[1]!.send(0, commit(1, 1));
    transports[0]!.send(1, commit(0, 1));
    // Each refuses the other, and goes on refusing as the dialers retry: nothing crosses either way.
    await eventually(() => logs.filter((line) => line.includes('authentication failed for replica 1')).length).toBeGreaterThanOrEqual(2);
    await logged(logs, 'authentication failed for replica 0');
    expect(received).toEqual([[], []]);
  });

  test('garbage, oversized frames and forged senders close that connection; the replica runs on', async () => {
    const { transports, received, logs } = await pair();
    const port = transports[0]!.address().port;
    await rawConnection(port, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await rawConnection(port, Buffer.concat([Buffer.from([0, 0, 0x10, 0]), Buffer.alloc(8)]));
    // Each connection is refused for its own first frame: the HTTP request's first four bytes read as a length, then 4 KiB.
    await logged(logs, `a frame of ${Buffer.from('GET ').readUInt32BE(0)} bytes, over the 1024-byte limit`);
    await logged(logs, 'a frame of 4096 bytes, over the 1024-byte limit');
    // A peer that authenticates as replica 1 but sends a message claiming to be from replica 0.
    transports[1]!.send(0, commit(0, 7));
    await logged(logs, 'claiming replica 0');
    // Honest traffic still flows (the dialer reconnects); the forged message never arrived.
    transports[1]!.send(0, commit(1, 8));
    await eventually(() => received[0]).toEqual([commit(1, 8)]);
  });

  test('a frame with bytes that are not JSON is refused', async () => {
    const { transports, logs } = await pair();
    const body = Buffer.from('{not json');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length, 0);
    await rawConnection(transports[0]!.address().port, Buffer.concat([header, body]));
    await logged(logs, 'not JSON');
    expect(encodeFrame({ a: 1 }).readUInt32BE(0)).toBe(7);
  });

  test('an authenticated peer may send frames up to frameBytesMax, and no more', async () => {
    const { transports, received, logs } = await pair(['s3cret', 's3cret'], 64 * 1024);
    const padded = (bytes: number) => ({ ...commit(1, 1), padding: 'x'.repeat(bytes) }) as unknown as Message;
    transports[1]!.send(0, padded(32 * 1024)); // Far over the 1 KiB handshake limit, within frameBytesMax.
    await eventually(() => received[0]!.length).toBe(1);
    transports[1]!.send(0, padded(100 * 1024));
    await logged(logs, 'over the 65536-byte limit');
    expect(received[0]).toHaveLength(1);
  });

  test('before the handshake, a frame over 1 KiB is refused whatever frameBytesMax allows', async () => {
    const { transports, logs } = await pair(['s3cret', 's3cret'], 64 * 1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(2048, 0);
    await rawConnection(transports[0]!.address().port, Buffer.concat([header, Buffer.alloc(2048, 32)]));
    await logged(logs, 'a frame of 2048 bytes, over the 1024-byte limit');
  });
});

/** A listener that plays replica `pretend` with a handler of the attacker's choosing. */
async function fakeListener(onSocket: (socket: Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const bound = server.address() as { port: number };
  return { port: bound.port, close: () => server.close() };
}

describe('peer authentication is mutual and bound to the connection', () => {
  test('a relayed handshake fails: a proof made for one listener does not verify at another', async () => {
    // Replica 2 is down; an attacker listens on its address. Replica 0 dials "replica 2";
    // the attacker relays replica 1's challenge to it and replica 0's answer back to replica 1.
    const logs: string[] = [];
    const refusals = new Refusals({ logger: lineLogger((line) => logs.push(line)), intervalMs: 0 });
    const received: unknown[] = [];
    const transports: TcpTransport[] = [];
    let attackerPort = 0;
    for (const replicaId of [0, 1]) {
      const transport = tcpTransport({
        replicaId,
        replicaCount: 3,
        listen: { host: '127.0.0.1', port: 0 },
        peer: (id) => (id === 2 ? { host: '127.0.0.1', port: attackerPort } : transports[id]?.address()),
        secret: 's3cret',
        refusals,
      });
      if (replicaId === 1) transport.listen((message) => received.push(message));
      await transport.ready;
      transports.push(transport);
      open.push(transport);
    }
    const relayed: string[] = [];
    const attacker = await fakeListener((victim) => {
      const upstream = connect(transports[1]!.address().port, '127.0.0.1');
      upstream.on('error', () => {});
      readFrames(upstream, 1 << 20, () => upstream.destroy(), (frame) => {
        const hello = frame as { type: string; nonce: string };
        // Forward replica 1's nonce as if it were replica 2's own challenge.
        if (hello.type === 'hello') victim.write(encodeFrame({ ...hello, replica: 2 }));
      });
      readFrames(victim, 1 << 20, () => victim.destroy(), (frame) => {
        relayed.push((frame as { type: string }).type);
        upstream.write(encodeFrame(frame));
        if ((frame as { type: string }).type === 'auth') upstream.write(encodeFrame({ type: 'start-view-change', cluster: 0, replica: 0, viewNumber: 1 }));
      });
    });
    attackerPort = attacker.port;
    try {
      transports[0]!.send(2, commit(0, 1));
      await logged(logs, 'authentication failed for replica 0');
      expect(relayed).toContain('auth');
      expect(received).toEqual([]);
    } finally {
      attacker.close();
    }
  });

  test('a listener that cannot prove it holds the secret gets nothing but the auth frame', async () => {
    const seen: string[] = [];
    const impostor = await fakeListener((socket) => {
      socket.write(encodeFrame({ type: 'hello', replica: 1, nonce: 'ab'.repeat(16) }));
      readFrames(socket, 1 << 20, () => socket.destroy(), (frame) => {
        seen.push((frame as { type: string }).type);
        socket.write(encodeFrame({ type: 'accept', mac: '00'.repeat(32) }));
      });
    });
    const { transport, logs } = await loneTransport({ replicaCount: 2, peer: () => ({ host: '127.0.0.1', port: impostor.port }) });
    try {
      transport.send(1, commit(0, 1));
      await logged(logs, 'could not prove it holds the secret');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).toContain('auth'); // It answered the auth frame, so the dialer got that far.
      expect(seen.filter((type) => type !== 'auth'), 'frames the impostor got besides the auth frame').toEqual([]);
    } finally {
      impostor.close();
    }
  });

  test('a frame altered on the way is refused by its MAC, and later honest frames flow again', async () => {
    const { transports, received, logs } = await pair();
    // A proxy between replica 1 and replica 0 that flips one byte of dialer traffic while `tamper` is set.
    let tamper = false;
    const proxy = await fakeListener((inbound) => {
      const upstream = connect(transports[0]!.address().port, '127.0.0.1');
      upstream.on('error', () => {});
      upstream.on('data', (chunk: Buffer) => inbound.write(chunk));
      inbound.on('data', (chunk: Buffer) => {
        if (tamper && chunk.length > 30) {
          const copy = Buffer.from(chunk);
          copy[copy.length - 3] = copy[copy.length - 3]! ^ 1;
          tamper = false;
          upstream.write(copy);
        } else upstream.write(chunk);
      });
      inbound.on('close', () => upstream.destroy());
      upstream.on('close', () => inbound.destroy());
    });
    const { transport: viaProxy } = await loneTransport({ replicaId: 1, replicaCount: 2, peer: () => ({ host: '127.0.0.1', port: proxy.port }) });
    try {
      viaProxy.send(0, commit(1, 1));
      await eventually(() => received[0]!.length).toBe(1);
      tamper = true;
      viaProxy.send(0, commit(1, 2));
      await logged(logs, 'MAC is wrong');
      expect(received[0]).toHaveLength(1);
      // Best effort: a message sent before the dialer sees its connection close is lost, so resend.
      const resend = setInterval(() => viaProxy.send(0, commit(1, 3)), 50);
      await eventually(() => received[0]!.length).toBeGreaterThanOrEqual(2).finally(() => clearInterval(resend));
      expect(received[0]![1]).toMatchObject({ commitNumber: 3 });
    } finally {
      proxy.close();
    }
  });

  test('the dialer checks that the listener is the replica it meant to reach', async () => {
    const { transports, logs } = await pair();
    // Replica 1's address book is wrong: "replica 0" points at replica 1's own listener's twin, replica 0 pretending.
    const confused = tcpTransport({
      replicaId: 1,
      replicaCount: 3,
      listen: { host: '127.0.0.1', port: 0 },
      peer: () => transports[1]!.address(),
      secret: 's3cret',
      refusals: new Refusals({ logger: lineLogger((line) => logs.push(line)), intervalMs: 0 }),
    });
    open.push(confused);
    await confused.ready;
    confused.send(2, commit(1, 1));
    await logged(logs, 'says it is replica 1');
  });
});

describe('frames and connections are bounded', () => {
  test('JSON nested deeper than the limit is refused before it is parsed', async () => {
    const { transports, logs } = await pair();
    const deep = Buffer.from('['.repeat(100) + ']'.repeat(100));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(deep.length, 0);
    await rawConnection(transports[0]!.address().port, Buffer.concat([header, deep]));
    await logged(logs, 'nested more than');
  });

  test('with a client token, a client without it is refused and one with it is served', async () => {
    const { transport, logs } = await loneTransport({ replicaCount: 1, clientToken: 't0ken' });
    const served: unknown[] = [];
    transport.serveClients!((request, respond) => {
      served.push(request);
      respond({ type: 'reply', clientId: 'c', requestNumber: 0, viewNumber: 0, opNumber: 1, result: null });
    });
    const port = transport.address().port;
    const replies: unknown[] = [];
    const withoutToken = new TcpClientEndpoint({ address: { host: '127.0.0.1', port }, replicaId: 0, frameBytesMax: 1 << 20, onReply: (reply) => replies.push(reply) });
    withoutToken.send({ clientId: 'c', requestNumber: 0, operation: null });
    await logged(logs, 'without the right token');
    withoutToken.close();
    expect(served).toEqual([]);
    const withToken = new TcpClientEndpoint({ address: { host: '127.0.0.1', port }, replicaId: 0, frameBytesMax: 1 << 20, token: 't0ken', onReply: (reply) => replies.push(reply) });
    withToken.send({ clientId: 'c', requestNumber: 0, operation: null });
    await eventually(() => replies.length).toBe(1);
    withToken.close();
    expect(served).toHaveLength(1);
  });

  test("a field whose toString is not a function is described, not stringified: the frame is refused and the replica runs on", async () => {
    // Found by the fuzzer: `String({toString: 1})` throws, and it did so inside a socket handler.
    const { transports, received, logs } = await pair();
    const hostile = Buffer.from('{"type":"auth","replica":{"toString":1,"valueOf":{}},"nonce":"00"}');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(hostile.length, 0);
    await rawConnection(transports[0]!.address().port, Buffer.concat([header, hostile]));
    await logged(logs, 'auth names replica an object, not a peer');
    // A listener that answers a dialer with such a hello is refused too.
    const impostor = await fakeListener((socket) => socket.write(encodeFrame({ type: 'hello', replica: { toString: 1 }, nonce: 'ab'.repeat(16) })));
    const dialer = tcpTransport({ replicaId: 1, replicaCount: 2, listen: { host: '127.0.0.1', port: 0 }, peer: () => ({ host: '127.0.0.1', port: impostor.port }), secret: 's3cret', refusals: new Refusals({ logger: lineLogger((line) => logs.push(line)), intervalMs: 0 }) });
    open.push(dialer);
    await dialer.ready;
    try {
      await logged(logs, 'says it is replica an object');
    } finally {
      impostor.close();
    }
    transports[1]!.send(0, commit(1, 1));
    await eventually(() => received[0]!.length).toBe(1);
  });

  test('a refused sender is told why in a last frame before the connection closes', async () => {
    const { transports } = await pair();
    const socket = connect(transports[0]!.address().port, '127.0.0.1');
    socket.on('error', () => {});
    const frames: unknown[] = [];
    readFrames(socket, 1 << 20, () => socket.destroy(), (frame) => frames.push(frame));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(encodeFrame({ type: 'start-view-change', replica: 1, viewNumber: 9 }));
    await closed;
    expect(frames[0]).toMatchObject({ type: 'hello', replica: 0 });
    expect(frames[1]).toMatchObject({ type: 'refused', reason: 'bad-handshake', message: expect.stringMatching(/expected an auth or client frame/) });
  });

  test('an idle client connection is closed, and so is one dribbling a frame', async () => {
    const { transport, logs } = await loneTransport({ replicaCount: 1, clientIdleTimeoutMs: 200 });
    transport.serveClients!(() => {});
    const socket = connect(transport.address().port, '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(encodeFrame({ type: 'client' }));
    // Dribble a request one byte every 50 ms: bytes arrive, but no frame completes.
    const frame = encodeFrame({ type: 'request', request: { clientId: 'c', requestNumber: 0, operation: null } });
    let sent = 0;
    const dribble = setInterval(() => {
      if (sent < frame.length - 1 && !socket.destroyed) socket.write(frame.subarray(sent, ++sent));
    }, 50);
    await closed;
    clearInterval(dribble);
    expect(logs).toContainEqual(expect.stringContaining('completed no frame in 200 ms'));
    await eventually(() => transport.clientConnections().open).toBe(0); // The server's side closes a moment after the client sees it.
  });

  test('connections stuck in their handshake are capped: the oldest is closed for a new one', async () => {
    const { transport, logs } = await loneTransport({ replicaCount: 2, handshakesMax: 4 });
    const sockets = Array.from({ length: 6 }, () => {
      const socket = connect(transport.address().port, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume(); // Read, so the close is seen.
      return socket;
    });
    const firstClosed = new Promise<void>((resolve) => sockets[0]!.on('close', () => resolve()));
    await firstClosed;
    expect(logs).toContainEqual(expect.stringContaining('4 connections already in their handshake'));
    for (const socket of sockets) socket.destroy();
  });
});

describe('mutual TLS between replicas', () => {
  const certificates = createClusterCertificates({ replicaCount: 3 });
  const foreign = createClusterCertificates({ replicaCount: 3 });
  const credentials = (replicaId: number, from = certificates) => ({ ca: certificates.ca.cert, ...from.replicas[replicaId]! });

  /** A listener (replica 0) and a dialer; the dialer's address book has replica 0, or `misdirected` ones pointing at it too. */
  async function tlsPair(dialer: { replicaId: number; tls: ReturnType<typeof credentials>; misdirected?: number[] }) {
    const logs: string[] = [];
    const refusals = new Refusals({ logger: lineLogger((line) => logs.push(line)), intervalMs: 0 });
    const received: unknown[] = [];
    const listener = tcpTransport({ replicaId: 0, replicaCount: 3, listen: { host: '127.0.0.1', port: 0 }, peer: () => undefined, tls: credentials(0), refusals, handshakeTimeoutMs: 300 });
    listener.listen((message) => received.push(message));
    await listener.ready;
    const reachable = [0, ...(dialer.misdirected ?? [])];
    const sender = tcpTransport({ replicaId: dialer.replicaId, replicaCount: 3, listen: { host: '127.0.0.1', port: 0 }, peer: (id) => (reachable.includes(id) ? listener.address() : undefined), tls: dialer.tls, refusals });
    await sender.ready;
    open.push(listener, sender);
    return { listener, sender, received, logs };
  }

  test('replicas whose certificates name them exchange messages', async () => {
    const { sender, received, logs } = await tlsPair({ replicaId: 1, tls: credentials(1) });
    sender.send(0, commit(1, 5));
    await eventually(() => received.length).toBe(1);
    expect(received[0]).toMatchObject({ replica: 1, commitNumber: 5 });
    expect(sender.peers().find((peer) => peer.replicaId === 0)?.connected).toBe(true);
    // Past the handshake deadline, the authenticated link is not taken for a stuck handshake.
    await new Promise((resolve) => setTimeout(resolve, 500));
    sender.send(0, commit(1, 6));
    await eventually(() => received.length).toBe(2);
    expect(logs).toEqual([]);
  });

  test("a replica cannot claim another's id: its certificate names it", async () => {
    // Replica 2's certificate, claiming to be replica 1.
    const { sender, received, logs } = await tlsPair({ replicaId: 1, tls: credentials(2) });
    sender.send(0, commit(1, 5));
    await logged(logs, 'authentication failed for replica 1: its certificate names replica 2');
    expect(received).toEqual([]);
  });

  test('a certificate from another CA is refused', async () => {
    const { sender, received, logs } = await tlsPair({ replicaId: 1, tls: { ...credentials(1, foreign), ca: certificates.ca.cert } });
    sender.send(0, commit(1, 5));
    await logged(logs, /no certificate from the cluster CA|TLS to replica 0 failed/);
    expect(received).toEqual([]);
  });

  test('the dialer refuses a listener whose certificate names another replica', async () => {
    // Replica 1 believes replica 0 listens where replica 0 does, but dials it as replica 2.
    const { sender, logs } = await tlsPair({ replicaId: 1, tls: credentials(1), misdirected: [2] });
    sender.send(2, commit(1, 5));
    await logged(logs, "the server's certificate names replica 0, not replica 2");
  });

  test('a client reaches a TLS replica with the CA and the token', async () => {
    const transport = tcpTransport({ replicaId: 0, replicaCount: 1, listen: { host: '127.0.0.1', port: 0 }, peer: () => undefined, tls: credentials(0), clientToken: 't0ken' });
    open.push(transport);
    transport.serveClients!((_request, respond) => respond({ type: 'reply', clientId: 'c', requestNumber: 0, viewNumber: 0, opNumber: 1, result: 'over tls' }));
    transport.listen(() => {});
    await transport.ready;
    const replies: unknown[] = [];
    const endpoint = new TcpClientEndpoint({ address: transport.address(), replicaId: 0, frameBytesMax: 1 << 20, token: 't0ken', tls: { ca: certificates.ca.cert }, onReply: (reply) => replies.push(reply) });
    endpoint.send({ clientId: 'c', requestNumber: 0, operation: null });
    await eventually(() => replies.length).toBe(1);
    endpoint.close();
    expect(replies[0]).toMatchObject({ result: 'over tls' });
  });
});
