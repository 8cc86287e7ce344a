/**
 * Three replicas in one process, with real timers, real files and an
 * in-memory network: requests commit, the primary dies and a new one takes
 * over without losing acknowledged writes, a replica restarts from disk and
 * catches up, and a replica whose disk is lost recovers.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { kvMachine } from '@vsr/kv';
import type { Message, Reply } from '@vsr/core';
import { MemoryNetwork, Refusals, VsrTimeoutError, startReplica, type ReplicaHandle, type ReplicaStatus } from '../src/index.js';
import { TIMEOUTS, tcpCluster } from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function cluster(replicaCount = 3, watch?: (from: number, message: Message, directory: string) => void) {
  const root = mkdtempSync(join(tmpdir(), 'vsr-node-'));
  const network = new MemoryNetwork();
  const replicas: Array<ReplicaHandle | null> = [];
  const start = (replicaId: number, create: boolean) => {
    const directory = join(root, `replica-${replicaId}`);
    const transport = network.transport(replicaId);
    return startReplica({
      config: { replicaId, replicaCount, timeouts: TIMEOUTS, limits: { checkpointIntervalOps: 8 } },
      machine: kvMachine,
      directory,
      create,
      transport: watch === undefined ? transport : { ...transport, send: (to, message) => (watch(replicaId, message, directory), transport.send(to, message)) },
    });
  };
  for (let r = 0; r < replicaCount; r++) replicas.push(start(r, true));
  cleanups.push(async () => {
    await Promise.all(replicas.map((replica) => replica?.close() ?? Promise.resolve()));
    rmSync(root, { recursive: true, force: true });
  });
  return { root, network, replicas, start };
}

/** Sends a request, following redirects and waiting out busy, until a replica answers it. */
async function send(replicas: Array<ReplicaHandle | null>, clientId: string, requestNumber: number, operation: unknown): Promise<Reply> {
  let target = replicas.findIndex((replica) => replica !== null);
  for (let attempt = 0; attempt < 40; attempt++) {
    const replica = replicas[target];
    if (replica) {
      try {
        const reply = await replica.requestAs(clientId, requestNumber, operation, 300);
        if (reply.type === 'error' && reply.code === 'busy') {
          // The primary still holds this client's previous request (a new primary commits it
          // soon): the same replica, a moment later.
          await new Promise((resolve) => setTimeout(resolve, 30));
          continue;
        }
        if (reply.type !== 'redirect') return reply;
        target = reply.primary;
        if (replicas[target] === null) target = (target + 1) % replicas.length;
        await new Promise((resolve) => setTimeout(resolve, 30));
        continue;
      } catch (error) {
        if (!(error instanceof VsrTimeoutError)) throw error;
      }
    }
    target = (target + 1) % replicas.length;
  }
  throw new Error(`no replica answered ${clientId}#${requestNumber}`);
}

