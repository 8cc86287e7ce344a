/**
 * VsrClient against three replicas over TCP on 127.0.0.1: it starts at any
 * replica and finds the primary, survives the primary's death by retrying
 * the same request number elsewhere (so nothing runs twice), fails with a
 * clear timeout when no replica answers, re-registers under a fresh id when
 * the cluster evicted it, and can reach an in-process replica directly.
 */
import { afterEach, expect, test } from 'vitest';
import { connect } from 'node:net';
import {
  ClusterLink,
  VsrClient,
  VsrRequestError,
  VsrTimeoutError,
  encodeFrame,
  readFrames,
} from '../src/index.js';
import { tcpCluster as startTcpCluster } from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const tcpCluster = (limits: Record<string, number> = {}) => startTcpCluster((stop) => cleanups.push(stop), limits);

test('a client that starts at a backup is redirected to the primary, and its requests execute in order', async () => {
  const { replicas, addresses } = await tcpCluster();
  const client = new VsrClient({ replicas: addresses, primaryGuess: 2, timeoutMs: 5_000, attemptTimeoutMs: 300 });
  cleanups.push(() => client.close());
  expect(await client.request({ type: 'write', key: 'k', value: 'one' })).toEqual({ ok: true });
  expect(client.primaryGuess).toBe(0);
  expect(await client.request({ type: 'cas', key: 'k', expected: 'one', value: 'two' })).toEqual({ ok: true });
  expect(await client.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'two' });
  // A hint from elsewhere sets where the next request starts; a replica id outside the cluster is refused.
  expect(() => (client.primaryGuess = 3)).toThrow(/primaryGuess must be a replica id in 0..2, got 3/);
  client.primaryGuess = 1;
  expect(client.primaryGuess).toBe(1);
  expect(await client.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'two' });
  expect(client.primaryGuess).toBe(0);
  // Registration, then four requests numbered 1..4: the primary's client table says so.
  expect(replicas[0]!.state().clientTable.get(client.clientId)?.requestNumber).toBe(4);
});

