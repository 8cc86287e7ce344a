/**
 * `npm run bench:kv`: a closed-loop load generator for the `vsr-kv` HTTP API.
 *
 * By default it starts its own three-replica cluster in a fresh temporary
 * directory (peers on ports P..P+2, HTTP on P+100..P+102, P = --port, default
 * 7400), and stops it and deletes the directory when done (also on Ctrl-C).
 * With --urls it drives replicas that are already running instead.
 *
 * The closed loop, its percentiles and the CPU figures are generator.ts's,
 * shared with `npm run bench:etcd`; the requests are kv-wire.ts's.
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
import { VALUE_LENGTH_MAX } from '@vsr/kv';
import { startCluster, stopCluster, type ReplicaProcess } from '../src/cluster.js';
import { clusterSecurity } from '../src/http-client.js';
import { roundRobin, runLoad, summarize, type ErrorEntry, type LoadRun, type LoadSummary } from './generator.js';
import { nativeConnection, nativeLink } from './kv-native.js';
import { endpointOf, endpointText as wireEndpointText, getStatus, kvGetConnection, kvPutConnection, newKvClient, settledStatuses, type Endpoint, type KvWire, type Status } from './kv-wire.js';

const USAGE = `usage: npm run bench:kv -- [options]

  --clients N            concurrent closed-loop clients (default 16)
  --seconds S            measured seconds (default 10)
  --warmup S             warm-up seconds before measuring, not counted (default 1)
  --op put|get           put: PUT /kv/{key}, a write through the log (default);
                         get: GET /kv/{key}, a linearizable read without the log
                         (a 404 for a key never written is an answer too)
  --protocol http|vsr    http: the HTTP API (default); vsr: the project's own client
                         protocol, each client a VsrClient on one shared ClusterLink
                         (TCP to the peer ports; needs the cluster this script starts)
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
  readonly op: 'put' | 'get';
  readonly protocol: 'http' | 'vsr';
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

/** How requests reach the replicas: set once by `run` (or by `parseUrls`), before any request. */
const wire: KvWire = { https: false, ca: undefined, token: undefined };

const endpointText = (endpoint: Endpoint) => wireEndpointText(wire, endpoint);

