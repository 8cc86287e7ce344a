/**
 * The HTTP API against hostile input, in process: `kvHttpServer` on
 * 127.0.0.1 with a store that is `applyKv` over the machine's own map. Raw
 * sockets send the exact bytes where a client library would not (invalid
 * UTF-8, dribbled headers and bodies, no Host). The TLS test uses a fixed
 * self-signed certificate for 127.0.0.1 in fixtures/ (made with
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
 * -days 36500 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1`).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { applyKv, kvMachine, type KvOperation, type KvResult, type KvState } from '@vsr/kv';
import { kvHttpServer, type Health, type KvHttpOptions, type RefusalReason } from '../src/http.js';
import { serviceMetrics } from '../src/metrics.js';
import { jsonBody } from './support.js';

const STATUS = { replicaId: 0, viewNumber: 1, status: 'normal', primary: 0, opNumber: 0, commitNumber: 0, pid: process.pid };

interface Running {
  readonly port: number;
  readonly refused: RefusalReason[];
  readonly stored: () => KvState;
  setHealth(health: Health): void;
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function start(overrides: Partial<KvHttpOptions> = {}): Promise<Running> {
  let state = kvMachine.init();
  let health: Health = { ok: true, reason: 'serving' };
  const refused: RefusalReason[] = [];
  const metrics = serviceMetrics(() => STATUS);
  const server = kvHttpServer({
    execute: (operation: KvOperation): Promise<KvResult> => {
      const [next, result] = applyKv(state, operation);
      state = next;
      return Promise.resolve(result);
    },
    status: () => STATUS,
    health: () => health,
    metrics,
    onRefused: (reason) => refused.push(reason),
    ...overrides,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    metrics.close();
    await closed;
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no port');
  return { port: address.port, refused, stored: () => state, setHealth: (next) => (health = next) };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** One request on its own connection (no pooling, so connection counts stay exact). */
function call(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, tls?: { ca: Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, method, path, headers, agent: false as const, ...(tls === undefined ? {} : { ca: tls.ca }) };
    const request = (tls === undefined ? httpRequest : httpsRequest)(options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: jsonBody(Buffer.concat(chunks).toString('utf8')) });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** A raw connection: write exact bytes; `text()` is all it received, `closed` when the server closed it. */
function raw(port: number): { socket: Socket; text: () => string; closed: Promise<number> } {
  const socket = connect(port, '127.0.0.1');
  const opened = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now() - opened)));
  return { socket, text: () => Buffer.concat(chunks).toString('utf8'), closed };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long after opening the server closed `connection`, failing at `ms` (so a broken limit fails fast, not at the test timeout). */
const closedWithin = (connection: { socket: Socket; closed: Promise<number> }, ms: number) =>
  Promise.race([
    connection.closed,
    sleep(ms).then(() => {
      connection.socket.destroy();
      throw new Error(`the server did not close the connection within ${ms} ms`);
    }),
  ]);
const json = { 'content-type': 'application/json' };

