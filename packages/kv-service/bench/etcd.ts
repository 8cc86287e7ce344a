/**
 * `npm run bench:etcd`: `vsr-kv` against etcd on this machine, side by side
 * in one run (the flags: etcd-compare.ts's USAGE, or --help).
 *
 * For each round and client count it measures both systems one right after
 * the other (etcd first in odd rounds, vsr-kv first in even ones), each on a
 * fresh three-member cluster on 127.0.0.1 in a fresh temporary directory,
 * started for that measurement and stopped (the directory deleted) right
 * after: never both at once. The load is bench:kv's closed-loop generator
 * (generator.ts) with the clients round-robin over the three members:
 *
 * - etcd: `POST <gateway>/kv/put` with {"key": base64, "value": base64} on
 *   its HTTP/JSON gateway (/v3 for etcd 3.4); a success is HTTP 200 with a
 *   JSON body holding a `header`;
 * - vsr-kv: `PUT /kv/{key}` exactly as bench:kv sends it; a success is 200
 *   {"ok":true}.
 *
 * Server CPU per write: the three server processes' CPU time over the
 * measured window (from /proc/PID/stat) divided by the successful writes.
 * Every process and directory is cleaned up on exit, on an error and on
 * SIGINT/SIGTERM.
 */
import { Etcd3 } from 'etcd3';
import { nativeConnection, nativeLink } from './kv-native.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@vsr/core/cli-flags';
import { startCluster, stopCluster, type ReplicaProcess } from '../src/cluster.js';
import { KvHttpClient, clusterSecurity } from '../src/http-client.js';
import {
  USAGE,
  classifyEtcdPut,
  comparisons,
  cpuPerWriteMicros,
  etcdPutBody,
  gatewayPrefix,
  measurementTable,
  parseEtcdBenchOptions,
  parseEtcdVersion,
  ratioTable,
  type ClientRatios,
  type EtcdBenchOptions,
  type Measurement,
  type System,
} from './etcd-compare.js';
import { ensureEtcd, launchEtcdCluster, stopEtcdCluster, waitHealthy, type EtcdCluster, type EtcdMember } from './etcd-cluster.js';
import { roundRobin, runLoad, summarize, type ErrorEntry, type LoadConnection, type LoadRun } from './generator.js';
import { endpointOf, kvPutConnection, newKvClient, send, settledStatuses, type KvWire } from './kv-wire.js';

/** A measurement with what the JSON line adds to the table's figures. */
interface Detailed extends Measurement {
  readonly elapsedSeconds: number;
  readonly perSecond: readonly number[];
  readonly errorKinds: Record<string, ErrorEntry>;
  readonly warmupRequests: number;
  readonly warmupErrors: number;
  /** Each server process's CPU over the window, 100 = one core. */
  readonly serverCpuPercent: readonly (number | null)[];
  readonly generatorCpuPercent: number;
}

interface Context {
  readonly options: EtcdBenchOptions;
  /** The gateway's path prefix, e.g. /v3. */
  readonly gateway: string;
  readonly log: (line: string) => void;
}

/** What is running now (one cluster at most): stopped and deleted on an error or a signal. */
const cleanups = new Set<() => Promise<void>>();

/** Set by SIGINT/SIGTERM: the handler exits once the cleanups are done, and nothing new may start meanwhile. */
const signalled = { value: false };

/** Resolves, unless a signal came: then never (the signal's handler is about to exit). */
async function unlessSignalled(): Promise<void> {
  if (signalled.value) await new Promise<never>(() => {});
}

async function withCleanup<T>(cleanup: () => Promise<void>, body: () => Promise<T>): Promise<T> {
  let once: Promise<void> | null = null;
  const run = () => (once ??= cleanup());
  cleanups.add(run);
  try {
    return await body();
  } finally {
    await run();
    cleanups.delete(run);
  }
}

