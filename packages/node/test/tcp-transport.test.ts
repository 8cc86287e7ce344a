/**
 * The TCP transport on 127.0.0.1: messages arrive between authenticated
 * peers; a peer without the secret, garbage bytes, an oversized frame or a
 * forged sender are refused with a reason, and the replica keeps working.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { connect } from 'node:net';
import type { Message } from '@vsr/core';
import { encodeFrame, tcpTransport, type TcpTransport } from '../src/index.js';

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
      log: (line) => logs.push(line),
    });
    transport.listen((message) => received[replicaId]!.push(message));
    await transport.ready;
    transports.push(transport);
    open.push(transport);
  }
  return { transports, received, logs };
}

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
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
    await until(() => received[1]!.length === 5 && received[0]!.length === 1);
    expect(received[1]!.map((message) => (message as { commitNumber: number }).commitNumber)).toEqual([1, 2, 3, 4, 5]);
  });

  test('a peer without the secret cannot deliver anything', async () => {
    const { transports, received, logs } = await pair(['s3cret', 'wrong']);
    transports[1]!.send(0, commit(1, 1));
    await until(() => logs.some((line) => line.includes('authentication failed')));
    expect(received[0]).toEqual([]);
  });

  test('garbage, oversized frames and forged senders close that connection; the replica runs on', async () => {
    const { transports, received, logs } = await pair();
    const port = transports[0]!.address().port;
    await rawConnection(port, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await rawConnection(port, Buffer.concat([Buffer.from([0, 0, 0x10, 0]), Buffer.alloc(8)]));
    await until(() => logs.some((line) => line.includes('over the 1024-byte limit')));
    // A peer that authenticates as replica 1 but sends a message claiming to be from replica 0.
    transports[1]!.send(0, commit(0, 7));
    await until(() => logs.some((line) => line.includes('claiming replica 0')));
    expect(received[0]).toEqual([]);
    // Honest traffic still flows (the dialer reconnects).
    transports[1]!.send(0, commit(1, 8));
    await until(() => received[0]!.length === 1);
    expect(received[0]![0]).toMatchObject({ commitNumber: 8 });
    expect(logs.some((line) => line.includes('expected an auth frame') || line.includes('over the'))).toBe(true);
  });

  test('a frame with bytes that are not JSON is refused', async () => {
    const { transports, logs } = await pair();
    const body = Buffer.from('{not json');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length, 0);
    await rawConnection(transports[0]!.address().port, Buffer.concat([header, body]));
    await until(() => logs.some((line) => line.includes('not JSON')));
    expect(encodeFrame({ a: 1 }).readUInt32BE(0)).toBe(7);
  });

  test('an authenticated peer may send frames up to frameBytesMax, and no more', async () => {
    const { transports, received, logs } = await pair(['s3cret', 's3cret'], 64 * 1024);
    const padded = (bytes: number) => ({ ...commit(1, 1), padding: 'x'.repeat(bytes) }) as unknown as Message;
    transports[1]!.send(0, padded(32 * 1024)); // Far over the 1 KiB handshake limit, within frameBytesMax.
    await until(() => received[0]!.length === 1);
    transports[1]!.send(0, padded(100 * 1024));
    await until(() => logs.some((line) => line.includes('over the 65536-byte limit')));
    expect(received[0]).toHaveLength(1);
  });

  test('before the handshake, a frame over 1 KiB is refused whatever frameBytesMax allows', async () => {
    const { transports, logs } = await pair(['s3cret', 's3cret'], 64 * 1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(2048, 0);
    await rawConnection(transports[0]!.address().port, Buffer.concat([header, Buffer.alloc(2048, 32)]));
    await until(() => logs.some((line) => line.includes('a frame of 2048 bytes, over the 1024-byte limit')));
  });
});