describe('startReplica', () => {
  test('a three-replica cluster commits writes and serves reads', async () => {
    const applied: Array<{ data: unknown; stepDurationMs: unknown }> = [];
    const onApplied = (event: unknown) => applied.push(event as { data: unknown; stepDurationMs: unknown });
    subscribe('vsr.operation.applied', onApplied);
    cleanups.push(() => unsubscribe('vsr.operation.applied', onApplied));
    const { replicas } = cluster();
    expect(await send(replicas, 'alice', 0, null)).toMatchObject({ type: 'reply' });
    expect(await send(replicas, 'alice', 1, { type: 'write', key: 'k', value: 'v' })).toMatchObject({ result: { ok: true } });
    // Each applied op is published with the duration of the step that applied it.
    expect(applied.length).toBeGreaterThan(0);
    for (const event of applied) expect(event.stepDurationMs).toEqual(expect.any(Number));
    expect(applied.every((event) => (event.stepDurationMs as number) >= 0)).toBe(true);
    expect(await send(replicas, 'alice', 2, { type: 'read', key: 'k' })).toMatchObject({ result: { ok: true, value: 'v' } });
    expect(replicas[0]!.status()).toMatchObject({ replicaId: 0, viewNumber: 0, status: 'normal', primary: 0, opNumber: 3, commitNumber: 3 });
  });

  test('the primary dies: a new primary takes over and no acknowledged write is lost', async () => {
    const { replicas } = cluster();
    const seen: string[] = [];
    const onComplete = (event: unknown) => seen.push((event as { name: string }).name);
    subscribe('vsr.view_change.complete', onComplete);
    cleanups.push(() => unsubscribe('vsr.view_change.complete', onComplete));
    await send(replicas, 'alice', 0, null);
    for (let i = 1; i <= 10; i++) await send(replicas, 'alice', i, { type: 'write', key: `k${i % 3}`, value: i });
    await replicas[0]!.crash();
    replicas[0] = null;
    expect(await send(replicas, 'alice', 11, { type: 'read', key: 'k1' })).toMatchObject({ result: { ok: true, value: 10 } });
    const primary = replicas.findIndex((replica) => replica?.status().status === 'normal' && replica.status().primary === replica.status().replicaId);
    expect(primary).toBe(1);
    expect(seen.length).toBeGreaterThan(0); // Telemetry reached diagnostics_channel.
  });

  test('request(operation) on any replica runs it on the cluster: a backup forwards it to the primary', async () => {
    const { replicas, network } = cluster();
    expect(await replicas[2]!.request({ type: 'write', key: 'k', value: 'from a backup' })).toEqual({ ok: true });
    expect(await replicas[1]!.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'from a backup' });
    expect(await replicas[0]!.request({ type: 'cas', key: 'k', expected: 'from a backup', value: 'v2' })).toEqual({ ok: true });
    // Cut off from the others, a backup cannot get an answer: a clear timeout, not a hang.
    network.isolate(2, 3);
    const failure = await replicas[2]!.request({ type: 'write', key: 'k', value: 'lost' }, { timeoutMs: 400 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VsrTimeoutError);
    network.heal();
    expect(await replicas[2]!.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'v2' });
  });

  test('every caller waiting on one (client, request number) gets the reply: two submits and a requestAs', async () => {
    const { replicas } = cluster();
    const primary = replicas[0]!;
    await primary.requestAs('dana', 0, null);
    const answers: Reply[][] = [[], []];
    const write = { clientId: 'dana', requestNumber: 1, operation: { type: 'write', key: 'k', value: 'once' } };
    primary.submit(write, (reply) => answers[0]!.push(reply));
    primary.submit(write, (reply) => answers[1]!.push(reply)); // the same request, over another channel
    const third = await primary.requestAs('dana', 1, write.operation);
    expect(third).toMatchObject({ type: 'reply', requestNumber: 1, result: { ok: true } });
    expect(answers).toEqual([[third], [third]]);
    // A read and a refusal reach their own callers too.
    const read: Reply[] = [];
    const bad: Reply[] = [];
    primary.submit({ clientId: 'dana', readNumber: 4, query: { type: 'read', key: 'k' } }, (reply) => read.push(reply));
    primary.submit({ clientId: 'dana', requestNumber: -1, operation: null }, (reply) => bad.push(reply));
    await vi.waitFor(() => expect(read).toHaveLength(1));
    expect(read[0]).toMatchObject({ type: 'read-reply', readNumber: 4, result: { ok: true, value: 'once' } });
    expect(bad).toMatchObject([{ type: 'error', requestNumber: null, code: 'invalid-request' }]);
    expect(primary.state().clientTable.get('dana')).toMatchObject({ requestNumber: 1 });
  });

  test('read(query) on any replica answers without the log, and sees the latest write', async () => {
    const { replicas, network } = cluster();
    expect(await replicas[1]!.request({ type: 'write', key: 'k', value: 'v1' })).toEqual({ ok: true });
    const opNumber = replicas[0]!.status().opNumber;
    expect(await replicas[2]!.read({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'v1' });
    expect(await replicas[0]!.read({ type: 'read', key: 'absent' })).toEqual({ ok: false, error: 'not-found' });
    expect(replicas[0]!.status().opNumber).toBe(opNumber); // no op entered the log
    await expect(replicas[0]!.read({ type: 'write', key: 'k', value: 'x' })).rejects.toMatchObject({ name: 'VsrRequestError', code: 'invalid-read' });
    // A primary cut off from both backups cannot confirm its view: no answer, a clear timeout.
    network.isolate(0, 3);
    const failure = await replicas[0]!.read({ type: 'read', key: 'k' }, { timeoutMs: 300 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VsrTimeoutError);
    network.heal();
  });

  test('the effect contract: a replica sends Prepare or PrepareOk for an op only once the op is in its journal', async () => {
    let checked = 0;
    const { replicas } = cluster(3, (from, message, directory) => {
      if (message.type !== 'prepare' && message.type !== 'prepare-ok') return;
      const journal = readFileSync(join(directory, 'journal.log'), 'utf8');
      expect(journal, `replica ${from} sent ${message.type} for op ${message.opNumber} before writing it`).toContain(`"entry":{"opNumber":${message.opNumber},`);
      checked++;
    });
    const clients = Array.from({ length: 8 }, async (_, c) => {
      await send(replicas, `client-${c}`, 0, null);
      for (let i = 1; i <= 6; i++) await send(replicas, `client-${c}`, i, { type: 'write', key: `k${c}`, value: i });
    });
    await Promise.all(clients);
    expect(checked).toBeGreaterThan(40);
  });

  test('a killed replica restarts from its files and catches up', async () => {
    const { replicas, start } = cluster();
    await send(replicas, 'alice', 0, null);
    for (let i = 1; i <= 5; i++) await send(replicas, 'alice', i, { type: 'write', key: 'k', value: i });
    await replicas[2]!.crash();
    replicas[2] = null;
    for (let i = 6; i <= 20; i++) await send(replicas, 'alice', i, { type: 'write', key: 'k', value: i });
    replicas[2] = start(2, false);
    expect(replicas[2].boot.damage).toBeNull();
    await eventually(() => replicas[2]!.status(), 'the restarted replica catches up to commit 21').toMatchObject({ commitNumber: 21 });
    expect(kvMachine.snapshot(replicas[2].state().app.value as never)).toEqual([['k', 20]]);
  });

  test('a replica whose disk is lost recovers from its peers instead of rejoining as new', async () => {
    const { root, replicas, start } = cluster();
    await send(replicas, 'alice', 0, null);
    for (let i = 1; i <= 12; i++) await send(replicas, 'alice', i, { type: 'write', key: 'k', value: i });
    await replicas[1]!.crash();
    rmSync(join(root, 'replica-1'), { recursive: true, force: true });
    replicas[1] = start(1, false);
    expect(replicas[1].boot.boot).toMatchObject({ lost: true });
    await eventually(() => replicas[1]!.status(), 'the wiped replica recovers: normal, at commit 13 or later').toSatisfy(
      (status: ReplicaStatus) => status.status === 'normal' && status.commitNumber >= 13,
    );
    expect(kvMachine.snapshot(replicas[1].state().app.value as never)).toEqual([['k', 12]]);
  });
});

test('three replicas over TCP on 127.0.0.1, authenticated with the cluster secret', async () => {
  const { replicas } = await tcpCluster((stop) => cleanups.push(stop));
  await send(replicas, 'tcp-client', 0, null);
  expect(await send(replicas, 'tcp-client', 1, { type: 'write', key: 'k', value: 'over tcp' })).toMatchObject({ result: { ok: true } });
  await replicas[0]!.crash();
  replicas[0] = null;
  expect(await send(replicas, 'tcp-client', 2, { type: 'read', key: 'k' })).toMatchObject({ result: { ok: true, value: 'over tcp' } });
  // request(operation) on a backup reaches the new primary over the TCP transport's client protocol.
  expect(await replicas[2]!.request({ type: 'write', key: 'k', value: 'via replica 2' })).toEqual({ ok: true });
  expect(await replicas[1]!.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'via replica 2' });
});