/** etcd's own client (gRPC through the `etcd3` library) to one member, with a deadline on every call. */
function etcdGrpcClient(member: EtcdMember, ca: string | undefined, timeoutMs: number): Etcd3 {
  return new Etcd3({
    hosts: member.clientUrl,
    ...(ca === undefined ? {} : { credentials: { rootCertificate: Buffer.from(ca) } }),
    defaultCallOptions: () => ({ deadline: new Date(Date.now() + timeoutMs) }),
  });
}

/** A closed-loop client's writes over a member's shared gRPC client: a put that resolves is a success. */
function etcdGrpcConnection(member: EtcdMember, client: Etcd3): LoadConnection {
  return {
    label: `grpc ${member.clientUrl}`,
    call: (key, value) => client.put(key).value(value).then(() => null),
    close: () => {}, // shared: closed with the cluster's measurement
  };
}

function etcdPutConnection(member: EtcdMember, context: Context, ca: string | undefined): LoadConnection {
  const client = new KvHttpClient(ca === undefined ? {} : { ca }, { keepAlive: true, socketsMax: 1 });
  const url = `${member.clientUrl}${context.gateway}/kv/put`;
  const timeoutMs = context.options.requestTimeoutMs;
  return {
    label: member.clientUrl,
    call: (key, value) => send(client, url, 'POST', etcdPutBody(key, value), timeoutMs, 'application/json').then(classifyEtcdPut),
    close: () => client.close(),
  };
}

function loadPlan(context: Context, clients: number, connect: (index: number) => LoadConnection, pids: readonly number[]) {
  const { seconds, warmup, valueBytes, keys } = context.options;
  return { clients, seconds, warmup, valueBytes, keys, connect, pids };
}

async function measureEtcd(context: Context, clients: number, round: number): Promise<Detailed> {
  const { options, log } = context;
  await unlessSignalled();
  const directory = mkdtempSync(join(tmpdir(), 'vsr-etcd-bench-'));
  const held: { cluster: EtcdCluster | null } = { cluster: null };
  const cleanup = async () => {
    if (held.cluster !== null) await stopEtcdCluster(held.cluster);
    rmSync(directory, { recursive: true, force: true });
  };
  return withCleanup(cleanup, async () => {
    log(`round ${round}, ${clients} clients, etcd: 3 members in ${directory} (clients on ${options.port}-${options.port + 2}, peers on ${options.port + 10}-${options.port + 12})…`);
    const cluster = launchEtcdCluster({ binary: 'etcd', directory, port: options.port, tls: options.security === 'on', log });
    held.cluster = cluster;
    await waitHealthy(cluster, options.startTimeoutMs);
    // With --protocol vsr, etcd's own client protocol too: gRPC, one shared client per member (as a ClusterLink is shared).
    const grpc = options.protocol === 'vsr' ? cluster.members.map((member) => etcdGrpcClient(member, cluster.ca, options.requestTimeoutMs)) : null;
    const connect = (index: number) => {
      const member = roundRobin(cluster.members, index);
      const shared = grpc?.[index % cluster.members.length];
      return shared === undefined ? etcdPutConnection(member, context, cluster.ca) : etcdGrpcConnection(member, shared);
    };
    try {
      const run = await runLoad(loadPlan(context, clients, connect, cluster.members.map((member) => member.child.pid ?? -1)));
      return measurementOf('etcd', clients, round, run, context);
    } finally {
      for (const client of grpc ?? []) client.close();
    }
  });
}