test('the primary dies mid-stream: the client retries the same request number at the new primary and nothing runs twice', async () => {
  const { replicas, addresses } = await tcpCluster();
  const client = new VsrClient({ replicas: addresses, timeoutMs: 8_000, attemptTimeoutMs: 300 });
  cleanups.push(() => client.close());
  await client.request({ type: 'write', key: 'counter', value: 0 });
  let expected = 0;
  const running = (async () => {
    for (let i = 0; i < 30; i++) {
      const result = await client.request({ type: 'cas', key: 'counter', expected, value: expected + 1 });
      // A cas that ran twice would fail its second run with precondition-failed, and the next would mismatch.
      expect(result).toEqual({ ok: true });
      expected++;
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await replicas[0]!.crash();
  replicas[0] = null;
  await running;
  expect(await client.request({ type: 'read', key: 'counter' })).toEqual({ ok: true, value: 30 });
  expect(client.primaryGuess).not.toBe(0);
});

test('no replica answers: the request fails with a timeout that says the outcome is unknown', async () => {
  const { replicas, addresses } = await tcpCluster();
  const client = new VsrClient({ replicas: addresses, timeoutMs: 600, attemptTimeoutMs: 100 });
  cleanups.push(() => client.close());
  expect(await client.request({ type: 'write', key: 'k', value: 1 })).toEqual({ ok: true });
  await Promise.all(replicas.flatMap((replica) => (replica === null ? [] : [replica.crash()])));
  replicas.fill(null);
  const started = Date.now();
  const failure = await client.request({ type: 'write', key: 'k', value: 2 }).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(VsrTimeoutError);
  expect(String(failure)).toMatch(/#2 got no reply within 600 ms \(tried replicas .*\); it may or may not have executed/);
  expect(Date.now() - started).toBeLessThan(2_000);
});

test('an invalid operation is refused with the reason, and the client goes on', async () => {
  const { addresses } = await tcpCluster();
  const client = new VsrClient({ replicas: addresses, timeoutMs: 5_000 });
  cleanups.push(() => client.close());
  const failure = await client.request({ type: 'write', key: '' }).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(VsrRequestError);
  expect((failure as VsrRequestError).code).toBe('invalid-operation');
  expect(String(failure)).toMatch(/request\.operation/);
  expect(await client.request({ type: 'write', key: 'k', value: 'fine' })).toEqual({ ok: true });
});

test('evicted from the client table, a client re-registers under a fresh id and its request runs once', async () => {
  const { addresses } = await tcpCluster({ clientTableMax: 2 });
  const link = new ClusterLink({ replicas: addresses });
  cleanups.push(() => link.close());
  const old = new VsrClient({ link, timeoutMs: 5_000 });
  const firstId = old.clientId;
  expect(await old.request({ type: 'write', key: 'k', value: 1 })).toEqual({ ok: true });
  for (let i = 0; i < 3; i++) {
    const other = new VsrClient({ link, timeoutMs: 5_000 });
    await other.request({ type: 'write', key: `other-${i}`, value: i });
    other.close();
  }
  expect(await old.request({ type: 'write', key: 'k', value: 2 })).toEqual({ ok: true });
  expect(old.clientId).not.toBe(firstId);
  expect(await old.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 2 });
});

test('a client reaches an in-process replica through connect, without TCP', async () => {
  const { replicas, addresses } = await tcpCluster();
  const link = new ClusterLink({
    replicas: addresses,
    connect: (replicaId, onReply) => {
      const replica = replicas[replicaId];
      return replica ? { send: (request) => replica.submit(request, onReply), close: () => {} } : undefined;
    },
  });
  cleanups.push(() => link.close());
  const client = new VsrClient({ link, primaryGuess: 1 });
  expect(await client.request({ type: 'write', key: 'k', value: 'local' })).toEqual({ ok: true });
  expect(await client.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'local' });
});

test('client connections may send only requests: anything else closes that connection, the replica runs on', async () => {
  const { addresses } = await tcpCluster();
  const socket = connect(addresses[0]!.port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const frames: unknown[] = [];
  readFrames(socket, 1 << 20, () => socket.destroy(), (frame) => {
    frames.push(frame);
    if (frames.length === 1) {
      socket.write(encodeFrame({ type: 'client' }));
      socket.write(encodeFrame({ type: 'request', request: { requestNumber: 1 } }));
      setTimeout(() => socket.write(encodeFrame({ type: 'prepare', replica: 1, viewNumber: 9 })), 50);
    }
  });
  await closed;
  expect(frames[1]).toMatchObject({ type: 'reply', reply: { type: 'error', code: 'invalid-request' } });
  expect(String((frames[1] as { reply: { message: string } }).reply.message)).toMatch(/clientId/);
  const client = new VsrClient({ replicas: addresses });
  cleanups.push(() => client.close());
  expect(await client.request({ type: 'write', key: 'k', value: 'still serving' })).toEqual({ ok: true });
});

test('a redirect that arrives synchronously inside send (an in-process replica) leaves no stray retries behind', async () => {
  // Replica 1 answers at once, inside send, with a redirect to replica 0; replica 0 answers a
  // moment later; replica 2 never answers. An attempt that outlived its request used to keep
  // resending it and then unhooked the next request's reply handler, so that request timed out.
  const sends: Array<[number, number]> = [];
  const link = new ClusterLink({
    replicas: [0, 1, 2].map((port) => ({ host: '127.0.0.1', port })),
    connect: (replicaId, onReply) => ({
      send: (input) => {
        if (!('requestNumber' in input)) throw new Error('this test sends requests only');
        const request = input;
        sends.push([replicaId, request.requestNumber]);
        const base = { clientId: request.clientId, requestNumber: request.requestNumber, viewNumber: 0 };
        if (replicaId === 1) onReply({ type: 'redirect', ...base, primary: 0 });
        if (replicaId === 0) setTimeout(() => onReply({ type: 'reply', ...base, opNumber: request.requestNumber + 1, result: request.requestNumber }), 2);
      },
      close: () => {},
    }),
  });
  cleanups.push(() => link.close());
  const client = new VsrClient({ link, primaryGuess: 1, timeoutMs: 400, attemptTimeoutMs: 30 });
  for (let i = 1; i <= 15; i++) {
    expect(await client.request({ n: i })).toBe(i);
    if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 80)); // Room for stray timers to fire.
  }
  const settled = sends.length;
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(sends.length).toBe(settled); // Nothing is resent after the requests completed.
  // Each request went to replica 1 at most once (only the first, before the client learned the primary) and never to replica 2.
  expect(sends.filter(([replica]) => replica === 2)).toEqual([]);
});

test('closing a shared link under a request in flight fails that request with a reason, and nothing throws later', async () => {
  // A pool of clients shares one link; the service closing at shutdown closed the link under a
  // request that was waiting to be retried, and the retry timer threw "ClusterLink: closed"
  // as an uncaught exception, which stops a process.
  const link = new ClusterLink({
    replicas: [0, 1, 2].map((port) => ({ host: '127.0.0.1', port })),
    connect: () => ({ send: () => {}, close: () => {} }), // Nobody answers.
  });
  const client = new VsrClient({ link, timeoutMs: 5_000, attemptTimeoutMs: 20 });
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  try {
    const pending = client.request({ n: 1 }).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50)); // Some attempts went out.
    link.close();
    const failure = await pending;
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/cluster link was closed/);
    await new Promise((resolve) => setTimeout(resolve, 100)); // Any stray retry timer fires now.
    expect(uncaught).toEqual([]);
    // A client closed under a request fails it at once, too.
    const other = new VsrClient({ link: new ClusterLink({ replicas: [{ host: '127.0.0.1', port: 1 }], connect: () => ({ send: () => {}, close: () => {} }) }), timeoutMs: 5_000 });
    const waiting = other.request({ n: 2 }).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 10));
    other.close();
    expect(((await waiting) as Error).message).toBe('VsrClient: closed');
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
