/**
 * Client sessions for a server that takes many concurrent callers. A VR client has one request
 * outstanding, so concurrent calls need as many sessions; each is a `VsrClient` (its own id,
 * registered on first use) on one shared `ClusterLink`. Up to `sessionsMax`; beyond that a call
 * waits for a free session, within its deadline, and then fails with `SessionsBusyError`.
 */
import { ClusterLink, VsrClient } from './client.js';

/** Every session stayed busy for the whole deadline: nothing was sent (the call may be retried). */
export class SessionsBusyError extends Error {
  constructor(sessionsMax: number, timeoutMs: number) {
    super(`all ${sessionsMax} client sessions stayed busy for ${timeoutMs} ms; nothing was sent`);
    this.name = 'SessionsBusyError';
  }
}

export class SessionPool {
  private readonly idle: VsrClient[] = [];
  /** Every session made, idle or busy. */
  private readonly sessions = new Set<VsrClient>();
  private readonly waiters: Array<(session: VsrClient) => void> = [];
  private created = 0;
  private closed = false;

  constructor(
    private readonly link: ClusterLink,
    private readonly sessionsMax: number,
    private readonly timeoutMs: number,
    private primaryGuess: number,
  ) {
    if (!Number.isInteger(sessionsMax) || sessionsMax < 1) throw new Error(`sessionsMax must be a positive integer, got ${sessionsMax}`);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new Error(`timeoutMs must be a positive integer, got ${timeoutMs}`);
  }

  /** Sessions made so far (each stays registered with the cluster). */
  get size(): number {
    return this.created;
  }

  /** A replicated operation through the log. */
  request(operation: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    return this.withSession(timeoutMs, (client, left) => client.request(operation, { timeoutMs: left }));
  }

  /** A linearizable read without the log. */
  read(query: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    return this.withSession(timeoutMs, (client, left) => client.read(query, { timeoutMs: left }));
  }

  /** Stops: calls in flight fail at once, and later ones too. */
  close(): void {
    this.closed = true;
    this.idle.length = 0;
    for (const session of this.sessions) session.close();
    this.sessions.clear();
  }

  private async withSession(timeoutMs: number, call: (client: VsrClient, timeoutMs: number) => Promise<unknown>): Promise<unknown> {
    if (this.closed) throw new Error('the client sessions are closed');
    const deadlineMs = Date.now() + timeoutMs;
    const client = await this.acquire(deadlineMs, timeoutMs);
    // An idle session may still point at a primary that failed since; start where the last call ended.
    client.primaryGuess = this.primaryGuess;
    try {
      return await call(client, Math.max(1, deadlineMs - Date.now()));
    } finally {
      this.primaryGuess = client.primaryGuess;
      this.release(client);
    }
  }

  private acquire(deadlineMs: number, timeoutMs: number): Promise<VsrClient> {
    const idle = this.idle.pop();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.created < this.sessionsMax) {
      this.created++;
      return Promise.resolve(this.fresh());
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(take);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new SessionsBusyError(this.sessionsMax, timeoutMs));
      }, Math.max(1, deadlineMs - Date.now()));
      const take = (client: VsrClient) => {
        clearTimeout(timer);
        resolve(client);
      };
      this.waiters.push(take);
    });
  }

  private fresh(): VsrClient {
    const client = new VsrClient({
      link: this.link,
      timeoutMs: this.timeoutMs,
      attemptTimeoutMs: Math.min(1_000, this.timeoutMs),
      primaryGuess: this.primaryGuess,
    });
    this.sessions.add(client);
    return client;
  }

  private release(client: VsrClient): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(client);
    else this.idle.push(client);
  }
}