/**
 * Polls `read` until the matcher that follows holds, for up to `timeoutMs`; a timeout fails with `what`,
 * the expectation and the value `read` last returned.
 */
function eventually<T>(read: () => T, what: string, timeoutMs = 3_000) {
  return expect.poll(read, { timeout: timeoutMs, interval: 10, message: what });
}

test('TCP is the default transport: peers and a secret are enough; without them, a clear error', async () => {
  const ports = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<number>((resolve) => {
          const probe = createServer().listen(0, '127.0.0.1', () => {
            const { port } = probe.address() as AddressInfo;
            probe.close(() => resolve(port));
          });
        }),
    ),
  );
  const peers = ports.map((port) => ({ host: '127.0.0.1', port }));
  const root = mkdtempSync(join(tmpdir(), 'vsr-default-tcp-'));
  const replicas = [0, 1, 2].map((replicaId) =>
    startReplica({ config: { replicaId, replicaCount: 3, timeouts: TIMEOUTS }, machine: kvMachine, directory: join(root, `replica-${replicaId}`), create: true, peers, secret: 's3cret' }),
  );
  cleanups.push(async () => {
    await Promise.all(replicas.map((replica) => replica.close()));
    rmSync(root, { recursive: true, force: true });
  });
  await Promise.all(replicas.map((replica) => replica.ready));
  expect(await replicas[1]!.request({ type: 'write', key: 'k', value: 'default tcp' })).toEqual({ ok: true });
  expect(await replicas[2]!.request({ type: 'read', key: 'k' })).toEqual({ ok: true, value: 'default tcp' });
  expect(() => startReplica({ config: { replicaId: 0, replicaCount: 3 }, machine: kvMachine, directory: join(root, 'none') })).toThrow(
    /give a transport, or peers and a secret or tls credentials/,
  );
  expect(() => startReplica({ config: { replicaId: 0, replicaCount: 3 }, machine: kvMachine, directory: join(root, 'none'), peers: peers.slice(0, 2), secret: 's' })).toThrow(
    /peers must list 3 addresses \(one per replica\), got 2/,
  );
});

