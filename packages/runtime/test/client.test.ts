/**
 * ClientCore on its own, with a scripted link and a manual clock: what a client sends, to whom
 * and when, for each answer a cluster may give. (The runtimes' clients run the same class
 * against real replicas in packages/node/test/client.test.ts and packages/browser/test.)
 */
import { describe, expect, test } from 'vitest';
import type { ClientRead, ClientRequest, Reply } from '@vsr/core';
import { ClientCore, VsrRequestError, VsrTimeoutError, type ClientClock, type ClientLink } from '../src/index.js';

/** Lets every pending promise callback run (a real macrotask turn). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Timers that run only when the test advances time. */
class ManualClock implements ClientClock {
  private now = 0;
  private readonly timers = new Map<number, { atMs: number; run: () => void }>();
  private nextId = 1;
  nowMs(): number {
    return this.now;
  }
  setTimeout(run: () => void, afterMs: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.now + afterMs, run });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Runs every timer due within `ms`, in time order (timers they set included). */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      await settle(); // what the client does between timers (promise callbacks) runs first
      const due = [...this.timers.entries()].filter(([, timer]) => timer.atMs <= until).sort(([, a], [, b]) => a.atMs - b.atMs)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.now = due[1].atMs;
      due[1].run();
    }
    this.now = until;
  }
}

/** A three-replica link whose replicas answer through `answer` (or stay silent when it returns null). */
function scriptedLink(
  answer: (replicaId: number, request: ClientRequest) => Reply | null,
  answerRead: (replicaId: number, read: ClientRead) => Reply | null = () => null,
): ClientLink & { sent: Array<[number, ClientRequest]>; sentReads: Array<[number, ClientRead]> } {
  const listeners = new Map<string, (reply: Reply, from: number) => void>();
  const sent: Array<[number, ClientRequest]> = [];
  const sentReads: Array<[number, ClientRead]> = [];
  return {
    replicaCount: 3,
    isClosed: false,
    sent,
    sentReads,
    send(replicaId, request) {
      let reply: Reply | null;
      if ('readNumber' in request) {
        sentReads.push([replicaId, request]);
        reply = answerRead(replicaId, request);
      } else {
        sent.push([replicaId, request]);
        reply = answer(replicaId, request);
      }
      if (reply !== null) listeners.get(request.clientId)?.(reply, replicaId);
    },
    subscribe(clientId, onReply) {
      listeners.set(clientId, onReply);
      return () => listeners.delete(clientId);
    },
  };
}

const ok = (request: ClientRequest, result: unknown = 'done', viewNumber = 1): Reply => ({ type: 'reply', clientId: request.clientId, requestNumber: request.requestNumber, viewNumber, opNumber: request.requestNumber, result });
let ids = 0;
const client = (link: ClientLink, clock: ClientClock, extra: { timeoutMs?: number; primaryGuess?: number } = {}) =>
  new ClientCore({ link, clock, freshClientId: () => `client-${++ids}`, name: 'TestClient', attemptTimeoutMs: 100, ...extra });