function parseOptions(argv: string[]): Options | null {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      clients: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      op: { type: 'string' },
      protocol: { type: 'string' },
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
  const op = values.op ?? 'put';
  if (op !== 'put' && op !== 'get') throw new UsageError(`--op: expected put or get, got ${JSON.stringify(op)}`);
  const protocol = values.protocol ?? 'http';
  if (protocol !== 'http' && protocol !== 'vsr') throw new UsageError(`--protocol: expected http or vsr, got ${JSON.stringify(protocol)}`);
  if (protocol === 'vsr' && values.urls !== undefined) throw new UsageError('--protocol vsr needs the peer ports of the cluster this script starts: not with --urls');
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
    op,
    protocol,
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

/** What `run` started, for its cleanup. */
interface Started {
  /** The replicas while they start (startCluster stops them itself if one fails). */
  starting: Promise<ReplicaProcess[]> | null;
  replicas: ReplicaProcess[];
  directory: string | null;
}

/** Starts the cluster (or reads --urls' credentials) and returns the endpoints; what it starts goes in `started`. */
async function endpointsOf(options: Options, started: Started, log: (line: string) => void): Promise<readonly Endpoint[]> {
  if (options.urls !== null) {
    if (options.caFile !== null) Object.assign(wire, { ca: readFileSync(options.caFile, 'utf8') });
    if (options.tokenFile !== null) Object.assign(wire, { token: readFileSync(options.tokenFile, 'utf8').trim() });
    return options.urls;
  }
  const directory = mkdtempSync(join(tmpdir(), 'vsr-kv-bench-'));
  started.directory = directory;
  log(`starting 3 replicas in ${directory} (peers on ${options.port}-${options.port + 2}, HTTP on ${options.port + 100}-${options.port + 102})…`);
  // Replica output goes to stderr, so --json keeps stdout to one line.
  const secure = options.security === 'on';
  started.starting = startCluster({ replicaCount: 3, directory, port: options.port, out: (line) => log(line), tls: secure, token: secure });
  started.replicas = await started.starting;
  const security = clusterSecurity(directory);
  Object.assign(wire, { https: security.scheme === 'https', ca: security.ca, token: security.token });
  return started.replicas.map((replica) => endpointOf(replica.http));
}

async function run(options: Options, log: (line: string) => void): Promise<void> {
  const started: Started = { starting: null, replicas: [], directory: null };
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      // Interrupted while the replicas start: wait for them.
      if (started.starting !== null) started.replicas = await started.starting.catch(() => []);
      if (started.replicas.length > 0) await stopCluster(started.replicas);
      if (started.directory !== null) rmSync(started.directory, { recursive: true, force: true });
    })());
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping${options.urls === null ? ' the cluster' : ''}…`);
    void cleanup().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  // \`on\`, not \`once\`: a second signal (tsx's parent relays the terminal's Ctrl-C again when this process is slow to
  // acknowledge it) must find a listener, or tsx's own handler exits before the cleanup is done.
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);

  try {
    const endpoints = await endpointsOf(options, started, log);
    const errorCount = await measure(options, endpoints, started.replicas, log);
    if (errorCount > 0) process.exitCode = 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanup();
  }
}

/** Settles, runs the load and prints the figures; returns the number of measured errors. */
async function measure(options: Options, endpoints: readonly Endpoint[], replicas: readonly ReplicaProcess[], log: (line: string) => void): Promise<number> {
  const control = newKvClient(wire, false);
  const before = await settledStatuses(wire, control, endpoints);
  const primaryId = before[0].primary;
  const primaryIndex = before.findIndex((status) => status.replicaId === primaryId);
  let targets: readonly Endpoint[] = endpoints;
  if (options.target === 'primary') {
    const primary = endpoints[primaryIndex];
    if (primary === undefined) throw new Error(`the primary is replica ${primaryId}, which is not among --urls ${endpoints.map(endpointText).join(',')}`);
    targets = [primary];
  }
  log(`view ${before[0].viewNumber}, primary replica ${primaryId}; ${options.clients} clients on ${targets.map(endpointText).join(', ')}; ` +
    `${options.warmup} s warm-up, ${options.seconds} s measured`);

  const pids = replicas.map((replica) => replica.child.pid ?? -1);
  const rss = sampleRss(pids);
  const link = options.protocol === 'vsr' ? nativeLink({ peers: replicas.map((replica) => replica.peer), ca: wire.ca, token: wire.token }) : null;
  const loadRun = await runLoad({
    clients: options.clients,
    seconds: options.seconds,
    warmup: options.warmup,
    valueBytes: options.valueBytes,
    keys: options.keys,
    connect: (index) =>
      link !== null
        ? nativeConnection(link, options.target === 'primary' ? primaryId : index % endpoints.length, options.op, options.requestTimeoutMs)
        : (options.op === 'get' ? kvGetConnection : kvPutConnection)(wire, roundRobin(targets, index), options.requestTimeoutMs),
    pids,
  });
  const rssMaxMiB = rss.stop();

  link?.close();
  const after = await Promise.all(endpoints.map((endpoint) => getStatus(wire, control, endpoint).catch((error: unknown) => error as Error)));
  control.close();
  const result = { ...resultOf(options, targets, before, after, loadRun), rssMaxMiB };
  if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else printSummary(options, targets, result, loadRun);
  return result.errors;
}

function resultOf(options: Options, targets: readonly Endpoint[], before: readonly [Status, ...Status[]], after: readonly (Status | Error)[], loadRun: LoadRun) {
  const summary: LoadSummary = summarize(loadRun, options.seconds);
  const { tally } = loadRun;
  const replicaCpu = loadRun.serverCpuSeconds.map((seconds) => (seconds === null ? null : Math.round((seconds / options.seconds) * 100)));
  const views = after.map((status) => (status instanceof Error ? null : status.viewNumber));
  const endView = views.find((view) => view !== null) ?? null;
  return {
    clients: options.clients,
    target: options.target,
    endpoints: targets.map(endpointText),
    op: options.op,
    protocol: options.protocol,
    seconds: options.seconds,
    warmupSeconds: options.warmup,
    valueBytes: options.valueBytes,
    keys: options.keys,
    completed: summary.completed,
    errors: summary.errors,
    errorKinds: Object.fromEntries([...tally.errors].map(([kind, entry]) => [kind, entry])),
    warmupRequests: tally.warmupRequests,
    warmupErrors: summary.warmupErrors,
    warmupErrorKinds: Object.fromEntries([...tally.warmupErrors].map(([kind, entry]) => [kind, entry])),
    elapsedSeconds: summary.elapsedSeconds,
    throughput: summary.throughput,
    latencyMs: summary.latencyMs,
    perSecond: summary.perSecond,
    view: { start: before[0].viewNumber, end: endView },
    primary: before[0].primary,
    opCommitted: { start: before[0].commitNumber, end: after.find((status): status is Status => !(status instanceof Error))?.commitNumber ?? null },
    cpuPercent: {
      generator: Math.round((loadRun.generatorCpuMicros / 1e6 / options.seconds) * 100),
      replicas: replicaCpu,
    },
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
    startedCluster: options.urls === null,
  };
}

function printSummary(options: Options, targets: readonly Endpoint[], result: ReturnType<typeof resultOf> & { rssMaxMiB: Array<number | null> }, loadRun: LoadRun): void {
  const { tally } = loadRun;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const number = (n: number) => n.toLocaleString('en-US');
  const { errors: errorCount, warmupErrors: warmupErrorCount, perSecond } = result;
  const fullSeconds = perSecond.slice(0, Math.floor(options.seconds));
  const endView = result.view.end;
  out('');
  const what = options.protocol === 'vsr'
    ? `VsrClient over TCP, ${options.op === 'get' ? 'reads without the log' : `writes of ${options.valueBytes}-byte values`}`
    : options.op === 'get' ? 'GET /kv/{key} (reads without the log)' : `PUT /kv/{key}, ${options.valueBytes}-byte values`;
  out(`vsr-kv load: ${what}, ${number(options.keys)} keys, target ${options.target} (${targets.map(endpointText).join(', ')})`);
  out(`  clients              ${options.clients} (closed loop, one keep-alive connection each)`);
  out(`  seconds              ${options.seconds} measured (${result.elapsedSeconds} s to the last answer), after ${options.warmup} s warm-up`);
  out(`  completed requests   ${number(result.completed)}`);
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
  const replicaCpu = result.cpuPercent.replicas;
  out(`  CPU while measuring  load generator ${result.cpuPercent.generator}%${replicaCpu.length > 0 ? `, replicas ${replicaCpu.map((cpu, i) => `${i}: ${cpu ?? '?'}%`).join(', ')}` : ''} (100% = one core)`);
  if (result.rssMaxMiB.some((mib) => mib !== null)) out(`  largest RSS          ${result.rssMaxMiB.map((mib, i) => `${i}: ${mib ?? '?'} MiB`).join(', ')} (sampled every second)`);
  out(`  machine              ${result.machine.cores} cores (${result.machine.cpu}), ${result.machine.memoryGiB} GiB, Node ${process.version}${options.urls === null ? '; the replicas and this generator share it' : ''}`);
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

/**
 * Each replica's largest resident set over the run, sampled from /proc every second (MiB;
 * null where /proc could not be read, as for --urls).
 */
function sampleRss(pids: readonly number[]): { stop: () => Array<number | null> } {
  const maxKiB: Array<number | null> = pids.map(() => null);
  const sample = () =>
    pids.forEach((pid, index) => {
      const kib = rssKiB(pid);
      if (kib !== null) maxKiB[index] = Math.max(maxKiB[index] ?? 0, kib);
    });
  sample();
  const timer = setInterval(sample, 1_000);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return maxKiB.map((kib) => (kib === null ? null : Math.round(kib / 1024)));
    },
  };
}

function rssKiB(pid: number): number | null {
  if (pid <= 0) return null;
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}
