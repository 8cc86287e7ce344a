/**
 * `npm run bench:kv`: a closed-loop load generator for the `vsr-kv` HTTP API.
 *
 * By default it starts its own three-replica cluster in a fresh temporary
 * directory (peers on ports P..P+2, HTTP on P+100..P+102, P = --port, default
 * 7400), and stops it and deletes the directory when done (also on Ctrl-C).
 * With --urls it drives replicas that are already running instead.
 *
 * Each of --clients clients has one keep-alive connection and one request
 * outstanding at a time: `PUT /kv/{key}` with a --value-bytes value on a key
 * drawn uniformly from --keys keys. Every answer must be 200 {"ok":true};
 * anything else (another status, another body, a socket error, no answer
 * within --request-timeout-ms) is an error, counted and reported by kind.
 *
 * Measurement: after --warmup seconds (not counted), every request started
 * during the next --seconds seconds is measured, the last ones waited for.
 * Throughput = successful measured requests / (from the window's start to the
 * later of its end and the last measured answer). Latency is client-side, from
 * just before the request is written to its last body byte, with
 * process.hrtime.bigint(); percentiles are nearest-rank over every measured
 * success.
 *
 *   --target all      clients spread round-robin over every replica (most
 *                     requests are forwarded to the primary)
 *   --target primary  every client talks to the current primary (GET /status)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError, integerFlag } from '@vsr/core/cli-flags';
import { KEY_LENGTH_MAX, VALUE_LENGTH_MAX } from '@vsr/kv';
import type { ReplicaStatus } from '@vsr/node';
import { startCluster, stopCluster, type ReplicaProcess } from '../src/cluster.js';
import { KvHttpClient, clusterSecurity } from '../src/http-client.js';

const USAGE = `usage: npm run bench:kv -- [options]

  --clients N            concurrent closed-loop clients (default 16)
  --seconds S            measured seconds (default 10)
  --warmup S             warm-up seconds before measuring, not counted (default 1)
  --value-bytes B        bytes in each PUT value (default 100, at most ${VALUE_LENGTH_MAX})
  --keys K               distinct keys, drawn uniformly (default 1000)
  --target all|primary   all: clients round-robin over every replica (default);
                         primary: every client on the current primary
  --urls U1,U2,...       drive running replicas (http://HOST:PORT,...) instead of
                         starting a cluster
  --port P               port base of the cluster it starts (default 7400: peers
                         P..P+2, HTTP P+100..P+102)
  --security on|off      on: the cluster it starts has its defaults, mutual TLS
                         between replicas, HTTPS and a bearer token (default);
                         off: --no-tls --no-token (the shared secret, plain HTTP)
  --ca FILE              with --urls: the CA of https:// replicas
  --token-file FILE      with --urls: the bearer token to send
  --request-timeout-ms T client-side limit on one request (default 30000)
  --json                 print one JSON line instead of the summary
  --help                 this text

Exit status: 0, or 1 if any measured request failed (each failure is listed), 2 for bad flags.
`;

interface Options {
  readonly clients: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly valueBytes: number;
  readonly keys: number;
  readonly target: 'all' | 'primary';
  readonly urls: readonly Endpoint[] | null;
  readonly port: number;
  readonly requestTimeoutMs: number;
  readonly json: boolean;
  readonly security: 'on' | 'off';
  readonly caFile: string | null;
  readonly tokenFile: string | null;
}

/** How requests reach the replicas: set once by `run`, before any request. */
const wire: { https: boolean; ca: string | undefined; token: string | undefined } = { https: false, ca: undefined, token: undefined };

/** One connection's client: the cluster's CA and token from `wire`. */
function newClient(keepAlive: boolean): KvHttpClient {
  return new KvHttpClient({ ...(wire.ca === undefined ? {} : { ca: wire.ca }), ...(wire.token === undefined ? {} : { token: wire.token }) }, { keepAlive, socketsMax: 1 });
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
}

const endpointText = (endpoint: Endpoint) => `${wire.https ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}`;

