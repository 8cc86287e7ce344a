/**
 * A small HTTP(S) client for the key-value API, for tools, tests and the load generators: the
 * cluster's CA to check its certificates, its bearer token, keep-alive connections, a deadline per
 * request. (Node's fetch cannot be given a CA.)
 *
 * Built on undici rather than Node's `http.request`: on this machine a keep-alive PUT costs the
 * client about a third of the CPU through undici (30 µs against 90 µs per request, and 34 against
 * 118 over TLS, `packages/node/bench/tls-cost.ts`), which matters most where the client shares the
 * cores with the replicas it measures.
 */
import { Agent, request as send } from 'undici';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export interface KvSecurity {
  /** PEM of the CA that signed the replicas' certificates (for https:// URLs). */
  readonly ca?: string;
  /** The bearer token, sent on every request. */
  readonly token?: string;
}

/** What `vsr-kv cluster` left in its directory: the CA if it made one, the token if it made one. */
export function clusterSecurity(directory: string): KvSecurity & { readonly scheme: 'http' | 'https' } {
  const caFile = join(directory, 'tls', 'ca.pem');
  const tokenFile = join(directory, 'token');
  const ca = existsSync(caFile) ? readFileSync(caFile, 'utf8') : undefined;
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined;
  return { scheme: ca === undefined ? 'http' : 'https', ...(ca === undefined ? {} : { ca }), ...(token === undefined ? {} : { token }) };
}

export interface KvHttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

export class KvHttpClient {
  private readonly agent: Agent;
  private readonly keepAlive: boolean;

  constructor(
    private readonly security: KvSecurity = {},
    options: { readonly keepAlive?: boolean; readonly socketsMax?: number } = {},
  ) {
    this.keepAlive = options.keepAlive ?? true;
    this.agent = new Agent({ connections: options.socketsMax ?? 64, pipelining: 1, ...(security.ca === undefined ? {} : { connect: { ca: security.ca } }) });
  }

  /** One request; rejects on a network error or when `timeoutMs` passes without the whole answer. */
  async request(method: string, url: string, options: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<KvHttpAnswer> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const headers: Record<string, string> = { ...(this.security.token === undefined ? {} : { authorization: `Bearer ${this.security.token}` }), ...options.headers };
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`no answer from ${url} within ${timeoutMs} ms`)), timeoutMs);
    try {
      const answer = await send(url, { method, headers, body: options.body ?? null, dispatcher: this.agent, signal: deadline.signal, reset: !this.keepAlive });
      const text = await answer.body.text();
      return { status: answer.statusCode, headers: answer.headers, text };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The CA this client trusts, if it was given one. */
  get ca(): string | undefined {
    return this.security.ca;
  }

  close(): void {
    void this.agent.destroy().catch(() => undefined);
  }
}