describe('bodies and keys that are not UTF-8', () => {
  test('an invalid UTF-8 body gets 400 and nothing is written', async () => {
    const kv = await start();
    const bad = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
    const answer = await call(kv.port, 'PUT', '/kv/k', bad);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'bad-request', message: 'the body is not valid UTF-8' });
    expect(kv.stored().has('k')).toBe(false);
    expect((await call(kv.port, 'GET', '/kv/k')).status).toBe(404);
    // An encoded surrogate (CESU-style) is not UTF-8 either, in a cas body too.
    const cas = Buffer.concat([Buffer.from('{"expected":null,"value":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    expect((await call(kv.port, 'POST', '/kv/k/cas', cas, json)).status).toBe(400);
    expect(kv.stored().has('k')).toBe(false);
    expect(kv.refused).toEqual(['utf8', 'utf8']);
  });

  test('a multi-byte character split across packets is stored whole', async () => {
    const kv = await start();
    const { socket, closed } = raw(kv.port);
    const value = Buffer.from('h€llo', 'utf8'); // € is 3 bytes: split it
    socket.write(`PUT /kv/split HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: ${value.length}\r\n\r\n`);
    socket.write(value.subarray(0, 2));
    await sleep(50);
    socket.write(value.subarray(2));
    await closed;
    expect(kv.stored().get('split')).toBe('h€llo');
  });

  test('a key whose percent-encoding decodes to a lone surrogate gets 400', async () => {
    const kv = await start();
    const answer = await call(kv.port, 'PUT', '/kv/%ED%A0%80', 'x');
    expect(answer.status).toBe(400);
    expect(String(answer.body['message'])).toMatch(/not valid UTF-8/);
    expect(kv.stored().size).toBe(0);
    expect(kv.refused).toEqual(['utf8']);
    // Broken percent-encoding keeps its own message.
    expect((await call(kv.port, 'GET', '/kv/%E0%A4%A')).body['message']).toMatch(/percent-encoding/);
  });
});

describe('compare-and-set', () => {
  test('expected null creates an absent key, and fails with 409 once it exists', async () => {
    const kv = await start();
    expect(await call(kv.port, 'POST', '/kv/c/cas', '{"expected":null,"value":"first"}', json)).toMatchObject({ status: 200, body: { ok: true } });
    expect(kv.stored().get('c')).toBe('first');
    const again = await call(kv.port, 'POST', '/kv/c/cas', '{"expected":null,"value":"second"}', json);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: 'precondition-failed', key: 'c', expected: null, actual: 'first' });
    expect(kv.stored().get('c')).toBe('first');
    expect(await call(kv.port, 'POST', '/kv/c/cas', '{"expected":"first","value":2}', json)).toMatchObject({ status: 200 });
    expect(kv.stored().get('c')).toBe(2);
  });

  test('a value as expected on an absent key is still 404', async () => {
    const kv = await start();
    expect((await call(kv.port, 'POST', '/kv/none/cas', '{"expected":"x","value":"y"}', json)).status).toBe(404);
    expect(kv.stored().size).toBe(0);
  });

  test('a cas body not sent as application/json gets 415 and nothing is written', async () => {
    const kv = await start();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const answer = await call(kv.port, 'POST', '/kv/c/cas', '{"expected":null,"value":"v"}', { 'content-type': type });
      expect(answer.status).toBe(415);
      expect(answer.body['error']).toBe('unsupported-media-type');
    }
    expect(kv.stored().size).toBe(0);
    expect((await call(kv.port, 'POST', '/kv/c/cas', '{"expected":null,"value":"v"}', { 'content-type': 'Application/JSON; charset=utf-8' })).status).toBe(200);
  });
});

