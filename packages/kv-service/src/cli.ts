/**
 * vsr-kv: the replicated key-value service.
 *
 *   npm run kv -- cluster --replicas 3 --dir /tmp/x --port 7000
 *   npm run kv -- serve --id 0 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 \
 *                       --http 127.0.0.1:7100 --dir /tmp/x/replica-0 --secret S [--init]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError, integerFlag } from '@vsr/core/cli-flags';
import type { Address } from '@vsr/node';
import { serve, STORAGE_KINDS, type StorageKind } from './serve.js';
import { startCluster, superviseCluster } from './cluster.js';
import { readTlsDirectory } from './cluster-directory.js';

const USAGE = `vsr-kv: a replicated key-value service on Viewstamped Replication

usage:
  vsr-kv cluster --dir DIR [--replicas N] [--port P] [--restart] [--config JSON]
                 [--no-tls] [--no-token] [--storage file|lmdb]
      Starts N replicas (default 3) on 127.0.0.1 as child processes: replica i
      takes peers on port P+i and HTTP on P+100+i (default P: 7000). The first
      start forms a new cluster in DIR; later starts reuse it. --config and
      --storage are passed to every replica (see serve). The first start also makes the
      cluster's CA and certificates (DIR/tls) and a bearer token (DIR/token):
      replicas authenticate each other with mutual TLS, the HTTP API is HTTPS,
      and reads and writes need the token. --no-tls: the shared secret between
      replicas and plain HTTP; --no-token: no token.
      A replica that exits is reported with its cause. With --restart it is
      started again after a backoff: 100 ms, doubling to 10 s, back to 100 ms
      once it has run for 30 s; without, it stays down (the message gives the
      command to start it by hand).
      Ctrl-C (SIGINT) or SIGTERM stops all the replicas, each making its writes
      durable, then exits 0. If this process dies otherwise (even kill -9), the
      replicas stop by themselves: each is started --supervised.

  vsr-kv serve --id I --peers HOST:PORT,... --http HOST:PORT --dir DIR
               (--tls-dir D | --secret S | --secret-file F | env VSR_SECRET)
               [--token-file F | env VSR_TOKEN] [--allow-origin O,...] [--init]
               [--timeout-ms MS] [--sessions N] [--config JSON] [--supervised]
               [--storage file|lmdb]
      Runs replica I. --peers lists every replica's peer address in replica id
      order (this one's included). --init formats DIR if it holds no store: use
      it only when forming a new cluster; a replica that lost its data must
      start without it, so that it recovers from its peers. --timeout-ms bounds
      each HTTP request (default 5000; then 503). --config adds replica
      configuration, e.g. '{"timeouts":{"primaryTimeoutMs":300}}'; an unknown
      field is refused. --tls-dir D: mutual TLS with D/ca.pem and
      D/replica-I.pem, D/replica-I-key.pem (the HTTP API and the client port are
      TLS too); otherwise replicas prove they hold the secret, with a MAC on
      every frame. --token-file: HTTP key requests need "Authorization: Bearer
      TOKEN" and client connections present it. --allow-origin: web origins
      allowed to call the HTTP API (default none: a request with another
      Origin gets 403).
      --storage: the store in DIR, file (the journal, default) or lmdb (LMDB,
      one transaction a flush); a directory keeps the kind it was formed with.
      SIGINT or SIGTERM: makes its writes durable and exits 0. --supervised
      (set by cluster): also stops when stdin closes, i.e. when the supervisor
      holding the other end of that pipe exits; do not use it with stdin from a
      terminal (Ctrl-D would stop it).

  Started by npm run kv, a cluster or a serve also stops (as on SIGTERM) when
  that npm exits or is killed.

HTTP API (any replica; requests reach the primary):
  PUT /kv/KEY (body: the value)   GET /kv/KEY   DELETE /kv/KEY
  POST /kv/KEY/cas {"expected":..,"value":..} (Content-Type: application/json;
  "expected": null creates an absent key)   GET /health   GET /status   GET /metrics
`;

// Where it was first defined, for the users who import it from here.
export { UsageError };

export function parseAddress(text: string, flag: string): Address {
  const match = /^(.+):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (match === null || port > 65535) throw new UsageError(`${flag}: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: match[1]!, port };
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

/** The cluster secret: --secret-file, --secret or env VSR_SECRET. */
function readSecret(flag: string | undefined, file: string | undefined): string {
  const secret = file === undefined ? (flag ?? process.env['VSR_SECRET']) : readKeyFile(file, '--secret-file');
  if (secret === undefined || secret === '') {
    throw new UsageError('the cluster secret is required: --secret S, --secret-file F or env VSR_SECRET (or --tls-dir for mutual TLS)');
  }
  return secret;
}

function readKeyFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
}

function parseConfigFlag(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config: not valid JSON: ${(error as Error).message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new UsageError('--config: expected a JSON object');
  return config as Record<string, unknown>;
}

async function runServe(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      id: { type: 'string' },
      peers: { type: 'string' },
      http: { type: 'string' },
      dir: { type: 'string' },
      secret: { type: 'string' },
      'secret-file': { type: 'string' },
      'tls-dir': { type: 'string' },
      'token-file': { type: 'string' },
      'allow-origin': { type: 'string' },
      init: { type: 'boolean', default: false },
      'timeout-ms': { type: 'string' },
      sessions: { type: 'string' },
      config: { type: 'string' },
      storage: { type: 'string' },
      supervised: { type: 'boolean', default: false },
    },
  });
  // Started by `cluster` (or another supervisor) holding our stdin: its end is the supervisor's death.
  const supervisorGone = values.supervised ? watchSupervisor() : undefined;
  const peers = required(values.peers, '--peers')
    .split(',')
    .map((peer) => parseAddress(peer, '--peers'));
  const replicaId = integerFlag(values.id, '--id', { min: 0 });
  const tlsDirectory = values['tls-dir'];
  const secret = tlsDirectory === undefined ? readSecret(values.secret, values['secret-file']) : undefined;
  const token = values['token-file'] === undefined ? process.env['VSR_TOKEN'] : readKeyFile(values['token-file'], '--token-file');
  const config = parseConfigFlag(values.config);
  const service = await serve({
    replicaId,
    peers,
    http: parseAddress(required(values.http, '--http'), '--http'),
    directory: required(values.dir, '--dir'),
    ...(secret === undefined ? {} : { secret }),
    ...(tlsDirectory === undefined ? {} : { tls: readTlsDirectory(tlsDirectory, replicaId) }),
    ...(token === undefined || token === '' ? {} : { token }),
    ...(values['allow-origin'] === undefined ? {} : { allowedOrigins: values['allow-origin'].split(',').map((origin) => origin.trim()) }),
    init: values.init,
    requestTimeoutMs: integerFlag(values['timeout-ms'], '--timeout-ms', { min: 1, fallback: 5_000 }),
    sessionsMax: integerFlag(values.sessions, '--sessions', { min: 1, fallback: 256 }),
    ...(config === undefined ? {} : { config }),
    ...(values.storage === undefined ? {} : { storage: storageFlag(values.storage) }),
  });
  const status = service.replica.status();
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', replicaId: status.replicaId, http: `${service.http.host}:${service.http.port}`, peer: `${service.peer.host}:${service.peer.port}`, pid: process.pid })}\n`,
  );
  // The service's logger puts the replica's position (replicaId, viewNumber, status) on every line.
  service.logger.info({}, `replica ${status.replicaId} serving ${tlsDirectory === undefined ? 'http' : 'https'}://${service.http.host}:${service.http.port} (pid ${process.pid}${service.replica.boot.damage ? '; recovering' : ''})`);
  // SIGINT, SIGTERM or the supervisor's end: the writes made durable (service.close), then exit 0.
  // Repeated signals while stopping are ignored (a wrapper such as the tsx CLI may relay one more).
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    service.logger.info({ reason }, `replica ${status.replicaId}: ${reason}, stopping`);
    service.close().then(
      () => process.exit(0),
      (error: unknown) => {
        service.logger.error({}, `replica ${status.replicaId}: stopping failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  void supervisorGone?.().then(() => stop('supervisor gone (stdin closed)'));
}

/**
 * `--supervised`: the supervisor holds the other end of our stdin, a pipe it
 * never writes, so stdin's end is the supervisor's exit, whatever killed it.
 * Before this replica is ready that ends it at once; afterwards it is reported
 * through the returned function (call it once ready), to stop cleanly. Output
 * to a gone supervisor fails (EPIPE): ignored, so that the stop completes.
 */
function watchSupervisor(): () => Promise<void> {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  let gone: (() => void) | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    if (gone !== undefined) return gone();
    process.stderr.write('vsr-kv serve: supervisor gone (stdin closed) before this replica was ready\n');
    process.exit(1);
  };
  process.stdin.once('end', end);
  process.stdin.once('close', end);
  process.stdin.once('error', end);
  process.stdin.resume();
  return () => new Promise<void>((resolve) => (gone = resolve));
}

async function runCluster(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      replicas: { type: 'string' },
      dir: { type: 'string' },
      port: { type: 'string' },
      config: { type: 'string' },
      storage: { type: 'string' },
      restart: { type: 'boolean', default: false },
      'no-tls': { type: 'boolean', default: false },
      'no-token': { type: 'boolean', default: false },
    },
  });
  const replicaCount = integerFlag(values.replicas, '--replicas', { min: 1, fallback: 3 });
  const port = integerFlag(values.port, '--port', { min: 1, fallback: 7000 });
  if (port + 100 + replicaCount > 65535) throw new UsageError(`--port: ${port} leaves no room for HTTP ports up to ${port + 100 + replicaCount - 1}`);
  const directory = required(values.dir, '--dir');
  const replicas = await startCluster({
    replicaCount,
    directory,
    port,
    serveArgs: [
      ...(values.config === undefined ? [] : ['--config', values.config]),
      ...(values.storage === undefined ? [] : ['--storage', storageFlag(values.storage)]),
    ],
    tls: !values['no-tls'],
    token: !values['no-token'],
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const scheme = values['no-tls'] ? 'http' : 'https';
  out(`vsr-kv: ${replicaCount} replicas running, data in ${directory}`);
  for (const replica of replicas) out(`  replica ${replica.replicaId}  ${scheme}://${replica.http}  (peers on ${replica.peer}, pid ${replica.child.pid})`);
  const first = replicas[0]!.http;
  const second = replicas[replicas.length > 1 ? 1 : 0]!.http;
  const curl = ['curl', ...(values['no-tls'] ? [] : ['--cacert', join(directory, 'tls', 'ca.pem')]), ...(values['no-token'] ? [] : ['-H', `"Authorization: Bearer $(cat ${join(directory, 'token')})"`])].join(' ');
  out('try:');
  out(`  ${curl} -X PUT --data hello ${scheme}://${first}/kv/greeting`);
  out(`  ${curl} ${scheme}://${second}/kv/greeting`);
  out(`  ${curl} ${scheme}://${first}/health`);
  out(`Ctrl-C stops them all.${values.restart ? ' A replica that exits is restarted (--restart).' : ''}`);
  const supervisor = superviseCluster(replicas, { restart: values.restart, out });
  // SIGINT or SIGTERM: every replica stopped (SIGTERM: each makes its writes durable), then exit 0.
  // Repeated signals while stopping are ignored (a wrapper such as the tsx CLI may relay one more).
  // The replicas also stop by themselves if this process dies (see spawnReplica in cluster.ts).
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    out(`${signal}: stopping the replicas…`);
    void supervisor.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') return await runServe(rest);
    if (command === 'cluster') return await runCluster(rest);
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(USAGE);
      return;
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`vsr-kv: ${error instanceof Error ? error.message : String(error)}\n${usage ? '(vsr-kv --help shows the usage)\n' : ''}`);
    process.exit(usage ? 2 : 1);
  }
}

function storageFlag(value: string): StorageKind {
  const kind = STORAGE_KINDS.find((known) => known === value);
  if (kind === undefined) throw new UsageError(`--storage: expected ${STORAGE_KINDS.join(' or ')}, got ${JSON.stringify(value)}`);
  return kind;
}
