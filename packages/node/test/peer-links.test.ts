/**
 * Links between replicas come up and stay up when every replica starts at once, as an
 * in-process cluster or a cluster restarted together does: each dials every peer while its
 * peers dial it.
 */
import { afterEach, expect, test } from 'vitest';
import { createServer } from 'node:net';
import type { Message } from '@vsr/core';
import { Refusals, lineLogger, tcpTransport, type TcpTransport } from '../src/index.js';

const open: TcpTransport[] = [];
afterEach(() => {
  for (const transport of open.splice(0)) transport.close();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('three replicas started in one tick connect to each other once and stay connected', async () => {
  const replicaCount = 3;
  const ports = await Promise.all(Array.from({ length: replicaCount }, () => freePort()));
  const lines: string[] = [];
  const received: unknown[][] = [[], [], []];
  // All created in the same tick, before any can be reached: every link starts as a race of two dials.
  const transports = ports.map((port, replicaId) =>
    tcpTransport({
      replicaId,
      replicaCount,
      listen: { host: '127.0.0.1', port },
      peer: (id) => ({ host: '127.0.0.1', port: ports[id] ?? 0 }),
      secret: 's3cret',
      logger: lineLogger((line) => lines.push(`replica ${replicaId}: ${line}`)),
      refusals: new Refusals({ logger: lineLogger((line) => lines.push(`replica ${replicaId}: ${line}`)), intervalMs: 0 }),
    }),
  );
  open.push(...transports);
  transports.forEach((transport, replicaId) => transport.listen((message) => received[replicaId]?.push(message)));
  await Promise.all(transports.map((transport) => transport.ready));

  const allConnected = () => transports.every((transport) => transport.peers().every((peer) => peer.connected));
  const started = Date.now();
  while (!allConnected() && Date.now() - started < 2_000) await delay(10);
  const state = () => transports.map((transport, id) => `replica ${id}: ${transport.peers().map((peer) => `${peer.replicaId}${peer.connected ? ' up' : ' down'}`).join(', ')}`).join('; ');
  expect(allConnected(), `links after 2 s: ${state()}\n${lines.slice(-20).join('\n')}`).toBe(true);

  // And they stay up: no link drops once all are connected (they flapped every 50 ms).
  const before = lines.filter((line) => /disconnected/.test(line)).length;
  await delay(500);
  expect(lines.filter((line) => /disconnected/.test(line)).length - before, lines.slice(-20).join('\n')).toBe(0);
  expect(allConnected(), state()).toBe(true);

  // Every pair carries messages both ways.
  for (let from = 0; from < replicaCount; from++) {
    for (let to = 0; to < replicaCount; to++) if (to !== from) transports[from]?.send(to, { type: 'commit', cluster: 0, replica: from, viewNumber: 0, commitNumber: to + 1 });
  }
  const deadline = Date.now() + 2_000;
  while (received.some((messages) => messages.length < replicaCount - 1) && Date.now() < deadline) await delay(10);
  expect(received.map((messages) => messages.map((message) => (message as Message).replica).sort())).toEqual([[1, 2], [0, 2], [0, 1]]);
});