describe('refused input', () => {
  test('is counted under a bounded set of reasons, whatever senders and views the inputs name', () => {
    const root = mkdtempSync(join(tmpdir(), 'vsr-node-'));
    let deliver: (message: unknown) => void = () => {};
    const refusals = new Refusals();
    const replica = startReplica({
      config: { replicaId: 0, replicaCount: 3, timeouts: TIMEOUTS },
      machine: kvMachine,
      directory: join(root, 'replica-0'),
      create: true,
      refusals,
      transport: { send: () => {}, listen: (handler) => (deliver = handler), close: () => {} },
    });
    cleanups.push(async () => {
      await replica.close();
      rmSync(root, { recursive: true, force: true });
    });
    // Prepares that do not extend the log, from two senders in fifty views; and bad client requests.
    for (let view = 0; view < 50; view++) {
      deliver({ type: 'prepare', cluster: 0, replica: 1 + (view % 2), viewNumber: view, opNumber: 5, commitNumber: 0, entry: { opNumber: 5, viewNumber: view, timestampMs: 0, requests: [] } });
      replica.submit({ clientId: `c${view}`, requestNumber: 1, operation: { type: 'nonsense' } }, () => {});
    }
    const reasons = [...refusals.byReason().keys()];
    expect(reasons.length).toBeGreaterThan(0);
    expect(reasons.length).toBeLessThanOrEqual(4);
    for (const reason of reasons) expect(reason).not.toMatch(/view|replica \d/);
  });
});
