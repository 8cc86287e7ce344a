/**
 * The HTTP JSON API of one replica process.
 *
 *   PUT    /kv/{key}       body: the value (text; JSON string or number with
 *                          Content-Type: application/json)      → 200 {"ok":true}
 *   GET    /kv/{key}       → 200 {"key","value"} | 404
 *   DELETE /kv/{key}       → 200 {"ok":true,"existed":bool}
 *   POST   /kv/{key}/cas   body {"expected","value"} → 200 | 409 {"actual"} | 404
 *   GET    /status         → {replica, view, status, primary, op, commit, pid, ...}
 *   GET    /metrics        → Prometheus text format
 *
 * Every key operation, reads included, is an op ordered by the primary, so
 * answers are linearizable whichever replica takes the request: the process
 * forwards it to the primary (a `VsrClient` session). Bad input gets 400
 * with a message naming what is wrong; a request that cannot complete in
 * time gets 503 (its outcome unknown: a write may still take effect).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Key, KEY_LENGTH_MAX, Value, VALUE_LENGTH_MAX, type KvOperation, type KvResult } from '@vsr/kv';
import { VsrRequestError, VsrTimeoutError, type ReplicaStatus } from '@vsr/node';
import type { ServiceMetrics } from './metrics.js';

export interface KvHttpOptions {
  /** Runs one operation through consensus and resolves with its result. */
  readonly execute: (operation: KvOperation) => Promise<KvResult>;
  readonly status: () => ReplicaStatus & Record<string, unknown>;
  readonly metrics: ServiceMetrics;
  /** Largest request body accepted (default 4 × the value limit, for JSON escapes). */
  readonly bodyBytesMax?: number;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body['message'] ?? body['error']));
  }
}

/** The service cannot take the request now (503). */
export class Unavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unavailable';
  }
}

const badRequest = (message: string) => new HttpError(400, { error: 'bad-request', message });

export function kvHttpServer(options: KvHttpOptions): Server {
  const bodyBytesMax = options.bodyBytesMax ?? 4 * VALUE_LENGTH_MAX + 1024;

  const route = async (request: IncomingMessage): Promise<[number, unknown, string?]> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    if (url.pathname === '/status') {
      allow(method, ['GET']);
      return [200, options.status()];
    }
    if (url.pathname === '/metrics') {
      allow(method, ['GET']);
      return [200, await options.metrics.registry.metrics(), options.metrics.registry.contentType];
    }
    const match = /^\/kv\/([^/]+)(\/cas)?$/.exec(url.pathname);
    if (match === null) throw new HttpError(404, { error: 'not-found', message: `no route ${url.pathname}; see GET /status, /metrics, /kv/{key}` });
    const key = decodeKey(match[1] ?? '');
    if (match[2] !== undefined) {
      allow(method, ['POST']);
      const body = parseJson(await readBody(request, bodyBytesMax));
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object {"expected": value, "value": value}');
      const { expected, value } = body as { expected?: unknown; value?: unknown };
      const operation = { type: 'cas' as const, key, expected: checkValue(expected, 'expected'), value: checkValue(value, 'value') };
      const result = await options.execute(operation);
      if (result.ok) return [200, { ok: true }];
      if (result.error === 'not-found') return [404, { error: 'not-found', key }];
      return [409, { error: 'precondition-failed', key, expected: operation.expected, actual: result.actual }];
    }
    allow(method, ['GET', 'PUT', 'DELETE']);
    if (method === 'GET') {
      const result = await options.execute({ type: 'read', key });
      if (!result.ok) return [404, { error: 'not-found', key }];
      return [200, { key, value: 'value' in result ? result.value : null }];
    }
    if (method === 'DELETE') {
      const result = await options.execute({ type: 'delete', key });
      return [200, { ok: true, existed: 'existed' in result ? result.existed : false }];
    }
    const text = await readBody(request, bodyBytesMax);
    const json = (request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json');
    const value = checkValue(json ? parseJson(text) : text, 'the body');
    await options.execute({ type: 'write', key, value });
    return [200, { ok: true }];
  };

  return createServer((request, response) => {
    const started = process.hrtime.bigint();
    const method = request.method ?? 'GET';
    const routeName = routeOf(request.url);
    const finish = (code: number, body: unknown, contentType = 'application/json') => {
      send(response, code, body, contentType);
      options.metrics.observeHttp(method, routeName, code, Number(process.hrtime.bigint() - started) / 1e9);
    };
    route(request).then(
      ([code, body, contentType]) => finish(code, body, contentType),
      (error: unknown) => {
        if (error instanceof HttpError) return finish(error.code, error.body);
        if (error instanceof VsrTimeoutError) {
          return finish(503, { error: 'unavailable', message: `${error.message}; the cluster may be changing views or lack a majority` });
        }
        if (error instanceof Unavailable) return finish(503, { error: 'unavailable', message: error.message });
        if (error instanceof VsrRequestError) return finish(error.code === 'invalid-operation' ? 400 : 503, { error: error.code, message: error.message });
        finish(500, { error: 'internal', message: error instanceof Error ? error.message : String(error) });
      },
    );
  });
}

/** The route a request is counted under in the metrics (keys left out, so the labels stay few). */
function routeOf(url: string | undefined): string {
  let path: string;
  try {
    path = new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return 'other'; // A target the URL parser refuses; `route` answers it.
  }
  if (path === '/status' || path === '/metrics') return path;
  if (/^\/kv\/[^/]+\/cas$/.test(path)) return '/kv/{key}/cas';
  if (/^\/kv\/[^/]+$/.test(path)) return '/kv/{key}';
  return 'other';
}

function allow(method: string, methods: readonly string[]): void {
  if (!methods.includes(method)) throw new HttpError(405, { error: 'method-not-allowed', message: `use ${methods.join(' or ')} here, not ${method}` });
}

function decodeKey(encoded: string): string {
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    throw badRequest(`the key ${JSON.stringify(encoded)} is not valid percent-encoding`);
  }
  if (!Key.is(key)) throw badRequest(`the key must be 1 to ${KEY_LENGTH_MAX} characters, got ${(key as string).length}`);
  return key;
}

function checkValue(value: unknown, what: string): Value {
  if (value === undefined) throw badRequest(`${what} is missing: a value is a string (up to 64 KiB) or a finite number`);
  if (!Value.is(value)) {
    throw badRequest(`${what} must be a string (up to ${VALUE_LENGTH_MAX} characters) or a finite number, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'number' ? String(value) : `a${typeof value === 'object' ? 'n' : ''} ${typeof value}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function readBody(request: IncomingMessage, bytesMax: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      if (over) return; // Discarded: the 413 is already on its way.
      length += chunk.length;
      if (length > bytesMax) {
        over = true;
        chunks.length = 0;
        reject(new HttpError(413, { error: 'too-large', message: `the body is over ${bytesMax} bytes` }));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (over) return;
      const text = Buffer.concat(chunks).toString('utf8');
      resolve(text);
    });
    request.on('error', reject);
  });
}

function send(response: ServerResponse, code: number, body: unknown, contentType: string): void {
  if (response.headersSent || response.destroyed) return;
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  response.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
