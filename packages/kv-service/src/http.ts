/**
 * The HTTP JSON API of one replica process.
 *
 *   PUT    /kv/{key}       body: the value (text; JSON string or number with
 *                          Content-Type: application/json)      → 200 {"ok":true}
 *   GET    /kv/{key}       → 200 {"key","value"} | 404
 *   DELETE /kv/{key}       → 200 {"ok":true,"existed":bool}
 *   POST   /kv/{key}/cas   Content-Type: application/json, body {"expected","value"}
 *                          → 200 | 409 {"actual"} | 404; "expected": null
 *                          creates: it needs the key absent (409 if present)
 *   GET    /health         → 200 {ok:true, reason, ...} | 503 {ok:false, reason, ...}
 *   GET    /status         → {replica, view, status, primary, op, commit, pid, ...}
 *   GET    /metrics        → Prometheus text format
 *
 * Every key operation, reads included, is an op ordered by the primary, so
 * answers are linearizable whichever replica takes the request: the process
 * forwards it to the primary (a `VsrClient` session). Bad input gets 400
 * with a message naming what is wrong (a body or key that is not valid UTF-8
 * included); a request that cannot complete in time gets 503 (its outcome
 * unknown: a write may still take effect).
 *
 * Hostile clients are refused before their request is read: a request with
 * an `Origin` not in `allowedOrigins` (403: a browser on another site), a
 * `Host` not in `allowedHosts` (421: DNS rebinding), a key request without
 * the bearer `token` when one is set (401; /health, /status and /metrics stay
 * open). Headers and bodies have deadlines (a body late past `bodyTimeoutMs`
 * gets 408), connections are capped in all and per source address, and each
 * refusal is reported to `onRefused` by a short reason.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Key, KEY_LENGTH_MAX, Value, VALUE_LENGTH_MAX, type KvOperation, type KvResult } from '@vsr/kv';
import { SessionsBusyError, VsrRequestError, VsrTimeoutError, type ReplicaStatus } from '@vsr/node';
import type { ServiceMetrics } from './metrics.js';

export type Health = { readonly ok: boolean; readonly reason: string } & Record<string, unknown>;

/** Why a connection or request was refused, as `onRefused` reports it. */
export type RefusalReason =
  | 'origin' // an Origin header not in allowedOrigins
  | 'host' // a Host header not in allowedHosts (or none)
  | 'token' // no bearer token, or the wrong one
  | 'utf8' // a body or key that is not valid UTF-8
  | 'content-type' // a cas body not sent as application/json
  | 'too-large' // a body over bodyBytesMax
  | 'body-timeout' // the body did not arrive within bodyTimeoutMs
  | 'headers-timeout' // the headers did not arrive within headersTimeoutMs
  | 'headers-too-large' // headers over Node's header size limit
  | 'bad-request' // bytes that do not parse as HTTP
  | 'tls' // a failed or timed-out TLS handshake
  | 'connections' // over connectionsMax
  | 'connections-per-source'; // over connectionsPerSourceMax from one address