function parseOptions(argv: string[]): Options | null {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      clients: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'value-bytes': { type: 'string' },
      keys: { type: 'string' },
      target: { type: 'string' },
      urls: { type: 'string' },
      port: { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      security: { type: 'string' },
      ca: { type: 'string' },
      'token-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (flags start with --)`);
  const seconds = (text: string | undefined, flag: string, min: number, fallback: number): number => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < min || value > 3600) {
      throw new UsageError(`${flag}: expected a number of seconds from ${min} to 3600, got ${JSON.stringify(text)}`);
    }
    return value;
  };
  const target = values.target ?? 'all';
  if (target !== 'all' && target !== 'primary') throw new UsageError(`--target: expected all or primary, got ${JSON.stringify(target)}`);
  if (values.urls !== undefined && values.port !== undefined) throw new UsageError('--port applies to the cluster this script starts; with --urls it starts none');
  const port = integerFlag(values.port, '--port', { min: 1, max: 65535 - 102, fallback: 7400 });
  const security = values.security ?? 'on';
  if (security !== 'on' && security !== 'off') throw new UsageError(`--security: expected on or off, got ${JSON.stringify(security)}`);
  if (values.urls === undefined && (values.ca !== undefined || values['token-file'] !== undefined)) throw new UsageError('--ca and --token-file go with --urls');
  return {
    security,
    caFile: values.ca ?? null,
    tokenFile: values['token-file'] ?? null,
    clients: integerFlag(values.clients, '--clients', { min: 1, max: 10_000, fallback: 16 }),
    seconds: seconds(values.seconds, '--seconds', 0.1, 10),
    warmup: seconds(values.warmup, '--warmup', 0, 1),
    valueBytes: integerFlag(values['value-bytes'], '--value-bytes', { min: 0, max: VALUE_LENGTH_MAX, fallback: 100 }),
    keys: integerFlag(values.keys, '--keys', { min: 1, max: 1_000_000_000, fallback: 1000 }),
    target,
    urls: values.urls === undefined ? null : parseUrls(values.urls),
    port,
    requestTimeoutMs: integerFlag(values['request-timeout-ms'], '--request-timeout-ms', { min: 1, max: 3_600_000, fallback: 30_000 }),
    json: values.json,
  };
}