describe('cross-site requests and DNS rebinding', () => {
  test('a foreign Origin is refused with 403 and nothing is written', async () => {
    const kv = await start({ allowedOrigins: ['http://127.0.0.1:9999'] });
    const foreign = { origin: 'https://evil.example', 'content-type': 'text/plain' };
    const put = await call(kv.port, 'PUT', '/kv/x', 'pwned', foreign);
    expect(put.status).toBe(403);
    expect(put.body['error']).toBe('forbidden-origin');
    expect((await call(kv.port, 'POST', '/kv/x/cas', '{"expected":null,"value":"pwned"}', { ...foreign, 'content-type': 'application/json' })).status).toBe(403);
    expect((await call(kv.port, 'GET', '/status', undefined, { origin: 'null' })).status).toBe(403);
    expect(kv.stored().size).toBe(0);
    expect(kv.refused).toEqual(['origin', 'origin', 'origin']);
  });

  test('the refusal comes before the body is read', async () => {
    const kv = await start();
    const { socket, text, closed } = raw(kv.port);
    socket.write('PUT /kv/x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\nContent-Length: 1000\r\n\r\n');
    for (let i = 0; i < 50 && !text().includes('\r\n\r\n'); i++) await sleep(10);
    expect(text()).toMatch(/^HTTP\/1\.1 403 /);
    socket.destroy();
    await closed;
    expect(kv.stored().size).toBe(0);
    expect(kv.refused).toEqual(['origin']);
  });

  test('an allowed origin writes, and a request without Origin is unaffected', async () => {
    const kv = await start({ allowedOrigins: ['http://localhost:8080'] });
    expect((await call(kv.port, 'PUT', '/kv/x', 'ok', { origin: 'http://LOCALHOST:8080', 'content-type': 'text/plain' })).status).toBe(200);
    expect(kv.stored().get('x')).toBe('ok');
    expect((await call(kv.port, 'PUT', '/kv/y', '"json"', json)).status).toBe(200);
    expect(kv.stored().get('y')).toBe('json');
  });

  test('a Host not in allowedHosts is refused, as is a request without Host', async () => {
    const kv = await start({ allowedHosts: ['127.0.0.1:1234', 'localhost:1234'] });
    const wrong = await call(kv.port, 'PUT', '/kv/x', 'v', { host: 'rebound.example:1234' });
    expect(wrong.status).toBe(421);
    expect(wrong.body['error']).toBe('forbidden-host');
    expect(String(wrong.body['message'])).toMatch(/rebound\.example:1234/);
    expect((await call(kv.port, 'PUT', '/kv/x', 'v', { host: 'localhost:9999' })).status).toBe(421); // the port counts
    expect(kv.stored().size).toBe(0);
    const { socket, text, closed } = raw(kv.port);
    socket.write('PUT /kv/x HTTP/1.0\r\nContent-Length: 1\r\n\r\nv');
    await closed;
    expect(text()).toMatch(/^HTTP\/1\.1 421 /);
    expect(kv.stored().size).toBe(0);
    expect((await call(kv.port, 'PUT', '/kv/x', 'v', { host: 'LocalHost:1234' })).status).toBe(200);
    expect(kv.stored().get('x')).toBe('v');
    expect(kv.refused).toEqual(['host', 'host', 'host']);
  });
});