export interface KvHttpOptions {
  /** Runs one operation through consensus and resolves with its result. */
  readonly execute: (operation: KvOperation) => Promise<KvResult>;
  readonly status: () => ReplicaStatus & Record<string, unknown>;
  readonly metrics: ServiceMetrics;
  /** GET /health: 200 with this when ok, 503 when not (default: ok in normal status). */
  readonly health?: () => Health;
  /** Largest request body accepted (default 4 × the value limit, for JSON escapes). */
  readonly bodyBytesMax?: number;
  /** Origins (`scheme://host[:port]`) whose requests are taken; any other request with an Origin gets 403 (default: none). */
  readonly allowedOrigins?: readonly string[];
  /** Host headers (`host:port`, case-insensitive) answered; when given, any other gets 421 (default: any). */
  readonly allowedHosts?: readonly string[];
  /** When set, key requests need `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Time for a request's headers to arrive, and for a TLS handshake (default 10 s). */
  readonly headersTimeoutMs?: number;
  /** Time for a request's whole body to arrive once its headers have (default 10 s); later gets 408. */
  readonly bodyTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open between requests (default 5 s). */
  readonly keepAliveTimeoutMs?: number;
  /** A connection silent this long is closed (default 60 s); must exceed the longest `execute`. */
  readonly idleTimeoutMs?: number;
  /** Open connections at most (default 1024); more are closed at once. */
  readonly connectionsMax?: number;
  /** Open connections from one source address at most (default 256); more are closed at once. */
  readonly connectionsPerSourceMax?: number;
  /** Told of every refused connection or request; must not throw (errors are ignored). */
  readonly onRefused?: (reason: RefusalReason) => void;
  /** Serve HTTPS with this key and certificate (PEM) instead of HTTP. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer; readonly ca?: string | Buffer };
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly body: Record<string, unknown>,
    readonly refusal?: RefusalReason,
    readonly headers: Readonly<Record<string, string>> = {},
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

type Answer = [code: number, body: unknown, contentType?: string];

interface Limits {
  readonly bodyBytesMax: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connectionsMax: number;
  readonly connectionsPerSourceMax: number;
}

const badRequest = (message: string) => new HttpError(400, { error: 'bad-request', message });
const OPEN_PATHS = new Set(['/health', '/status', '/metrics']);
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function kvHttpServer(options: KvHttpOptions): HttpServer | HttpsServer {
  const limits = limitsOf(options);
  const refuse = (reason: RefusalReason) => {
    try {
      options.onRefused?.(reason);
    } catch {
      // A metrics or logging callback must not break the server.
    }
  };
  /** The response in progress on each connection: a deadline missed while there is one was its body's. */
  const responding = new WeakMap<Duplex, ServerResponse>();
  const handle = requestHandler(options, router(options, limits), refuse, responding);
  const httpOptions: ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    // A backstop for the whole request; the body's own deadline (408 with a JSON body) comes first.
    requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs + 1_000,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    // With a Host allowlist, a request without Host reaches the check and gets its JSON refusal.
    requireHostHeader: options.allowedHosts === undefined,
  };
  const server =
    options.tls === undefined
      ? createHttpServer(httpOptions, handle)
      : createHttpsServer({ ...httpOptions, ...options.tls, handshakeTimeout: limits.headersTimeoutMs }, handle);
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.connectionsMax;
  server.on('drop', () => refuse('connections'));
  capPerSource(server, limits.connectionsPerSourceMax, refuse);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => onClientError(error, socket, responding.get(socket), refuse));
  return server;
}

function requestHandler(
  options: KvHttpOptions,
  route: (request: IncomingMessage) => Promise<Answer>,
  refuse: (reason: RefusalReason) => void,
  responding: WeakMap<Duplex, ServerResponse>,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    const started = process.hrtime.bigint();
    const method = request.method ?? 'GET';
    const routeName = routeOf(request.url);
    responding.set(request.socket, response);
    response.once('close', () => {
      if (responding.get(request.socket) === response) responding.delete(request.socket);
    });
    const finish = (code: number, body: unknown, contentType = 'application/json', headers: Readonly<Record<string, string>> = {}) => {
      send(response, code, body, contentType, headers);
      options.metrics.observeHttp(method, routeName, code, Number(process.hrtime.bigint() - started) / 1e9);
    };
    route(request).then(
      ([code, body, contentType]) => finish(code, body, contentType),
      (error: unknown) => {
        if (error instanceof HttpError) {
          if (error.refusal !== undefined) refuse(error.refusal);
          return finish(error.code, error.body, undefined, error.headers);
        }
        const [code, body] = failureAnswer(error);
        finish(code, body);
      },
    );
  };
}

