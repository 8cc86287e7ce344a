/**
 * What TLS costs in Node on this machine, apart from any replica: the CPU of one exchange of a
 * 200-byte message and its echo over loopback TCP against TLS (both ends in this process), and
 * of one keep-alive `PUT` of 100 bytes answered with `{"ok":true}` over HTTP against HTTPS
 * (Node's own `http`/`https` server in a child process so each side's CPU is its own; the client
 * is Node's `http.request`, then undici, which the key-value client and load generators use).
 * Certificates come from `createClusterCertificates`, as `vsr-kv cluster` makes them.
 * Alternates the plain and the TLS run for `--rounds` rounds and prints each.
 *
 *   npx tsx packages/node/bench/tls-cost.ts [--rounds 3] [--exchanges 20000] [--clients 8] [--json]
 */
import { fork } from 'node:child_process';
import { Agent as HttpAgent, createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { createClusterCertificates } from '../src/pki.js';

type Secure = { readonly key: string; readonly cert: string; readonly ca: string };

function answer(request: IncomingMessage, response: ServerResponse): void {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"ok":true}');
  });
}

/** The child: an HTTP(S) server that reports its port, then its CPU between 'start' and 'stop'. */
function serve(secure: Secure | null): void {
  const server = secure === null ? createHttpServer(answer) : createHttpsServer({ key: secure.key, cert: secure.cert }, answer);
  let started = process.cpuUsage();
  process.on('message', (message) => {
    if (message === 'start') started = process.cpuUsage();
    else {
      const used = process.cpuUsage(started);
      process.send?.(used.user + used.system, () => process.exit(0));
    }
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
}

/** µs of CPU (both ends) per echoed message. */
async function echo(secure: Secure | null, exchanges: number): Promise<number> {
  const onSocket = (socket: Socket) => socket.on('data', (data) => socket.write(data));
  const server = secure === null ? createTcpServer({ noDelay: true }, onSocket) : createTlsServer({ key: secure.key, cert: secure.cert, noDelay: true }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const socket = secure === null ? tcpConnect(port, '127.0.0.1') : tlsConnect({ port, host: '127.0.0.1', ca: secure.ca, servername: 'localhost' });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once(secure === null ? 'connect' : 'secureConnect', resolve).once('error', reject));
  const message = Buffer.alloc(200, 0x61);
  const started = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let received = 0;
    socket.on('data', () => (++received === exchanges ? resolve() : socket.write(message)));
    socket.write(message);
  });
  const used = process.cpuUsage(started);
  socket.destroy();
  server.close();
  return (used.user + used.system) / exchanges;
}

type PutClient = 'node' | 'undici';

/** One keep-alive PUT at a time per connection through Node's `http.request`, `clients` connections. */
function nodePut(secure: Secure | null, port: number, clients: number): { put: () => Promise<void>; close: () => void } {
  const agent = secure === null ? new HttpAgent({ keepAlive: true, maxSockets: clients }) : new HttpsAgent({ keepAlive: true, maxSockets: clients, ca: secure.ca });
  const request = secure === null ? httpRequest : httpsRequest;
  const options = { host: '127.0.0.1', port, method: 'PUT', path: '/kv/key', agent, headers: { 'content-type': 'text/plain' }, ...(secure === null ? {} : { servername: 'localhost' }) };
  const body = 'v'.repeat(100);
  const put = () =>
    new Promise<void>((resolve, reject) => {
      const sent = request(options, (response) => response.resume().on('end', resolve));
      sent.on('error', reject);
      sent.end(body);
    });
  return { put, close: () => agent.destroy() };
}