describe('ClientCore', () => {
  test('a read needs no registration, follows read-redirects, and ignores a request\'s reply with the same number', async () => {
    const clock = new ManualClock();
    const link = scriptedLink(
      () => null,
      (replicaId, read) =>
        replicaId === 2
          ? { type: 'read-reply', clientId: read.clientId, readNumber: read.readNumber, viewNumber: 2, commitNumber: 9, result: read.query }
          : { type: 'read-redirect', clientId: read.clientId, readNumber: read.readNumber, viewNumber: 2, primary: 2 },
    );
    const subject = client(link, clock);
    const answer = subject.read('q1');
    await clock.advance(0);
    await expect(answer).resolves.toBe('q1');
    const second = subject.read('q2');
    await clock.advance(0);
    await expect(second).resolves.toBe('q2');
    expect(link.sent).toEqual([]);
    expect(link.sentReads.map(([to, read]) => [to, read.readNumber, read.query])).toEqual([[0, 1, 'q1'], [2, 1, 'q1'], [2, 2, 'q2']]);
  });

  test('a read refused as reads-unsupported fails with that code; a busy one is retried', async () => {
    const clock = new ManualClock();
    let busy = 1;
    const link = scriptedLink(
      () => null,
      (_replicaId, read): Reply =>
        busy-- > 0
          ? { type: 'read-error', clientId: read.clientId, readNumber: read.readNumber, code: 'busy', message: 'full' }
          : { type: 'read-error', clientId: read.clientId, readNumber: read.readNumber, code: 'reads-unsupported', message: 'no queries' },
    );
    const subject = client(link, clock);
    const answer = subject.read('q');
    const outcome = expect(answer).rejects.toMatchObject({ name: 'VsrRequestError', code: 'reads-unsupported' });
    await clock.advance(100);
    await outcome;
    expect(link.sentReads).toHaveLength(2);
  });

  test('registers with request 0, then numbers requests 1, 2, …, following a backup\'s redirect to the primary', async () => {
    const clock = new ManualClock();
    // Replica 1 is the primary of view 1; the others redirect to it.
    const link = scriptedLink((replicaId, request) =>
      replicaId === 1 ? ok(request, request.operation) : { type: 'redirect', clientId: request.clientId, requestNumber: request.requestNumber, viewNumber: 1, primary: 1 },
    );
    const subject = client(link, clock);
    const first = subject.request('a');
    await clock.advance(0);
    await expect(first).resolves.toBe('a');
    const second = subject.request('b');
    await clock.advance(0);
    await expect(second).resolves.toBe('b');
    expect(link.sent.map(([to, request]) => [to, request.requestNumber, request.operation])).toEqual([
      [0, 0, null], [1, 0, null], [1, 1, 'a'], [1, 2, 'b'],
    ]);
  });

  test('a silent replica is passed over after attemptTimeoutMs, and the request is resent with the same number', async () => {
    const clock = new ManualClock();
    // Replica 2 is the primary of view 2; the others are silent (crashed).
    const link = scriptedLink((replicaId, request) => (replicaId === 2 ? ok(request, 'done', 2) : null));
    const subject = client(link, clock);
    const done = subject.request('x');
    await clock.advance(1_000);
    await expect(done).resolves.toBe('done');
    expect(link.sent.map(([to, request]) => [to, request.requestNumber])).toEqual([[0, 0], [1, 0], [2, 0], [2, 1]]);
  });

  test('a replica recovering in an old view, naming a primary that is down, does not trap the client: it goes on past both', async () => {
    const clock = new ManualClock();
    // Replica 0 crashed; replica 1 is recovering and still names view 0's primary; replica 2 is the primary of view 2.
    const link = scriptedLink((replicaId, request) =>
      replicaId === 0 ? null : replicaId === 1 ? { type: 'redirect', clientId: request.clientId, requestNumber: request.requestNumber, viewNumber: 0, primary: 0 } : ok(request, 'done', 2),
    );
    const subject = client(link, clock, { timeoutMs: 5_000 });
    const done = subject.request('x');
    await clock.advance(5_000);
    await expect(done).resolves.toBe('done');
    // Replica 0 is tried once: after it stayed silent, replica 1's redirect to it is not followed.
    expect(link.sent.map(([to, request]) => [to, request.requestNumber])).toEqual([[0, 0], [1, 0], [2, 0], [2, 1]]);
  });

  test('a redirect naming an older view than the client has heard of is not followed', async () => {
    const clock = new ManualClock();
    // Replica 2 is the primary of view 2; the others redirect to it, until they fall behind and answer from view 0.
    let stale = false;
    const link = scriptedLink((replicaId, request) => {
      if (replicaId === 2) return ok(request, request.operation, 2);
      if (stale) return { type: 'redirect', clientId: request.clientId, requestNumber: request.requestNumber, viewNumber: 0, primary: 0 };
      return { type: 'redirect', clientId: request.clientId, requestNumber: request.requestNumber, viewNumber: 2, primary: 2 };
    });
    const subject = client(link, clock, { primaryGuess: 1, timeoutMs: 5_000 });
    const first = subject.request('a');
    await clock.advance(0);
    await expect(first).resolves.toBe('a');
    // The next request starts at replica 1, which now answers from view 0 (say it restarted and is behind).
    stale = true;
    subject.primaryGuess = 1;
    const second = subject.request('b');
    await clock.advance(5_000);
    await expect(second).resolves.toBe('b');
    expect(link.sent.map(([to, request]) => [to, request.requestNumber])).toEqual([[1, 0], [2, 0], [2, 1], [1, 2], [2, 2]]);
  });

  test('not-registered (evicted): a fresh id registers and the operation is sent again under it', async () => {
    const clock = new ManualClock();
    let evictedId: string | null = null;
    const link = scriptedLink((_replicaId, request) => {
      if (request.requestNumber > 0 && (evictedId === null || evictedId === request.clientId)) {
        evictedId = request.clientId; // the cluster evicted the first id's session
        return { type: 'error', clientId: request.clientId, requestNumber: request.requestNumber, code: 'not-registered', message: 'evicted' };
      }
      return ok(request, request.operation);
    });
    const subject = client(link, clock);
    const firstId = subject.clientId;
    const done = subject.request('again');
    await clock.advance(0);
    await expect(done).resolves.toBe('again');
    expect(subject.clientId).not.toBe(firstId);
    expect(link.sent.map(([, request]) => [request.clientId === firstId ? 'first' : 'fresh', request.requestNumber])).toEqual([
      ['first', 0], ['first', 1], ['fresh', 0], ['fresh', 1],
    ]);
  });

  test('a refusal fails the request with its code; close fails the request in flight and later ones', async () => {
    const clock = new ManualClock();
    const link = scriptedLink((_replicaId, request) =>
      request.requestNumber === 0 ? ok(request) : request.operation === 'bad' ? { type: 'error', clientId: request.clientId, requestNumber: request.requestNumber, code: 'invalid-operation', message: 'no' } : null,
    );
    const subject = client(link, clock);
    const refused = subject.request('bad');
    await clock.advance(0);
    await expect(refused).rejects.toEqual(expect.objectContaining({ code: 'invalid-operation' }));
    await expect(refused).rejects.toBeInstanceOf(VsrRequestError);
    const pending = subject.request('hangs');
    await clock.advance(0);
    subject.close();
    await expect(pending).rejects.toThrow('TestClient: closed');
    await expect(subject.request('later')).rejects.toThrow('TestClient: closed');
  });

  test('timeoutMs runs out: VsrTimeoutError, outcome unknown', async () => {
    const clock = new ManualClock();
    const link = scriptedLink((_replicaId, request) => (request.requestNumber === 0 ? ok(request) : null));
    const subject = client(link, clock, { timeoutMs: 250 });
    const lost = subject.request('lost');
    const settled = lost.then(() => null, (error: unknown) => error);
    await clock.advance(1_000);
    const error = await settled;
    expect(error).toBeInstanceOf(VsrTimeoutError);
    expect((error as Error).message).toMatch(/^request client-\d+#1 got no reply within 250 ms \(tried replicas 1, 2, 0\); it may or may not have executed$/);
  });
});