function limitsOf(options: KvHttpOptions): Limits {
  const positive = (name: keyof KvHttpOptions, fallback: number): number => {
    const value = options[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new Error(`kvHttpServer: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  if (options.token !== undefined && options.token.length === 0) throw new Error('kvHttpServer: token must not be empty');
  return {
    bodyBytesMax: positive('bodyBytesMax', 4 * VALUE_LENGTH_MAX + 1024),
    headersTimeoutMs: positive('headersTimeoutMs', 10_000),
    bodyTimeoutMs: positive('bodyTimeoutMs', 10_000),
    keepAliveTimeoutMs: positive('keepAliveTimeoutMs', 5_000),
    idleTimeoutMs: positive('idleTimeoutMs', 60_000),
    connectionsMax: positive('connectionsMax', 1024),
    connectionsPerSourceMax: positive('connectionsPerSourceMax', 256),
  };
}

/** The answer to an error that is not an `HttpError`: 503 when the cluster cannot answer, 500 for a bug. */
function failureAnswer(error: unknown): [number, Record<string, unknown>] {
  if (error instanceof VsrTimeoutError) {
    return [503, { error: 'unavailable', message: `${error.message}; the cluster may be changing views or lack a majority` }];
  }
  if (error instanceof Unavailable || error instanceof SessionsBusyError) return [503, { error: 'unavailable', message: error.message }];
  if (error instanceof VsrRequestError) return [error.code === 'invalid-operation' ? 400 : 503, { error: error.code, message: error.message }];
  return [500, { error: 'internal', message: error instanceof Error ? error.message : String(error) }];
}

function router(options: KvHttpOptions, limits: Limits): (request: IncomingMessage) => Promise<Answer> {
  const guard = gate(options);
  const health =
    options.health ??
    (() => {
      const status = options.status().status;
      return { ok: status === 'normal', reason: status === 'normal' ? 'the replica is in normal status' : `the replica is in ${status} status` };
    });
  return async (request) => {
    const path = pathOf(request.url);
    guard(request, path);
    const method = request.method ?? 'GET';
    if (path === '/health') {
      allow(method, ['GET']);
      const answer = health();
      return [answer.ok ? 200 : 503, answer];
    }
    if (path === '/status') {
      allow(method, ['GET']);
      return [200, options.status()];
    }
    if (path === '/metrics') {
      allow(method, ['GET']);
      return [200, await options.metrics.registry.metrics(), options.metrics.registry.contentType];
    }
    const match = /^\/kv\/([^/]+)(\/cas)?$/.exec(path);
    if (match === null) throw new HttpError(404, { error: 'not-found', message: `no route ${path}; see GET /health, /status, /metrics, /kv/{key}` });
    const key = decodeKey(match[1] ?? '');
    if (match[2] !== undefined) return compareAndSet(options, limits, request, key);
    return keyRequest(options, limits, request, key);
  };
}

/**
 * The checks made on a request's headers alone, before any of its body is
 * read: its Host, its Origin, and for key requests its bearer token.
 */
function gate(options: KvHttpOptions): (request: IncomingMessage, path: string) => void {
  const lower = (names: readonly string[] | undefined) => (names === undefined ? undefined : new Set(names.map((name) => name.toLowerCase().replace(/\/+$/, ''))));
  const hosts = lower(options.allowedHosts);
  const origins = lower(options.allowedOrigins) ?? new Set<string>();
  const tokenDigest = options.token === undefined ? undefined : sha256(options.token);
  return (request, path) => {
    const host = request.headers.host;
    if (hosts !== undefined && (host === undefined || !hosts.has(host.toLowerCase()))) {
      const named = host === undefined ? 'a request without a Host header' : `Host ${JSON.stringify(host)}`;
      const message = `this server does not answer ${named} (a guard against DNS rebinding); it answers ${[...hosts].join(', ')}`;
      throw new HttpError(421, { error: 'forbidden-host', message }, 'host');
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !origins.has(origin.toLowerCase())) {
      const message = `requests from origin ${JSON.stringify(origin)} are refused (cross-site requests are not allowed; see allowedOrigins)`;
      throw new HttpError(403, { error: 'forbidden-origin', message }, 'origin');
    }
    if (tokenDigest !== undefined && !OPEN_PATHS.has(path) && !bearerMatches(request.headers.authorization, tokenDigest)) {
      const message = 'this request needs a valid token: send Authorization: Bearer <token>';
      throw new HttpError(401, { error: 'unauthorized', message }, 'token', { 'www-authenticate': 'Bearer realm="vsr-kv"' });
    }
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Whether `header` is `Bearer <token>` for the token with this digest; constant time in the token. */
function bearerMatches(header: string | undefined, tokenDigest: Buffer): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
  return timingSafeEqual(sha256(given), tokenDigest);
}

async function compareAndSet(options: KvHttpOptions, limits: Limits, request: IncomingMessage, key: string): Promise<Answer> {
  allow(request.method ?? 'GET', ['POST']);
  if (!isJson(request.headers['content-type'])) {
    const message = `a cas body must be sent with Content-Type: application/json, got ${JSON.stringify(request.headers['content-type'] ?? 'none')}`;
    throw new HttpError(415, { error: 'unsupported-media-type', message }, 'content-type');
  }
  const body = parseJson(await readBody(request, limits));
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('the body must be a JSON object {"expected": value or null, "value": value}');
  }
  const { expected, value } = body as { expected?: unknown; value?: unknown };
  const operation = { type: 'cas' as const, key, expected: expected === null ? null : checkValue(expected, 'expected'), value: checkValue(value, 'value') };
  const result = await options.execute(operation);
  if (result.ok) return [200, { ok: true }];
  if (result.error === 'not-found') return [404, { error: 'not-found', key }];
  return [409, { error: 'precondition-failed', key, expected: operation.expected, actual: result.actual }];
}

async function keyRequest(options: KvHttpOptions, limits: Limits, request: IncomingMessage, key: string): Promise<Answer> {
  const method = request.method ?? 'GET';
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
  const text = await readBody(request, limits);
  const value = checkValue(isJson(request.headers['content-type']) ? parseJson(text) : text, 'the body');
  await options.execute({ type: 'write', key, value });
  return [200, { ok: true }];
}

/** Whether a Content-Type header names application/json (parameters such as charset aside). */
function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

/** The route a request is counted under in the metrics (keys left out, so the labels stay few). */
function routeOf(url: string | undefined): string {
  let path: string;
  try {
    path = new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return 'other'; // A target the URL parser refuses; `route` answers it.
  }
  if (OPEN_PATHS.has(path)) return path;
  if (/^\/kv\/[^/]+\/cas$/.test(path)) return '/kv/{key}/cas';
  if (/^\/kv\/[^/]+$/.test(path)) return '/kv/{key}';
  return 'other';
}

function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    throw badRequest(`the request target ${JSON.stringify(url)} is not a valid URL path`);
  }
}

function allow(method: string, methods: readonly string[]): void {
  if (!methods.includes(method)) throw new HttpError(405, { error: 'method-not-allowed', message: `use ${methods.join(' or ')} here, not ${method}` });
}

function decodeKey(encoded: string): string {
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    // decodeURIComponent refuses bytes that are not UTF-8, encoded surrogates (%ED%A0%80) included,
    // so a key it returns holds no lone surrogate (and the URL parser leaves only ASCII to decode).
    if (/^(?:[^%]|%[0-9A-Fa-f]{2})*$/.test(encoded)) {
      throw new HttpError(400, { error: 'bad-request', message: `the key ${JSON.stringify(encoded)} is not valid UTF-8 once percent-decoded` }, 'utf8');
    }
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

/** The body as text: at most `bodyBytesMax` bytes, valid UTF-8, all of it within `bodyTimeoutMs`. */
function readBody(request: IncomingMessage, limits: Limits): Promise<string> {
  const tooLarge = () => new HttpError(413, { error: 'too-large', message: `the body is over ${limits.bodyBytesMax} bytes` }, 'too-large');
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limits.bodyBytesMax) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const fail = (error: unknown) => {
      settled = true;
      chunks.length = 0;
      clearTimeout(timer);
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const timer = setTimeout(() => {
      const message = `the body did not arrive within ${limits.bodyTimeoutMs} ms`;
      fail(new HttpError(408, { error: 'timeout', message }, 'body-timeout', { connection: 'close' }));
    }, limits.bodyTimeoutMs);
    request.on('data', (chunk: Buffer) => {
      if (settled) return; // Discarded: the refusal is already on its way.
      length += chunk.length;
      if (length > limits.bodyBytesMax) return fail(tooLarge());
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        resolve(UTF8.decode(Buffer.concat(chunks)));
      } catch {
        reject(new HttpError(400, { error: 'bad-request', message: 'the body is not valid UTF-8' }, 'utf8'));
      }
    });
    request.on('error', (error) => {
      if (!settled) fail(error);
    });
  });
}

function send(response: ServerResponse, code: number, body: unknown, contentType: string, headers: Readonly<Record<string, string>> = {}): void {
  if (response.headersSent || response.destroyed) return;
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  response.writeHead(code, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** Closes, at once, a connection from an address that already has `perSourceMax` open. */
function capPerSource(server: HttpServer | HttpsServer, perSourceMax: number, refuse: (reason: RefusalReason) => void): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const source = socket.remoteAddress ?? 'unknown';
    const count = open.get(source) ?? 0;
    if (count >= perSourceMax) {
      refuse('connections-per-source');
      socket.destroy();
      return;
    }
    open.set(source, count + 1);
    socket.once('close', () => {
      const left = (open.get(source) ?? 1) - 1;
      if (left > 0) open.set(source, left);
      else open.delete(source);
    });
  });
}

/**
 * Node's default answer to a connection whose bytes are not a request it can
 * take (bad HTTP, headers too large or too slow, a failed TLS handshake), with
 * a JSON body and the refusal reported. `response` is the one in progress on
 * that connection, if any: then the deadline missed was its body's.
 */
function onClientError(error: NodeJS.ErrnoException, socket: Duplex, response: ServerResponse | undefined, refuse: (reason: RefusalReason) => void): void {
  const answer = clientErrorAnswer(error.code ?? '', response !== undefined);
  if (answer === undefined) {
    if (/^ERR_(SSL|TLS)/.test(error.code ?? '')) refuse('tls');
    socket.destroy(); // A closed or reset connection, or TLS: nothing to answer on.
    return;
  }
  const [status, statusText, reason, body] = answer;
  refuse(reason);
  if (socket.writable && (response === undefined || !response.headersSent)) {
    const text = `${JSON.stringify(body)}\n`;
    socket.write(`HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }
  socket.destroy();
}

function clientErrorAnswer(code: string, responding: boolean): [number, string, RefusalReason, Record<string, string>] | undefined {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    const message = responding ? 'the request body did not arrive in time' : 'the request headers did not arrive in time';
    return [408, 'Request Timeout', responding ? 'body-timeout' : 'headers-timeout', { error: 'timeout', message }];
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return [431, 'Request Header Fields Too Large', 'headers-too-large', { error: 'too-large', message: 'the request headers are too large' }];
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return [413, 'Payload Too Large', 'too-large', { error: 'too-large', message: 'the chunk extensions are too large' }];
  }
  // The client went away mid-request: nothing to refuse or answer.
  if (code === 'HPE_INVALID_EOF_STATE') return undefined;
  if (code.startsWith('HPE_')) return [400, 'Bad Request', 'bad-request', { error: 'bad-request', message: `the bytes are not a valid HTTP request (${code})` }];
  return undefined;
}