/** The same through an undici `Pool` of `clients` connections. */
function undiciPut(secure: Secure | null, port: number, clients: number): { put: () => Promise<void>; close: () => void } {
  const pool = new Pool(`${secure === null ? 'http' : 'https'}://127.0.0.1:${port}`, { connections: clients, pipelining: 1, ...(secure === null ? {} : { connect: { ca: secure.ca, servername: 'localhost' } }) });
  const body = 'v'.repeat(100);
  const put = async () => {
    const answer = await pool.request({ path: '/kv/key', method: 'PUT', body, headers: { 'content-type': 'text/plain' } });
    await answer.body.text();
  };
  return { put, close: () => void pool.destroy() };
}

/** µs of CPU per PUT: the client's (this process) and the server's (a child). */
async function exchange(secure: Secure | null, exchanges: number, clients: number, kind: PutClient): Promise<{ client: number; server: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', secure === null ? 'http' : 'https'], { execArgv: process.execArgv, env: { ...process.env, TLS_COST_SECURE: secure === null ? '' : JSON.stringify(secure) } });
  const port = await new Promise<number>((resolve) => child.once('message', (message) => resolve(Number(message))));
  const { put, close } = kind === 'node' ? nodePut(secure, port, clients) : undiciPut(secure, port, clients);
  const loop = async (count: number) => {
    for (let i = 0; i < count; i++) await put();
  };
  await Promise.all(Array.from({ length: clients }, () => loop(50))); // Connections open, code warm.
  child.send('start');
  const started = process.cpuUsage();
  await Promise.all(Array.from({ length: clients }, () => loop(Math.ceil(exchanges / clients))));
  const used = process.cpuUsage(started);
  child.send('stop');
  const serverMicros = await new Promise<number>((resolve) => child.once('message', (message) => resolve(Number(message))));
  close();
  const count = Math.ceil(exchanges / clients) * clients;
  return { client: (used.user + used.system) / count, server: serverMicros / count };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, exchanges: { type: 'string' }, clients: { type: 'string' }, json: { type: 'boolean' }, serve: { type: 'string' } } });
  if (values.serve !== undefined) {
    const secure = process.env['TLS_COST_SECURE'] ?? '';
    serve(secure === '' ? null : (JSON.parse(secure) as Secure));
    return;
  }
  const rounds = Number(values.rounds ?? 3);
  const exchanges = Number(values.exchanges ?? 20_000);
  const clients = Number(values.clients ?? 8);
  if (![rounds, exchanges, clients].every((n) => Number.isSafeInteger(n) && n > 0)) throw new Error('usage: --rounds N --exchanges N --clients N (positive integers)');
  const issued = createClusterCertificates({ replicaCount: 1 });
  const replica = issued.replicas[0];
  if (replica === undefined) throw new Error('createClusterCertificates gave no certificate');
  const secure: Secure = { key: replica.key, cert: replica.cert, ca: issued.ca.cert };
  const results = [];
  for (let round = 1; round <= rounds; round++) {
    const result = {
      round,
      echoTcpMicros: await echo(null, exchanges),
      echoTlsMicros: await echo(secure, exchanges),
      http: await exchange(null, exchanges, clients, 'node'),
      https: await exchange(secure, exchanges, clients, 'node'),
      undiciHttp: await exchange(null, exchanges, clients, 'undici'),
      undiciHttps: await exchange(secure, exchanges, clients, 'undici'),
    };
    results.push(result);
    if (values.json !== true) {
      const f = (n: number) => n.toFixed(1);
      console.log(
        `round ${round}: echo of 200 B, CPU µs: tcp ${f(result.echoTcpMicros)}, tls ${f(result.echoTlsMicros)} | ` +
          `PUT over ${clients} keep-alive connections, CPU µs client/server: ` +
          `http.request http ${f(result.http.client)}/${f(result.http.server)}, https ${f(result.https.client)}/${f(result.https.server)}; ` +
          `undici http ${f(result.undiciHttp.client)}/${f(result.undiciHttp.server)}, https ${f(result.undiciHttps.client)}/${f(result.undiciHttps.server)}`,
      );
    }
  }
  if (values.json === true) console.log(JSON.stringify({ exchanges, clients, results }));
}

await main();