async function measureVsrKv(context: Context, clients: number, round: number): Promise<Detailed> {
  const { options, log } = context;
  await unlessSignalled();
  const directory = mkdtempSync(join(tmpdir(), 'vsr-kv-bench-'));
  const held: { starting: Promise<ReplicaProcess[]> | null } = { starting: null };
  const cleanup = async () => {
    // Interrupted while the replicas start: wait for them (startCluster stops them itself if one fails).
    const replicas = held.starting === null ? [] : await held.starting.catch(() => []);
    if (replicas.length > 0) await stopCluster(replicas);
    rmSync(directory, { recursive: true, force: true });
  };
  return withCleanup(cleanup, async () => {
    const port = options.port + 20;
    log(`round ${round}, ${clients} clients, vsr-kv: 3 replicas in ${directory} (peers on ${port}-${port + 2}, HTTP on ${port + 100}-${port + 102})…`);
    const secure = options.security === 'on';
    held.starting = startCluster({ replicaCount: 3, directory, port, out: log, tls: secure, token: secure });
    const replicas = await held.starting;
    const security = clusterSecurity(directory);
    const wire: KvWire = { https: security.scheme === 'https', ca: security.ca, token: security.token };
    const endpoints = replicas.map((replica) => endpointOf(replica.http));
    const control = newKvClient(wire, false);
    try {
      await settledStatuses(wire, control, endpoints);
    } finally {
      control.close();
    }
    const link = options.protocol === 'vsr' ? nativeLink({ peers: replicas.map((replica) => replica.peer), ca: wire.ca, token: wire.token }) : null;
    const connect = (index: number) =>
      link === null ? kvPutConnection(wire, roundRobin(endpoints, index), options.requestTimeoutMs) : nativeConnection(link, index % replicas.length, 'put', options.requestTimeoutMs);
    try {
      const run = await runLoad(loadPlan(context, clients, connect, replicas.map((replica) => replica.child.pid ?? -1)));
      return measurementOf('vsr-kv', clients, round, run, context);
    } finally {
      link?.close();
    }
  });
}

function measurementOf(system: System, clients: number, round: number, run: LoadRun, context: Context): Detailed {
  const { seconds } = context.options;
  const summary = summarize(run, seconds);
  const measurement: Detailed = {
    system,
    clients,
    round,
    completed: summary.completed,
    errors: summary.errors,
    throughput: summary.throughput,
    latencyMs: summary.latencyMs,
    serverCpuPerWriteMicros: cpuPerWriteMicros(run.serverCpuSeconds, summary.completed),
    elapsedSeconds: summary.elapsedSeconds,
    perSecond: summary.perSecond,
    errorKinds: Object.fromEntries(run.tally.errors),
    warmupRequests: run.tally.warmupRequests,
    warmupErrors: summary.warmupErrors,
    serverCpuPercent: run.serverCpuSeconds.map((cpu) => (cpu === null ? null : Math.round((cpu / seconds) * 100))),
    generatorCpuPercent: Math.round((run.generatorCpuMicros / 1e6 / seconds) * 100),
  };
  context.log(
    `  ${system}, ${clients} clients, round ${round}: ${summary.throughput.toLocaleString('en-US')} requests/s, p50 ${summary.latencyMs.p50} ms, ` +
      `p99 ${summary.latencyMs.p99} ms, server CPU ${measurement.serverCpuPercent.map((cpu) => `${cpu ?? '?'}%`).join(' ')} ` +
      `(${measurement.serverCpuPerWriteMicros ?? '?'} µs per write), ${summary.errors} errors`,
  );
  return measurement;
}

const SECURITY_TEXT = {
  off: 'off: plain HTTP and no authentication for both (etcd: http:// client and peer URLs; vsr-kv: --no-tls --no-token, its replicas still authenticate each other with the shared secret)',
  on: 'on: etcd with TLS on client and peer URLs, members authenticating each other by certificate, clients not authenticated; vsr-kv with its defaults (mutual TLS between replicas, HTTPS, a bearer token on every request)',
} as const;

interface Report {
  readonly version: string;
  readonly gateway: string;
  readonly measurements: readonly Detailed[];
  readonly ratios: readonly ClientRatios[];
  readonly loadAverage: { readonly before: readonly number[]; readonly after: readonly number[] };
}

function machine() {
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform };
}