function parseUrls(text: string): Endpoint[] {
  const urls = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (urls.length === 0) throw new UsageError('--urls: expected a comma-separated list like http://127.0.0.1:7100,http://127.0.0.1:7101');
  return urls.map((part) => {
    let url: URL;
    try {
      url = new URL(part.includes('://') ? part : `http://${part}`);
    } catch {
      throw new UsageError(`--urls: ${JSON.stringify(part)} is not a URL (expected http://HOST:PORT)`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
      throw new UsageError(`--urls: expected http(s)://HOST:PORT with an explicit port and no path, got ${JSON.stringify(part)}`);
    }
    if (url.protocol === 'https:') wire.https = true;
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
  });
}

// ---------------------------------------------------------------------------
// HTTP

interface Answer {
  readonly code: number;
  readonly body: string;
}

function send(client: KvHttpClient, endpoint: Endpoint, method: string, path: string, body: string | null, timeoutMs: number): Promise<Answer> {
  const headers: Record<string, string> = body === null ? {} : { 'content-type': 'text/plain; charset=utf-8' };
  return client
    .request(method, `${endpointText(endpoint)}${path}`, { ...(body === null ? {} : { body }), headers, timeoutMs })
    .then((answer) => ({ code: answer.status, body: answer.text }));
}

type Status = Omit<ReplicaStatus, 'pid'>;

async function getStatus(agent: KvHttpClient, endpoint: Endpoint): Promise<Status> {
  const answer = await send(agent, endpoint, 'GET', '/status', null, 5_000);
  if (answer.code !== 200) throw new Error(`GET ${endpointText(endpoint)}/status answered ${answer.code}: ${answer.body.trim()}`);
  const status = JSON.parse(answer.body) as Partial<Status>;
  for (const field of ['replicaId', 'viewNumber', 'primary', 'opNumber', 'commitNumber'] as const) {
    if (typeof status[field] !== 'number') throw new Error(`GET ${endpointText(endpoint)}/status: no numeric "${field}" in ${answer.body.trim()}`);
  }
  return status as Status;
}

/** Waits until every endpoint answers /status in the same view with status normal; returns their statuses. */
async function settledStatuses(agent: KvHttpClient, endpoints: readonly Endpoint[], waitMs = 15_000): Promise<Status[]> {
  const deadline = Date.now() + waitMs;
  let last = '';
  for (;;) {
    try {
      const statuses = await Promise.all(endpoints.map((endpoint) => getStatus(agent, endpoint)));
      const view = statuses[0]!.viewNumber;
      if (statuses.every((status) => status.status === 'normal' && status.viewNumber === view)) return statuses;
      last = statuses.map((status) => `replica ${status.replicaId}: view ${status.viewNumber} ${status.status}`).join('; ');
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`the replicas did not settle in one view within ${waitMs} ms (${last})`);
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// The load

type Phase = 'warmup' | 'measure' | 'stop';

interface Tally {
  /** Latencies of measured successes, in nanoseconds. */
  readonly latenciesNs: number[];
  /** Errors by kind, with one example message each and when the first and last answered (seconds into the window). */
  readonly errors: Map<string, ErrorEntry>;
  readonly warmupErrors: Map<string, ErrorEntry>;
  warmupRequests: number;
  /** Measured successes completed in each second of the window (stalls show as near-zero seconds). */
  readonly perSecond: number[];
  lastAnswerNs: bigint;
}

interface ErrorEntry {
  count: number;
  readonly example: string;
  readonly firstAtS: number;
  lastAtS: number;
}

function countError(errors: Map<string, ErrorEntry>, atS: number, kind: string, example: string): void {
  const entry = errors.get(kind);
  if (entry === undefined) errors.set(kind, { count: 1, example, firstAtS: atS, lastAtS: atS });
  else {
    entry.count++;
    entry.lastAtS = atS;
  }
}

function classify(answer: Answer): [string, string] | null {
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

interface Clock {
  phase: Phase;
  measureStartNs: bigint;
}

async function client(index: number, endpoint: Endpoint, options: Options, clock: Clock, tally: Tally): Promise<void> {
  const agent = newClient(true);
  const value = `c${index}-`.padEnd(options.valueBytes, 'x').slice(0, options.valueBytes);
  const width = String(options.keys - 1).length;
  try {
    while (clock.phase !== 'stop') {
      const measured = clock.phase === 'measure';
      const key = `bench-${String(Math.floor(Math.random() * options.keys)).padStart(width, '0')}`.slice(0, KEY_LENGTH_MAX);
      const started = process.hrtime.bigint();
      let failure: [string, string] | null;
      try {
        failure = classify(await send(agent, endpoint, 'PUT', `/kv/${key}`, value, options.requestTimeoutMs));
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        const message = error instanceof Error ? error.message : String(error);
        failure = [typeof code === 'string' ? code : /^no answer\b.*\bwithin\b/.test(message) ? 'client timeout' : 'socket error', message];
      }
      const finished = process.hrtime.bigint();
      const atS = Math.round(Number(finished - clock.measureStartNs) / 1e6) / 1000;
      if (!measured) {
        tally.warmupRequests++;
        if (failure !== null) countError(tally.warmupErrors, atS, ...failure);
      } else if (failure !== null) {
        countError(tally.errors, atS, `${failure[0]} (${endpointText(endpoint)})`, failure[1]);
      } else {
        tally.latenciesNs.push(Number(finished - started));
        const second = Math.max(0, Math.floor(Number(finished - clock.measureStartNs) / 1e9));
        tally.perSecond[second] = (tally.perSecond[second] ?? 0) + 1;
        if (finished > tally.lastAnswerNs) tally.lastAnswerNs = finished;
      }
      // A failing endpoint (refused connection) would otherwise spin this loop.
      if (failure !== null) await sleep(10);
    }
  } finally {
    agent.close();
  }
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

// ---------------------------------------------------------------------------
// Process CPU (Linux /proc), to show how the two cores were shared

function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state(0) ... utime(11) stime(12), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------

async function run(options: Options, log: (line: string) => void): Promise<void> {
  let replicas: ReplicaProcess[] = [];
  let starting: Promise<ReplicaProcess[]> | null = null;
  let directory: string | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      // Interrupted while the replicas start: wait for them (startCluster stops them itself if one fails).
      if (starting !== null) replicas = await starting.catch(() => []);
      if (replicas.length > 0) await stopCluster(replicas);
      if (directory !== null) rmSync(directory, { recursive: true, force: true });
    })());
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping${options.urls === null ? ' the cluster' : ''}…`);
    void cleanup().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    let endpoints: readonly Endpoint[];
    if (options.urls === null) {
      directory = mkdtempSync(join(tmpdir(), 'vsr-kv-bench-'));
      log(`starting 3 replicas in ${directory} (peers on ${options.port}-${options.port + 2}, HTTP on ${options.port + 100}-${options.port + 102})…`);
      // Replica output goes to stderr, so --json keeps stdout to one line.
      const secure = options.security === 'on';
      starting = startCluster({ replicaCount: 3, directory, port: options.port, out: (line) => log(line), tls: secure, token: secure });
      replicas = await starting;
      const security = clusterSecurity(directory);
      Object.assign(wire, { https: security.scheme === 'https', ca: security.ca, token: security.token });
      endpoints = replicas.map((replica) => {
        const [host, port] = [replica.http.slice(0, replica.http.lastIndexOf(':')), Number(replica.http.slice(replica.http.lastIndexOf(':') + 1))];
        return { host, port };
      });
    } else {
      endpoints = options.urls;
      if (options.caFile !== null) Object.assign(wire, { ca: readFileSync(options.caFile, 'utf8') });
      if (options.tokenFile !== null) Object.assign(wire, { token: readFileSync(options.tokenFile, 'utf8').trim() });
    }

    const control = newClient(false);
    const before = await settledStatuses(control, endpoints);
    const primaryId = before[0]!.primary;
    const primaryIndex = before.findIndex((status) => status.replicaId === primaryId);
    let targets: readonly Endpoint[];
    if (options.target === 'primary') {
      if (primaryIndex < 0) throw new Error(`the primary is replica ${primaryId}, which is not among --urls ${endpoints.map(endpointText).join(',')}`);
      targets = [endpoints[primaryIndex]!];
    } else {
      targets = endpoints;
    }
    log(`view ${before[0]!.viewNumber}, primary replica ${primaryId}; ${options.clients} clients on ${targets.map(endpointText).join(', ')}; ` +
      `${options.warmup} s warm-up, ${options.seconds} s measured`);

    const tally: Tally = { latenciesNs: [], errors: new Map(), warmupErrors: new Map(), warmupRequests: 0, perSecond: [], lastAnswerNs: 0n };
    const clock: Clock = { phase: options.warmup > 0 ? 'warmup' : 'measure', measureStartNs: process.hrtime.bigint() };
    const clients = Array.from({ length: options.clients }, (_, index) => client(index, targets[index % targets.length]!, options, clock, tally));

    if (options.warmup > 0) await sleep(options.warmup * 1000);
    clock.measureStartNs = process.hrtime.bigint();
    const cpuMeasure = { generator: process.cpuUsage(), replicas: replicas.map((replica) => cpuSeconds(replica.child.pid ?? -1)) };
    clock.phase = 'measure';
    await sleep(options.seconds * 1000);
    const windowEndNs = process.hrtime.bigint();
    clock.phase = 'stop';
    const cpuAfter = { generator: process.cpuUsage(cpuMeasure.generator), replicas: replicas.map((replica) => cpuSeconds(replica.child.pid ?? -1)) };
    await Promise.all(clients);

    const after = await Promise.all(endpoints.map((endpoint) => getStatus(control, endpoint).catch((error: unknown) => error as Error)));
    control.close();

    const endNs = tally.lastAnswerNs > windowEndNs ? tally.lastAnswerNs : windowEndNs;
    const elapsedSeconds = Number(endNs - clock.measureStartNs) / 1e9;
    const sorted = Float64Array.from(tally.latenciesNs).sort();
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const errorCount = [...tally.errors.values()].reduce((sum, entry) => sum + entry.count, 0);
    const warmupErrorCount = [...tally.warmupErrors.values()].reduce((sum, entry) => sum + entry.count, 0);
    const completed = sorted.length;
    const windowSeconds = Math.max(1, Math.ceil(options.seconds));
    const perSecond = Array.from({ length: windowSeconds }, (_, second) => tally.perSecond[second] ?? 0);
    const fullSeconds = perSecond.slice(0, Math.floor(options.seconds));
    const measuredCpu = cpuAfter.generator.user + cpuAfter.generator.system;
    const replicaCpu = replicas.map((_, i) => {
      const [start, end] = [cpuMeasure.replicas[i], cpuAfter.replicas[i]];
      return start == null || end == null ? null : Math.round(((end - start) / options.seconds) * 100);
    });
    const views = after.map((status) => (status instanceof Error ? null : status.viewNumber));
    const endView = views.find((view) => view !== null) ?? null;

    const result = {
      clients: options.clients,
      target: options.target,
      endpoints: targets.map(endpointText),
      seconds: options.seconds,
      warmupSeconds: options.warmup,
      valueBytes: options.valueBytes,
      keys: options.keys,
      completed,
      errors: errorCount,
      errorKinds: Object.fromEntries([...tally.errors].map(([kind, entry]) => [kind, entry])),
      warmupRequests: tally.warmupRequests,
      warmupErrors: warmupErrorCount,
      warmupErrorKinds: Object.fromEntries([...tally.warmupErrors].map(([kind, entry]) => [kind, entry])),
      elapsedSeconds: Math.round(elapsedSeconds * 1000) / 1000,
      throughput: Math.round(completed / elapsedSeconds),
      latencyMs: {
        p50: ms(percentile(sorted, 0.5)),
        p90: ms(percentile(sorted, 0.9)),
        p99: ms(percentile(sorted, 0.99)),
        max: ms(sorted.length === 0 ? NaN : sorted[sorted.length - 1]!),
        mean: ms(sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length)),
      },
      perSecond,
      view: { start: before[0]!.viewNumber, end: endView },
      primary: primaryId,
      opCommitted: { start: before[0]!.commitNumber, end: after.find((status): status is Status => !(status instanceof Error))?.commitNumber ?? null },
      cpuPercent: {
        generator: Math.round((measuredCpu / 1e6 / options.seconds) * 100),
        replicas: replicaCpu,
      },
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
      startedCluster: options.urls === null,
    };

    if (options.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      const out = (line: string) => process.stdout.write(`${line}\n`);
      const number = (n: number) => n.toLocaleString('en-US');
      out('');
      out(`vsr-kv load: PUT /kv/{key}, ${options.valueBytes}-byte values, ${number(options.keys)} keys, target ${options.target} (${targets.map(endpointText).join(', ')})`);
      out(`  clients              ${options.clients} (closed loop, one keep-alive connection each)`);
      out(`  seconds              ${options.seconds} measured (${result.elapsedSeconds} s to the last answer), after ${options.warmup} s warm-up`);
      out(`  completed requests   ${number(completed)}`);
      out(`  errors               ${number(errorCount)}${errorCount > 0 ? ' ← every one is listed below' : ''}`);
      const when = (entry: ErrorEntry) => (entry.count === 1 ? `at ${entry.firstAtS} s` : `${entry.firstAtS}–${entry.lastAtS} s`);
      for (const [kind, entry] of tally.errors) out(`      ${number(entry.count)} × ${kind}, answered ${when(entry)} into the window: ${entry.example}`);
      if (warmupErrorCount > 0) {
        out(`  warm-up errors       ${number(warmupErrorCount)} of ${number(tally.warmupRequests)} (not in the figures)`);
        for (const [kind, entry] of tally.warmupErrors) out(`      ${number(entry.count)} × ${kind}: ${entry.example}`);
      }
      out(`  throughput           ${number(result.throughput)} requests/s`);
      out(`  latency ms           p50 ${result.latencyMs.p50}   p90 ${result.latencyMs.p90}   p99 ${result.latencyMs.p99}   max ${result.latencyMs.max}   (mean ${result.latencyMs.mean})`);
      out(`  per second           ${fullSeconds.length > 0 ? `min ${number(Math.min(...fullSeconds))}, max ${number(Math.max(...fullSeconds))} (${perSecond.join(' ')})` : perSecond.join(' ')}`);
      out(`  view                 ${result.view.start} → ${endView ?? '?'}${endView !== null && endView !== result.view.start ? '  ← the view changed during the run' : ''}; committed op ${result.opCommitted.start} (before the warm-up) → ${result.opCommitted.end ?? '?'}`);
      out(`  CPU while measuring  load generator ${result.cpuPercent.generator}%${replicaCpu.length > 0 ? `, replicas ${replicaCpu.map((cpu, i) => `${i}: ${cpu ?? '?'}%`).join(', ')}` : ''} (100% = one core)`);
      out(`  machine              ${result.machine.cores} cores (${result.machine.cpu}), ${result.machine.memoryGiB} GiB, Node ${process.version}${options.urls === null ? '; the replicas and this generator share it' : ''}`);
    }
    if (errorCount > 0) process.exitCode = 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanup();
  }
}

async function main(argv: string[]): Promise<void> {
  let options: Options | null;
  try {
    options = parseOptions(argv);
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`bench:kv: ${error instanceof Error ? error.message : String(error)}\n${usage ? '(--help shows the options)\n' : ''}`);
    process.exit(2);
  }
  if (options === null) {
    process.stdout.write(USAGE);
    return;
  }
  try {
    await run(options, (line) => process.stderr.write(`${line}\n`));
  } catch (error) {
    process.stderr.write(`bench:kv: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

await main(process.argv.slice(2));