describe('the bearer token', () => {
  const token = 's3cret-token-value';

  test('key requests need it; a missing or wrong one gets the same 401', async () => {
    const kv = await start({ token });
    const missing = await call(kv.port, 'PUT', '/kv/x', 'v');
    const wrong = await call(kv.port, 'PUT', '/kv/x', 'v', { authorization: `Bearer ${token}x` });
    const otherScheme = await call(kv.port, 'PUT', '/kv/x', 'v', { authorization: `Basic ${token}` });
    for (const answer of [missing, wrong, otherScheme]) {
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(answer.body).toEqual(missing.body);
      expect(JSON.stringify(answer)).not.toContain(token);
    }
    expect(kv.stored().size).toBe(0);
    expect((await call(kv.port, 'PUT', '/kv/x', 'v', { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await call(kv.port, 'GET', '/kv/x', undefined, { authorization: `bearer ${token}` })).body).toEqual({ key: 'x', value: 'v' });
    expect(kv.refused).toEqual(['token', 'token', 'token']);
  });

  test('/health, /status and /metrics stay open', async () => {
    const kv = await start({ token });
    for (const path of ['/health', '/status', '/metrics']) expect((await call(kv.port, 'GET', path)).status).toBe(200);
  });
});

test('/health answers 200 when ok and 503 with the reason when not', async () => {
  const kv = await start();
  expect(await call(kv.port, 'GET', '/health')).toMatchObject({ status: 200, body: { ok: true, reason: 'serving' } });
  kv.setHealth({ ok: false, reason: 'no primary for 3 s', viewNumber: 4 });
  expect(await call(kv.port, 'GET', '/health')).toMatchObject({ status: 503, body: { ok: false, reason: 'no primary for 3 s', viewNumber: 4 } });
  expect((await call(kv.port, 'POST', '/health')).status).toBe(405);
  const metrics = await call(kv.port, 'GET', '/metrics');
  expect(String(metrics.body['text'])).toMatch(/vsr_http_requests_total\{method="GET",route="\/health",code="503"\} 1/);
});

describe('deadlines and caps', () => {
  test('a body dribbled slower than bodyTimeoutMs is cut off with 408 and not written', async () => {
    const kv = await start({ bodyTimeoutMs: 300 });
    const connection = raw(kv.port);
    const { socket, text } = connection;
    socket.write('PUT /kv/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n');
    const dribble = setInterval(() => socket.writable && socket.write('x'), 50);
    const elapsedMs = await closedWithin(connection, 3_000).finally(() => clearInterval(dribble));
    expect(text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(text()).toContain('"error":"timeout"');
    expect(elapsedMs).toBeLessThan(2_000);
    expect(kv.stored().has('slow')).toBe(false);
    expect(kv.refused).toEqual(['body-timeout']);
  });

  test('headers dribbled past headersTimeoutMs are cut off', async () => {
    const kv = await start({ headersTimeoutMs: 300 });
    const connection = raw(kv.port);
    const { socket, text } = connection;
    socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const dribble = setInterval(() => socket.writable && socket.write('X-A: b\r\n'), 50);
    const elapsedMs = await closedWithin(connection, 3_000).finally(() => clearInterval(dribble));
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
    expect(elapsedMs).toBeLessThan(2_000);
    expect(text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(text()).toContain('"error":"timeout"');
    expect(kv.refused).toEqual(['headers-timeout']);
  });

  test('a connection silent past idleTimeoutMs is closed', async () => {
    const kv = await start({ idleTimeoutMs: 300 });
    const connection = raw(kv.port);
    const elapsedMs = await closedWithin(connection, 3_000);
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
    expect(connection.text()).toBe('');
  });

  test('connections over connectionsPerSourceMax are closed at once', async () => {
    const kv = await start({ connectionsPerSourceMax: 2 });
    const held = [raw(kv.port), raw(kv.port)];
    for (const { socket, text } of held) {
      socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'); // keep-alive: the connection stays open
      for (let i = 0; i < 100 && !text().includes('"replicaId"'); i++) await sleep(10);
      expect(text()).toMatch(/^HTTP\/1\.1 200/);
    }
    const third = raw(kv.port);
    third.socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(await closedWithin(third, 1_000)).toBeLessThan(1_000);
    expect(third.text()).toBe('');
    expect(kv.refused).toEqual(['connections-per-source']);
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await sleep(20);
    expect((await call(kv.port, 'GET', '/status')).status).toBe(200);
    held[1]!.socket.destroy();
  });

  test('connections over connectionsMax are dropped', async () => {
    const kv = await start({ connectionsMax: 1 });
    const held = raw(kv.port);
    held.socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    for (let i = 0; i < 100 && !held.text().includes('"replicaId"'); i++) await sleep(10);
    const second = raw(kv.port);
    expect(await closedWithin(second, 1_000)).toBeLessThan(1_000);
    expect(kv.refused).toEqual(['connections']);
    held.socket.destroy();
  });

  test('a declared body over bodyBytesMax gets 413 before it is sent', async () => {
    const kv = await start({ bodyBytesMax: 100 });
    const { socket, text, closed } = raw(kv.port);
    socket.write('PUT /kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n');
    for (let i = 0; i < 50 && !text().includes('\r\n\r\n'); i++) await sleep(10);
    expect(text()).toMatch(/^HTTP\/1\.1 413 /);
    socket.destroy();
    await closed;
    expect(kv.refused).toEqual(['too-large']);
  });
});

describe('TLS', () => {
  const cert = readFileSync(new URL('./fixtures/tls-cert.pem', import.meta.url));
  const key = readFileSync(new URL('./fixtures/tls-key.pem', import.meta.url));

  test('with tls the API is served over HTTPS only', async () => {
    const kv = await start({ tls: { key, cert } });
    expect((await call(kv.port, 'PUT', '/kv/t', 'secure', {}, { ca: cert })).status).toBe(200);
    expect(await call(kv.port, 'GET', '/kv/t', undefined, {}, { ca: cert })).toMatchObject({ status: 200, body: { key: 't', value: 'secure' } });
    await expect(call(kv.port, 'GET', '/kv/t')).rejects.toThrow(); // plain HTTP on the TLS port
    await sleep(20);
    expect(kv.refused).toEqual(['tls']);
    await expect(call(kv.port, 'GET', '/kv/t', undefined, {}, { ca: Buffer.from('') })).rejects.toThrow(); // an untrusted certificate
  });
});