function printReport(options: EtcdBenchOptions, report: Report): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const box = machine();
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' ');
  out('');
  const writes = options.protocol === 'vsr' ? 'etcd: Put over gRPC (the etcd3 library); vsr-kv: VsrClient writes over TCP' : `etcd: POST ${report.gateway}/kv/put; vsr-kv: PUT /kv/{key}`;
  out(`vsr-kv against etcd ${report.version} (${writes}): ${options.valueBytes}-byte values, ` +
    `${options.keys.toLocaleString('en-US')} keys, clients round-robin over 3 members, one keep-alive connection and one request at a time each`);
  out(`security ${SECURITY_TEXT[options.security]}`);
  out(`${options.seconds} s measured after ${options.warmup} s warm-up, ${options.rounds} round${options.rounds === 1 ? '' : 's'}; ` +
    `${box.cores} cores (${box.cpu}), ${box.memoryGiB} GiB, Node ${box.node}; the servers and this generator share it`);
  out(`load average (1, 5, 15 min): ${load(report.loadAverage.before)} before, ${load(report.loadAverage.after)} after`);
  out('');
  for (const line of measurementTable(report.measurements)) out(line);
  for (const m of report.measurements) {
    for (const [kind, entry] of Object.entries(m.errorKinds)) out(`  ${m.system}, ${m.clients} clients, round ${m.round}: ${entry.count} × ${kind}: ${entry.example}`);
  }
  out('');
  out(`vsr-kv / etcd: ratio of the means over the rounds${options.rounds > 1 ? ' (round by round in parentheses)' : ''}`);
  for (const line of ratioTable(report.ratios)) out(line);
  out('(throughput above 1: vsr-kv serves more; p99 and CPU per write above 1: vsr-kv is slower in the tail, spends more server CPU per write)');
}

async function run(options: EtcdBenchOptions, log: (line: string) => void): Promise<void> {
  const before = loadavg();
  const versionOutput = await ensureEtcd(log);
  const version = parseEtcdVersion(versionOutput);
  if (version === null) throw new Error(`cannot read a version in \`etcd --version\`'s output: ${versionOutput.trim()}`);
  const context: Context = { options, gateway: gatewayPrefix(version), log };
  log(`etcd ${version}, gateway ${context.gateway}; ${options.rounds} round(s) of ${options.clients.join(', ')} clients, ${options.seconds} s each after ${options.warmup} s warm-up`);
  const measurements: Detailed[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const clients of options.clients) {
      const order: readonly System[] = round % 2 === 1 ? ['etcd', 'vsr-kv'] : ['vsr-kv', 'etcd'];
      for (const system of order) measurements.push(await (system === 'etcd' ? measureEtcd : measureVsrKv)(context, clients, round));
    }
  }
  const report: Report = { version, gateway: context.gateway, measurements, ratios: comparisons(measurements, options.clients), loadAverage: { before, after: loadavg() } };
  if (options.json) {
    const { clients, seconds, warmup, rounds, valueBytes, keys, port, security } = options;
    process.stdout.write(`${JSON.stringify({ etcdVersion: version, gateway: report.gateway, security, settings: { clients, seconds, warmup, rounds, valueBytes, keys, port }, machine: machine(), loadAverage: report.loadAverage, measurements, ratios: report.ratios })}\n`);
  } else {
    printReport(options, report);
  }
  if (measurements.some((m) => m.errors > 0)) process.exitCode = 1;
}

async function main(argv: string[]): Promise<void> {
  let options: EtcdBenchOptions | null;
  try {
    options = parseEtcdBenchOptions(argv);
  } catch (error) {
    process.stderr.write(`bench:etcd: ${error instanceof Error ? error.message : String(error)}\n${error instanceof UsageError ? '(--help shows the options)\n' : ''}`);
    process.exit(2);
  }
  if (options === null) {
    process.stdout.write(USAGE);
    return;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const interrupted = (signal: NodeJS.Signals) => {
    signalled.value = true;
    log(`${signal}: stopping…`);
    void Promise.allSettled([...cleanups].map((cleanup) => cleanup())).then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  // \`on\`, not \`once\`: a second signal (tsx's parent relays the terminal's Ctrl-C again when this process is slow to
  // acknowledge it) must find a listener, or tsx's own handler exits before the cleanup is done.
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  try {
    await run(options, log);
  } catch (error) {
    await Promise.allSettled([...cleanups].map((cleanup) => cleanup()));
    log(`bench:etcd: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

await main(process.argv.slice(2));
