/**
 * How the benchmarks talk to `vsr-kv` replicas over HTTP(S): the write they
 * measure (`PUT /kv/{key}`, a success only as 200 {"ok":true}) and the
 * `/status` calls that wait for the cluster to settle. Shared by load.ts
 * (`npm run bench:kv`) and etcd.ts (`npm run bench:etcd`).
 */
import type { ReplicaStatus } from '@vsr/node';
import { KvHttpClient } from '../src/http-client.js';
import { sleep, type Failure, type LoadConnection } from './generator.js';

/** How requests reach the replicas: the scheme, the cluster's CA and its bearer token. */
export interface KvWire {
  https: boolean;
  ca: string | undefined;
  token: string | undefined;
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export const endpointText = (wire: KvWire, endpoint: Endpoint) => `${wire.https ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}`;

/** The endpoint of `host:port` (as `ReplicaProcess.http` gives it). */
export function endpointOf(hostPort: string): Endpoint {
  const colon = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
}

/** One connection's client, with the wire's CA and token. */
export function newKvClient(wire: KvWire, keepAlive: boolean): KvHttpClient {
  return new KvHttpClient({ ...(wire.ca === undefined ? {} : { ca: wire.ca }), ...(wire.token === undefined ? {} : { token: wire.token }) }, { keepAlive, socketsMax: 1 });
}

export interface Answer {
  readonly code: number;
  readonly body: string;
}

export function send(client: KvHttpClient, url: string, method: string, body: string | null, timeoutMs: number, contentType = 'text/plain; charset=utf-8'): Promise<Answer> {
  const headers: Record<string, string> = body === null ? {} : { 'content-type': contentType };
  return client.request(method, url, { ...(body === null ? {} : { body }), headers, timeoutMs }).then((answer) => ({ code: answer.status, body: answer.text }));
}

/** A `PUT /kv/{key}` answer: null for 200 {"ok":true}, else its failure (the kind names the status and the API's error). */
export function classifyKvPut(answer: Answer): Failure | null {
  if (answer.code !== 200) {
    let error = '';
    try {
      const body = JSON.parse(answer.body) as { error?: unknown };
      if (typeof body.error === 'string') error = ` ${body.error}`;
    } catch {
      // Not JSON: the kind is the status code alone.
    }
    return [`HTTP ${answer.code}${error}`, answer.body.trim().slice(0, 300)];
  }
  try {
    const body = JSON.parse(answer.body) as { ok?: unknown };
    if (body !== null && typeof body === 'object' && body.ok === true) return null;
  } catch {
    // Falls through: a 200 whose body is not {"ok":true} is an error too.
  }
  return ['HTTP 200 without {"ok":true}', answer.body.trim().slice(0, 300)];
}

/** A closed-loop client's connection to one replica: `PUT /kv/{key}` on one keep-alive connection. */
export function kvPutConnection(wire: KvWire, endpoint: Endpoint, timeoutMs: number): LoadConnection {
  const client = newKvClient(wire, true);
  const base = endpointText(wire, endpoint);
  return {
    label: base,
    call: (key, value) => send(client, `${base}/kv/${key}`, 'PUT', value, timeoutMs).then(classifyKvPut),
    close: () => client.close(),
  };
}

/**
 * A `GET /kv/{key}` answer: null for 200 {"key","value"} or 404 {"error":"not-found"} (both are
 * answers of a linearizable read), else its failure.
 */
export function classifyKvGet(answer: Answer): Failure | null {
  const body = jsonObject(answer.body);
  if (answer.code === 200 && typeof body?.key === 'string' && 'value' in body) return null;
  if (answer.code === 404 && body?.error === 'not-found') return null;
  const error = typeof body?.error === 'string' ? ` ${body.error}` : '';
  return [`HTTP ${answer.code}${error}`, answer.body.trim().slice(0, 300)];
}

function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A closed-loop client's connection to one replica: `GET /kv/{key}` (a read without the log) on one keep-alive connection. */
export function kvGetConnection(wire: KvWire, endpoint: Endpoint, timeoutMs: number): LoadConnection {
  const client = newKvClient(wire, true);
  const base = endpointText(wire, endpoint);
  return {
    label: base,
    call: (key) => send(client, `${base}/kv/${key}`, 'GET', null, timeoutMs).then(classifyKvGet),
    close: () => client.close(),
  };
}

export type Status = Omit<ReplicaStatus, 'pid'>;

export async function getStatus(wire: KvWire, client: KvHttpClient, endpoint: Endpoint): Promise<Status> {
  const url = `${endpointText(wire, endpoint)}/status`;
  const answer = await send(client, url, 'GET', null, 5_000);
  if (answer.code !== 200) throw new Error(`GET ${url} answered ${answer.code}: ${answer.body.trim()}`);
  const status = JSON.parse(answer.body) as Partial<Status>;
  for (const field of ['replicaId', 'viewNumber', 'primary', 'opNumber', 'commitNumber'] as const) {
    if (typeof status[field] !== 'number') throw new Error(`GET ${url}: no numeric "${field}" in ${answer.body.trim()}`);
  }
  return status as Status;
}

/** Waits until every endpoint answers /status in the same view with status normal; returns their statuses (at least one). */
export async function settledStatuses(wire: KvWire, client: KvHttpClient, endpoints: readonly Endpoint[], waitMs = 15_000): Promise<[Status, ...Status[]]> {
  const deadline = Date.now() + waitMs;
  let last = '';
  for (;;) {
    try {
      const statuses = await Promise.all(endpoints.map((endpoint) => getStatus(wire, client, endpoint)));
      const [first, ...rest] = statuses;
      if (first !== undefined && statuses.every((status) => status.status === 'normal' && status.viewNumber === first.viewNumber)) return [first, ...rest];
      last = statuses.map((status) => `replica ${status.replicaId}: view ${status.viewNumber} ${status.status}`).join('; ');
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`the replicas did not settle in one view within ${waitMs} ms (${last})`);
    await sleep(100);
  }
}
