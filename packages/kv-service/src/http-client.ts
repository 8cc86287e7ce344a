/**
 * A small HTTP(S) client for the key-value API, for tools and tests: the
 * cluster's CA to check its certificates, its bearer token, keep-alive
 * connections, a deadline per request. (Node's fetch cannot be given a CA.)
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

export class KvHttpClient {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(
    private readonly security: KvSecurity = {},
    options: { readonly keepAlive?: boolean; readonly socketsMax?: number } = {},
  ) {
    const agentOptions = { keepAlive: options.keepAlive ?? true, maxSockets: options.socketsMax ?? 64 };
    this.http = new HttpAgent(agentOptions);
    this.https = new HttpsAgent({ ...agentOptions, ...(security.ca === undefined ? {} : { ca: security.ca }) });
  }

  /** One request; rejects on a network error or when `timeoutMs` passes without the whole answer. */
  request(method: string, url: string, options: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<KvHttpAnswer> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const headers: Record<string, string> = { ...(this.security.token === undefined ? {} : { authorization: `Bearer ${this.security.token}` }), ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    return new Promise((resolve, reject) => {
      const send = secure ? httpsRequest : httpRequest;
      const request = send(target, { method, headers, agent: secure ? this.https : this.http }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      });
      request.setTimeout(options.timeoutMs ?? 10_000, () => request.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 10_000} ms`)));
      request.on('error', reject);
      request.end(options.body);
    });
  }

  /** The CA this client trusts, if it was given one. */
  get ca(): string | undefined {
    return this.security.ca;
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
